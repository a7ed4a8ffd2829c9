package imageio

import "testing"

// FuzzDecodeGray: any bytes give an image with W*H pixels or an error, never a panic.
func FuzzDecodeGray(f *testing.F) {
	g := NewGray(3, 2)
	g.Pix = []uint8{0, 50, 100, 150, 200, 250}
	png, err := EncodePNG(g.Image())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(png)
	f.Add(png[:len(png)/2])
	f.Add([]byte{})
	f.Add([]byte("\x89PNG\r\n\x1a\nnot really"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		img, err := DecodeGray(data)
		if err == nil && len(img.Pix) != img.W*img.H {
			t.Fatalf("%dx%d image with %d pixels", img.W, img.H, len(img.Pix))
		}
	})
}
