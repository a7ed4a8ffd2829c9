package imageio

import (
	"image"
	"image/color"
)

// OverlayGrid tiles image/mask pairs into one RGB picture: each cell shows the image on the
// left and the same image with the mask tinted (lung: green, second mask: red) on the right.
// masks2 may be nil. Every cell is upscaled by an integer factor `zoom` (nearest neighbour).
func OverlayGrid(imgs, masks, masks2 []*Gray, cols, zoom int) *image.RGBA {
	if len(imgs) == 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	cw, ch := imgs[0].W*zoom, imgs[0].H*zoom
	const gap = 4
	rows := (len(imgs) + cols - 1) / cols
	W := cols*(2*cw+gap) + gap
	H := rows*(ch+gap) + gap
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	for k, g := range imgs {
		ox := gap + (k%cols)*(2*cw+gap)
		oy := gap + (k/cols)*(ch+gap)
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				sx, sy := x/zoom, y/zoom
				v := g.Pix[sy*g.W+sx]
				out.Set(ox+x, oy+y, color.RGBA{v, v, v, 255})
				r, gg, b := float64(v), float64(v), float64(v)
				if masks != nil && masks[k] != nil && masks[k].Pix[sy*g.W+sx] >= 128 {
					r, gg, b = 0.6*r, 0.6*gg+0.4*255, 0.6*b
				}
				if masks2 != nil && masks2[k] != nil && masks2[k].Pix[sy*g.W+sx] >= 128 {
					r, gg, b = 0.4*r+0.6*255, 0.4*gg, 0.4*b
				}
				out.Set(ox+cw+x, oy+y, color.RGBA{uint8(r), uint8(gg), uint8(b), 255})
			}
		}
	}
	return out
}
