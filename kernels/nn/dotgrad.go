package nn

import (
	"fmt"
	"reflect"
	"sort"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	VJPRegistration[NodeTypeDotGeneral] = dotGeneralGrad
}

type dotAxes struct {
	lhsContract, lhsBatch, rhsContract, rhsBatch []int
}

// dotGeneralAxesOf reads the contracting and batch axes of a DotGeneral node. GoMLX v0.26 keeps
// them in unexported fields of the node's inputs record; reflection reads them (read-only).
func dotGeneralAxesOf(node *Node) dotAxes {
	rec := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !rec.IsValid() || rec.IsNil() {
		panic(fmt.Sprintf("nn: DotGeneral node %s has no inputs record (GoMLX internals changed?)", node))
	}
	rec = rec.Elem()
	if rec.Kind() == reflect.Pointer {
		rec = rec.Elem()
	}
	ints := func(name string) []int {
		f := rec.FieldByName(name)
		if !f.IsValid() {
			panic(fmt.Sprintf("nn: DotGeneral inputs record lacks field %q (GoMLX internals changed?)", name))
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	return dotAxes{
		lhsContract: ints("lhsContractingAxes"), lhsBatch: ints("lhsBatchAxes"),
		rhsContract: ints("rhsContractingAxes"), rhsBatch: ints("rhsBatchAxes"),
	}
}

// dotGeneralGrad is the vector-Jacobian product of DotGeneral written as two DotGenerals.
//
// With output axes [batch..., lhsCross..., rhsCross...] and cotangent v of that shape:
//
//	dLhs = DotGeneral(v, contract rhsCross positions, rhs, contract rhsCross axes)  -> [batch, lhsCross, rhsContract(sorted)]
//	dRhs = DotGeneral(v, contract lhsCross positions, lhs, contract lhsCross axes)  -> [batch, rhsCross, lhsContract(sorted)]
//
// each transposed back to its operand's axis order.
func dotGeneralGrad(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
	v := vjps[0]
	inputs := node.Inputs()
	lhs, rhs := inputs[0], inputs[1]
	ax := dotGeneralAxesOf(node)
	nb := len(ax.lhsBatch)
	lhsCross := crossAxes(lhs.Rank(), ax.lhsContract, ax.lhsBatch)
	rhsCross := crossAxes(rhs.Rank(), ax.rhsContract, ax.rhsBatch)
	vBatch := iota(0, nb)
	vLhsCross := iota(nb, len(lhsCross))
	vRhsCross := iota(nb+len(lhsCross), len(rhsCross))
	if v.DType() != lhs.DType() {
		v = ConvertDType(v, lhs.DType())
	}

	// Gradient for lhs.
	dl := DotGeneral(v, vRhsCross, vBatch, rhs, rhsCross, ax.rhsBatch)
	// dl axes: [batch(nb), lhsCross, rhs contracting axes in ascending rhs order].
	dl = permute(dl, backPermutation(ax.lhsBatch, lhsCross, ax.lhsContract, ax.rhsContract, lhs.Rank()))

	// Gradient for rhs.
	dr := DotGeneral(v, vLhsCross, vBatch, lhs, lhsCross, ax.lhsBatch)
	dr = permute(dr, backPermutation(ax.rhsBatch, rhsCross, ax.rhsContract, ax.lhsContract, rhs.Rank()))
	return []*Node{dl, dr}
}

// backPermutation returns, for each axis of the operand, the axis of the computed gradient holding it.
// The gradient's axes are: this operand's batch axes, its cross axes, then the other operand's contracting
// axes in ascending order (paired with thisContract[i] <-> otherContract[i]).
func backPermutation(thisBatch, thisCross, thisContract, otherContract []int, rank int) []int {
	srcOf := make([]int, rank) // srcOf[operand axis] = gradient axis
	for i, a := range thisBatch {
		srcOf[a] = i
	}
	for j, a := range thisCross {
		srcOf[a] = len(thisBatch) + j
	}
	sorted := append([]int(nil), otherContract...)
	sort.Ints(sorted)
	for k, a := range thisContract {
		pos := sort.SearchInts(sorted, otherContract[k])
		srcOf[a] = len(thisBatch) + len(thisCross) + pos
	}
	return srcOf
}

// permute transposes so that output axis i is input axis srcOf[i] (TransposeAllAxes' convention),
// skipping the identity.
func permute(x *Node, srcOf []int) *Node {
	identity := true
	for i, p := range srcOf {
		if i != p {
			identity = false
		}
	}
	if identity {
		return x
	}
	return TransposeAllAxes(x, srcOf...)
}

func crossAxes(rank int, contract, batch []int) []int {
	used := make([]bool, rank)
	for _, a := range contract {
		used[a] = true
	}
	for _, a := range batch {
		used[a] = true
	}
	var out []int
	for i, u := range used {
		if !u {
			out = append(out, i)
		}
	}
	return out
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}
