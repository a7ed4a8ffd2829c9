package nn

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// BCEWithLogits is the mean binary cross-entropy of logits x against targets
// y in [0, 1], in the numerically stable form max(x,0) - x y + log(1 + exp(-|x|)).
func BCEWithLogits(x, y *Node) *Node {
	return ReduceAllMean(Add(Sub(Max(x, ZerosLike(x)), Mul(x, y)), Log1p(Exp(Neg(Abs(x))))))
}

// SoftDiceLoss is 1 - (2 sum p y + 1)/(sum p + sum y + 1) per example
// (summed over every axis but the first), averaged over the batch; p and y
// are in [0, 1]. The +1 smoothing makes an empty target with an empty
// prediction score 0 loss (and still pushes p down when y is empty).
func SoftDiceLoss(p, y *Node) *Node {
	axes := make([]int, 0, p.Rank()-1)
	for a := 1; a < p.Rank(); a++ {
		axes = append(axes, a)
	}
	inter := ReduceSum(Mul(p, y), axes...)
	den := Add(ReduceSum(p, axes...), ReduceSum(y, axes...))
	return ReduceAllMean(OneMinus(Div(AddScalar(MulScalar(inter, 2), 1), AddScalar(den, 1))))
}
