// Package clahe implements contrast-limited adaptive histogram equalisation for 8-bit images
// with the semantics of OpenCV's createCLAHE(clipLimit, tileGridSize).apply:
//
//   - The image is divided into tilesX x tilesY tiles. When the width or height is not
//     divisible by the grid, the image is extended at the bottom and right by
//     tiles - (size % tiles) pixels in BOTH directions (so a divisible side still gets a full
//     extra tile's worth) with BORDER_REFLECT_101 (…dcb|abcd|cba…), and tiles have size
//     ext/tiles; the extended image is used only for the tile histograms.
//   - Per tile, a 256-bin histogram is clipped at int(clip*tileArea/256) (at least 1) when
//     clip > 0; the clipped excess is redistributed evenly (excess/256 to every bin) and the
//     remainder r one count each to bins 0, s, 2s, … with step s = max(256/r, 1).
//   - The tile mapping is lut[v] = saturate(round(cdf[v] * 255/tileArea)) with the scale
//     computed in float32, and rounding half to even.
//   - Each output pixel bilinearly interpolates the four nearest tile mappings, with tile
//     coordinates x/tileW - 0.5 (clamped to the grid at the borders), in float32, rounded
//     half to even.
package clahe

import (
	"fmt"
	"math"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Params are CLAHE's two parameters (OpenCV defaults are clip 40, tiles 8x8; the thesis-style
// preprocessing uses clip 2).
type Params struct {
	Clip   float64 `json:"clip"` // clip limit in OpenCV units (multiples of the mean bin count); <= 0 disables clipping
	TilesX int     `json:"tiles_x"`
	TilesY int     `json:"tiles_y"`
}

// Default is clip 2.0 on an 8x8 grid.
var Default = Params{Clip: 2, TilesX: 8, TilesY: 8}

func (p Params) String() string {
	return fmt.Sprintf("clahe(clip=%g,tiles=%dx%d)", p.Clip, p.TilesX, p.TilesY)
}

// reflect101 maps an index outside [0,n) back inside by BORDER_REFLECT_101.
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*n - 2 - i
		}
	}
	return i
}

func roundEven32(x float32) int { return int(math.RoundToEven(float64(x))) }

func sat8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Apply returns the CLAHE of g.
func Apply(g *imageio.Gray, p Params) (*imageio.Gray, error) {
	if p.TilesX < 1 || p.TilesY < 1 {
		return nil, fmt.Errorf("clahe: tile grid %dx%d must be at least 1x1", p.TilesX, p.TilesY)
	}
	W, H := g.W, g.H
	if W < 1 || H < 1 {
		return nil, fmt.Errorf("clahe: empty image")
	}
	if p.TilesX > W || p.TilesY > H {
		return nil, fmt.Errorf("clahe: tile grid %dx%d has more tiles than the %dx%d image has pixels per side", p.TilesX, p.TilesY, W, H)
	}
	const hs = 256
	extW, extH := W, H
	if W%p.TilesX != 0 || H%p.TilesY != 0 {
		extW = W + p.TilesX - W%p.TilesX
		extH = H + p.TilesY - H%p.TilesY
	}
	tw, th := extW/p.TilesX, extH/p.TilesY
	area := tw * th
	lutScale := float32(hs-1) / float32(area)
	clip := 0
	if p.Clip > 0 {
		clip = max(int(p.Clip*float64(area)/hs), 1)
	}
	luts := make([]uint8, p.TilesX*p.TilesY*hs)
	var hist [hs]int
	for ty := 0; ty < p.TilesY; ty++ {
		for tx := 0; tx < p.TilesX; tx++ {
			clear(hist[:])
			for y := ty * th; y < (ty+1)*th; y++ {
				sy := y
				if sy >= H {
					sy = reflect101(sy, H)
				}
				row := g.Pix[sy*W:]
				for x := tx * tw; x < (tx+1)*tw; x++ {
					sx := x
					if sx >= W {
						sx = reflect101(sx, W)
					}
					hist[row[sx]]++
				}
			}
			if clip > 0 {
				clipped := 0
				for i := range hist {
					if hist[i] > clip {
						clipped += hist[i] - clip
						hist[i] = clip
					}
				}
				batch := clipped / hs
				residual := clipped - batch*hs
				for i := range hist {
					hist[i] += batch
				}
				if residual != 0 {
					step := max(hs/residual, 1)
					for i := 0; i < hs && residual > 0; i, residual = i+step, residual-1 {
						hist[i]++
					}
				}
			}
			lut := luts[(ty*p.TilesX+tx)*hs:]
			sum := 0
			for i := range hist {
				sum += hist[i]
				lut[i] = sat8(roundEven32(float32(sum) * lutScale))
			}
		}
	}
	out := imageio.NewGray(W, H)
	invTW, invTH := 1/float32(tw), 1/float32(th)
	xa := make([]float32, W)
	x1 := make([]int, W)
	x2 := make([]int, W)
	for x := 0; x < W; x++ {
		txf := float32(x)*invTW - 0.5
		t1 := int(math.Floor(float64(txf)))
		xa[x] = txf - float32(t1)
		x1[x], x2[x] = max(t1, 0)*hs, min(t1+1, p.TilesX-1)*hs
	}
	for y := 0; y < H; y++ {
		tyf := float32(y)*invTH - 0.5
		t1 := int(math.Floor(float64(tyf)))
		ya := tyf - float32(t1)
		ya1 := 1 - ya
		l1 := luts[max(t1, 0)*p.TilesX*hs:]
		l2 := luts[min(t1+1, p.TilesY-1)*p.TilesX*hs:]
		for x := 0; x < W; x++ {
			v := int(g.Pix[y*W+x])
			a, a1 := xa[x], 1-xa[x]
			top := float32(float32(l1[x1[x]+v])*a1) + float32(float32(l1[x2[x]+v])*a)
			bot := float32(float32(l2[x1[x]+v])*a1) + float32(float32(l2[x2[x]+v])*a)
			res := float32(top*ya1) + float32(bot*ya)
			out.Pix[y*W+x] = sat8(roundEven32(res))
		}
	}
	return out, nil
}
