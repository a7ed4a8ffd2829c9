// Package synthesis draws the figures of thesis chapter 2 (unconditional image
// synthesis) from a trained DDPM: Figure 10, a grid of generated chest X-rays,
// and Figure 12, a held-out image, its noised version x_t and what one pass of
// the U-Net makes of it. Every figure carries a provenance stamp (artifact id,
// commit, backend) in its caption and in a PNG tEXt chunk.
package synthesis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ToGray maps n float images (n*h*w values, nominally in [-1, 1]) to 8-bit
// grayscale, clipping to [-1, 1]: v -> round((v+1)*127.5).
func ToGray(pix []float32, n, h, w int) ([]*image.Gray, error) {
	if len(pix) != n*h*w {
		return nil, fmt.Errorf("synthesis: %d values for %d images of %dx%d", len(pix), n, h, w)
	}
	out := make([]*image.Gray, n)
	for k := range out {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := 0; i < h*w; i++ {
			v := math.Max(-1, math.Min(1, float64(pix[k*h*w+i])))
			g.Pix[i] = uint8(math.Round((v + 1) * 127.5))
		}
		out[k] = g
	}
	return out, nil
}

// Grid tiles equally sized images in `cols` columns with `pad` pixels of
// white between them, each image scaled up by an integer factor `scale`.
func Grid(imgs []*image.Gray, cols, pad, scale int) (*image.Gray, error) {
	if len(imgs) == 0 || cols < 1 || scale < 1 || pad < 0 {
		return nil, errors.New("synthesis: Grid needs images, cols >= 1, scale >= 1, pad >= 0")
	}
	w, h := imgs[0].Bounds().Dx(), imgs[0].Bounds().Dy()
	rows := (len(imgs) + cols - 1) / cols
	W := cols*w*scale + (cols+1)*pad
	H := rows*h*scale + (rows+1)*pad
	out := image.NewGray(image.Rect(0, 0, W, H))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	for k, im := range imgs {
		if im.Bounds().Dx() != w || im.Bounds().Dy() != h {
			return nil, fmt.Errorf("synthesis: image %d is %v, want %dx%d", k, im.Bounds(), w, h)
		}
		r, c := k/cols, k%cols
		x0, y0 := pad+c*(w*scale+pad), pad+r*(h*scale+pad)
		for y := 0; y < h*scale; y++ {
			for x := 0; x < w*scale; x++ {
				out.Pix[(y0+y)*W+x0+x] = im.Pix[(y/scale)*im.Stride+x/scale]
			}
		}
	}
	return out, nil
}

// Labeled renders a picture (e.g. a grid) as a PNG figure with a title,
// optional column labels (placed under equally spaced columns) and row labels,
// and the stamp as the caption line; the stamp also goes into a tEXt chunk.
func Labeled(pic image.Image, title string, colLabels, rowLabels []string, stamp string, widthInch float64) ([]byte, error) {
	b := pic.Bounds()
	W, H := float64(b.Dx()), float64(b.Dy())
	p := plot.New()
	p.Title.Text = title
	p.Add(plotter.NewImage(pic, 0, 0, W, H))
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, W, 0, H
	p.X.Label.Text = stamp
	p.X.Label.TextStyle.Font.Size = vg.Points(7)
	p.X.LineStyle.Width, p.Y.LineStyle.Width = 0, 0
	p.X.Tick.LineStyle.Width, p.Y.Tick.LineStyle.Width = 0, 0
	ticks := func(labels []string, extent float64, reverse bool) plot.ConstantTicks {
		var t plot.ConstantTicks
		for i, l := range labels {
			v := (float64(i) + 0.5) * extent / float64(len(labels))
			if reverse {
				v = extent - v
			}
			t = append(t, plot.Tick{Value: v, Label: l})
		}
		return t
	}
	p.X.Tick.Marker = ticks(colLabels, W, false)
	p.Y.Tick.Marker = ticks(rowLabels, H, true)
	heightInch := widthInch * H / W
	if len(rowLabels) > 0 {
		heightInch *= 0.85
	}
	wt, err := p.WriterTo(vg.Length(widthInch)*vg.Inch, vg.Length(heightInch+0.7)*vg.Inch, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return WithText(buf.Bytes(), map[string]string{"dmseg-stamp": stamp, "Title": title})
}

// EncodePNG encodes an image with the given tEXt entries.
func EncodePNG(img image.Image, text map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return WithText(buf.Bytes(), text)
}

// WithText inserts PNG tEXt chunks (keyword, Latin-1 text) right after IHDR.
func WithText(pngData []byte, text map[string]string) ([]byte, error) {
	const sig = 8
	if len(pngData) < sig+8+13+4 || string(pngData[12:16]) != "IHDR" {
		return nil, errors.New("synthesis: not a PNG stream")
	}
	ihdrEnd := sig + 8 + int(binary.BigEndian.Uint32(pngData[8:12])) + 4
	var chunks bytes.Buffer
	keys := make([]string, 0, len(text))
	for k := range text {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		data := append([]byte(k), 0)
		data = append(data, []byte(text[k])...)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], "tEXt")
		chunks.Write(hdr[:])
		chunks.Write(data)
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		crc.Write(data)
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], crc.Sum32())
		chunks.Write(c[:])
	}
	out := make([]byte, 0, len(pngData)+chunks.Len())
	out = append(out, pngData[:ihdrEnd]...)
	out = append(out, chunks.Bytes()...)
	out = append(out, pngData[ihdrEnd:]...)
	return out, nil
}

// ReadText returns the tEXt entries of a PNG stream.
func ReadText(pngData []byte) (map[string]string, error) {
	if len(pngData) < 8 || string(pngData[1:4]) != "PNG" {
		return nil, errors.New("synthesis: not a PNG stream")
	}
	out := map[string]string{}
	for p := 8; p+12 <= len(pngData); {
		n := int(binary.BigEndian.Uint32(pngData[p : p+4]))
		typ := string(pngData[p+4 : p+8])
		if p+12+n > len(pngData) {
			return nil, errors.New("synthesis: truncated PNG chunk")
		}
		if typ == "tEXt" {
			d := pngData[p+8 : p+8+n]
			if i := bytes.IndexByte(d, 0); i > 0 {
				out[string(d[:i])] = string(d[i+1:])
			}
		}
		p += 12 + n
	}
	return out, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

var _ = color.Gray{}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }
