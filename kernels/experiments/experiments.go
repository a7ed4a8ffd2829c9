// Package experiments holds every training experiment of the reproduction as
// data: a named, fully specified configuration (data, denoiser, diffusion
// process, optimisation, sampling) whose resolved canonical JSON and sha256 go
// into the artifact of each run. The kinds of experiment are declared here
// (kinds.go); how each kind trains, samples and evaluates lives in
// kernels/runners/<kind>.
package experiments

import (
	"fmt"
	"github.com/dmseg/dmseg/kernels/models/vqgan"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/train"
)

// DataSpec says which images an experiment trains on and which it holds out
// for evaluation.
type DataSpec struct {
	Source string `json:"source"` // "phantom", "covidqu" or "brainmri" (the embedded real brain MRI, task "brain")
	// Root is the COVID-QU-Ex folder (Kaggle layout) when Source is "covidqu".
	Root string `json:"root,omitempty"`
	// Phantom configures the phantom; its Task and Size also apply to "covidqu"
	// (the task's folder, and the side images are resized to).
	Phantom dataset.PhantomConfig `json:"phantom"`
	// CLAHE, when set, equalises every image (thesis chapter 4 on: "in all the remaining
	// experiments"); the dataset fingerprint covers it.
	CLAHE       *clahe.Params `json:"clahe,omitempty"`
	TrainSplit  string        `json:"train_split"`  // "train"
	HeldOut     string        `json:"held_out"`     // split used for sample-quality metrics ("test")
	ShuffleSeed uint64        `json:"shuffle_seed"` // batch order (dataset.Stream)
}

// DiffusionSpec is the forward process and parameterisation (thesis Table 8).
type DiffusionSpec struct {
	Timesteps int     `json:"timesteps"`
	Beta      string  `json:"beta_schedule"` // schedule.BetaLinear, BetaSqrtLinear (CompVis "linear"), BetaCosine
	BetaStart float64 `json:"linear_start"`  // recorded; the schedule package uses 1e-4 / 0.02
	BetaEnd   float64 `json:"linear_end"`
	Param     string  `json:"parameterization"` // "eps"
	// AuxDice (ddpm-seg only; 0: off) weights a soft-Dice loss between the
	// implied x0_hat, mapped to [0, 1] and clipped, and the true mask, added
	// to L_simple: a segmentation term like the BCE + Dice of the U-Net
	// baseline, for small foregrounds (infections) that plain MSE on a mask
	// in {-1, 1} under-weights. Not in the thesis (Table 8 has L_simple only).
	AuxDice float64 `json:"aux_dice,omitempty"`
	// ZeroTerminalSNR rescales the betas so that abar is exactly 0 at the last
	// timestep (schedule.RescaleZeroTerminalSNR, Lin et al. 2024): training then
	// sees pure noise at t = T, where sampling starts. Needs the v or x0
	// objective. Not in the thesis.
	ZeroTerminalSNR bool `json:"zero_terminal_snr,omitempty"`
}

// SamplingSpec is how samples are drawn for figures and metrics.
type SamplingSpec struct {
	DDIMSteps   int     `json:"ddim_steps"`   // thesis: 50
	DDIMEta     float64 `json:"ddim_eta"`     // 0: deterministic
	DDIMSpacing string  `json:"ddim_spacing"` // schedule.SpacingCompVis
	DDIMClipX0  float64 `json:"ddim_clip_x0"` // 0: no clipping (CompVis DDIMSampler)
	DDPMClipX0  float64 `json:"ddpm_clip_x0"` // 1: clip x0_hat to [-1,1] (CompVis p_sample clip_denoised)
	UseEMA      bool    `json:"use_ema"`      // sample with the EMA weights
	EvalSamples int     `json:"eval_samples"` // generated images for the quality metrics
	EvalSeed    int64   `json:"eval_seed"`
}

// LatentSpec names the two frozen VQ-GANs of a latent experiment (thesis
// 5.2-5.3) by experiment: ImageVQ encodes the CLAHE X-ray (the condition, or
// the bridge's x_T = y), MaskVQ encodes the mask for training and decodes the
// sampled latent. Training resolves each to its current artifact and records
// the ids in DependsOn. Normalize standardises each latent channel with the
// training split's mean and deviation (BBDM's normalize_latent; Tables 9-10
// print false, the -paper size keeps that).
type LatentSpec struct {
	ImageVQ   string `json:"image_vq"`
	MaskVQ    string `json:"mask_vq"`
	Normalize bool   `json:"normalize_latent"`
}

