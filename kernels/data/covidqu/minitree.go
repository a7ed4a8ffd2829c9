package covidqu

import (
	"fmt"
	"path/filepath"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// WriteMiniTree writes a small COVID-QU-Ex tree in the Kaggle layout under
// root, for tests and demos: both tasks, every split and class, perImage
// images each (names with spaces, as in the download), n x n pixels. Image k
// has its left half at level 40k+10 and its right half inverted; every mask
// (and the infection task's lung masks) is the centred square of half the
// side.
func WriteMiniTree(root string, perClass, n int) error {
	if perClass < 1 || n < 4 {
		return fmt.Errorf("covidqu: mini tree needs >= 1 image per class and n >= 4, got %d, %d", perClass, n)
	}
	mask := imageio.NewGray(n, n)
	for y := n / 4; y < 3*n/4; y++ {
		for x := n / 4; x < 3*n/4; x++ {
			mask.Pix[y*n+x] = 255
		}
	}
	for task, tf := range TaskFolder {
		for _, s := range Splits {
			for _, c := range Classes {
				dir := filepath.Join(root, tf, tf, s, c)
				for i := 0; i < perClass; i++ {
					name := fmt.Sprintf("%s (%d).png", c, i+1)
					v := uint8(40*i + 10)
					g := imageio.NewGray(n, n)
					for j := range g.Pix {
						if j%n < n/2 {
							g.Pix[j] = v
						} else {
							g.Pix[j] = 255 - v
						}
					}
					if err := imageio.WriteGray(filepath.Join(dir, "images", name), g); err != nil {
						return err
					}
					if err := imageio.WriteGray(filepath.Join(dir, MaskFolder[task], name), mask); err != nil {
						return err
					}
					if task == "infection" {
						if err := imageio.WriteGray(filepath.Join(dir, "lung masks", name), mask); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}
