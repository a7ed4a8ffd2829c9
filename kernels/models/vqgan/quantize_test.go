package vqgan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dmseg/dmseg/kernels/engine/enginetest"
	"github.com/dmseg/dmseg/kernels/gradcheck"
	"github.com/dmseg/dmseg/kernels/models/internal/modeltest"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func qCfg(dim, k int, legacy bool) Config {
	c := TinyF4()
	c.EmbedDim, c.NEmbed, c.Legacy = dim, k, legacy
	return c
}

// quantizeRun builds Quantize under ctx's scope quantize with the codebook set to book
// ([k*dim] row-major) and returns, for input z, [z_q, indices, commitment, codebook, loss,
// dLoss/dz, dLoss/dcodebook].
func quantizeRun(t *testing.T, b backends.Backend, cfg Config, book []float64, z *tensors.Tensor) []*tensors.Tensor {
	t.Helper()
	ctx := context.New()
	fn := func(ctx *context.Context, in []*Node) []*Node {
		q := Quantize(ctx.In(CodebookScope), cfg, in[0])
		e := Codebook(ctx).ValueGraph(in[0].Graph())
		grads := Gradient(q.Loss, in[0], e)
		return []*Node{q.ZQ, q.Indices, q.Commitment, q.Codebook, q.Loss, grads[0], grads[1]}
	}
	exec, err := context.NewExec(b, ctx, fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(z); err != nil { // creates the codebook
		t.Fatal(err)
	}
	Codebook(ctx).MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(book), cfg.NEmbed, cfg.EmbedDim))
	out, err := exec.Exec(z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestQuantizeNearest compares the chosen codes and quantised vectors with a brute-force search,
// and the two loss terms with their definitions.
func TestQuantizeNearest(t *testing.T) {
	const dim, k = 3, 7
	rng := rand.New(rand.NewPCG(3, 4))
	book := make([]float64, k*dim)
	for i := range book {
		book[i] = rng.NormFloat64()
	}
	zs := modeltest.Floats(modeltest.Normal(5, 2, 3, 4, dim))
	n := len(zs) / dim
	for _, legacy := range []bool{true, false} {
		cfg := qCfg(dim, k, legacy)
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			z := modeltest.Normal(5, 2, 3, 4, dim)
			out := quantizeRun(t, b, cfg, book, z)
			zq, idx := modeltest.Floats(out[0]), tensors.MustCopyFlatData[int32](out[1])
			if dims(out[0]) != "[2 3 4 3]" || dims(out[1]) != "[2 3 4]" {
				t.Fatalf("z_q %s, indices %s", dims(out[0]), dims(out[1]))
			}
			sq := 0.0
			for i := 0; i < n; i++ {
				best, bestD := -1, math.Inf(1)
				for c := 0; c < k; c++ {
					d := 0.0
					for j := 0; j < dim; j++ {
						d += (zs[i*dim+j] - book[c*dim+j]) * (zs[i*dim+j] - book[c*dim+j])
					}
					if d < bestD {
						best, bestD = c, d
					}
				}
				if int(idx[i]) != best {
					t.Errorf("vector %d: code %d, brute force %d", i, idx[i], best)
				}
				for j := 0; j < dim; j++ {
					if math.Abs(zq[i*dim+j]-book[best*dim+j]) > 1e-12 {
						t.Errorf("vector %d: z_q %v, code %v", i, zq[i*dim:(i+1)*dim], book[best*dim:(best+1)*dim])
						break
					}
				}
				sq += bestD
			}
			mse := sq / float64(len(zs))
			commit, cb, loss := modeltest.Floats(out[2])[0], modeltest.Floats(out[3])[0], modeltest.Floats(out[4])[0]
			if math.Abs(commit-mse) > 1e-12 || math.Abs(cb-mse) > 1e-12 || math.Abs(loss-1.25*mse) > 1e-12 {
				t.Errorf("commitment %g, codebook %g, loss %g; want %g, %g, %g", commit, cb, loss, mse, mse, 1.25*mse)
			}
		})
	}
}

