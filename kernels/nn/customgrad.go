package nn

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// withCustomVJP returns f(inputs) whose vector-Jacobian product is vjp instead
// of reverse-mode differentiation through f's operations. The forward values are
// exactly f's: only the backward graph changes. vjp receives the inputs as f
// saw them, f's output and its adjoint v, and returns one gradient per input.
//
// GoMLX v0.26 has no custom-VJP node, only IdentityWithCustomGradient; this
// puts one identity on every input and one on the output. The output's
// identity records v and passes it on, so automatic differentiation still
// builds the default backward through f; the inputs' identities then replace
// what arrives with vjp(...). The default backward is left unused, and XLA's
// dead-code elimination removes it before anything runs. Reverse mode visits the
// output's identity before the inputs' (it was created later), which is what
// the recorded v relies on.
func withCustomVJP(inputs []*Node, f func(in []*Node) *Node, vjp func(in []*Node, out, v *Node) []*Node) *Node {
	var v *Node
	var grads []*Node
	var out *Node
	ins := make([]*Node, len(inputs))
	for i, x := range inputs {
		ins[i] = IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			if v == nil {
				panic("nn: custom VJP: the input's gradient was asked for before the output's (GoMLX autodiff order changed?)")
			}
			if grads == nil {
				grads = vjp(ins, out, v)
				if len(grads) != len(ins) {
					panic(fmt.Sprintf("nn: custom VJP returned %d gradients for %d inputs", len(grads), len(ins)))
				}
			}
			return grads[i]
		})
	}
	out = f(ins)
	return IdentityWithCustomGradient(out, func(_, adj *Node) *Node {
		v, grads = adj, nil // a new Gradient call: recompute the VJP for this adjoint
		return adj
	})
}

// addChannelBias is y + b for y [..., C] and a bias b [C], whose bias gradient
// is one matrix-vector product, ones[N] . v[N, C] (N = every position; sumPositions), instead of
// the reduction automatic differentiation produces: XLA CPU runs that reduction
// over the leading axes with the channels innermost far below memory speed
// (about 40 of the probe step's 410 ms for its 12 convolution biases). The
// forward is the plain Add, so forward values are unchanged.
func addChannelBias(y, b *Node) *Node {
	d := y.Shape().Dimensions
	c := d[len(d)-1]
	if b.Rank() != 1 || b.Shape().Dimensions[0] != c {
		panic(fmt.Sprintf("nn: bias %s does not match the channels of %s", b.Shape(), y.Shape()))
	}
	bshape := make([]int, len(d))
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[len(d)-1] = c
	return withCustomVJP([]*Node{y, b}, func(in []*Node) *Node {
		return Add(in[0], Reshape(in[1], bshape...))
	}, func(in []*Node, _, v *Node) []*Node {
		return []*Node{v, Reshape(sumPositions(Reshape(v, 1, -1, c)), c)}
	})
}
