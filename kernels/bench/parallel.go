package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ParallelTiming is the data-parallel training rate of one device count.
type ParallelTiming struct {
	Config  string  `json:"config"`
	Devices int     `json:"devices"`
	Batch   int     `json:"batch"`
	StepSec float64 `json:"step_seconds"`
	ImgS    float64 `json:"images_per_second"`
	Speedup float64 `json:"speedup_vs_one_device"`
}

// DataParallel times the training loop (train.Run: epsilon-MSE of the
// registry denoiser name, Adam, EMA) for each device count on backend b,
// steps steps each; the first step (compilation) is left out of the rate.
func DataParallel(b backends.Backend, name string, batch, steps int, devices []int) ([]ParallelTiming, error) {
	cfg, err := registry.Lookup(name)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.Resolve(); err != nil {
		return nil, err
	}
	if steps < 3 {
		return nil, fmt.Errorf("bench: data-parallel timing needs >= 3 steps, got %d", steps)
	}
	size := cfg.ImageSize
	rng := rand.New(rand.NewPCG(5, 5))
	tData := make([]float32, batch)
	for i := range tData {
		tData[i] = float32(rng.IntN(1000))
	}
	in := []*tensors.Tensor{randomTensor(rng, batch, size, size, cfg.DataChannels), tensors.FromFlatDataAndDimensions(tData, batch),
		randomTensor(rng, batch, size, size, cfg.DataChannels)}
	if cfg.Cond != registry.CondNone {
		in = append(in, randomTensor(rng, batch, size, size, cfg.CondChannels))
	}
	den := cfg.Denoiser()
	loss := func(ctx *context.Context, bt []*Node) *Node {
		var c *Node
		if len(bt) > 3 {
			c = bt[3]
		}
		return ReduceAllMean(Square(Sub(den(ctx, bt[0], bt[1], c), bt[2])))
	}
	var out []ParallelTiming
	for _, n := range devices {
		dir, err := os.MkdirTemp("", "dmseg-bench-parallel-")
		if err != nil {
			return nil, err
		}
		_, err = train.Run(b, context.New(), loss, train.BatchFunc(func(int64) ([]*tensors.Tensor, error) { return in, nil }),
			train.Config{Steps: int64(steps), BatchSize: batch, Seed: 1, LR: train.LRConfig{LR: 1e-4}, EMADecay: 0.99},
			train.Options{OutDir: dir, Progress: io.Discard, Devices: n})
		var rows []train.LossRow
		if err == nil {
			rows, err = train.ReadLossCSV(filepath.Join(dir, train.LossCSVFile))
		}
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("bench: %d device(s): %w", n, err)
		}
		if len(rows) != steps {
			return nil, fmt.Errorf("bench: %d device(s): %d loss rows, want %d", n, len(rows), steps)
		}
		sec := (rows[steps-1].TrainSeconds - rows[0].TrainSeconds) / float64(steps-1)
		out = append(out, ParallelTiming{Config: name, Devices: n, Batch: batch, StepSec: sec, ImgS: float64(batch) / sec})
	}
	for i := range out {
		out[i].Speedup = out[i].ImgS / out[0].ImgS
	}
	return out, nil
}

// ParallelMarkdown is the data-parallel table.
func ParallelMarkdown(ts []ParallelTiming) string {
	var sb strings.Builder
	sb.WriteString("| config | devices | batch | s/step | images/s | vs 1 device |\n|---|---:|---:|---:|---:|---:|\n")
	for _, t := range ts {
		fmt.Fprintf(&sb, "| %s | %d | %d | %.3f | %.1f | %.2f |\n", t.Config, t.Devices, t.Batch, t.StepSec, t.ImgS, t.Speedup)
	}
	return sb.String()
}
