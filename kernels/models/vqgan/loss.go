package vqgan

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/nn"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// HingeDLoss is taming's hinge_d_loss: 0.5 (mean(relu(1 - real)) + mean(relu(1 + fake))).
func HingeDLoss(logitsReal, logitsFake *Node) *Node {
	r := ReduceAllMean(Max(OneMinus(logitsReal), ZerosLike(logitsReal)))
	f := ReduceAllMean(Max(OnePlus(logitsFake), ZerosLike(logitsFake)))
	return MulScalar(Add(r, f), 0.5)
}

// VanillaDLoss is taming's vanilla_d_loss: 0.5 (mean(softplus(-real)) + mean(softplus(fake))).
func VanillaDLoss(logitsReal, logitsFake *Node) *Node {
	return MulScalar(Add(ReduceAllMean(Softplus(Neg(logitsReal))), ReduceAllMean(Softplus(logitsFake))), 0.5)
}

// GeneratorGANLoss is the generator's adversarial loss -mean(logits of the reconstructions), for
// both discriminator losses (as in the reference).
func GeneratorGANLoss(logitsFake *Node) *Node { return Neg(ReduceAllMean(logitsFake)) }

// AdoptWeight is taming's adopt_weight: 0 while step < start (the GAN warm-up), weight after.
func AdoptWeight(weight float64, step, start int) float64 {
	if step < start {
		return 0
	}
	return weight
}

// AdoptWeightNode is AdoptWeight inside a graph, for a scalar step node of any numeric dtype; the
// result has dtype dt.
func AdoptWeightNode(weight float64, step *Node, start int, dt dtypes.DType) *Node {
	g := step.Graph()
	on := GreaterOrEqual(ConvertDType(step, dt), Scalar(g, dt, float64(start)))
	return Where(on, Scalar(g, dt, weight), Scalar(g, dt, 0))
}

// AdaptiveWeight is taming's calculate_adaptive_weight: the ratio of the gradient norms of the
// reconstruction loss and of the generator's GAN loss with respect to the decoder's last layer,
// ||d nll/dW|| / (||d g/dW|| + 1e-4), clipped to [0, 1e4], times discWeight, with no gradient
// flowing through it.
func AdaptiveWeight(nll, gLoss, lastLayer *Node, discWeight float64) *Node {
	gn := L2Norm(Gradient(nll, lastLayer)[0])
	gg := L2Norm(Gradient(gLoss, lastLayer)[0])
	w := ClipScalar(Div(gn, AddScalar(gg, 1e-4)), 0, 1e4)
	return MulScalar(StopGradient(w), discWeight)
}

// Reconstruction kinds.
const (
	ReconL1  = "l1"  // mean |x - dec|: the decoder output is the image (X-rays, also masks)
	ReconBCE = "bce" // BCE with logits: the decoder output is a mask's logits (masks only)
)

// ReconLoss is the reconstruction term (the reference's nll_loss with perceptual_weight 0) for x
// in [-1, 1] (the dataset's images and {-1, 1} masks): ReconL1 is mean |x - dec| as the reference's
// pixel loss; ReconBCE is the binary cross-entropy of the logits dec against (x+1)/2.
//
// The reference adds LPIPS (a VGG16 perceptual distance, weight 1) to the L1 term. No pretrained
// network exists here, so nothing replaces it: the PatchGAN term is the only non-pixel signal.
func ReconLoss(kind string, x, dec *Node) *Node {
	switch kind {
	case ReconL1:
		return ReduceAllMean(Abs(Sub(x, dec)))
	case ReconBCE:
		return nn.BCEWithLogits(dec, MulScalar(OnePlus(x), 0.5))
	}
	panic(fmt.Sprintf("vqgan.ReconLoss: unknown kind %q (want %q or %q)", kind, ReconL1, ReconBCE))
}

// ReconImage maps the decoder output to the image it stands for, in [-1, 1] for ReconBCE
// (2 sigmoid(dec) - 1, positive where the mask's probability exceeds 0.5) and unchanged for
// ReconL1. The discriminator sees ReconImage(dec) beside the real x.
func ReconImage(kind string, dec *Node) *Node {
	switch kind {
	case ReconL1:
		return dec
	case ReconBCE:
		return AddScalar(MulScalar(Sigmoid(dec), 2), -1)
	}
	panic(fmt.Sprintf("vqgan.ReconImage: unknown kind %q", kind))
}

// LossConfig holds VQLPIPSWithDiscriminator's settings (names as in the taming configs). The thesis
// states none of them ("we had to adjust certain hyperparameters related to the loss function and
// the discriminator"); DefaultLoss gives latent-diffusion's vq-f4-64.yaml values.
type LossConfig struct {
	DiscStart      int     `json:"disc_start"`      // the GAN terms are off for steps < DiscStart
	DiscFactor     float64 `json:"disc_factor"`     // weight of the GAN terms once on (1.0)
	DiscWeight     float64 `json:"disc_weight"`     // multiplies the adaptive weight (vq-f4-64: 0.75)
	CodebookWeight float64 `json:"codebook_weight"` // weight of the quantiser loss (1.0)
	DiscLoss       string  `json:"disc_loss"`       // "hinge" (reference default) or "vanilla"
	Recon          string  `json:"recon"`           // ReconL1 or ReconBCE
}

