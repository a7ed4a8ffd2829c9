package experiments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/dmseg/dmseg/kernels/data/dataset"
	"github.com/dmseg/dmseg/kernels/diffusion/ddpm"
	"github.com/dmseg/dmseg/kernels/diffusion/schedule"
	"github.com/dmseg/dmseg/kernels/jsonkeys"
	"github.com/dmseg/dmseg/kernels/models/registry"
)

// RunConfig is what an artifact stores as its config: the resolved experiment
// (every default filled in) and the resolved network configuration (sections
// that do not apply omitted), so the artifact can be loaded even if the named
// registry entries or the code's defaults change later.
type RunConfig struct {
	Experiment  Experiment      `json:"experiment"`
	ModelConfig registry.Config `json:"model_config"`
	ModelParams int             `json:"model_params"`
	// Autoencoder is the VQ-GAN of a vqgan experiment (ModelConfig is then
	// empty; ModelParams counts the inference model, the discriminator apart).
	Autoencoder *registry.Autoencoder `json:"autoencoder,omitempty"`
}

// Validate checks an experiment before anything expensive happens.
func (e Experiment) Validate() error {
	if _, err := Spec(e.Kind); err != nil {
		return fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	switch e.Data.Source {
	case "phantom":
	case "brainmri":
		if e.Data.Phantom.Task != "brain" {
			return fmt.Errorf("experiment %s: data source brainmri has the task \"brain\" only, got %q", e.Name, e.Data.Phantom.Task)
		}
	case "covidqu":
		if e.Data.Root == "" {
			return fmt.Errorf("experiment %s: data source covidqu needs the COVID-QU-Ex folder (data.root)", e.Name)
		}
	default:
		return fmt.Errorf("experiment %s: unsupported data source %q (want phantom, covidqu or brainmri)", e.Name, e.Data.Source)
	}
	if e.Diffusion.Timesteps > 0 {
		if e.Diffusion.BetaStart != schedule.DefaultBetaStart || e.Diffusion.BetaEnd != schedule.DefaultBetaEnd {
			return fmt.Errorf("experiment %s: only beta 1e-4..0.02 is supported, got %g..%g", e.Name, e.Diffusion.BetaStart, e.Diffusion.BetaEnd)
		}
		p, err := ddpm.ParseParam(e.Diffusion.Param)
		if err != nil {
			return fmt.Errorf("experiment %s: %w", e.Name, err)
		}
		if e.Diffusion.ZeroTerminalSNR && p == ddpm.Eps {
			return fmt.Errorf("experiment %s: zero_terminal_snr needs the v or x0 parameterization: with eps, x0_hat = (x_t - sqrt(1-abar) eps)/sqrt(abar) is undefined at abar = 0", e.Name)
		}
	} else if e.Diffusion.ZeroTerminalSNR {
		return fmt.Errorf("experiment %s: zero_terminal_snr without a diffusion schedule", e.Name)
	}
	if a := e.Diffusion.AuxDice; a != 0 && (e.Kind != KindDDPMSeg || !(a > 0 && a <= 100)) {
		return fmt.Errorf("experiment %s: diffusion aux_dice %g: only a ddpm-seg experiment takes it, in (0, 100]", e.Name, a)
	}
	if e.Kind == KindVQGAN {
		if e.VQ == nil || (e.VQ.Target != "image" && e.VQ.Target != "mask") {
			return fmt.Errorf("experiment %s: a vqgan experiment needs vq.target image or mask", e.Name)
		}
		if err := e.VQ.Loss.Validate(); err != nil {
			return fmt.Errorf("experiment %s: %w", e.Name, err)
		}
		if r := e.VQ.Restart; r != nil {
			if err := r.Validate(); err != nil {
				return fmt.Errorf("experiment %s: %w", e.Name, err)
			}
		}
	}
	latentKind := e.Kind == KindLDMSeg || e.Kind == KindLBBDMSeg
	if latentKind != (e.Latent != nil) {
		return fmt.Errorf("experiment %s: latent (the VQ-GAN experiments) is for the ldm-seg and lbbdm-seg kinds only, and they need it", e.Name)
	}
	if l := e.Latent; l != nil {
		for _, name := range []string{l.ImageVQ, l.MaskVQ} {
			v, ok := known[name]
			if !ok || v.Kind != KindVQGAN {
				return fmt.Errorf("experiment %s: latent VQ-GAN %q is not a vqgan experiment", e.Name, name)
			}
		}
		if known[l.ImageVQ].VQ.Target != "image" || known[l.MaskVQ].VQ.Target != "mask" {
			return fmt.Errorf("experiment %s: latent image_vq %s must reconstruct images and mask_vq %s masks", e.Name, l.ImageVQ, l.MaskVQ)
		}
	}
	if e.Kind == KindLDMSeg && e.Diffusion.Timesteps == 0 {
		return fmt.Errorf("experiment %s: an ldm-seg experiment needs a diffusion spec", e.Name)
	}
	if e.Kind == KindBBDMSeg || e.Kind == KindLBBDMSeg {
		b := e.Bridge
		if b == nil {
			return fmt.Errorf("experiment %s: a %s experiment needs a bridge spec", e.Name, e.Kind)
		}
		if _, err := schedule.NewBBDM(b.MtType, b.Timesteps, b.MaxVar); err != nil {
			return fmt.Errorf("experiment %s: %w", e.Name, err)
		}
		if b.Loss != "l1" && b.Loss != "l2" {
			return fmt.Errorf("experiment %s: bridge loss_type %q (want l1 or l2)", e.Name, b.Loss)
		}
		if b.SampleSteps < 1 || b.Eta < 0 || b.ClipX0 < 0 {
			return fmt.Errorf("experiment %s: bridge sample_step %d, eta %g, clip_x0 %g (want >= 1, >= 0, >= 0)", e.Name, b.SampleSteps, b.Eta, b.ClipX0)
		}
	}
	if s := e.Sampling.DDIMSpacing; s != "" {
		if _, err := schedule.DDIMTimesteps(s, max(e.Diffusion.Timesteps, 1), 1); err != nil {
			return fmt.Errorf("experiment %s: %w", e.Name, err)
		}
	}
	tc := e.Train
	if tc.Steps == 0 && tc.Epochs > 0 && tc.StepsPerEpoch == 0 {
		tc.StepsPerEpoch = 1 // filled from the data set when training starts
	}
	return tc.Validate()
}

// Schedule returns the experiment's DDPM schedule.
// With zero_terminal_snr the betas are rescaled (schedule.NewZeroTerminalSNR).
func (e Experiment) Schedule() (*schedule.DDPM, error) {
	if e.Diffusion.ZeroTerminalSNR {
		return schedule.NewZeroTerminalSNR(e.Diffusion.Beta, e.Diffusion.Timesteps)
	}
	return schedule.NewDDPM(e.Diffusion.Beta, e.Diffusion.Timesteps)
}

// ResolveModel resolves the experiment (defaults filled in) and its network by
// registry name into the config an artifact records.
func (e Experiment) ResolveModel() (RunConfig, error) {
	if e.Kind == KindVQGAN {
		a, err := registry.LookupAutoencoder(e.Model)
		if err != nil {
			return RunConfig{}, fmt.Errorf("experiment %s: %w", e.Name, err)
		}
		n, _, _, _ := a.ParamCount()
		return RunConfig{Experiment: e.Resolved(), ModelParams: n, Autoencoder: &a}, nil
	}
	mc, err := registry.Lookup(e.Model)
	if err != nil {
		return RunConfig{}, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	mc, err = mc.Recorded()
	if err != nil {
		return RunConfig{}, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	n, _ := mc.ParamCount()
	return RunConfig{Experiment: e.Resolved(), ModelConfig: mc, ModelParams: n}, nil
}

// LoadSplit materialises a split of the experiment's data.
func (e Experiment) LoadSplit(split string) (*dataset.Set, error) {
	var src dataset.Source
	var err error
	switch e.Data.Source {
	case "covidqu":
		src, err = dataset.NewCOVIDQU(e.Data.Root, e.Data.Phantom.Task, e.Data.Phantom.Size, false)
	case "brainmri":
		src, err = dataset.NewBrainMRI(e.Data.Phantom.Size)
	default:
		src, err = dataset.NewPhantom(e.Data.Phantom)
	}
	if err != nil {
		return nil, err
	}
	return dataset.Load(src, split, e.Data.CLAHE)
}

// PixelsSHA256 hashes a materialised set: "N H W" then every 8-bit image pixel.
func PixelsSHA256(set *dataset.Set) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d\n", set.N, set.H, set.W)
	h.Write(set.Images)
	return hex.EncodeToString(h.Sum(nil))
}

// CheckRecorded compares a config as recorded in a manifest with the same
// config resolved by the current code (every default filled in, inapplicable
// sections omitted, snake_case keys) and returns one line per difference,
// e.g. `experiment.train.adam_beta1: recorded 0, resolved 0.9`. Manifests
// written before configs were resolved (format dmseg-artifact/1) show their
// zero defaults here. An empty result means the record is the resolved config.
func CheckRecorded(recorded json.RawMessage) ([]string, error) {
	var rc RunConfig
	if err := json.Unmarshal(recorded, &rc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	res := rc
	res.Experiment = rc.Experiment.Resolved()
	if rc.Autoencoder == nil {
		mc, err := rc.ModelConfig.Recorded()
		if err != nil {
			return nil, err
		}
		res.ModelConfig = mc
	}
	resJSON, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	recSnake, err := jsonkeys.Snake(recorded)
	if err != nil {
		return nil, err
	}
	var a, b any
	if err := decodeNumbers(recSnake, &a); err != nil {
		return nil, err
	}
	if err := decodeNumbers(resJSON, &b); err != nil {
		return nil, err
	}
	var diffs []string
	diffJSON("", a, b, &diffs)
	sort.Strings(diffs)
	if len(diffs) > 0 && !bytes.Equal(bytes.TrimSpace(recSnake), bytes.TrimSpace(recorded)) {
		diffs = append(diffs, "(keys recorded in CamelCase: written before manifests used snake_case)")
	}
	return diffs, nil
}

func decodeNumbers(b []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func diffJSON(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case !ain:
				*out = append(*out, fmt.Sprintf("%s: not recorded, resolved %s", p, short(bv)))
			case !bin:
				*out = append(*out, fmt.Sprintf("%s: recorded %s, not part of the resolved config", p, short(av)))
			default:
				diffJSON(p, av, bv, out)
			}
		}
		return
	}
	if an, ok := a.(json.Number); ok {
		if bn, ok := b.(json.Number); ok {
			af, _ := an.Float64()
			bf, _ := bn.Float64()
			if af != bf {
				*out = append(*out, fmt.Sprintf("%s: recorded %s, resolved %s", path, an, bn))
			}
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, fmt.Sprintf("%s: recorded %s, resolved %s", path, short(a), short(b)))
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
