package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/bench"
	"github.com/dmseg/dmseg/kernels/engine"
)

func init() {
	register("bench", "training-step benchmark on each backend vs PyTorch CPU; writes thesis/PERFORMANCE.md", runBench)
	register("bench-model", "time one denoiser config in a fresh process (peak memory); used by bench", runBenchModel)
}

// benchModelInChild measures one model in a child process, so that its peak memory is its own.
func benchModelInChild(backend, config string, batch, reps int) (bench.ModelTiming, error) {
	exe, err := os.Executable()
	if err != nil {
		return bench.ModelTiming{}, err
	}
	cmd := exec.Command(exe, "bench-model", "--backend", backend, "--config", config,
		"--batch", fmt.Sprint(batch), "--reps", fmt.Sprint(reps))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return bench.ModelTiming{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var mt bench.ModelTiming
	if err := json.Unmarshal(bytes.TrimSpace(outb), &mt); err != nil {
		return mt, fmt.Errorf("parsing bench-model output %q: %w", outb, err)
	}
	return mt, nil
}

func runBenchModel(args []string) error {
	fs := newFlags("bench-model", "--config NAME [--backend B] [--batch 16] [--reps 3]",
		`Times the forward pass and the training step (epsilon MSE + Adam) of one registry configuration at
its native size and prints one JSON line, including this process's peak resident memory.`)
	backend := backendFlag(fs)
	config := fs.String("config", "", "denoiser configuration (dmseg params --list)")
	batch := fs.Int("batch", 16, "batch size")
	reps := fs.Int("reps", 3, "timed repetitions (median)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" {
		return fmt.Errorf("--config is required")
	}
	b, _, err := openBackend(*backend)
	if err != nil {
		return err
	}
	mt, err := bench.Model(b, *config, *batch, *reps)
	if err != nil {
		return err
	}
	mt.PeakRSSMiB = bench.PeakRSSMiB()
	return json.NewEncoder(os.Stdout).Encode(mt)
}

type torchResult struct {
	Version string  `json:"version"`
	Threads int     `json:"threads"`
	Batch   int     `json:"batch"`
	Reps    int     `json:"reps"`
	Seconds float64 `json:"seconds"`
	Params  int     `json:"params"`
	// Profile: the parts of kernels/bench.ProfileRows in seconds (mode "profile").
	Profile map[string]float64 `json:"profile"`
}

type backendResult struct {
	Info    engine.Info          `json:"backend"`
	Params  int                  `json:"params"`
	Step    bench.Timing         `json:"train_step"`
	Batches map[int]bench.Timing `json:"train_step_by_batch"` // the --ratio-batches
	Sample  bench.Timing         `json:"sample"`
	Kernels []bench.Timing       `json:"kernels"`
	Models  []bench.ModelTiming  `json:"models"`
	Profile map[string]float64   `json:"profile"` // bench.Profile of the probe step (first XLA backend)
}

func runBench(args []string) error {
	fs := newFlags("bench", "[--backends xla:cpu,go] [--batch 16] [--reps 10] [--out thesis/PERFORMANCE.md]",
		`Times the training step (forward + backward + Adam) of the probe U-Net (kernels/bench.ProbeUNet,
64x64x1 input) on each backend, and the identical network in PyTorch CPU (scripts/bench_torch.py run
with --python) in the same run, plus matmul and conv-layer GFLOP/s. Writes a Markdown report and ends
with the line train_step_ratio_vs_pytorch=R, R = dmseg step time on the first XLA backend measured / PyTorch step time (lower is
better; 1.0 = parity).`)
	backendsFlag := fs.String("backends", "xla:cpu,go", "comma-separated backends to measure (missing ones are reported and skipped)")
	batch := fs.Int("batch", 16, "batch size")
	reps := fs.Int("reps", 10, "timed repetitions per measurement on XLA (median); the pure-Go backend uses 1")
	python := fs.String("python", "/usr/bin/python3", "Python with torch (Debian python3-torch); empty to skip the peer")
	script := fs.String("torch-script", "scripts/bench_torch.py", "the PyTorch mirror of the probe network")
	models := fs.String("models", "unet-cpu,dit-cpu", "registry configs whose forward and training step to time (dmseg params --list)")
	modelBackends := fs.String("model-backends", "", "measure --models on backends whose name starts with this prefix (\"\" = all)")
	modelsOnly := fs.Bool("models-only", false, "time only --models (no probe network, kernels or PyTorch peer)")
	torchDevice := fs.String("torch-device", "cpu", "device of the PyTorch peer: cpu or cuda (compare with --backends xla:cuda)")
	latent := fs.Bool("latent", false, "also time pixel space vs VQ-GAN f4/f8 latents (chapter 5: denoiser step, encode, decode, sampling per image) on each XLA backend")
	latentSteps := fs.Int("latent-steps", 50, "sampling steps of the --latent comparison (>= 1)")
	ratioBatches := fs.String("ratio-batches", "8,32", "further batch sizes of the probe's training step, each against PyTorch (\"\" = none)")
	sampleSteps := fs.Int("sample-steps", 50, "DDIM steps of the sampling comparison (0 = skip it)")
	sampleBatch := fs.Int("sample-batch", 64, "images sampled at once in the sampling comparison")
	sampleReps := fs.Int("sample-reps", 3, "timed repetitions of the whole sampling loop (median)")
	devicesFlag := fs.String("devices", "", "also time data-parallel training (dmseg train --devices) of --parallel-config on these device counts, e.g. 1,2,4, on each XLA backend")
	parallelConfig := fs.String("parallel-config", "unet-cpu", "registry denoiser of the --devices timing")
	profile := fs.Bool("profile", true, "split the probe's training step into parts (convolution forward / gradients, GroupNorm, SiLU, optimizer, rest) on the first XLA backend and in PyTorch")
	out := fs.String("out", "thesis/PERFORMANCE.md", "report to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *latentSteps < 1 {
		return fmt.Errorf("--latent-steps must be >= 1, got %d", *latentSteps)
	}
	if *sampleSteps < 0 || *sampleBatch < 1 || *sampleReps < 1 {
		return fmt.Errorf("--sample-steps must be >= 0 (0 = skip), --sample-batch and --sample-reps >= 1; got %d, %d, %d", *sampleSteps, *sampleBatch, *sampleReps)
	}
	var results []backendResult
	extraBatches, err := intList("ratio-batches", *ratioBatches)
	if err != nil {
		return err
	}
	deviceCounts, err := intList("devices", *devicesFlag)
	if err != nil {
		return err
	}
	var parallelMD []string
	hostAtStart := bench.ReadHost() // before this run adds its own load
	fmt.Fprintf(os.Stderr, "bench: %s\n", hostAtStart)
	var latentMD []string
	var skipped []string
	var torch *torchResult
	var torchErr string
	torchBatches := map[int]*torchResult{}
	var torchSample *torchResult
	var torchProfile map[string]float64
	// The PyTorch peer runs first, in a process of its own, while this one is still fresh:
	// after the pure-Go backend (a heap of about 4 GB) the Go runtime's collector and
	// scavenger kept running beside it, and the peer's batch-16 step measured 0.37-0.40 s
	// against 0.29 s alone on the same idle host (2026-12-03), flattering the ratio.
	if *python != "" && !*modelsOnly {
		fmt.Fprintf(os.Stderr, "bench: PyTorch peer (%s %s) ...\n", *python, *script)
		threads := runtime.NumCPU()
		torch, err = runTorch(*python, *script, *batch, *reps, threads, *torchDevice, "train")
		if err != nil {
			torchErr = err.Error()
			fmt.Fprintf(os.Stderr, "bench: PyTorch peer failed: %s\n", torchErr)
		} else {
			for _, eb := range extraBatches {
				if t, err := runTorch(*python, *script, eb, *reps, threads, *torchDevice, "train"); err == nil {
					torchBatches[eb] = t
				} else {
					fmt.Fprintf(os.Stderr, "bench: PyTorch batch %d failed: %v\n", eb, err)
				}
			}
			if *profile {
				if tp, err := runTorch(*python, *script, *batch, *reps, threads, *torchDevice, "profile"); err == nil {
					torchProfile = tp.Profile
				} else {
					fmt.Fprintf(os.Stderr, "bench: PyTorch profile failed: %v\n", err)
				}
			}
			if *sampleSteps > 0 {
				if torchSample, err = runTorch(*python, *script, *sampleBatch, *sampleReps, threads, *torchDevice, fmt.Sprintf("sample:%d", *sampleSteps)); err != nil {
					fmt.Fprintf(os.Stderr, "bench: PyTorch sampling failed: %v\n", err)
				}
			}
		}
	}
	profiled := false
	for _, name := range strings.Split(*backendsFlag, ",") {
		name = strings.TrimSpace(name)
		b, info, err := engine.New(name)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			fmt.Fprintf(os.Stderr, "bench: skipping %s: %v\n", name, err)
			continue
		}
		r := *reps
		if info.Name == "go" {
			r = 1
		}
		res := backendResult{Info: info}
		if !*modelsOnly {
			fmt.Fprintf(os.Stderr, "bench: %s: probe-unet training step, batch %d, %d reps ...\n", info, *batch, r)
			step, params := bench.TrainStep(b, *batch, r)
			res.Params, res.Step = params, step
			fmt.Fprintf(os.Stderr, "bench: %s: %.3f s/step, %.1f images/s, %.1f GFLOP/s\n", info.Name, step.Seconds,
				float64(*batch)/step.Seconds, step.GFLOPs)
			res.Kernels = append(res.Kernels, bench.Matmul(b, 1024, r), bench.ConvLayer(b, 16, 64, 32, r, false),
				bench.ConvLayer(b, 16, 64, 32, r, true))
			if strings.HasPrefix(info.Name, "xla") {
				res.Batches = map[int]bench.Timing{}
				for _, eb := range extraBatches {
					fmt.Fprintf(os.Stderr, "bench: %s: probe-unet training step, batch %d ...\n", info.Name, eb)
					res.Batches[eb], _ = bench.TrainStep(b, eb, r)
				}
				if *profile && !profiled {
					fmt.Fprintf(os.Stderr, "bench: %s: profile of the probe step by part ...\n", info.Name)
					res.Profile, profiled = bench.Profile(b, *batch, r), true
				}
				if *sampleSteps > 0 {
					fmt.Fprintf(os.Stderr, "bench: %s: DDIM-%d sampling of %d images ...\n", info.Name, *sampleSteps, *sampleBatch)
					res.Sample = bench.SampleLoop(b, *sampleBatch, *sampleSteps, *sampleReps)
					fmt.Fprintf(os.Stderr, "bench: %s: %.2f s\n", info.Name, res.Sample.Seconds)
				}
			}
		}
		if *models != "" && strings.HasPrefix(info.Name, *modelBackends) {
			for _, m := range strings.Split(*models, ",") {
				m = strings.TrimSpace(m)
				fmt.Fprintf(os.Stderr, "bench: %s: model %s ...\n", info.Name, m)
				mt, err := benchModelInChild(info.Name, m, *batch, max(1, r/2))
				if err != nil {
					return fmt.Errorf("model %s: %w", m, err)
				}
				fmt.Fprintf(os.Stderr, "bench: %s: %s\n", info.Name, mt)
				res.Models = append(res.Models, mt)
			}
		}
		if *latent && strings.HasPrefix(info.Name, "xla") {
			fmt.Fprintf(os.Stderr, "bench: %s: pixel vs latent sampling ...\n", info.Name)
			ts, err := bench.LatentSpeed(b, bench.LatentCases(), *batch, *latentSteps, max(1, r/2))
			if err != nil {
				return fmt.Errorf("latent comparison: %w", err)
			}
			latentMD = append(latentMD, fmt.Sprintf("Backend %s.\n\n%s", info.Name, bench.LatentMarkdown(ts)))
		}
		if len(deviceCounts) > 0 && strings.HasPrefix(info.Name, "xla") {
			fmt.Fprintf(os.Stderr, "bench: %s: data-parallel training of %s on %v device(s) ...\n", info.Name, *parallelConfig, deviceCounts)
			ts, err := bench.DataParallel(b, *parallelConfig, *batch, 6, deviceCounts)
			if err != nil {
				return fmt.Errorf("data-parallel timing: %w", err)
			}
			parallelMD = append(parallelMD, fmt.Sprintf("\n## Data-parallel training (dmseg train --devices N), backend %s\n\n"+
				"The training loop itself (train.Run: eps-MSE, Adam, EMA) on one-axis device meshes; each device gets batch/N images.\n\n%s", info.Name, bench.ParallelMarkdown(ts)))
		}
		results = append(results, res)
	}
	ratio, ratioBackend := -1.0, ""
	var md strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&md, "# Performance (generated by `make bench`; do not edit)\n\n")
	fmt.Fprintf(&md, "Generated %s on %s: %d cores, %s/%s, %s, GoMLX %s.\n%s (at the start).\n\n", time.Now().UTC().Format(time.RFC3339),
		host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), engine.ModuleVersion("github.com/gomlx/gomlx"), hostAtStart)
	sampleRatio := -1.0
	if !*modelsOnly {
		writeProbeSections(&md, results, torch, torchErr, *batch, *torchDevice, &ratio, &ratioBackend)
		sampleRatio = writeRatioSections(&md, results, torch, torchBatches, torchSample, *batch, *sampleBatch, *sampleSteps)
		for _, r := range results {
			if r.Profile != nil {
				fmt.Fprintf(&md, "\n## Profile of the training step by part (probe U-Net, batch %d)\n\n%s\n%s", *batch, profileMethod,
					bench.ProfileMarkdown(r.Info.Name, r.Profile, torchProfile, *batch))
				break
			}
		}
	}
	hasModels := false
	for _, r := range results {
		hasModels = hasModels || len(r.Models) > 0
	}
	if hasModels {
		fmt.Fprintf(&md, "\n## Denoiser configurations (kernels/models/registry), epsilon-MSE + Adam\n\n")
		fmt.Fprintf(&md, "| engine | config | params | input | batch | forward s | forward img/s | train step s | train img/s | peak RSS MiB |\n")
		fmt.Fprintf(&md, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range results {
			for _, m := range r.Models {
				fmt.Fprintf(&md, "| %s | %s | %d | %dx%d | %d | %.3f | %.1f | %.3f | %.1f | %.0f |\n", r.Info.Name, m.Config,
					m.Params, m.Size, m.Size, m.Batch, m.ForwardSec, m.ForwardImgS, m.TrainStepSec, m.TrainStepImgS, m.PeakRSSMiB)
			}
		}
	}
	for _, l := range parallelMD {
		fmt.Fprintf(&md, "%s", l)
	}
	for _, l := range latentMD {
		fmt.Fprintf(&md, "\n%s", l)
	}
	for _, s := range skipped {
		fmt.Fprintf(&md, "\nSkipped backend: %s\n", s)
	}
	fmt.Fprintf(&md, "\nTimes are medians after one warm-up (compilation) step; pure Go: one timed step. "+
		"The machine may be shared: compare ratios from the same run, not absolute times across runs.\n")
	if sampleRatio > 0 {
		fmt.Fprintf(&md, "\nsample_ratio_vs_pytorch=%.3f (DDIM-%d of %d images, dmseg / PyTorch no_grad; goal <= 1.0)\n", sampleRatio, *sampleSteps, *sampleBatch)
	}
	if ratio > 0 {
		fmt.Fprintf(&md, "\ntrain_step_ratio_vs_pytorch=%.3f (dmseg %s / PyTorch %s; target <= 1.5, goal <= 1.0)\n", ratio, ratioBackend, *torchDevice)
	}
	if err := atomicfile.Write(*out, []byte(md.String())); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", *out)
	if ratio > 0 {
		fmt.Printf("train_step_ratio_vs_pytorch=%.3f\n", ratio)
	} else {
		fmt.Printf("train_step_ratio_vs_pytorch=unavailable\n")
	}
	if sampleRatio > 0 {
		fmt.Printf("sample_ratio_vs_pytorch=%.3f\n", sampleRatio)
	} else if !*modelsOnly && *sampleSteps > 0 {
		fmt.Printf("sample_ratio_vs_pytorch=unavailable\n")
	}
	return nil
}

