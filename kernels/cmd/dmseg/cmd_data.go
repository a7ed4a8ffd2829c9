package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/data/covidqu"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/data/phantom"
	"github.com/dmseg/dmseg/kernels/imageio"
)

func init() {
	register("data", "data sets: phantom generation, sample grids, COVID-QU-Ex inspection", runData)
}

const dataHelp = `Usage: dmseg data <phantom|grid|inspect> [flags]   (dmseg data <sub> --help)

  phantom   write synthetic chest X-ray phantoms: DIR/images/NAME.png and DIR/masks/NAME.png
  grid      write a PNG grid of samples with mask overlays (phantom, brainmri or covidqu)
  inspect   count a COVID-QU-Ex folder per task/split/class and check every pair decodes`

func runData(args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, dataHelp)
		if len(args) == 0 {
			return fmt.Errorf("missing subcommand")
		}
		return nil
	}
	switch args[0] {
	case "phantom":
		return dataPhantom(args[1:])
	case "grid":
		return dataGrid(args[1:])
	case "inspect":
		return dataInspect(args[1:])
	}
	fmt.Fprintln(os.Stderr, dataHelp)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// parallel runs f(0..n-1) on all cores; results must be stored by index.
func parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func dataPhantom(args []string) error {
	fs := newFlags("data phantom", "--task lung|infection --n N --seed S [--size 64] [--split train] --out DIR", `
Writes N synthetic chest X-ray phantoms (rendered at 256x256, area-downsampled to --size; masks by
block majority) as 8-bit gray PNGs DIR/images/SPLIT-NNNNNN.png and DIR/masks/SPLIT-NNNNNN.png
(masks 0/255; lung masks exclude the heart; about a third of infection masks are empty).
Sample i of a split depends only on (seed, split, i, size): the same seed gives byte-identical files.`)
	task := fs.String("task", "lung", "lung or infection")
	n := fs.Int("n", 100, "number of pairs")
	seed := fs.Uint64("seed", 1, "random seed")
	size := fs.Int("size", 64, "output size in pixels (square)")
	split := fs.String("split", "train", "train, val or test (each has its own random stream)")
	out := fs.String("out", "", "output folder (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := phantom.ParseTask(*task)
	if err != nil {
		return err
	}
	sp, err := phantom.ParseSplit(*split)
	if err != nil {
		return err
	}
	if err := firstErr(inRange("n", int64(*n), 1, 1000000), inRange("size", int64(*size), 1, 1024)); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return fmt.Errorf("--out is required")
	}
	var set atomicfile.Set // the whole set appears, or none of it
	err = parallel(*n, func(i int) error {
		s := phantom.Generate(*seed, sp, i, *size)
		name := fmt.Sprintf("%s-%06d.png", sp, i)
		for _, f := range []struct {
			dir string
			g   *imageio.Gray
		}{{"images", s.Image}, {"masks", s.Mask(t)}} {
			data, err := imageio.EncodePNG(f.g.Image())
			if err != nil {
				return err
			}
			if err := set.Stage(filepath.Join(*out, f.dir, name), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		set.Abort()
		return err
	}
	if err := set.Commit(); err != nil {
		return err
	}
	fmt.Printf("wrote %d %s phantom pairs (%s, seed %d, %dx%d) to %s\n", *n, t, sp, *seed, *size, *size, *out)
	return nil
}

func dataGrid(args []string) error {
	fs := newFlags("data grid", "[--source phantom|brainmri|covidqu:TASK:ROOT] [--n 16] [--cols 4] --out FILE.png", `
Writes a grid of samples: each cell shows the image and, next to it, the image with the mask
overlaid (phantom: lung green, infection red; others: the task mask in green).`)
	source := fs.String("source", "phantom", "phantom, brainmri, or covidqu:TASK:ROOT")
	n := fs.Int("n", 16, "number of samples")
	cols := fs.Int("cols", 4, "cells per row")
	seed := fs.Uint64("seed", 1, "phantom seed")
	size := fs.Int("size", 64, "sample size in pixels")
	split := fs.String("split", "val", "train, val or test")
	zoom := fs.Int("zoom", 0, "integer upscaling of each cell (0: to about 192 px)")
	out := fs.String("out", "plots/data-phantom-grid.png", "output PNG")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := firstErr(inRange("n", int64(*n), 1, 1024), inRange("cols", int64(*cols), 1, 64),
		inRange("size", int64(*size), 8, 1024), inRange("zoom", int64(*zoom), 0, 32)); err != nil {
		return err
	}
	if *zoom == 0 {
		*zoom = max(1, 192 / *size)
	}
	if px := int64(*cols) * int64(*size) * int64(*zoom) * 2; px > 16384 {
		return fmt.Errorf("the grid would be %d pixels wide (--cols x --size x --zoom x 2); the limit is 16384", px)
	}
	var imgs, m1, m2 []*imageio.Gray
	switch {
	case *source == "phantom":
		sp, err := phantom.ParseSplit(*split)
		if err != nil {
			return err
		}
		for i := 0; i < *n; i++ {
			s := phantom.Generate(*seed, sp, i, *size)
			imgs, m1, m2 = append(imgs, s.Image), append(m1, s.Lung), append(m2, s.Infection)
		}
	default:
		src, err := dataset.Open(*source, dataset.PhantomConfig{Size: *size, Seed: *seed}, false)
		if err != nil {
			return err
		}
		for i := 0; i < min(*n, src.Len(*split)); i++ {
			im, mk, err := src.Pair(*split, i)
			if err != nil {
				return err
			}
			imgs = append(imgs, &imageio.Gray{W: src.Size(), H: src.Size(), Pix: im})
			m1 = append(m1, &imageio.Gray{W: src.Size(), H: src.Size(), Pix: mk})
		}
		if len(imgs) == 0 {
			return fmt.Errorf("%s has no %s samples", *source, *split)
		}
	}
	if err := imageio.WritePNG(*out, imageio.OverlayGrid(imgs, m1, m2, *cols, *zoom)); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d samples of %s, %s split)\n", *out, len(imgs), *source, *split)
	return nil
}

func dataInspect(args []string) error {
	fs := newFlags("data inspect", "[--task lung|infection|both] [--skip-bad] [--quick] DIR", `
Inspects a COVID-QU-Ex folder in the Kaggle layout
  DIR/Lung Segmentation Data/Lung Segmentation Data/{Train,Val,Test}/{COVID-19,Non-COVID,Normal}/{images,lung masks}/
  DIR/Infection Segmentation Data/Infection Segmentation Data/.../{images,lung masks,infection masks}/
and prints the number of image/mask pairs per task, split and class, masks without images, and
(unless --quick) decodes every pair to check it is a valid PNG with matching image/mask sizes.
Stops at the first bad file with an error naming it, unless --skip-bad (then lists them all).`)
	task := fs.String("task", "both", "lung, infection or both")
	skip := fs.Bool("skip-bad", false, "report bad files and continue")
	quick := fs.Bool("quick", false, "only check names, do not decode the PNGs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want exactly one folder, got %d arguments", fs.NArg())
	}
	root := fs.Arg(0)
	tasks := []string{"lung", "infection"}
	if *task != "both" {
		if _, ok := covidqu.TaskFolder[*task]; !ok {
			return fmt.Errorf("unknown task %q (want lung, infection or both)", *task)
		}
		tasks = []string{*task}
	}
	found, bad := 0, 0
	for _, tk := range tasks {
		idx, err := covidqu.Scan(root, tk, *skip)
		if err != nil {
			if *task == "both" && strings.Contains(err.Error(), "wrong data root") {
				fmt.Printf("%s: not present (%v)\n\n", tk, err)
				continue
			}
			return err
		}
		found++
		problems := append([]covidqu.Problem(nil), idx.Problems...)
		if !*quick {
			var mu sync.Mutex
			perr := parallel(len(idx.Pairs), func(i int) error {
				if _, _, err := covidqu.LoadPair(idx.Pairs[i], 0); err != nil {
					if !*skip {
						return err
					}
					mu.Lock()
					problems = append(problems, covidqu.Problem{Path: idx.Pairs[i].Image, Err: err})
					mu.Unlock()
				}
				return nil
			})
			if perr != nil {
				return perr
			}
		}
		c := idx.Count()
		fmt.Printf("task %s: %s\n", tk, idx.TaskDir)
		fmt.Printf("  %-6s %10s %10s %10s %10s\n", "split", "COVID-19", "Non-COVID", "Normal", "total")
		total := 0
		for _, s := range covidqu.Splits {
			row := 0
			fmt.Printf("  %-6s", s)
			for _, cl := range covidqu.Classes {
				fmt.Printf(" %10d", c.PerSplitClass[s][cl])
				row += c.PerSplitClass[s][cl]
			}
			fmt.Printf(" %10d\n", row)
			total += row
		}
		fmt.Printf("  pairs %d; masks without image %d; bad inputs %d\n", total, c.Orphans, len(problems))
		if len(problems) == 0 && c.Orphans == 0 {
			fmt.Printf("  every image has its %s", covidqu.MaskFolder[tk])
			if !*quick {
				fmt.Printf(" and every pair decodes with matching sizes")
			}
			fmt.Println()
		}
		sort.Slice(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
		for _, p := range problems {
			fmt.Printf("  BAD %v\n", p.Err)
			bad++
		}
		for _, o := range idx.Orphans {
			fmt.Printf("  ORPHAN mask without image: %s\n", o)
		}
		fmt.Println()
	}
	if found == 0 {
		_, err := covidqu.FindTaskDir(root, tasks[0])
		return err
	}
	if bad > 0 {
		fmt.Printf("%d bad inputs skipped\n", bad)
	}
	return nil
}
