package imageio

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
)

// EncodeStrip stores n tiles of h x w 8-bit pixels (tile after tile, row-major)
// as one grayscale PNG, w wide and n*h high: how evaluation records keep
// samples and masks losslessly.
func EncodeStrip(pix []uint8, n, h, w int) ([]byte, error) {
	if len(pix) != n*h*w {
		return nil, fmt.Errorf("imageio: strip of %d values, want %d tiles of %dx%d", len(pix), n, h, w)
	}
	g := image.NewGray(image.Rect(0, 0, w, n*h))
	copy(g.Pix, pix)
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DecodeStrip reads a strip of square tiles w wide back as 8-bit pixels; it
// must be an 8-bit grayscale PNG whose height is a multiple of w.
func DecodeStrip(data []byte, w int) ([]uint8, error) {
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("strip: %w", err)
	}
	g, ok := im.(*image.Gray)
	b := im.Bounds()
	if !ok || b.Dx() != w || b.Dy()%w != 0 {
		return nil, fmt.Errorf("strip: want an 8-bit grayscale PNG %d wide and a multiple of %d high, got %T %dx%d", w, w, im, b.Dx(), b.Dy())
	}
	out := make([]uint8, w*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		copy(out[y*w:(y+1)*w], g.Pix[y*g.Stride:y*g.Stride+w])
	}
	return out, nil
}