// profileMethod says how the profile table is measured (bench.Profile).
const profileMethod = "XLA compiles a step into one fused program, so there is no per-operation timer on XLA CPU; both " +
	"engines are split the same way from outside (kernels/bench.Profile, scripts/bench_torch.py mode profile): the " +
	"convolution rows run each of the probe's convolution shapes alone (forward; gradient w.r.t. the input only; w.r.t. " +
	"the kernel only: what autograd calls, aten::convolution_backward in PyTorch) times its count; GroupNorm and SiLU are " +
	"the step minus the step without them; the optimizer is the step minus a step that outputs the same gradients without the update; rest is what is left. " +
	"Ablations interact with fusion, so the parts are estimates that need not add up exactly.\n"

// writeProbeSections writes the probe network's training step against the
// PyTorch peer and the kernel timings, and sets the first XLA ratio.
func writeProbeSections(md *strings.Builder, results []backendResult, torch *torchResult, torchErr string, batch int, torchDevice string, ratio *float64, ratioBackend *string) {
	fmt.Fprintf(md, "## Training step: probe U-Net, 64x64x1, batch %d (forward + backward + Adam)\n\n", batch)
	fmt.Fprintf(md, "FLOPs per step (convolutions only, 3x forward): %.2f GFLOP.\n\n", 3*bench.ProbeUNetForwardFLOPs()*float64(batch)/1e9)
	fmt.Fprintf(md, "| engine | params | s/step | images/s | GFLOP/s | time / PyTorch |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		if r.Step.Seconds == 0 {
			continue
		}
		rel := "n/a"
		if torch != nil {
			q := r.Step.Seconds / torch.Seconds
			rel = fmt.Sprintf("%.2f", q)
			if *ratio < 0 && strings.HasPrefix(r.Info.Name, "xla") {
				*ratio, *ratioBackend = q, r.Info.Name
			}
		}
		fmt.Fprintf(md, "| dmseg %s | %d | %.3f | %.1f | %.1f | %s |\n", r.Info.Name, r.Params, r.Step.Seconds,
			float64(batch)/r.Step.Seconds, r.Step.GFLOPs, rel)
	}
	if torch != nil {
		fmt.Fprintf(md, "| PyTorch %s %s (%d CPU threads) | %d | %.3f | %.1f | %.1f | 1.00 |\n", torch.Version, torchDevice, torch.Threads,
			torch.Params, torch.Seconds, float64(batch)/torch.Seconds, 3*bench.ProbeUNetForwardFLOPs()*float64(batch)/torch.Seconds/1e9)
	} else {
		fmt.Fprintf(md, "\nPyTorch peer not measured: %s\n", torchErr)
	}
	fmt.Fprintf(md, "\n## Kernels\n\n| engine | kernel | ms | GFLOP/s |\n|---|---|---:|---:|\n")
	for _, r := range results {
		for _, k := range r.Kernels {
			fmt.Fprintf(md, "| %s | %s | %.2f | %.1f |\n", r.Info.Name, k.Name, k.Seconds*1e3, k.GFLOPs)
		}
	}
}

