package train

import (
	"fmt"
	"strconv"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// dataParallel runs the training step of Run on several devices: the
// learning rate and the variables replicated, every batch tensor sharded
// along its first (batch) axis, the loss and gradient norm replicated.
type dataParallel struct {
	e                     *context.Exec
	n                     int
	replicated, batchSpec *distributed.ShardingSpec
}

func newDataParallel(backend backends.Backend, e *context.Exec, n, batch int) (*dataParallel, error) {
	if have := backend.NumDevices(); n > have {
		return nil, fmt.Errorf("train: --devices %d: backend %s exposes %d device(s)", n, backend.Name(), have)
	}
	if batch%n != 0 {
		return nil, fmt.Errorf("train: --devices %d: the batch size %d must be a multiple of the number of devices", n, batch)
	}
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{"data"})
	if err != nil {
		return nil, fmt.Errorf("train: device mesh: %w", err)
	}
	dp := &dataParallel{n: n, replicated: distributed.NewReplicatedShardingSpec(mesh)}
	if dp.batchSpec, err = distributed.BuildSpec(mesh).S("data").Done(); err != nil {
		return nil, fmt.Errorf("train: batch sharding: %w", err)
	}
	// Inputs: the learning rate replicated, then every batch tensor sharded
	// (the last spec given applies to the remaining inputs).
	dp.e = e.AutoSharding(mesh).WithInputShardingSpecs(dp.replicated, dp.batchSpec).WithOutputShardingSpecs(dp.replicated, dp.replicated)
	if err := dp.e.SetDefaultShardingSpec(dp.replicated); err != nil {
		return nil, fmt.Errorf("train: replicating the variables: %w", err)
	}
	return dp, nil
}

// exec runs one step: args[0] is the learning rate (float32), the rest the
// batch tensors. It returns the first shard of each (replicated) output.
func (dp *dataParallel) exec(args []any) ([]*tensors.Tensor, error) {
	lrv, ok := args[0].(float32)
	if !ok {
		return nil, fmt.Errorf("train: data-parallel step: learning rate is %T, want float32", args[0])
	}
	in := []any{}
	lr, err := distributed.ShardTensor(dp.replicated, tensors.FromValue(lrv))
	if err != nil {
		return nil, err
	}
	in = append(in, lr)
	for i, a := range args[1:] {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return nil, fmt.Errorf("train: data-parallel step: batch input %d is %T, want *tensors.Tensor", i, a)
		}
		d, err := distributed.ShardTensor(dp.batchSpec, t)
		if err != nil {
			return nil, fmt.Errorf("train: data-parallel step: sharding batch input %d %s: %w", i, t.Shape(), err)
		}
		in = append(in, d)
	}
	outs, err := dp.e.DistributedExec(in...)
	if err != nil {
		return nil, err
	}
	res := make([]*tensors.Tensor, len(outs))
	for i, o := range outs {
		if len(o.Shards()) != dp.n {
			return nil, fmt.Errorf("train: data-parallel step: output %d came back in %d shard(s), want one per device (%d)", i, len(o.Shards()), dp.n)
		}
		res[i] = o.Shards()[0]
	}
	return res, nil
}

func devicesExtra(n int) string { return strconv.Itoa(max(n, 1)) }

func orOne(s string) string {
	if s == "" {
		return "1"
	}
	return s
}