// TestQuantizerLossGradientsByHand: two 2-d vectors, codebook (0,0) and (1,1). Both loss terms
// are 0.15/4 = 0.0375; the loss is 1.25 * 0.0375 either way, but beta weighs the gradient
// reaching the encoder (commitment) or the one reaching the codebook, depending on Legacy.
func TestQuantizerLossGradientsByHand(t *testing.T) {
	book := []float64{0, 0, 1, 1}
	// z0 -> e0 (error (0.2,-0.1)), z1 -> e1 (error (-0.1, 0.3)); 4 elements in the means.
	// d commitment/dz = 2 (z - z_q)/4; d codebook/de_k = 2 sum_{i -> k} (e_k - z_i)/4.
	dCommit := []float64{0.1, -0.05, -0.05, 0.15}
	dBook := []float64{-0.1, 0.05, 0.05, -0.15}
	for _, legacy := range []bool{true, false} {
		wCommit, wBook := 1.0, 0.25 // legacy: beta on the codebook term
		if !legacy {
			wCommit, wBook = 0.25, 1.0
		}
		enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
			z := tensors.FromFlatDataAndDimensions([]float64{0.2, -0.1, 0.9, 1.3}, 1, 1, 2, 2)
			out := quantizeRun(t, b, qCfg(2, 2, legacy), book, z)
			if got := tensors.MustCopyFlatData[int32](out[1]); got[0] != 0 || got[1] != 1 {
				t.Fatalf("indices %v, want [0 1]", got)
			}
			if l := modeltest.Floats(out[4])[0]; math.Abs(l-1.25*0.0375) > 1e-12 {
				t.Errorf("loss %g, want %g", l, 1.25*0.0375)
			}
			gz, ge := modeltest.Floats(out[5]), modeltest.Floats(out[6])
			for i := range dCommit {
				if math.Abs(gz[i]-wCommit*dCommit[i]) > 1e-12 || math.Abs(ge[i]-wBook*dBook[i]) > 1e-12 {
					t.Fatalf("legacy=%t: dL/dz %v (want %g x %v), dL/de %v (want %g x %v)", legacy, gz, wCommit, dCommit, ge, wBook, dBook)
				}
			}
		})
	}
}

// TestStraightThrough: for a nonlinear f, the gradient of f(ZQ) with respect to the encoder
// output z is the gradient of f at the quantised vectors, f'(z_q), which finite differences of f
// at z_q confirm; and ZQ's value is z_q.
func TestStraightThrough(t *testing.T) {
	const dim, k = 2, 5
	cfg := qCfg(dim, k, true)
	rng := rand.New(rand.NewPCG(8, 9))
	book := make([]float64, k*dim)
	for i := range book {
		book[i] = 2 * rng.NormFloat64()
	}
	f := func(w, r *Node) *Node { return ReduceAllSum(Mul(Sin(Mul(w, w)), r)) }
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		z := modeltest.Normal(11, 2, 2, 3, dim)
		r := modeltest.Normal(12, 2, 2, 3, dim)
		ctx := context.New()
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			q := Quantize(ctx.In(CodebookScope), cfg, in[0])
			// Without the quantiser's own loss: only the straight-through path reaches z.
			return []*Node{q.ZQ, Gradient(f(q.ZQ, in[1]), in[0])[0]}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Exec(z, r); err != nil {
			t.Fatal(err)
		}
		Codebook(ctx).MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(book), k, dim))
		out, err := exec.Exec(z, r)
		if err != nil {
			t.Fatal(err)
		}
		zq := out[0]
		gST := modeltest.Floats(out[1])
		// Reference: gradient of f at z_q, by autodiff and by finite differences.
		gRef := modeltest.Floats(MustExecOnce(b, func(w, r *Node) *Node { return Gradient(f(w, r), w)[0] }, zq, r))
		for i := range gRef {
			if math.Abs(gST[i]-gRef[i]) > 1e-12 {
				t.Fatalf("straight-through gradient %v, gradient at z_q %v", gST, gRef)
			}
		}
		res, err := gradcheck.Check(b, func(in []*Node) *Node { return f(in[0], in[1]) }, []*tensors.Tensor{zq, r}, 3, 13)
		if err != nil {
			t.Fatal(err)
		}
		if m := gradcheck.MaxRelErr(res); m > 1e-6 {
			t.Errorf("f'(z_q) disagrees with finite differences: %+v", res)
		}
		// And the gradient is not f'(z): z and z_q differ, so would the gradients.
		gz := modeltest.Floats(MustExecOnce(b, func(w, r *Node) *Node { return Gradient(f(w, r), w)[0] }, z, r))
		same := true
		for i := range gz {
			same = same && math.Abs(gz[i]-gST[i]) < 1e-9
		}
		if same {
			t.Error("test is vacuous: f'(z) equals f'(z_q)")
		}
	})
}

// TestStats: perplexity of known histograms.
func TestStats(t *testing.T) {
	cases := []struct {
		idx        []int32
		k, used    int
		perplexity float64
	}{
		{[]int32{0, 0, 1, 1, 2, 2, 3, 3}, 8, 4, 4},                  // uniform over 4 of 8 codes
		{[]int32{5, 5, 5, 5, 5}, 8, 1, 1},                           // collapse
		{[]int32{0, 0, 0, 0, 0, 0, 1, 1}, 4, 2, 1.7547653506033232}, // exp(-(.75 ln .75 + .25 ln .25))
		{[]int32{0, 1, 2, 3, 4, 5, 6, 7}, 8, 8, 8},                  // every code once
	}
	for _, c := range cases {
		s, err := Stats(c.idx, c.k)
		if err != nil {
			t.Fatal(err)
		}
		if s.Used != c.used || math.Abs(s.Perplexity-c.perplexity) > 1e-8 {
			t.Errorf("%v: used %d, perplexity %.12g; want %d, %.12g", c.idx, s.Used, s.Perplexity, c.used, c.perplexity)
		}
	}
	if h := math.Exp(-(0.75*math.Log(0.75) + 0.25*math.Log(0.25))); math.Abs(h-1.7547653506033232) > 1e-15 {
		t.Fatalf("hand value wrong: %.17g", h)
	}
	if _, err := Stats([]int32{0, 8}, 8); err == nil {
		t.Error("index 8 of a codebook of 8 accepted")
	}
}