// runTorch runs the PyTorch peer script in mode "train" or "sample:S" and
// decodes its JSON line.
func runTorch(python, script string, batch, reps, threads int, device, mode string) (*torchResult, error) {
	cmd := exec.Command(python, script, fmt.Sprint(batch), fmt.Sprint(reps), fmt.Sprint(threads), device, mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	t := &torchResult{}
	if err := json.Unmarshal(bytes.TrimSpace(outb), t); err != nil {
		return nil, fmt.Errorf("parsing %s output %q: %w", script, outb, err)
	}
	return t, nil
}

// writeRatioSections writes the probe's training step against PyTorch at
// the further batch sizes and the sampling comparison; it returns the first
// XLA backend's sampling ratio (-1 when not measured).
func writeRatioSections(md *strings.Builder, results []backendResult, torch *torchResult, torchBatches map[int]*torchResult, torchSample *torchResult, batch, sampleBatch, sampleSteps int) float64 {
	var bs []int
	for b := range torchBatches {
		bs = append(bs, b)
	}
	if torch != nil {
		bs = append(bs, batch)
	}
	sort.Ints(bs)
	if len(bs) > 1 {
		fmt.Fprintf(md, "\n## Training step by batch size (probe U-Net), time / PyTorch\n\n| engine | batch | dmseg s/step | PyTorch s/step | ratio |\n|---|---:|---:|---:|---:|\n")
		for _, r := range results {
			for _, b := range bs {
				d, pt := r.Batches[b], torchBatches[b]
				if b == batch {
					d, pt = r.Step, torch
				}
				if d.Seconds == 0 || pt == nil {
					continue
				}
				fmt.Fprintf(md, "| dmseg %s | %d | %.3f | %.3f | %.2f |\n", r.Info.Name, b, d.Seconds, pt.Seconds, d.Seconds/pt.Seconds)
			}
		}
	}
	ratio := -1.0
	if sampleSteps > 0 {
		fmt.Fprintf(md, "\n## Sampling: DDIM-%d of %d images 64x64x1 with the probe U-Net as noise predictor\n\n", sampleSteps, sampleBatch)
		fmt.Fprintf(md, "One compiled update graph executed per step (as dmseg's samplers) against a PyTorch loop under torch.no_grad.\n\n")
		fmt.Fprintf(md, "| engine | seconds | GFLOP/s | time / PyTorch |\n|---|---:|---:|---:|\n")
		for _, r := range results {
			if r.Sample.Seconds == 0 {
				continue
			}
			rel := "n/a"
			if torchSample != nil {
				q := r.Sample.Seconds / torchSample.Seconds
				rel = fmt.Sprintf("%.2f", q)
				if ratio < 0 {
					ratio = q
				}
			}
			fmt.Fprintf(md, "| dmseg %s | %.2f | %.1f | %s |\n", r.Info.Name, r.Sample.Seconds, r.Sample.GFLOPs, rel)
		}
		if torchSample != nil {
			fmt.Fprintf(md, "| PyTorch %s (%d threads) | %.2f | %.1f | 1.00 |\n", torchSample.Version, torchSample.Threads, torchSample.Seconds,
				bench.ProbeUNetForwardFLOPs()*float64(sampleBatch*sampleSteps)/torchSample.Seconds/1e9)
		}
	}
	return ratio
}

// intList parses a comma-separated list of positive integers ("" = none).
func intList(flag, v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: want a comma-separated list of integers >= 1", flag, v)
		}
		out = append(out, n)
	}
	return out, nil
}
