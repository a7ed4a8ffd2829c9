// Command fig-ch2 regenerates the chapter 2 outputs from a committed DDPM
// artifact (never retrains): Figure 10 (grid of DDIM samples), Figure 12 (an
// image, its noised version, one U-Net pass), the sample-quality table against
// held-out phantoms and the DDPM-1000 vs DDIM-50 timing. Every output is
// stamped with the artifact id, the commits and the backend.
//
//	go run ./kernels/figures/synthesis/cmd/fig-ch2 --artifact ch2-ddpm-uncond-cpu --out plots
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/figures/synthesis"
	"github.com/dmseg/dmseg/kernels/train"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fig-ch2:", err)
		os.Exit(1)
	}
}

func run() error {
	ref := flag.String("artifact", "ch2-ddpm-uncond-cpu", "artifact id, unique prefix or experiment name (newest)")
	root := flag.String("artifacts", artifacts.Root(), "artifacts folder")
	out := flag.String("out", "plots", "output folder")
	be := flag.String("backend", "", "backend (default $DMSEG_BACKEND, else auto)")
	evalN := flag.Int("eval-n", 0, "generated images for the quality table (default: the experiment's eval_samples)")
	batch := flag.Int("batch", 32, "sampling batch size")
	gridN := flag.Int("grid", 36, "images in Figure 10")
	timingN := flag.Int("timing-n", 8, "batch size of the DDPM vs DDIM timing (0 = skip)")
	record := flag.Bool("record", false, "also write the metrics into the artifact's manifest (once, after training)")
	allowDrift := flag.Bool("allow-data-drift", false, "continue when the current code generates different training data than the artifact's")
	flag.Parse()

	a, err := artifacts.Open(*root, *ref)
	if err != nil {
		return err
	}
	backend, info, err := engine.New(*be)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, info.String())
	l, err := experiments.LoadDDPM(a)
	if err != nil {
		return err
	}
	if err := l.CheckData(); err != nil {
		if !*allowDrift {
			return err
		}
		fmt.Fprintln(os.Stderr, "warning:", err)
	}
	head := artifacts.GitState(engine.ProjectRoot())
	stamp := fmt.Sprintf("%s code=%.12s %s", a.Stamp(), head.Commit, info.String())
	if i := strings.Index(stamp, " ("); i > 0 && strings.HasPrefix(info.String(), "backend=") {
		stamp = stamp[:i] // drop the plugin path from the visible stamp
		stamp += fmt.Sprintf(" PJRT v%s", info.PluginVersion)
	}
	e := l.Config.Experiment
	size := l.ImageSize()
	if *evalN == 0 {
		*evalN = e.Sampling.EvalSamples
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	// Samples: DDIM with the experiment's settings (thesis: 50 steps, eta 0).
	dd, err := l.NewSampler(backend, "ddim", 0)
	if err != nil {
		return err
	}
	n := max(*evalN, *gridN)
	fmt.Fprintf(os.Stderr, "sampling %d images with DDIM-%d ...\n", n, dd.Steps())
	gen, sampleSec, err := synthesis.SampleBatched(dd, n, *batch, e.Sampling.EvalSeed, size, nil)
	if err != nil {
		return err
	}
	cols := 6
	png10, err := synthesis.Figure10(gen[:*gridN*size*size], *gridN, size, cols, "DDIM", dd.Steps(), stamp)
	if err != nil {
		return err
	}
	if err := train.WriteFileAtomic(filepath.Join(*out, "fig10-ddpm-samples.png"), png10); err != nil {
		return err
	}

	// Figure 12 on held-out image 0.
	held, err := e.LoadSplit(e.Data.HeldOut)
	if err != nil {
		return err
	}
	x0 := held.Image(0)
	T := l.Model.Sched.T
	ts := []int{T / 20, T / 4, T / 2, 4 * T / 5}
	rows, err := synthesis.DenoisePass(backend, l, x0, size, ts, e.Sampling.EvalSeed)
	if err != nil {
		return err
	}
	png12, err := synthesis.Figure12(x0, rows, size, stamp)
	if err != nil {
		return err
	}
	if err := train.WriteFileAtomic(filepath.Join(*out, "fig12-denoising-pass.png"), png12); err != nil {
		return err
	}

	// Quality against the held-out split; calibration rows use the validation split.
	other, err := e.LoadSplit("val")
	if err != nil {
		return err
	}
	q, err := synthesis.Quality(gen[:*evalN*size*size], *evalN, held, other, "DDIM", dd.Steps(), uint64(e.Sampling.EvalSeed))
	if err != nil {
		return err
	}
	md := q.Markdown(stamp)
	md += fmt.Sprintf("\nSampling %d images with DDIM-%d took %.1f s (batch %d, including compilation).\n", n, dd.Steps(), sampleSec, *batch)
	var timing *synthesis.SamplerTiming
	if *timingN > 0 {
		fmt.Fprintf(os.Stderr, "timing DDPM-%d vs DDIM-%d on %d images ...\n", T, dd.Steps(), *timingN)
		timing, err = synthesis.TimeSamplers(backend, l, *timingN, e.Sampling.EvalSeed)
		if err != nil {
			return err
		}
		pngS, err := synthesis.FigureSamplers(timing, size, stamp)
		if err != nil {
			return err
		}
		if err := train.WriteFileAtomic(filepath.Join(*out, "fig10-ddpm-vs-ddim.png"), pngS); err != nil {
			return err
		}
		md += fmt.Sprintf("\n## Sampling time, same artifact, batch %d\n\n| sampler | network calls | seconds | per image |\n|---|---|---|---|\n"+
			"| DDPM ancestral | %d | %.1f | %.2f |\n| DDIM (eta 0) | %d | %.1f | %.2f |\n\nDDIM speed-up: %.1fx (network-call ratio %.0fx); compilation (excluded) %.1f s.\n",
			timing.N, timing.DDPMSteps, timing.DDPMSeconds, timing.DDPMSeconds/float64(timing.N),
			timing.DDIMSteps, timing.DDIMSeconds, timing.DDIMSeconds/float64(timing.N), timing.Ratio, timing.IdealRatio, timing.CompileSeconds)
	}
	md += fmt.Sprintf("\nTraining: %d steps in %.0f s on %s (artifact %s).\n", int64(a.Manifest.Metrics["steps"]), a.Manifest.Timings["train"], a.Manifest.Backend.Name, a.Manifest.ID)
	if err := train.WriteFileAtomic(filepath.Join(*out, "fig10-quality.md"), []byte(md)); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(map[string]any{"stamp": stamp, "artifact": a.Manifest.ID, "quality": q, "timing": timing,
		"generated_at": time.Now().UTC().Format(time.RFC3339)}, "", "  ")
	if err := train.WriteFileAtomic(filepath.Join(*out, "fig10-quality.json"), js); err != nil {
		return err
	}
	fmt.Print(md)
	if *record {
		m := map[string]float64{"fd_ddim": q.Generated.FD, "kid_ddim": q.Generated.KID, "fd_real_floor": q.RealFloor.FD,
			"kid_real_floor": q.RealFloor.KID, "w1_pixels_ddim": q.Generated.Pixels.W1Intensity}
		tm := map[string]float64{"ddim_sample_seconds_per_image": sampleSec / float64(n)}
		if timing != nil {
			m["ddpm_over_ddim_time_ratio"] = timing.Ratio
			tm["ddpm1000_seconds_batch"] = timing.DDPMSeconds
			tm["ddim50_seconds_batch"] = timing.DDIMSeconds
		}
		notes := map[string]string{"metrics_backend": info.Name, "metrics_features": q.Generated.FeatureVer}
		if a.Manifest.Dataset.PixelsSHA256 == "" {
			// Runs made before pixels_sha256 existed: record it now, right after training, from the same code.
			train, err := e.LoadSplit(e.Data.TrainSplit)
			if err != nil {
				return err
			}
			a.Manifest.Dataset.PixelsSHA256 = experiments.PixelsSHA256(train)
			notes["pixels_sha256_recorded"] = fmt.Sprintf("after training, by fig-ch2 --record at code commit %.12s", head.Commit)
		}
		if err := a.SetMetrics(m, tm, notes); err != nil {
			return err
		}
		if err := a.Verify(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "metrics recorded in %s\n", filepath.Join(a.Dir, artifacts.ManifestFile))
	}
	return nil
}
