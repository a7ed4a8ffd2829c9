// Package imageio reads and writes 8-bit grayscale PNG images and resizes them.
//
// Conversion rule to 8-bit gray (ReadGray), applied to every PNG flavour:
//   - 8-bit gray: unchanged.
//   - 16-bit gray: v8 = round(v16 * 255 / 65535) (a linear rescale of the full range).
//   - RGB/RGBA/paletted (8 or 16 bit): ITU-R BT.601 luma on the 16-bit channel values,
//     Y = 0.299 R + 0.587 G + 0.114 B (Go's color.GrayModel weights 19595/38470/7471 of 65536),
//     then the 16-bit Y is rescaled to 8 bits as above. Alpha is ignored (the colour
//     channels are used as stored, un-premultiplied when the PNG is non-premultiplied).
//
// Resizing uses area averaging for images (exact block means for integer factors, the
// fractional-overlap weighting of OpenCV's INTER_AREA otherwise) and a majority vote for
// binary masks (a pixel is foreground when at least half of its block area is foreground).
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"

	"github.com/dmseg/dmseg/kernels/atomicfile"
)

// pngMagic is the 8-byte PNG signature.
var pngMagic = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

// Gray is an 8-bit grayscale raster, row-major, Pix[y*W+x].
type Gray struct {
	W, H int
	Pix  []uint8
}

// NewGray returns a zero image of the given size.
func NewGray(w, h int) *Gray { return &Gray{W: w, H: h, Pix: make([]uint8, w*h)} }

// At returns the pixel at (x, y).
func (g *Gray) At(x, y int) uint8 { return g.Pix[y*g.W+x] }

// ReadGray reads a PNG file and converts it to 8-bit gray by the package rule.
// Errors name the file and say whether it is not a PNG, truncated or corrupt.
func ReadGray(path string) (*Gray, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := DecodeGray(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// MaxPixels caps the images DecodeGray accepts (64 megapixels, e.g.
// 8000x8000; chest X-rays are at most about 4000x4000): a header claiming more
// is refused before any pixel memory is allocated.
const MaxPixels = 64_000_000

// DecodeGray decodes PNG bytes and converts them to 8-bit gray.
func DecodeGray(data []byte) (*Gray, error) {
	if len(data) < len(pngMagic) || !bytes.Equal(data[:len(pngMagic)], pngMagic) {
		if len(data) == 0 {
			return nil, errors.New("empty file, not a PNG")
		}
		return nil, errors.New("not a PNG file (bad signature)")
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(data)); err == nil && int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("PNG of %dx%d is above the limit of %d megapixels", cfg.Width, cfg.Height, MaxPixels/1_000_000)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || !bytes.Contains(data[len(data)-min(len(data), 64):], []byte("IEND")) {
			return nil, fmt.Errorf("truncated PNG file: %v", err)
		}
		return nil, fmt.Errorf("corrupt PNG file: %v", err)
	}
	return ToGray(img), nil
}

// Scale16to8 maps a 16-bit value to 8 bits: round(v*255/65535).
func Scale16to8(v uint32) uint8 { return uint8((v*255 + 32767) / 65535) }

// ToGray converts any image to 8-bit gray by the package rule.
func ToGray(img image.Image) *Gray {
	b := img.Bounds()
	g := NewGray(b.Dx(), b.Dy())
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < g.H; y++ {
			copy(g.Pix[y*g.W:(y+1)*g.W], src.Pix[y*src.Stride:y*src.Stride+g.W])
		}
		return g
	case *image.Gray16:
		for y := 0; y < g.H; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < g.W; x++ {
				v := uint32(row[2*x])<<8 | uint32(row[2*x+1])
				g.Pix[y*g.W+x] = Scale16to8(v)
			}
		}
		return g
	}
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			c := img.At(b.Min.X+x, b.Min.Y+y)
			var r, gg, bb uint32
			if nc, ok := c.(color.NRGBA); ok {
				r, gg, bb = uint32(nc.R)*0x101, uint32(nc.G)*0x101, uint32(nc.B)*0x101
			} else if nc, ok := c.(color.NRGBA64); ok {
				r, gg, bb = uint32(nc.R), uint32(nc.G), uint32(nc.B)
			} else {
				r, gg, bb, _ = c.RGBA()
			}
			y16 := (19595*r + 38470*gg + 7471*bb + 1<<15) >> 16
			g.Pix[y*g.W+x] = Scale16to8(y16)
		}
	}
	return g
}

// Image returns the raster as a standard library *image.Gray (sharing Pix).
func (g *Gray) Image() *image.Gray {
	return &image.Gray{Pix: g.Pix, Stride: g.W, Rect: image.Rect(0, 0, g.W, g.H)}
}

// EncodePNG encodes an image as PNG bytes (default compression, deterministic).
func EncodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteGray writes g as an 8-bit gray PNG, atomically.
func WriteGray(path string, g *Gray) error { return WritePNG(path, g.Image()) }

