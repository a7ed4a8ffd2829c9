// Package covidqu reads the COVID-QU-Ex chest X-ray data set (Tahir et al., Kaggle) exactly as
// downloaded and extracted:
//
//	ROOT/Lung Segmentation Data/Lung Segmentation Data/{Train,Val,Test}/{COVID-19,Non-COVID,Normal}/{images,lung masks}/
//	ROOT/Infection Segmentation Data/Infection Segmentation Data/{Train,Val,Test}/{COVID-19,Non-COVID,Normal}/{images,lung masks,infection masks}/
//
// (the repeated folder level is optional; ROOT may also be a task folder itself). Images and
// masks are paired by file name. Images are converted to 8-bit gray by the rule of package
// imageio (16-bit: round(v*255/65535); RGB: BT.601 luma) and area-averaged to the requested
// size; masks are binarised (>= 128) and resized by block majority. Errors name the file.
package covidqu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Task folders and mask folder names.
var (
	TaskFolder = map[string]string{"lung": "Lung Segmentation Data", "infection": "Infection Segmentation Data"}
	MaskFolder = map[string]string{"lung": "lung masks", "infection": "infection masks"}
	Splits     = []string{"Train", "Val", "Test"}
	Classes    = []string{"COVID-19", "Non-COVID", "Normal"}
)

// Pair is one image and its mask(s) on disk.
type Pair struct {
	Task, Split, Class, Name string
	Image, Mask              string // absolute or root-relative paths
	LungMask                 string // infection task: the lung mask, when present
}

// Problem is one bad input found while scanning or loading.
type Problem struct {
	Path string
	Err  error
}

func (p Problem) Error() string { return p.Err.Error() }

// Index lists the pairs of one task.
type Index struct {
	Root, TaskDir, Task string
	Pairs               []Pair
	Orphans             []string  // masks without an image (reported, not fatal)
	Problems            []Problem // bad inputs skipped (only with skipBad)
}

// FindTaskDir locates the folder holding Train/Val/Test for a task under root.
func FindTaskDir(root, task string) (string, error) {
	tf, ok := TaskFolder[task]
	if !ok {
		return "", fmt.Errorf("covidqu: unknown task %q (want lung or infection)", task)
	}
	st, err := os.Stat(root)
	if err != nil {
		return "", folderError("data root", root, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("covidqu: data root %s is not a folder", root)
	}
	cands := []string{filepath.Join(root, tf, tf), filepath.Join(root, tf)}
	if filepath.Base(filepath.Clean(root)) == tf {
		cands = append(cands, filepath.Join(root, tf), root)
	}
	for _, c := range cands {
		if isDir(filepath.Join(c, "Train")) || isDir(filepath.Join(c, "Val")) || isDir(filepath.Join(c, "Test")) {
			return c, nil
		}
	}
	return "", fmt.Errorf("covidqu: wrong data root %s: no %q folder with Train/Val/Test inside "+
		"(expected ROOT/%s/%s/{Train,Val,Test}/{COVID-19,Non-COVID,Normal}/{images,%s}/ as extracted from Kaggle's COVID-QU-Ex)",
		root, tf, tf, tf, MaskFolder[task])
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// folderError names what is wrong with a folder that could not be listed: it
// is missing, a dangling symbolic link, a symbolic link loop, or another error.
func folderError(what, dir string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("covidqu: %s %s is a symbolic link loop", what, dir)
	case errors.Is(err, os.ErrNotExist):
		if st, lerr := os.Lstat(dir); lerr == nil && st.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(dir)
			return fmt.Errorf("covidqu: %s %s is a symbolic link to %s, which does not exist", what, dir, target)
		}
		return fmt.Errorf("covidqu: missing %s %s", what, dir)
	}
	return fmt.Errorf("covidqu: %s %s: %w", what, dir, err)
}

func pngNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Scan lists the pairs of a task under root (all splits and classes), checking that every
// folder exists and is non-empty and that every image has its mask. Without skipBad the first
// problem is returned as an error; with skipBad problems are collected in Index.Problems.
func Scan(root, task string, skipBad bool) (*Index, error) {
	taskDir, err := FindTaskDir(root, task)
	if err != nil {
		return nil, err
	}
	idx := &Index{Root: root, TaskDir: taskDir, Task: task}
	report := func(path string, err error) error {
		if !skipBad {
			return err
		}
		idx.Problems = append(idx.Problems, Problem{path, err})
		return nil
	}
	for _, split := range Splits {
		for _, class := range Classes {
			dir := filepath.Join(taskDir, split, class)
			imgDir, maskDir := filepath.Join(dir, "images"), filepath.Join(dir, MaskFolder[task])
			names, err := pngNames(imgDir)
			if err != nil {
				err = folderError("folder", imgDir, err)
				if e := report(imgDir, err); e != nil {
					return nil, e
				}
				continue
			}
			if len(names) == 0 {
				if e := report(imgDir, fmt.Errorf("covidqu: empty folder %s (no .png images)", imgDir)); e != nil {
					return nil, e
				}
				continue
			}
			masks, err := pngNames(maskDir)
			if err != nil {
				err = folderError("mask folder", maskDir, err)
				if e := report(maskDir, err); e != nil {
					return nil, e
				}
				continue
			}
			have := map[string]bool{}
			for _, m := range masks {
				have[m] = true
			}
			var lungHave map[string]bool
			lungDir := filepath.Join(dir, "lung masks")
			if task == "infection" {
				if lm, err := pngNames(lungDir); err == nil {
					lungHave = map[string]bool{}
					for _, m := range lm {
						lungHave[m] = true
					}
				}
			}
			for _, n := range names {
				img := filepath.Join(imgDir, n)
				if !have[n] {
					if e := report(img, fmt.Errorf("covidqu: image %s has no mask (expected %s)", img, filepath.Join(maskDir, n))); e != nil {
						return nil, e
					}
					continue
				}
				delete(have, n)
				p := Pair{Task: task, Split: split, Class: class, Name: n, Image: img, Mask: filepath.Join(maskDir, n)}
				if lungHave[n] {
					p.LungMask = filepath.Join(lungDir, n)
				}
				idx.Pairs = append(idx.Pairs, p)
			}
			for m := range have {
				idx.Orphans = append(idx.Orphans, filepath.Join(maskDir, m))
			}
		}
	}
	sort.Strings(idx.Orphans)
	if len(idx.Pairs) == 0 {
		return idx, fmt.Errorf("covidqu: no image/mask pairs found under %s", taskDir)
	}
	return idx, nil
}

// Select returns the pairs of one split ("Train", "Val", "Test"; case-insensitive).
func (x *Index) Select(split string) []Pair {
	var out []Pair
	for _, p := range x.Pairs {
		if strings.EqualFold(p.Split, split) {
			out = append(out, p)
		}
	}
	return out
}

// LoadPair decodes a pair and resizes it to size x size (size <= 0 keeps the stored size).
// The image and mask must have the same size; errors name the file.
func LoadPair(p Pair, size int) (img, mask *imageio.Gray, err error) {
	img, err = imageio.ReadGray(p.Image)
	if err != nil {
		return nil, nil, fmt.Errorf("covidqu: %w", err)
	}
	mask, err = imageio.ReadGray(p.Mask)
	if err != nil {
		return nil, nil, fmt.Errorf("covidqu: %w", err)
	}
	if img.W != mask.W || img.H != mask.H {
		return nil, nil, fmt.Errorf("covidqu: size mismatch: image %s is %dx%d but mask %s is %dx%d",
			p.Image, img.W, img.H, p.Mask, mask.W, mask.H)
	}
	imageio.Binarize(mask)
	if size > 0 && (img.W != size || img.H != size) {
		img = imageio.ResizeArea(img, size, size)
		mask = imageio.ResizeMajority(mask, size, size)
	}
	return img, mask, nil
}

// Counts summarises an index: pairs per split and class, and mask completeness.
type Counts struct {
	PerSplitClass map[string]map[string]int
	Pairs         int
	Orphans       int
	Problems      int
}

// Count tallies the index.
func (x *Index) Count() Counts {
	c := Counts{PerSplitClass: map[string]map[string]int{}, Pairs: len(x.Pairs), Orphans: len(x.Orphans), Problems: len(x.Problems)}
	for _, p := range x.Pairs {
		if c.PerSplitClass[p.Split] == nil {
			c.PerSplitClass[p.Split] = map[string]int{}
		}
		c.PerSplitClass[p.Split][p.Class]++
	}
	return c
}
