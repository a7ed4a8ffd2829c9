package synthesis

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"testing"
)

func TestToGrayGridAndPNGText(t *testing.T) {
	// Two 2x2 images: values map v -> round((v+1)*127.5) with clipping.
	imgs, err := ToGray([]float32{-1, 0, 1, 2, -3, 0.5, -0.5, 1}, 2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0, 128, 255, 255}
	for i, v := range want {
		if imgs[0].Pix[i] != v {
			t.Fatalf("pixel %d = %d want %d", i, imgs[0].Pix[i], v)
		}
	}
	if imgs[1].Pix[0] != 0 || imgs[1].Pix[1] != 191 || imgs[1].Pix[2] != 64 {
		t.Fatalf("second image %v", imgs[1].Pix)
	}
	g, err := Grid(imgs, 2, 1, 2) // 2 columns, pad 1, scale 2: width 2*4+3 = 11, height 4+2 = 6
	if err != nil {
		t.Fatal(err)
	}
	if g.Bounds().Dx() != 11 || g.Bounds().Dy() != 6 {
		t.Fatalf("grid %v", g.Bounds())
	}
	if g.Pix[0] != 255 || g.Pix[1*11+1] != 0 || g.Pix[1*11+3] != 128 || g.Pix[1*11+6] != 0 {
		t.Fatalf("grid layout wrong: row1 %v", g.Pix[11:22])
	}
	data, err := EncodePNG(g, map[string]string{"dmseg-stamp": "artifact=x commit=y", "b": "2"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(data)) // chunk CRCs must be valid for the decoder
	if err != nil {
		t.Fatal(err)
	}
	if dec.(*image.Gray).Pix[1*11+3] != 128 {
		t.Fatal("decoded pixels differ")
	}
	txt, err := ReadText(data)
	if err != nil || txt["dmseg-stamp"] != "artifact=x commit=y" || txt["b"] != "2" {
		t.Fatalf("tEXt round trip: %v %v", txt, err)
	}
	fig, err := Labeled(g, "title", []string{"a", "b"}, []string{"r"}, "artifact=x", 3)
	if err != nil {
		t.Fatal(err)
	}
	if txt, _ := ReadText(fig); txt["dmseg-stamp"] != "artifact=x" {
		t.Fatalf("figure stamp missing: %v", txt)
	}
}

func TestPSNRAndBlur(t *testing.T) {
	ref := []float32{0, 0, 0, 0}
	// error 0.2 everywhere: MSE 0.04, PSNR = 10 log10(4/0.04) = 20 dB.
	if p := PSNR([]float32{0.2, -0.2, 0.2, -0.2}, ref); math.Abs(p-20) > 1e-5 {
		t.Errorf("psnr %v", p)
	}
	// A constant image is unchanged by the box blur; a delta spreads to its 3x3 neighbourhood (r=1).
	c := boxBlur([]float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 3, 1)
	for _, v := range c {
		if math.Abs(float64(v)-1) > 1e-6 {
			t.Fatalf("blur of constant %v", c)
		}
	}
	d := boxBlur([]float32{0, 0, 0, 0, 9, 0, 0, 0, 0}, 1, 3, 1)
	if math.Abs(float64(d[4])-1) > 1e-6 || math.Abs(float64(d[0])-9.0/4) > 1e-6 {
		t.Fatalf("blur of delta %v (centre averages 9 pixels, corner 4)", d)
	}
}
