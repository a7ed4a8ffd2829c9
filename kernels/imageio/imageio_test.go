package imageio

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResizeArea(t *testing.T) {
	// 4x2 -> 2x1: block means (0+10+20+30)/4 = 15, (1+3+5+8)/4 = 4.25 -> 4
	g := &Gray{W: 4, H: 2, Pix: []uint8{0, 10, 1, 3, 20, 30, 5, 8}}
	if r := ResizeArea(g, 2, 1); r.Pix[0] != 15 || r.Pix[1] != 4 {
		t.Fatalf("got %v", r.Pix)
	}
	// 3x1 -> 2x1 (non-integer factor 1.5): out0 = (a + b/2)/1.5, out1 = (b/2 + c)/1.5
	g = &Gray{W: 3, H: 1, Pix: []uint8{30, 60, 90}}
	if r := ResizeArea(g, 2, 1); r.Pix[0] != 40 || r.Pix[1] != 80 {
		t.Fatalf("non-integer area: got %v want [40 80]", r.Pix)
	}
	// rounding half up: (0+1)/2 = 0.5 -> 1
	if r := ResizeArea(&Gray{W: 2, H: 1, Pix: []uint8{0, 1}}, 1, 1); r.Pix[0] != 1 {
		t.Fatalf("half rounding: %v", r.Pix)
	}
}

func TestResizeMajority(t *testing.T) {
	// 2x2 blocks with 1, 2 (tie -> foreground) and 3 foreground pixels; values >= 128 count
	m := &Gray{W: 6, H: 2, Pix: []uint8{255, 0, 200, 0, 255, 255, 0, 0, 128, 0, 127, 255}}
	r := ResizeMajority(m, 3, 1)
	if r.Pix[0] != 0 || r.Pix[1] != 255 || r.Pix[2] != 255 {
		t.Fatalf("got %v want [0 255 255]", r.Pix)
	}
}

func TestWriteReadAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub dir", "x y.png")
	g := &Gray{W: 3, H: 2, Pix: []uint8{0, 1, 2, 253, 254, 255}}
	if err := WriteGray(p, g); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	r, err := ReadGray(p)
	if err != nil || r.W != 3 || string(r.Pix) != string(g.Pix) {
		t.Fatalf("round trip: %v %v", r, err)
	}
	os.WriteFile(p, []byte("GIF89a"), 0o644)
	if _, err := ReadGray(p); err == nil || err.Error() != p+": not a PNG file (bad signature)" {
		t.Fatalf("got %v", err)
	}
}

// Strips round-trip tiles exactly; a PNG of the wrong width is refused.
func TestStripRoundTrip(t *testing.T) {
	pix := make([]uint8, 3*4*4)
	for i := range pix {
		pix[i] = uint8(i * 5)
	}
	b, err := EncodeStrip(pix, 3, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeStrip(b, 4)
	if err != nil || string(got) != string(pix) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := DecodeStrip(b, 5); err == nil {
		t.Error("wrong width accepted")
	}
	if _, err := EncodeStrip(pix, 2, 4, 4); err == nil {
		t.Error("wrong length accepted")
	}
}
