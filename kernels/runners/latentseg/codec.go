// Package latentseg runs chapter 5's latent segmentation models (thesis
// 5.2-5.3): the chapter-3 conditional DDPM (ldm-seg) and the chapter-4
// Brownian bridge (lbbdm-seg) trained and sampled in the latent space of two
// frozen VQ-GANs. The X-ray VQ-GAN encodes the CLAHE X-ray (the condition,
// or the bridge's x_T = y); the mask VQ-GAN encodes the mask for training and
// decodes the sampled latent, which is quantised to its nearest codes first
// (VQModelInterface.decode). The decoded mask is thresholded at 0.5 and scored
// against the pixel-space mask, as in chapters 3-4 (segeval).
//
// The latents are the VQ-GANs' encodings before quantisation (the space the
// latent-diffusion and BBDM reference code diffuse in), standardised per
// channel with the mean and standard deviation of the training split's
// latents when the experiment sets normalize_latent (BBDM's option; the
// statistics are stored in the artifact as latent.json either way).
package latentseg

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/experiments"
	vq "github.com/dmseg/dmseg/kernels/models/vqgan"
	"github.com/dmseg/dmseg/kernels/runners/segeval"
	vqrun "github.com/dmseg/dmseg/kernels/runners/vqgan"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// StatsFile is the artifact file with the latent statistics.
const StatsFile = "latent.json"

// Stats are the latent space of a latent experiment: the VQ-GAN artifacts,
// the latent shape and the per-channel normalisation of each side.
type Stats struct {
	ImageVQ   string    `json:"image_vq"` // artifact ids
	MaskVQ    string    `json:"mask_vq"`
	Size      int       `json:"size"` // latent side (16 for f4, 8 for f8 at 64x64)
	Channels  int       `json:"channels"`
	ImageMean []float64 `json:"image_mean"`
	ImageStd  []float64 `json:"image_std"`
	MaskMean  []float64 `json:"mask_mean"`
	MaskStd   []float64 `json:"mask_std"`
	N         int       `json:"n"` // training pairs the statistics come from
	// Normalized says the model sees standardised latents (normalize_latent);
	// otherwise the raw ones, and the statistics are a record only.
	Normalized bool `json:"normalized"`
}

// Codec holds the two frozen VQ-GANs of a latent experiment.
type Codec struct {
	Image, Mask *vqrun.Loaded
	Stats       Stats
	encImage    *context.Exec
	encMask     *context.Exec
	decMask     *context.Exec
}

// OpenCodec loads the VQ-GAN artifacts imageID and maskID from root and
// compiles their encoders and the mask decoder on backend.
func OpenCodec(root, imageID, maskID string, backend backends.Backend) (*Codec, error) {
	var ls [2]*vqrun.Loaded
	for i, id := range []string{imageID, maskID} {
		a, err := artifacts.Open(root, id)
		if err != nil {
			return nil, fmt.Errorf("latent VQ-GAN %s: %w", id, err)
		}
		if ls[i], err = vqrun.Load(a); err != nil {
			return nil, err
		}
	}
	c := &Codec{Image: ls[0], Mask: ls[1]}
	ic, mc := c.Image.Config.Autoencoder.VQGAN, c.Mask.Config.Autoencoder.VQGAN
	if ic.EmbedDim != mc.EmbedDim || ic.LatentSize() != mc.LatentSize() {
		return nil, fmt.Errorf("latent VQ-GANs %s (%dx%dx%d) and %s (%dx%dx%d) have different latent shapes",
			imageID, ic.LatentSize(), ic.LatentSize(), ic.EmbedDim, maskID, mc.LatentSize(), mc.LatentSize(), mc.EmbedDim)
	}
	if t := c.Image.Config.Experiment.VQ.Target; t != "image" {
		return nil, fmt.Errorf("latent image VQ-GAN %s reconstructs %ss", imageID, t)
	}
	if t := c.Mask.Config.Experiment.VQ.Target; t != "mask" {
		return nil, fmt.Errorf("latent mask VQ-GAN %s reconstructs %ss", maskID, t)
	}
	c.Stats = Stats{ImageVQ: imageID, MaskVQ: maskID, Size: mc.LatentSize(), Channels: mc.EmbedDim}
	var err error
	enc := func(l *vqrun.Loaded) (*context.Exec, error) {
		cfg := l.Config.Autoencoder.VQGAN
		return context.NewExec(backend, l.Ctx.Reuse(), func(ctx *context.Context, x *Node) *Node { return vq.Encode(ctx, cfg, x) })
	}
	if c.encImage, err = enc(c.Image); err != nil {
		return nil, err
	}
	if c.encMask, err = enc(c.Mask); err != nil {
		return nil, err
	}
	mcfg, recon := mc, c.Mask.Config.Experiment.VQ.Loss.Recon
	c.decMask, err = context.NewExec(backend, c.Mask.Ctx.Reuse(), func(ctx *context.Context, h *Node) *Node {
		return ConvertDType(vq.ReconImage(recon, vq.DecodeLatent(ctx, mcfg, h)), h.DType())
	})
	return c, err
}

