package seg

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Binary checks that a mask holds only 0 and one other value (1 or 255 as
// written by common tools; both mean foreground) and returns it as 0/1 bytes.
// name is used in errors.
func Binary(g *imageio.Gray, name string) ([]uint8, error) {
	out := make([]uint8, len(g.Pix))
	var fg uint8
	for i, v := range g.Pix {
		if v == 0 {
			continue
		}
		if v != 1 && v != 255 {
			return nil, fmt.Errorf("%s: pixel (%d,%d) has value %d; a binary mask holds only 0 and 255 (or 0 and 1)", name, i%g.W, i/g.W, v)
		}
		if fg != 0 && v != fg {
			return nil, fmt.Errorf("%s: mixes foreground values 1 and 255; a binary mask holds only 0 and one of them", name)
		}
		fg = v
		out[i] = 1
	}
	return out, nil
}

// PairedCounts is the confusion counts of same-named masks in two folders.
type PairedCounts struct {
	Names  []string // file names, sorted
	Counts []Counts
}

// CompareDirs reads every .png of predDir and truthDir, pairs them by file
// name and counts each pair. Every file must have a partner of the same size,
// and every mask must be binary (Binary); errors name the file.
func CompareDirs(predDir, truthDir string) (*PairedCounts, error) {
	list := func(dir string) (map[string]bool, error) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, e := range ents {
			if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
				out[e.Name()] = true
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: no .png files", dir)
		}
		return out, nil
	}
	pred, err := list(predDir)
	if err != nil {
		return nil, err
	}
	truth, err := list(truthDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range pred {
		if !truth[n] {
			return nil, fmt.Errorf("%s: no ground-truth partner %s", filepath.Join(predDir, n), filepath.Join(truthDir, n))
		}
		names = append(names, n)
	}
	for n := range truth {
		if !pred[n] {
			return nil, fmt.Errorf("%s: no predicted partner %s", filepath.Join(truthDir, n), filepath.Join(predDir, n))
		}
	}
	sort.Strings(names)
	out := &PairedCounts{Names: names}
	for _, n := range names {
		pp, tp := filepath.Join(predDir, n), filepath.Join(truthDir, n)
		pg, err := imageio.ReadGray(pp)
		if err != nil {
			return nil, err
		}
		tg, err := imageio.ReadGray(tp)
		if err != nil {
			return nil, err
		}
		if pg.W != tg.W || pg.H != tg.H {
			return nil, fmt.Errorf("%s is %dx%d but %s is %dx%d", pp, pg.W, pg.H, tp, tg.W, tg.H)
		}
		pb, err := Binary(pg, pp)
		if err != nil {
			return nil, err
		}
		tb, err := Binary(tg, tp)
		if err != nil {
			return nil, err
		}
		c, _ := CountBinary(pb, tb)
		out.Counts = append(out.Counts, c)
	}
	return out, nil
}
