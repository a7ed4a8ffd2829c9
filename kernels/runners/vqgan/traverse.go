package vqgan

import (
	"fmt"

	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Traversal is a straight line through a VQ-GAN's latent space, decoded.
type Traversal struct {
	N, H, W int
	// Alphas are the interpolation weights, 0 (the first endpoint) to 1 (the second).
	Alphas []float64
	// Images [N*H*W] in [-1, 1]: Decode(Quantize((1-alpha) Encode(a) + alpha Encode(b))).
	Images []float32
	// Changed[i] is the fraction of latent positions whose code differs from alpha 0's:
	// the decoded image can only change where a code switches (thesis 1.5: z_q is discrete).
	Changed []float64
}

// Traverse encodes the endpoints a and b ([1,H,W,1] each, in [-1, 1]) to their
// latents before quantisation (VQModelInterface.encode, the space chapter 5's
// latent models diffuse in), interpolates linearly at n evenly spaced weights,
// and quantises and decodes every point (VQModelInterface.decode).
func (l *Loaded) Traverse(backend backends.Backend, a, b *tensors.Tensor, n int) (*Traversal, error) {
	if n < 2 {
		return nil, fmt.Errorf("vqgan.Traverse: need n >= 2 points, got %d", n)
	}
	for _, t := range []*tensors.Tensor{a, b} {
		if d := t.Shape().Dimensions; len(d) != 4 || d[0] != 1 || d[3] != 1 {
			return nil, fmt.Errorf("vqgan.Traverse: endpoints must be [1,H,W,1], got %s", t.Shape())
		}
	}
	if !a.Shape().Equal(b.Shape()) {
		return nil, fmt.Errorf("vqgan.Traverse: endpoints differ in shape: %s vs %s", a.Shape(), b.Shape())
	}
	cfg, spec := l.Config.Autoencoder.VQGAN, l.Config.Experiment.VQ
	alphas := make([]float64, n)
	w := make([]float32, n)
	for i := range alphas {
		alphas[i] = float64(i) / float64(n-1)
		w[i] = float32(alphas[i])
	}
	exec, err := context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, xa, xb, wt *Node) []*Node {
		za, zb := vq.Encode(ctx, cfg, xa), vq.Encode(ctx, cfg, xb) // [1,h,w,c]
		wt = Reshape(ConvertDType(wt, za.DType()), n, 1, 1, 1)
		z := Add(Mul(OneMinus(wt), za), Mul(wt, zb)) // [n,h,w,c]
		q := vq.Quantize(ctx.In(vq.CodebookScope), cfg, z)
		dec := vq.Decode(ctx, cfg, q.ZQ)
		return []*Node{ConvertDType(vq.ReconImage(spec.Loss.Recon, dec), xa.DType()), q.Indices}
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out, err := exec.Exec(a, b, tensors.FromValue(w))
	if err != nil {
		return nil, err
	}
	defer out[0].FinalizeAll()
	defer out[1].FinalizeAll()
	imgs, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return nil, err
	}
	idx, err := tensors.CopyFlatData[int32](out[1])
	if err != nil {
		return nil, err
	}
	d := a.Shape().Dimensions
	tr := &Traversal{N: n, H: d[1], W: d[2], Alphas: alphas, Images: imgs, Changed: make([]float64, n)}
	per := len(idx) / n
	for i := 0; i < n; i++ {
		diff := 0
		for k := 0; k < per; k++ {
			if idx[i*per+k] != idx[k] {
				diff++
			}
		}
		tr.Changed[i] = float64(diff) / float64(per)
	}
	return tr, nil
}