// OpenArtifactCodec opens the codec a latent artifact was trained with: the
// VQ-GANs its config depends on (in the same artifacts folder) and its
// stored latent statistics.
func OpenArtifactCodec(a *artifacts.Artifact, rc experiments.RunConfig, backend backends.Backend) (*Codec, error) {
	b, err := os.ReadFile(a.Path(StatsFile))
	if err != nil {
		return nil, fmt.Errorf("latent artifact %s: %w", a.Manifest.ID, err)
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("latent artifact %s: %s: %w", a.Manifest.ID, StatsFile, err)
	}
	if d := rc.Experiment.DependsOn; len(d) != 2 || d[0] != st.ImageVQ || d[1] != st.MaskVQ {
		return nil, fmt.Errorf("latent artifact %s: %s names the VQ-GANs %s and %s, its config %v", a.Manifest.ID, StatsFile, st.ImageVQ, st.MaskVQ, d)
	}
	if l := rc.Experiment.Latent; l == nil || l.Normalize != st.Normalized {
		return nil, fmt.Errorf("latent artifact %s: %s says normalized %t, its config's normalize_latent disagrees", a.Manifest.ID, StatsFile, st.Normalized)
	}
	c, err := OpenCodec(filepath.Dir(a.Dir), st.ImageVQ, st.MaskVQ, backend)
	if err != nil {
		return nil, err
	}
	if err := st.check(c.Stats.Channels, c.Stats.Size); err != nil {
		return nil, fmt.Errorf("latent artifact %s: %w", a.Manifest.ID, err)
	}
	c.Stats = st
	return c, nil
}

func (s Stats) check(ch, size int) error {
	if s.Channels != ch || s.Size != size {
		return fmt.Errorf("%s: latent %dx%dx%d, the VQ-GANs give %dx%dx%d", StatsFile, s.Size, s.Size, s.Channels, size, size, ch)
	}
	for _, v := range [][]float64{s.ImageMean, s.ImageStd, s.MaskMean, s.MaskStd} {
		if len(v) != ch {
			return fmt.Errorf("%s: %d channel statistics, want %d", StatsFile, len(v), ch)
		}
	}
	for _, sd := range slices.Concat(s.ImageStd, s.MaskStd) {
		if s.Normalized && (!(sd > 0) || math.IsInf(sd, 0)) {
			return fmt.Errorf("%s: standard deviation %g (want finite > 0)", StatsFile, sd)
		}
	}
	return nil
}

func run1(e *context.Exec, x *tensors.Tensor) ([]float32, error) {
	out, err := e.Exec(x)
	if err != nil {
		return nil, err
	}
	defer out[0].FinalizeAll()
	return tensors.CopyFlatData[float32](out[0])
}

// EncodeImages returns the raw (unnormalised) latents [B,h,w,C] of images
// [B,H,W,1] in [-1, 1].
func (c *Codec) EncodeImages(x *tensors.Tensor) ([]float32, error) { return run1(c.encImage, x) }

// EncodeMasks returns the raw latents of masks [B,H,W,1] in {-1, 1}.
func (c *Codec) EncodeMasks(x *tensors.Tensor) ([]float32, error) { return run1(c.encMask, x) }

// DecodeMasks quantises raw mask latents [B,h,w,C] and decodes them to masks
// in [-1, 1] (positive where the foreground probability exceeds 0.5).
func (c *Codec) DecodeMasks(h []float32, b int) ([]float32, error) {
	s := c.Stats
	return run1(c.decMask, tensors.FromFlatDataAndDimensions(h, b, s.Size, s.Size, s.Channels))
}

// EncodeSet encodes every image and mask of set in batches and returns the
// raw latents, N*h*w*C each.
func (c *Codec) EncodeSet(set *dataset.Set, batch int) (img, mask []float32, err error) {
	for _, b := range set.Batches(batch, false) {
		li, err := c.EncodeImages(b.ImagesTensor())
		if err != nil {
			return nil, nil, err
		}
		lm, err := c.EncodeMasks(b.MasksTensor())
		if err != nil {
			return nil, nil, err
		}
		img, mask = append(img, li...), append(mask, lm...)
	}
	return img, mask, nil
}