// VQSpec is what a VQ-GAN experiment reconstructs and its loss (thesis 5.1;
// the loss settings are not stated in the thesis).
type VQSpec struct {
	Target string           `json:"target"` // "image" (X-rays, L1) or "mask" (BCE on the logits)
	Loss   vqgan.LossConfig `json:"loss"`
	// Restart, when set, guards the codebook against collapse during training
	// (vqgan.Restarter: dead codes moved onto encoder outputs); nil = none, as the
	// thesis's reference.
	Restart *RestartSpec `json:"restart,omitempty"`
}

// RestartSpec schedules dead-code restarts: the codes chosen for every
// training batch are observed, and every Every steps (while step <= Until)
// the codes unused for Patience steps are restarted.
type RestartSpec struct {
	Every    int `json:"every"`
	Patience int `json:"patience"`
	Until    int `json:"until"` // last step that may restart (0 = the whole run)
}

// Validate reports the first invalid setting.
func (r RestartSpec) Validate() error {
	if r.Every < 1 || r.Patience < 1 || r.Until < 0 {
		return fmt.Errorf("vq restart: need every >= 1, patience >= 1, until >= 0, got %+v", r)
	}
	return nil
}

func (v *VQSpec) clone() *VQSpec {
	if v == nil {
		return nil
	}
	c := *v
	if v.Restart != nil {
		r := *v.Restart
		c.Restart = &r
	}
	return &c
}

// BridgeSpec is the Brownian bridge of a BBDM experiment (thesis 1.3, Table 7).
type BridgeSpec struct {
	Timesteps   int     `json:"num_timesteps"`
	MtType      string  `json:"mt_type"`   // schedule.MtLinear or MtSin
	MaxVar      float64 `json:"max_var"`   // s in delta_t = 2 s (m_t - m_t^2)
	Objective   string  `json:"objective"` // grad, noise or ysubx
	Loss        string  `json:"loss_type"` // l1 (official default) or l2
	SampleSteps int     `json:"sample_step"`
	Eta         float64 `json:"eta"`
	ClipX0      float64 `json:"clip_x0"` // official clip_denoised: 1 clips x0_hat to [-1, 1]; 0 off
}

// Experiment is one named experiment.
type Experiment struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Chapter     string        `json:"chapter"`
	Description string        `json:"description"`
	Model       string        `json:"model"` // models/registry name; the resolved config is stored in the artifact
	Data        DataSpec      `json:"data"`
	Diffusion   DiffusionSpec `json:"diffusion"`
	Bridge      *BridgeSpec   `json:"bridge,omitempty"` // bbdm-seg only
	VQ          *VQSpec       `json:"vq,omitempty"`     // vqgan only
	Latent      *LatentSpec   `json:"latent,omitempty"` // ldm-seg and lbbdm-seg only
	Train       train.Config  `json:"train"`
	Sampling    SamplingSpec  `json:"sampling"`
	// DependsOn names the artifact ids this experiment builds on (the VQ-GANs of a latent
	// model, resolved from Latent when training starts: image, then mask); they are part of
	// the recorded config and so of its hash.
	DependsOn []string `json:"depends_on,omitempty"`
}

// WithCOVIDQU returns the experiment re-pointed at a COVID-QU-Ex download
// (Kaggle layout) under root, with the same task, image size, splits and
// settings; its name gains the suffix "-covidqu" so that its artifacts never
// stand in for the phantom ones in the tables.
func (e Experiment) WithCOVIDQU(root string) (Experiment, error) {
	if e.Data.Phantom.Task != "lung" && e.Data.Phantom.Task != "infection" {
		return e, fmt.Errorf("experiment %s: task %q has no COVID-QU-Ex counterpart (want lung or infection)", e.Name, e.Data.Phantom.Task)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return e, err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return e, fmt.Errorf("COVID-QU-Ex folder %s: not a directory (download it from Kaggle and pass its root)", root)
	}
	e.Name += "-covidqu"
	e.Data.Source, e.Data.Root = "covidqu", abs
	e.Description += " Data: COVID-QU-Ex from " + abs + "."
	return e, nil
}

