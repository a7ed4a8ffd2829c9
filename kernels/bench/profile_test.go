package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
)

// ProbeConvs must list exactly the probe network's convolutions: the same
// (Cin, Cout) kernels as the variables ProbeUNet creates, and the same FLOPs as
// ProbeUNetForwardFLOPs.
func TestProbeConvsMirrorTheNetwork(t *testing.T) {
	flops := 0.0
	var listed []string
	for _, c := range ProbeConvs() {
		flops += float64(c.Count) * 2 * float64(c.HW*c.HW) * float64(c.Cin*c.Cout*9)
		for i := 0; i < c.Count; i++ {
			listed = append(listed, fmt.Sprintf("%dx%d", c.Cin, c.Cout))
		}
	}
	if want := ProbeUNetForwardFLOPs(); flops != want {
		t.Errorf("ProbeConvs FLOPs %g, ProbeUNetForwardFLOPs %g", flops, want)
	}
	enginetest.ForEach(t, func(t *testing.T, be backends.Backend) {
		if be.Name() == "go" {
			t.Skip("shapes only: one backend suffices")
		}
		ctx := context.New()
		e := context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
			return ProbeUNet(ctx.In("probe"), x, 1)
		})
		defer e.Finalize()
		e.MustExec(randomTensor(rand.New(rand.NewPCG(1, 1)), 1, 64, 64, 1))[0].FinalizeAll()
		var built []string
		for v := range ctx.IterVariables() {
			if v.Name() == "weights" {
				d := v.Shape().Dimensions
				built = append(built, fmt.Sprintf("%dx%d", d[2], d[3]))
			}
		}
		sort.Strings(listed)
		sort.Strings(built)
		if strings.Join(listed, ",") != strings.Join(built, ",") {
			t.Errorf("ProbeConvs kernels %v, network's %v", listed, built)
		}
	})
}

func TestProfileMarkdown(t *testing.T) {
	dm := map[string]float64{ProfileTotal: 0.4, ProfileConvDW: 0.1}
	pt := map[string]float64{ProfileTotal: 0.2, ProfileConvDW: 0.05}
	md := ProfileMarkdown("xla:cpu", dm, pt, 16)
	for _, want := range []string{"| training step (total) | 400.0 | 100% | 200.0 | 100% | 2.00 |",
		"| convolution gradient w.r.t. kernel | 100.0 | 25% | 50.0 | 25% | 2.00 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("missing row %q in\n%s", want, md)
		}
	}
	if !strings.Contains(ProfileMarkdown("xla:cpu", dm, nil, 16), "| training step (total) | 400.0 | 100% | — | — | — |") {
		t.Errorf("without PyTorch the peer columns should be dashes")
	}
}