// channelStats is the per-channel mean and standard deviation (population)
// of NHWC data with ch channels.
func channelStats(x []float32, ch int) (mean, std []float64) {
	mean, std = make([]float64, ch), make([]float64, ch)
	n := float64(len(x) / ch)
	for i, v := range x {
		mean[i%ch] += float64(v)
	}
	for k := range mean {
		mean[k] /= n
	}
	for i, v := range x {
		d := float64(v) - mean[i%ch]
		std[i%ch] += d * d
	}
	for k := range std {
		std[k] = math.Sqrt(std[k] / n)
	}
	return mean, std
}

// Fit sets the normalisation from the raw training latents.
func (s *Stats) Fit(img, mask []float32) {
	s.ImageMean, s.ImageStd = channelStats(img, s.Channels)
	s.MaskMean, s.MaskStd = channelStats(mask, s.Channels)
	s.N = len(img) / (s.Size * s.Size * s.Channels)
}

// Normalise maps raw image and mask latents in place to what the model sees:
// (x - mean_c) / std_c when the statistics are applied, unchanged otherwise.
func (s Stats) Normalise(img, mask []float32) {
	if !s.Normalized {
		return
	}
	if img != nil {
		normalise(img, s.ImageMean, s.ImageStd)
	}
	if mask != nil {
		normalise(mask, s.MaskMean, s.MaskStd)
	}
}

// DenormaliseMask inverts Normalise on mask latents.
func (s Stats) DenormaliseMask(mask []float32) {
	if s.Normalized {
		denormalise(mask, s.MaskMean, s.MaskStd)
	}
}

// normalise maps raw latents to (x - mean_c) / std_c in place; denormalise
// inverts it.
func normalise(x []float32, mean, std []float64) {
	ch := len(mean)
	for i := range x {
		x[i] = float32((float64(x[i]) - mean[i%ch]) / std[i%ch])
	}
}

func denormalise(x []float32, mean, std []float64) {
	ch := len(mean)
	for i := range x {
		x[i] = float32(float64(x[i])*std[i%ch] + mean[i%ch])
	}
}

// Write stores the statistics as StatsFile in dir.
func (s Stats) Write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, StatsFile), b)
}

// Sample is a latent sampler: from the normalised condition latents [B,h,w,C]
// and a seed, the normalised mask latents.
type Sample func(cond *tensors.Tensor, seed int64) (*tensors.Tensor, error)

// Predictor wraps a latent sampler into a pixel-space segeval prediction:
// encode the batch's X-rays, normalise, sample, denormalise, decode.
func (c *Codec) Predictor(sample Sample) segeval.Predict {
	s := c.Stats
	return func(b *dataset.Batch, seed int64) ([]float32, error) {
		y, err := c.EncodeImages(b.ImagesTensor())
		if err != nil {
			return nil, err
		}
		s.Normalise(y, nil)
		out, err := sample(tensors.FromFlatDataAndDimensions(y, b.B, s.Size, s.Size, s.Channels), seed)
		if err != nil {
			return nil, err
		}
		h, err := tensors.CopyFlatData[float32](out)
		if err != nil {
			return nil, err
		}
		s.DenormaliseMask(h)
		return c.DecodeMasks(h, b.B)
	}
}

// Batches streams normalised latent pairs in the order of the pixel stream
// (the same shuffle, so a latent run sees its examples in the same order as
// the pixel run of the same seed).
type Batches struct {
	stream    *dataset.Stream
	img, mask []float32
	size, ch  int
}

// Batch implements train.Batches: [image latents, mask latents], each
// [B,h,w,C].
func (lb *Batches) Batch(step int64) ([]*tensors.Tensor, error) {
	b, err := lb.stream.At(step)
	if err != nil {
		return nil, err
	}
	per := lb.size * lb.size * lb.ch
	img, mask := make([]float32, 0, len(b.Index)*per), make([]float32, 0, len(b.Index)*per)
	for _, i := range b.Index {
		img = append(img, lb.img[i*per:(i+1)*per]...)
		mask = append(mask, lb.mask[i*per:(i+1)*per]...)
	}
	dims := []int{len(b.Index), lb.size, lb.size, lb.ch}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(img, dims...), tensors.FromFlatDataAndDimensions(mask, dims...)}, nil
}