// Resolved returns the experiment with every default filled in (the values a
// run uses; artifacts record and hash these).
func (e Experiment) Resolved() Experiment {
	e.Train = e.Train.Resolved()
	if e.Sampling.DDIMSpacing == "" {
		e.Sampling.DDIMSpacing = schedule.SpacingCompVis
	}
	e.DependsOn = append([]string(nil), e.DependsOn...)
	if e.Bridge != nil {
		b := *e.Bridge
		e.Bridge = &b
	}
	e.VQ = e.VQ.clone()
	if e.Latent != nil {
		l := *e.Latent
		e.Latent = &l
	}
	if e.Data.CLAHE != nil {
		c := *e.Data.CLAHE
		e.Data.CLAHE = &c
	}
	return e
}

var known = map[string]Experiment{}

func add(e Experiment) {
	if _, dup := known[e.Name]; dup {
		panic("experiments: duplicate " + e.Name)
	}
	known[e.Name] = e
}

// Names lists the experiments, sorted.
func Names() []string {
	var n []string
	for k := range known {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Get returns a copy of the named experiment.
func Get(name string) (Experiment, error) {
	e, ok := known[name]
	if !ok {
		return Experiment{}, fmt.Errorf("unknown experiment %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	e.DependsOn = append([]string(nil), e.DependsOn...) // the caller may modify its copy
	if e.Bridge != nil {
		b := *e.Bridge
		e.Bridge = &b
	}
	e.VQ = e.VQ.clone()
	if e.Latent != nil {
		l := *e.Latent
		e.Latent = &l
	}
	if e.Data.CLAHE != nil {
		c := *e.Data.CLAHE
		e.Data.CLAHE = &c
	}
	return e, nil
}

// thesisDiffusion is thesis section 2.4 / Table 8: T = 1000, "linear" betas
// 1e-4 .. 0.02 in the CompVis sense (linspace of sqrt(beta), squared), eps.
//
// thesis: table8
var thesisDiffusion = DiffusionSpec{Timesteps: 1000, Beta: "sqrt-linear", BetaStart: 1e-4, BetaEnd: 0.02, Param: "eps"}

// cpuDiffusion is thesisDiffusion with the v objective (Salimans & Ho 2022: the
// network predicts v = sqrt(abar) eps - sqrt(1-abar) x_0). At the CPU budget
// (~19k images seen) an eps network's error at large t is amplified by
// sqrt(1-abar_t)/sqrt(abar_t) (about 14 at t = 981) in x0_hat, and deterministic
// DDIM carries the resulting out-of-range pixels to the end as speckle; with v,
// x0_hat = sqrt(abar) x_t - sqrt(1-abar) v has no such factor (issue 10).
var cpuDiffusion = DiffusionSpec{Timesteps: 1000, Beta: "sqrt-linear", BetaStart: 1e-4, BetaEnd: 0.02, Param: "v"}

// cpuDiffusionZSNR is cpuDiffusion with the betas rescaled to a zero terminal
// SNR (Lin et al. 2024; schedule.RescaleZeroTerminalSNR): the CompVis-linear
// schedule ends at sqrt(abar_T) = 0.028, so in training the last timestep
// still shows 2.8% of the image while sampling starts from pure noise. With
// v and trailing spacing (the paper's other two fixes) deterministic DDIM-50
// goes from FD 48.8 to 38.5 on the validation split and the thesis's own
// CompVis DDIM-50 from 66.1 to 42.8 on the test split (issue 10).
var cpuDiffusionZSNR = func() DiffusionSpec { d := cpuDiffusion; d.ZeroTerminalSNR = true; return d }()

var thesisSampling = SamplingSpec{DDIMSteps: 50, DDIMEta: 0, DDIMSpacing: "compvis", DDIMClipX0: 0, DDPMClipX0: 1,
	UseEMA: true, EvalSamples: 128, EvalSeed: 1234}

func init() {
	phantomData := DataSpec{Source: "phantom", Phantom: dataset.PhantomConfig{Task: "lung", Seed: 1, Size: 64, NTrain: 2000, NVal: 500, NTest: 500},
		TrainSplit: "train", HeldOut: "test", ShuffleSeed: 11}

	// ch2-ddpm-uncond-cpu is the definition of artifact ch2-ddpm-uncond-cpu-20261203-46708091
	// (952 s on an idle host). Its predecessor, the same run without the zero-terminal-SNR
	// rescale, is artifact ch2-ddpm-uncond-cpu-20261202-a1bd0365 (config sha256 28673bff);
	// the ablations below keep that predecessor's diffusion, so they compare with it. (The
	// description is the one the artifact was trained with; diffusion.zero_terminal_snr says the rest.)
	// A trial definition (4,000 steps at batch 16, EMA 0.999, DDIM trailing + clipped x0) trained
	// ch2-ddpm-uncond-cpu-20261203-4124051f, whose DDIM-50 was worse on the validation split
	// (FD 167 compvis / 131 trailing+clip against 61 / 49), so this definition was restored; both
	// artifacts' records are in thesis/tables/ch2-samplers (issue 10).
	ch2cpu := Experiment{
		Name: "ch2-ddpm-uncond-cpu", Kind: KindDDPMUncond, Chapter: "2",
		Description: "Unconditional DDPM on 64x64 phantom chest X-rays, sized for ~1 h on 2 CPU cores (XLA CPU): " +
			"the CPU U-Net, thesis diffusion settings (T=1000, CompVis-linear betas 1e-4..0.02, DDIM-50 sampling) " +
			"except the objective: v instead of eps, because at this budget an eps network makes deterministic DDIM speckle (issue 10).",
		Model: "unet-cpu", Data: phantomData, Diffusion: cpuDiffusionZSNR,
		Train: train.Config{Steps: 2400, BatchSize: 8, Seed: 42,
			LR:       train.LRConfig{Schedule: "linear", LR: 4e-4, LRFinal: 4e-5},
			ClipNorm: 1, EMADecay: 0.995, CheckpointSeconds: 180, LogEvery: 1},
		Sampling: thesisSampling,
	}
	// A second trial definition (issue 10) took a longer EMA, 0.998 with the usual warmup
	// (train.Config.EMAWarmup): the EMA ablation had shown the EMA 0.995 copy far better for
	// DDIM than the raw weights (FD 48.8 vs 76.7), and the 64k-image trial's EMA 0.999
	// without warmup kept about 5% of the weights of its first 1,000 steps. Its artifact
	// ch2-ddpm-uncond-cpu-20261203-1f205d1b (949 s on an idle host) gave DDIM-50 FD 40.3
	// (eta 0.5) and 49.1 (eta 0) on the validation split against 39.9 and 48.8, i.e. no
	// change, so this definition was restored (config sha256 28673bff).
	add(ch2cpu)

	// The EMA ablation (issue 10): the same training run, sampled with the raw
	// weights. On the 64k-image trial the raw weights' DDIM-50 was far closer to
	// the data than its EMA-0.999 weights' (FD 86 vs 131 on the validation split,
	// spectrum group 13 vs 63); this measures whether the 19k-image definition's
	// EMA 0.995 costs DDIM too. The run keeps its EMA copy in its full
	// checkpoint (.cache/runs), so both weight sets are compared from one run.
	// Result (artifact ch2-ddpm-uncond-noema-cpu-20261203-87061985, record
	// quality-a758544d7a, validation split): raw weights FD 76.7 against 48.8
	// for the EMA weights, so the definition keeps its EMA.
	noEMA := ch2cpu
	noEMA.Diffusion = cpuDiffusion
	noEMA.Name = "ch2-ddpm-uncond-noema-cpu"
	noEMA.Description = "EMA ablation of ch2-ddpm-uncond-cpu (issue 10): the same training, sampled with the raw weights " +
		"instead of their EMA (0.995) copy."
	noEMA.Sampling.UseEMA = false
	add(noEMA)

	// The data ablation (issue 10): the same training on 10x as many training
	// phantoms (20,000, each seen about once in the 19.2k images of the run
	// instead of ~10 times). The 64k-image trial had lower held-out x0 error yet
	// a worse DDIM, so a denoiser fitted to few images may give a rougher
	// deterministic path; the phantom generator gives fresh images for free.
	// The validation and test phantoms do not depend on n_train.
	// Result (artifact ch2-ddpm-uncond-data20k-cpu-20261203-af53fc70, 930 s on an idle
	// host; validation split, trailing spacing, clipped x0, n=128, same x_T): DDIM-50
	// eta 0.5 FD 43.1 and eta 0 FD 50.0 against 39.9 and 48.8 on 2,000 phantoms, so
	// fitting few images is not what makes DDIM drift at this budget.
	moreData := ch2cpu
	moreData.Diffusion = cpuDiffusion
	moreData.Name = "ch2-ddpm-uncond-data20k-cpu"
	moreData.Description = "Data ablation of ch2-ddpm-uncond-cpu (issue 10): the same training on 20,000 training phantoms instead of 2,000."
	moreData.Data.Phantom.NTrain = 20000
	add(moreData)

	// The capacity ablation (issue 10): the same training with a 1.5x wider U-Net
	// (unet-cpu-w24, about 2.2x the parameters); EMA, data and the objective did not
	// move DDIM-50 off FD ~40 on the validation split, so the network is what is left.
	// Result (artifact ch2-ddpm-uncond-wide-cpu-20261203-f96717f0, 1684 s on 2 cores, partly
	// under other jobs): DDIM-50 FD 46.6 at eta 0 (48.8 for unet-cpu) but 54.6 at eta 0.5 (39.9),
	// so the wider net drifts a little less and gains nothing at the chosen eta.
	wide := ch2cpu
	wide.Diffusion = cpuDiffusion
	wide.Name = "ch2-ddpm-uncond-wide-cpu"
	wide.Description = "Capacity ablation of ch2-ddpm-uncond-cpu (issue 10): the same training with the 1.5x wider U-Net unet-cpu-w24."
	wide.Model = "unet-cpu-w24"
	add(wide)

	add(Experiment{
		Name: "ch2-ddpm-uncond-paper", Kind: KindDDPMUncond, Chapter: "2",
		Description: "Unconditional DDPM with the thesis's settings for a GPU: Table 6 U-Net (192 channels, mult 1,2,3,4, " +
			"attention at 32/16/8), Table 8 diffusion (T=1000, linear 1e-4..0.02, eps), DDIM-50 sampling, batch 8 as in " +
			"chapters 3-4, Adam. The thesis does not state chapter 2's learning rate or length; 1e-4 constant (CompVis's " +
			"usual base rate) for 100k steps is our choice.",
		Model: "unet-table6", Data: phantomData, Diffusion: thesisDiffusion,
		Train: train.Config{Steps: 100000, BatchSize: 8, Seed: 42,
			LR:       train.LRConfig{Schedule: "constant", LR: 1e-4},
			ClipNorm: 1, EMADecay: 0.9999, CheckpointSeconds: 900, LogEvery: 10},
		Sampling: thesisSampling,
	})

	tinyData := phantomData
	tinyData.Phantom = dataset.PhantomConfig{Task: "lung", Seed: 1, Size: 16, NTrain: 32, NVal: 8, NTest: 16}
	tinySampling := thesisSampling
	tinySampling.DDIMSteps, tinySampling.EvalSamples = 5, 8
	add(Experiment{
		Name: "ch2-ddpm-uncond-tiny", Kind: KindDDPMUncond, Chapter: "2",
		Description: "Seconds-long smoke test of the chapter 2 pipeline: tiny U-Net on 16x16 phantoms, T=50.",
		Model:       "unet-tiny", Data: tinyData,
		Diffusion: DiffusionSpec{Timesteps: 50, Beta: "linear", BetaStart: 1e-4, BetaEnd: 0.02, Param: "eps"},
		Train: train.Config{Steps: 6, BatchSize: 4, Seed: 3, LR: train.LRConfig{Schedule: "constant", LR: 1e-3},
			ClipNorm: 1, EMADecay: 0.9, CheckpointEvery: 3, LogEvery: 1},
		Sampling: tinySampling,
	})
}