// WritePNG writes any image as PNG, atomically (temp file in the same folder + rename).
func WritePNG(path string, img image.Image) error {
	data, err := EncodePNG(img)
	if err != nil {
		return fmt.Errorf("%s: encoding PNG: %w", path, err)
	}
	return atomicfile.Write(path, data)
}

// areaWeights returns, for each destination index, the source indices and weights
// (fractions of the destination cell covered by each source cell, summing to 1).
func areaWeights(src, dst int) (idx [][]int, wts [][]float64) {
	idx = make([][]int, dst)
	wts = make([][]float64, dst)
	scale := float64(src) / float64(dst)
	for d := 0; d < dst; d++ {
		lo, hi := float64(d)*scale, float64(d+1)*scale
		for s := int(math.Floor(lo)); s < src && float64(s) < hi; s++ {
			a, b := math.Max(lo, float64(s)), math.Min(hi, float64(s+1))
			if b > a {
				idx[d] = append(idx[d], s)
				wts[d] = append(wts[d], (b-a)/scale)
			}
		}
	}
	return
}

// resizeFloat computes area averages of src (w x h) into a dw x dh float grid.
func resizeFloat(pix []uint8, w, h, dw, dh int) []float64 {
	out := make([]float64, dw*dh)
	if w%dw == 0 && h%dh == 0 { // exact integer blocks: plain block sums (fast path)
		inv := 1 / float64((w/dw)*(h/dh))
		for i, s := range blockSums(pix, w, h, dw, dh, false) {
			out[i] = float64(s) * inv
		}
		return out
	}
	xi, xw := areaWeights(w, dw)
	yi, yw := areaWeights(h, dh)
	for oy := 0; oy < dh; oy++ {
		for ox := 0; ox < dw; ox++ {
			s := 0.0
			for a, sy := range yi[oy] {
				for b, sx := range xi[ox] {
					s += yw[oy][a] * xw[ox][b] * float64(pix[sy*w+sx])
				}
			}
			out[oy*dw+ox] = s
		}
	}
	return out
}

// blockSums sums pix (w x h) over the exact integer blocks of a dw x dh grid (w%dw == 0,
// h%dh == 0). With fg it counts foreground pixels (>= 128) instead of summing values.
func blockSums(pix []uint8, w, h, dw, dh int, fg bool) []int {
	fx, fy := w/dw, h/dh
	sums := make([]int, dw*dh)
	var sh uint
	if fg {
		sh = 7 // v>>7 is 1 exactly when v >= 128
	}
	for y := 0; y < h; y++ {
		row := pix[y*w : (y+1)*w]
		out := sums[(y/fy)*dw : (y/fy+1)*dw]
		if fx == 4 {
			for ox := range out {
				b := row[4*ox : 4*ox+4 : 4*ox+4]
				out[ox] += int(b[0]>>sh) + int(b[1]>>sh) + int(b[2]>>sh) + int(b[3]>>sh)
			}
			continue
		}
		for ox := range out {
			s := 0
			for _, v := range row[ox*fx : (ox+1)*fx] {
				s += int(v >> sh)
			}
			out[ox] += s
		}
	}
	return sums
}

// ResizeArea resizes an 8-bit image to dw x dh by area averaging (rounded to nearest).
func ResizeArea(g *Gray, dw, dh int) *Gray {
	if g.W == dw && g.H == dh {
		return &Gray{W: dw, H: dh, Pix: append([]uint8(nil), g.Pix...)}
	}
	f := resizeFloat(g.Pix, g.W, g.H, dw, dh)
	out := NewGray(dw, dh)
	for i, v := range f {
		out.Pix[i] = uint8(math.Min(255, math.Floor(v+0.5+1e-9)))
	}
	return out
}

// ResizeMajority resizes a binary mask (foreground = pixel >= 128) to dw x dh; an output
// pixel is 255 when the foreground covers at least half of its block, else 0.
func ResizeMajority(m *Gray, dw, dh int) *Gray {
	out := NewGray(dw, dh)
	if m.W%dw == 0 && m.H%dh == 0 { // exact integer blocks: count the foreground
		inv := 1 / float64((m.W/dw)*(m.H/dh))
		for i, c := range blockSums(m.Pix, m.W, m.H, dw, dh, true) {
			if float64(c)*inv >= 0.5-1e-9 {
				out.Pix[i] = 255
			}
		}
		return out
	}
	bin := make([]uint8, len(m.Pix))
	for i, v := range m.Pix {
		if v >= 128 {
			bin[i] = 1
		}
	}
	f := resizeFloat(bin, m.W, m.H, dw, dh)
	for i, v := range f {
		if v >= 0.5-1e-9 {
			out.Pix[i] = 255
		}
	}
	return out
}

// Binarize maps pixels >= 128 to 255 and the rest to 0, in place, and returns g.
func Binarize(g *Gray) *Gray {
	for i, v := range g.Pix {
		if v >= 128 {
			g.Pix[i] = 255
		} else {
			g.Pix[i] = 0
		}
	}
	return g
}