// DefaultLoss is vq-f4-64.yaml's loss (disc_weight 0.75, codebook_weight 1, hinge) with the GAN
// switched on at step discStart (the yaml has 0) and the given reconstruction kind.
func DefaultLoss(recon string, discStart int) LossConfig {
	return LossConfig{DiscStart: discStart, DiscFactor: 1, DiscWeight: 0.75, CodebookWeight: 1, DiscLoss: "hinge", Recon: recon}
}

// Validate reports the first invalid setting.
func (l LossConfig) Validate() error {
	switch {
	case l.DiscStart < 0 || l.DiscFactor < 0 || l.DiscWeight < 0 || l.CodebookWeight < 0:
		return fmt.Errorf("vqgan: negative loss setting in %+v", l)
	case l.DiscLoss != "hinge" && l.DiscLoss != "vanilla":
		return fmt.Errorf("vqgan: disc_loss %q, want hinge or vanilla", l.DiscLoss)
	case l.Recon != ReconL1 && l.Recon != ReconBCE:
		return fmt.Errorf("vqgan: recon %q, want %s or %s", l.Recon, ReconL1, ReconBCE)
	}
	return nil
}

// GenLoss is the autoencoder's loss (optimizer_idx 0) and its parts.
type GenLoss struct {
	Total      *Node // Recon + DWeight * DiscFactor * GAN + CodebookWeight * quantiser loss
	Recon, GAN *Node // reconstruction term, -mean(logits of the reconstructions)
	DWeight    *Node // adaptive weight (no gradient)
	DiscFactor *Node // AdoptWeightNode(DiscFactor, step, DiscStart)
}

// GeneratorLoss builds the autoencoder's loss from the input x, the decoder output dec, the
// quantiser loss qloss, the discriminator's logits on ReconImage(dec) and the decoder's last layer
// (LastLayer), at training step `step` (a scalar node).
func GeneratorLoss(l LossConfig, step, x, dec, qloss, logitsFake, lastLayer *Node) GenLoss {
	if err := l.Validate(); err != nil {
		panic(err)
	}
	dt := dec.DType()
	var r GenLoss
	r.Recon = ReconLoss(l.Recon, x, dec)
	r.GAN = GeneratorGANLoss(logitsFake)
	r.DWeight = AdaptiveWeight(r.Recon, r.GAN, lastLayer, l.DiscWeight)
	r.DiscFactor = AdoptWeightNode(l.DiscFactor, step, l.DiscStart, dt)
	r.Total = Add(Add(r.Recon, Mul(Mul(r.DWeight, r.DiscFactor), r.GAN)), MulScalar(qloss, l.CodebookWeight))
	return r
}

// DiscriminatorLoss is the discriminator's loss (optimizer_idx 1): DiscFactor(step) times the
// hinge (or vanilla) loss of its logits on the real images and on the reconstructions; compute
// the logits from StopGradient'ed images so that only the discriminator learns from it.
func DiscriminatorLoss(l LossConfig, step, logitsReal, logitsFake *Node) *Node {
	if err := l.Validate(); err != nil {
		panic(err)
	}
	var d *Node
	if l.DiscLoss == "hinge" {
		d = HingeDLoss(logitsReal, logitsFake)
	} else {
		d = VanillaDLoss(logitsReal, logitsFake)
	}
	return Mul(AdoptWeightNode(l.DiscFactor, step, l.DiscStart, d.DType()), d)
}

// DiscScope is the scope of the discriminator's variables under the training context.
const DiscScope = "discriminator"

// StepLoss is one training step's loss for a single optimiser over every
// variable (generator and discriminator), and its parts.
type StepLoss struct {
	Total *Node // its value is Gen.Total + Disc; its gradients are routed (see TrainingLoss)
	Gen   GenLoss
	Disc  *Node
	Q     Quantized
}

// TrainingLoss is the reference's two-optimiser GAN step (optimizer_idx 0:
// autoencoder, 1: discriminator, on the same batch) as one loss for one
// optimiser (train.Run): Gen.Total + Disc - (c - sg(c)), where the correction
// c = DWeight * DiscFactor * GAN(D(sg(rec))) is computed on the StopGradient'ed
// reconstruction (so Total's value is Gen.Total + Disc). Its gradient on the discriminator cancels
// the generator term's, and it has none on the autoencoder; the
// discriminator loss sees StopGradient'ed images. So the autoencoder's
// variables get exactly the gradient of Gen.Total with the discriminator
// frozen, and the discriminator's exactly that of Disc: simultaneous updates
// of the two players. step is the training step (a scalar node; the GAN
// terms are off before LossConfig.DiscStart). ctx must be unchecked (the
// discriminator is applied three times); the discriminator lives under
// ctx.In(DiscScope).
func TrainingLoss(ctx *context.Context, cfg Config, d DiscConfig, l LossConfig, step, x *Node) StepLoss {
	dec, q := Forward(ctx, cfg, x)
	img := ReconImage(l.Recon, dec)
	disc := func(in *Node) *Node { return Discriminator(ctx.In(DiscScope), d, in) }
	gen := GeneratorLoss(l, step, x, dec, q.Loss, disc(img), LastLayer(ctx, x.Graph()))
	fakeSG := disc(StopGradient(img))
	dl := DiscriminatorLoss(l, step, disc(StopGradient(x)), fakeSG)
	cancel := Mul(Mul(StopGradient(gen.DWeight), gen.DiscFactor), GeneratorGANLoss(fakeSG))
	// Sub(cancel, StopGradient(cancel)) is zero in value and carries only the cancelling gradient.
	return StepLoss{Total: Add(Sub(gen.Total, Sub(cancel, StopGradient(cancel))), dl), Gen: gen, Disc: dl, Q: q}
}
