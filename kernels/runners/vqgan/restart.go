package vqgan

import (
	"fmt"
	"math/rand/v2"

	"github.com/dmseg/dmseg/kernels/experiments"
	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/dmseg/dmseg/kernels/runners"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// restartHook is the AfterStep of a VQ-GAN run whose spec asks for codebook
// restarts (experiments.RestartSpec): after every step the step's batch is
// encoded with the updated weights (Encode, then Quantize) and the chosen
// codes are observed; every Every steps up to Until, the codes unused for
// Patience steps are moved onto encoder outputs of this batch
// (vq.Restarter). The restart draws are seeded by the training seed and the
// step, so a run is reproducible; the Restarter's memory is not
// checkpointed (after --resume every code starts a fresh patience).
func restartHook(rc experiments.RunConfig, ctx *context.Context, o runners.TrainOptions) (func(int64, []*tensors.Tensor) error, func(), error) {
	spec := rc.Experiment.VQ
	if spec == nil || spec.Restart == nil || rc.Autoencoder == nil {
		return nil, nil, nil
	}
	r, cfg := *spec.Restart, rc.Autoencoder.VQGAN
	idx := 0
	if spec.Target == "mask" {
		idx = 1
	}
	rs := vq.NewRestarter(cfg.NEmbed, r.Patience)
	var exec *context.Exec
	after := func(step int64, batch []*tensors.Tensor) error {
		if exec == nil {
			var err error
			exec, err = context.NewExec(o.Backend, ctx.Reuse(), func(ctx *context.Context, x *Node) []*Node {
				z := vq.Encode(ctx, cfg, x)
				return []*Node{z, vq.Quantize(ctx.In(vq.CodebookScope), cfg, z).Indices}
			})
			if err != nil {
				return fmt.Errorf("codebook restarts: %w", err)
			}
		}
		outs, err := exec.Exec(batch[idx])
		if err != nil {
			return fmt.Errorf("codebook restarts: encoding the batch: %w", err)
		}
		defer outs[0].FinalizeAll()
		defer outs[1].FinalizeAll()
		codes, err := tensors.CopyFlatData[int32](outs[1])
		if err != nil {
			return err
		}
		rs.Observe(codes)
		if step%int64(r.Every) != 0 || (r.Until > 0 && step > int64(r.Until)) {
			return nil
		}
		book := vq.Codebook(ctx)
		if book == nil {
			return fmt.Errorf("codebook restarts: no codebook variable under %s", vq.CodebookScope)
		}
		rng := rand.New(rand.NewPCG(uint64(rc.Experiment.Train.Seed), uint64(step)))
		restarted, err := rs.Restart(book, outs[0], rng)
		if err != nil {
			return fmt.Errorf("codebook restarts: %w", err)
		}
		if len(restarted) > 0 && o.Log != nil {
			fmt.Fprintf(o.Log, "\nstep %d: restarted %d dead code(s) of %d onto encoder outputs\n", step, len(restarted), cfg.NEmbed)
		}
		return nil
	}
	done := func() {
		if exec != nil {
			exec.Finalize()
		}
	}
	return after, done, nil
}