// TestRestarter: codes unused for Patience steps are dead, Restart copies distinct encoder outputs
// into exactly those rows, and restarted codes get a fresh Patience.
func TestRestarter(t *testing.T) {
	const k, dim = 6, 2
	r := NewRestarter(k, 3)
	for range 2 {
		r.Observe([]int32{0, 1, 1, 3})
	}
	if d := r.Dead(); d != nil {
		t.Errorf("dead after 2 of 3 steps: %v", d)
	}
	r.Observe([]int32{0, 1, 3, 3})
	if d := r.Dead(); !slices.Equal(d, []int{2, 4, 5}) {
		t.Fatalf("dead %v, want [2 4 5]", d)
	}
	ctx := context.New()
	book := make([]float32, k*dim)
	for i := range book {
		book[i] = float32(i)
	}
	v := ctx.In(CodebookScope).VariableWithValue("embedding", tensors.FromFlatDataAndDimensions(slices.Clone(book), k, dim))
	z := tensors.FromFlatDataAndDimensions([]float32{100, 101, 200, 201, 300, 301, 400, 401}, 2, 2, 1, dim)
	got, err := r.Restart(v, z, rand.New(rand.NewPCG(1, 2)))
	if err != nil || !slices.Equal(got, []int{2, 4, 5}) {
		t.Fatalf("Restart: %v, %v", got, err)
	}
	nb := tensors.MustCopyFlatData[float32](v.MustValue())
	seen := map[float32]bool{}
	for c := 0; c < k; c++ {
		row := nb[c*dim : (c+1)*dim]
		if c == 0 || c == 1 || c == 3 {
			if !slices.Equal(row, book[c*dim:(c+1)*dim]) {
				t.Errorf("live code %d changed to %v", c, row)
			}
			continue
		}
		if row[0] < 100 || row[1] != row[0]+1 || int(row[0])%100 != 0 || seen[row[0]] {
			t.Errorf("restarted code %d = %v, want a distinct encoder output", c, row)
		}
		seen[row[0]] = true
	}
	if d := r.Dead(); d != nil {
		t.Errorf("dead right after the restart: %v", d)
	}
	for range 3 {
		r.Observe([]int32{0, 1, 2, 3, 4})
	}
	if d := r.Dead(); !slices.Equal(d, []int{5}) {
		t.Errorf("dead %v after 3 more steps without code 5, want [5]", d)
	}
	if _, err := r.Restart(v, tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 1, 3), rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("encoder outputs of width 3 accepted for a codebook of width 2")
	}
}

// TestRestartRevivesCollapsedCodebook runs the quantiser on a collapsed codebook (one code near
// the data, the rest far away), restarts the dead codes from the batch's encoder outputs and
// runs it again: every restarted code is chosen, the perplexity rises and the quantisation error
// falls.
func TestRestartRevivesCollapsedCodebook(t *testing.T) {
	const k, dim = 8, 2
	cfg := qCfg(dim, k, true)
	book := make([]float64, k*dim)
	for c := 1; c < k; c++ {
		book[c*dim], book[c*dim+1] = 50+float64(c), 50
	}
	enginetest.ForEach(t, func(t *testing.T, b backends.Backend) {
		z := modeltest.Normal(21, 2, 3, 3, dim) // 18 vectors near the origin
		ctx := context.New()
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			q := Quantize(ctx.In(CodebookScope), cfg, in[0])
			return []*Node{q.Indices, q.Commitment}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Exec(z); err != nil {
			t.Fatal(err)
		}
		Codebook(ctx).MustSetValue(tensors.FromFlatDataAndDimensions(slices.Clone(book), k, dim))
		run := func() ([]int32, float64) {
			out, err := exec.Exec(z)
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[int32](out[0]), modeltest.Floats(out[1])[0]
		}
		idx, err0 := run()
		s0, _ := Stats(idx, k)
		if s0.Used != 1 || s0.Perplexity > 1+1e-9 {
			t.Fatalf("not collapsed: %+v", s0)
		}
		r := NewRestarter(k, 1)
		r.Observe(idx)
		restarted, err := r.Restart(Codebook(ctx), z, rand.New(rand.NewPCG(5, 5)))
		if err != nil || len(restarted) != k-1 {
			t.Fatalf("restarted %v, %v; want the %d unused codes", restarted, err, k-1)
		}
		idx, err1 := run()
		s1, _ := Stats(idx, k)
		for _, c := range restarted {
			if s1.Counts[c] == 0 {
				t.Errorf("restarted code %d is not chosen", c)
			}
		}
		if !(s1.Perplexity > 4) || !(err1 < err0) {
			t.Errorf("after the restart: perplexity %g (before %g), quantisation error %g (before %g)", s1.Perplexity, s0.Perplexity, err1, err0)
		}
	})
}
