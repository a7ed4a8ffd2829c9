package imageio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlockResizeMatchesDefinition checks the integer-block fast paths (including the 4x4
// special case the phantom uses) against block means and majorities computed directly.
func TestBlockResizeMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ w, h, dw, dh int }{{256, 256, 64, 64}, {12, 9, 4, 3}, {8, 8, 8, 2}, {6, 4, 1, 1}} {
		g := NewGray(c.w, c.h)
		m := NewGray(c.w, c.h)
		for i := range g.Pix {
			g.Pix[i] = uint8(rng.IntN(256))
			m.Pix[i] = uint8(rng.IntN(256)) // majority must read >= 128 as foreground
		}
		a, maj := ResizeArea(g, c.dw, c.dh), ResizeMajority(m, c.dw, c.dh)
		fx, fy := c.w/c.dw, c.h/c.dh
		for oy := 0; oy < c.dh; oy++ {
			for ox := 0; ox < c.dw; ox++ {
				sum, fg := 0, 0
				for y := oy * fy; y < (oy+1)*fy; y++ {
					for x := ox * fx; x < (ox+1)*fx; x++ {
						sum += int(g.Pix[y*c.w+x])
						if m.Pix[y*c.w+x] >= 128 {
							fg++
						}
					}
				}
				wantA := uint8(math.Floor(float64(sum)/float64(fx*fy) + 0.5))
				var wantM uint8
				if 2*fg >= fx*fy {
					wantM = 255
				}
				if got := a.Pix[oy*c.dw+ox]; got != wantA {
					t.Fatalf("%v: area (%d,%d) = %d, want %d", c, ox, oy, got, wantA)
				}
				if got := maj.Pix[oy*c.dw+ox]; got != wantM {
					t.Fatalf("%v: majority (%d,%d) = %d, want %d (fg %d of %d)", c, ox, oy, got, wantM, fg, fx*fy)
				}
			}
		}
	}
}
