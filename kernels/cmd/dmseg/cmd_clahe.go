package main

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/imageio"
)

func init() {
	register("clahe", "contrast-limited adaptive histogram equalisation (OpenCV semantics)", runCLAHE)
}

func runCLAHE(args []string) error {
	fs := newFlags("clahe", "[--clip 2.0] [--tiles 8] IN.png OUT.png", `
Applies CLAHE to an image exactly as OpenCV's createCLAHE(clipLimit, (tiles, tiles)).apply does
(clip limit in OpenCV units, i.e. multiples of the mean histogram bin count; 0 disables clipping).
The input is converted to 8-bit gray first (16-bit: round(v*255/65535); RGB: BT.601 luma).
The output is an 8-bit gray PNG, written atomically.`)
	clip := fs.Float64("clip", 2.0, "clip limit (OpenCV units); <= 0 disables clipping")
	tiles := fs.Int("tiles", 8, "tile grid size (tiles x tiles)")
	tilesY := fs.Int("tiles-y", 0, "rows of the tile grid when different from --tiles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("want IN.png OUT.png, got %d arguments", fs.NArg())
	}
	if err := firstErr(inRange("tiles", int64(*tiles), 1, 256), inRange("tiles-y", int64(*tilesY), 0, 256)); err != nil {
		return err
	}
	ty := *tilesY
	if ty == 0 {
		ty = *tiles
	}
	in, err := imageio.ReadGray(fs.Arg(0))
	if err != nil {
		return err
	}
	out, err := clahe.Apply(in, clahe.Params{Clip: *clip, TilesX: *tiles, TilesY: ty})
	if err != nil {
		return err
	}
	return imageio.WriteGray(fs.Arg(1), out)
}
