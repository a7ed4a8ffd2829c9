package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/dmseg/dmseg/kernels/nn"
)

// ProbeConv is one convolution layer of the probe network: a 3x3 "same"
// convolution of a [batch, HW, HW, Cin] input to Cout channels.
type ProbeConv struct{ HW, Cin, Cout, Count int }

// ProbeConvs lists the probe network's convolutions (ProbeUNet), with how
// often each shape occurs; ProbeUNetForwardFLOPs counts the same layers.
func ProbeConvs() []ProbeConv {
	return []ProbeConv{
		{64, 1, 32, 1}, {64, 32, 32, 2}, // in, res1
		{32, 32, 64, 1}, {32, 64, 64, 2}, // down1, res2
		{16, 64, 128, 1}, {16, 128, 128, 2}, // down2, res3
		{32, 192, 64, 1}, {64, 96, 32, 1}, {64, 32, 1, 1}, // up2, up1, out
	}
}

// The rows of a profile, in the order of the table.
const (
	ProfileTotal     = "training step (total)"
	ProfileForward   = "forward pass (whole network, loss)"
	ProfileConvFwd   = "convolution forward"
	ProfileConvDX    = "convolution gradient w.r.t. input"
	ProfileConvDW    = "convolution gradient w.r.t. kernel"
	ProfileNorm      = "GroupNorm forward + backward"
	ProfileAct       = "SiLU forward + backward"
	ProfileOptimizer = "optimizer (Adam update)"
	ProfileRest      = "rest (bias, residual adds, pooling, upsampling, concatenation, loss)"
)

// ProfileRows is the order of the profile table's rows.
var ProfileRows = []string{ProfileTotal, ProfileForward, ProfileConvFwd, ProfileConvDX, ProfileConvDW,
	ProfileNorm, ProfileAct, ProfileOptimizer, ProfileRest}

// Profile splits the probe network's training step at batch size batch into
// the parts of ProfileRows, in seconds. XLA fuses and schedules a whole step
// as one program, so per-operation timers inside it do not exist on XLA CPU;
// the parts are measured from outside, the same way scripts/bench_torch.py
// measures PyTorch (mode "profile"):
//   - the three convolution rows: each of the probe's convolution shapes run
//     alone (forward, gradient w.r.t. the input only, w.r.t. the kernel only),
//     times its count, summed;
//   - GroupNorm and SiLU: the full step minus the step with that part replaced
//     by the identity (ablation);
//   - optimizer: the full step minus a step that outputs the same gradients
//     without the update;
//   - rest: the total minus every part above.
func Profile(b backends.Backend, batch, reps int) map[string]float64 {
	p := map[string]float64{}
	total, _ := probeStep(b, batch, reps, ProbeOptions{}, stepAdam)
	p[ProfileTotal] = total.Seconds
	fwd, _ := probeStep(b, batch, reps, ProbeOptions{}, stepForward)
	p[ProfileForward] = fwd.Seconds
	grads, _ := probeStep(b, batch, reps, ProbeOptions{}, stepGrads)
	p[ProfileOptimizer] = total.Seconds - grads.Seconds
	noNorm, _ := probeStep(b, batch, reps, ProbeOptions{NoNorm: true}, stepAdam)
	p[ProfileNorm] = total.Seconds - noNorm.Seconds
	noAct, _ := probeStep(b, batch, reps, ProbeOptions{NoAct: true}, stepAdam)
	p[ProfileAct] = total.Seconds - noAct.Seconds
	for _, c := range ProbeConvs() {
		f, dx, dw := ConvParts(b, batch, c, reps)
		p[ProfileConvFwd] += float64(c.Count) * f.Seconds
		p[ProfileConvDX] += float64(c.Count) * dx.Seconds
		p[ProfileConvDW] += float64(c.Count) * dw.Seconds
	}
	p[ProfileRest] = p[ProfileTotal] - p[ProfileConvFwd] - p[ProfileConvDX] - p[ProfileConvDW] -
		p[ProfileNorm] - p[ProfileAct] - p[ProfileOptimizer]
	return p
}

// ConvParts times one probe convolution shape alone: the forward, the
// gradient w.r.t. the input only and the gradient w.r.t. the kernel only (each
// 2*B*HW^2*Cin*Cout*9 FLOPs), for an upstream gradient v given as an input.
func ConvParts(b backends.Backend, batch int, c ProbeConv, reps int) (fwd, dx, dw Timing) {
	rng := rand.New(rand.NewPCG(uint64(c.Cin), uint64(c.Cout)))
	x := randomTensor(rng, batch, c.HW, c.HW, c.Cin)
	k := randomTensor(rng, 3, 3, c.Cin, c.Cout)
	v := randomTensor(rng, batch, c.HW, c.HW, c.Cout)
	flops := 2 * float64(batch*c.HW*c.HW) * float64(c.Cin*c.Cout*9)
	run := func(name string, f func(x, k, v *Node) *Node) Timing {
		e := MustNewExec(b, f)
		defer e.Finalize()
		s := timeIt(reps, func() { e.MustExec(x, k, v)[0].FinalizeAll() })
		return Timing{Name: fmt.Sprintf("conv3x3 %dx%dx%d->%d batch %d %s", c.HW, c.HW, c.Cin, c.Cout, batch, name),
			Seconds: s, FLOPs: flops, GFLOPs: flops / s / 1e9, Reps: reps}
	}
	fwd = run("forward", func(x, k, v *Node) *Node { return nn.ConvKernel(x, k, 1, 1) })
	dx = run("grad input", func(x, k, v *Node) *Node {
		return Gradient(ReduceAllSum(Mul(nn.ConvKernel(x, k, 1, 1), v)), x)[0]
	})
	dw = run("grad kernel", func(x, k, v *Node) *Node {
		return Gradient(ReduceAllSum(Mul(nn.ConvKernel(x, k, 1, 1), v)), k)[0]
	})
	return
}

// ProfileMarkdown is the profile table: dmseg's parts beside PyTorch's (nil
// when the peer did not run), in milliseconds and as shares of each total.
func ProfileMarkdown(engine string, dm, pt map[string]float64, batch int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "| part (probe U-Net, batch %d) | dmseg %s ms | share | PyTorch ms | share | dmseg / PyTorch |\n|---|---:|---:|---:|---:|---:|\n", batch, engine)
	for _, r := range ProfileRows {
		d := dm[r]
		fmt.Fprintf(&sb, "| %s | %.1f | %.0f%% |", r, d*1e3, 100*d/dm[ProfileTotal])
		if t, ok := pt[r]; ok && pt != nil {
			ratio := "—"
			if t > 0 && d > 0 {
				ratio = fmt.Sprintf("%.2f", d/t)
			}
			fmt.Fprintf(&sb, " %.1f | %.0f%% | %s |\n", t*1e3, 100*t/pt[ProfileTotal], ratio)
		} else {
			sb.WriteString(" — | — | — |\n")
		}
	}
	return sb.String()
}
