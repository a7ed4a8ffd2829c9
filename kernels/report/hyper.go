package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dmseg/dmseg/kernels/experiments"
	"github.com/dmseg/dmseg/kernels/models/registry"
	"github.com/dmseg/dmseg/kernels/runners"
	"github.com/dmseg/dmseg/kernels/tables"
)

// Hyper statuses.
const (
	Same    = "same"
	Differs = "differs"
	NA      = "n/a"
)

// HyperLine is one printed hyperparameter beside the values our configs
// record, one per compared config (Ours[i] belongs to HyperCompare.Configs[i]).
type HyperLine struct {
	Key, Published string
	Ours           []string
	Status         []string
}

// HyperCompare is one appendix table regenerated from our configs.
type HyperCompare struct {
	Table   tables.HyperTable
	Configs []string // the experiments the Ours columns come from
	// Sources says where each column's config was read: the artifact that
	// ran it, or "registry" for an experiment with no artifact here.
	Sources []string
	Lines   []HyperLine
	Note    string
}

// ours maps a printed key to our value; ok false when the setting has no
// counterpart in dmseg (the value then explains why).
type ours func(key string) (value string, ok bool, err error)

// HyperTables regenerates the thesis's Tables 6-10 from our configs, with
// each printed value marked same, differs or n/a: the experiments that claim
// the thesis's settings (the -paper sizes, from the registry unless an
// artifact of theirs is under root) and the -cpu experiments whose committed
// artifacts made our rows (their configs as recorded in the artifact).
//
// thesis: table6 table7 table8 table9 table10
func HyperTables(root string) ([]HyperCompare, error) {
	var out []HyperCompare
	for _, id := range tables.PublishedHyperIDs() {
		t, err := tables.PublishedHyper(id)
		if err != nil {
			return nil, err
		}
		hc := HyperCompare{Table: t}
		var fns []ours
		switch id {
		case "table6":
			hc.Configs = []string{"ch2-ddpm-uncond-paper", "ch2-ddpm-uncond-cpu"}
			hc.Note = "The Table 6 U-Net as the unconditional chapter-2 -paper experiment records it (registry model unet-table6); chapter 3's models take 16 (addition) or 17 (concatenation) input channels."
		case "table7":
			hc.Configs = []string{"ch4-bbdm-lung-paper", "ch4-bbdm-lung-cpu"}
			hc.Note = "The bridge of the chapter-4 -paper experiments (kernels/experiments.table7); the official code's loss_type l1 and clip_denoised are recorded too but not printed in the thesis."
		case "table8":
			hc.Configs = []string{"ch3-ddpm-concat-lung-paper", "ch3-ddpm-add-lung-paper", "ch3-ddpm-add-lung-cpu", "ch3-ddpm-add-infection-cpu"}
			hc.Note = "The thesis prints one Table 8 with concat_mode true and addition_mode false, although chapter 3 trains both conditionings: our addition model differs in exactly those two keys. " +
				"Our -cpu segmentation DDPMs use the x0 objective; see Tables 1-2."
		case "table9":
			hc.Configs = []string{"ch5-vqgan-lung-f4-paper", "ch5-vqgan-lung-f4-cpu"}
			hc.Note = "The VQ-GAN f4 of the chapter-5 experiments (the X-ray and infection-mask ones share the architecture); lr_g_factor is the reference's ratio of the discriminator's learning rate to the autoencoder's (ours: one optimiser, ratio 1)."
		case "table10":
			hc.Configs = []string{"ch5-vqgan-lung-f8-paper", "ch5-vqgan-lung-f8-cpu"}
			hc.Note = "The VQ-GAN f8 of the chapter-5 experiments; image_key says which array the model reconstructs (the lung-mask VQ-GAN here)."
		}
		for _, name := range hc.Configs {
			rc, src, err := configOf(root, name)
			if err != nil {
				return nil, err
			}
			fn, err := oursOf(id, rc)
			if err != nil {
				return nil, err
			}
			fns = append(fns, fn)
			hc.Sources = append(hc.Sources, src)
		}
		for _, h := range t.Rows {
			l := HyperLine{Key: h.Key, Published: h.Value}
			for _, fn := range fns {
				v, ok, err := fn(h.Key)
				if err != nil {
					return nil, fmt.Errorf("report: %s %s: %w", id, h.Key, err)
				}
				st := NA
				if ok {
					st = Differs
					if sameValue(h.Value, v) {
						st = Same
					}
				}
				l.Ours, l.Status = append(l.Ours, v), append(l.Status, st)
			}
			hc.Lines = append(hc.Lines, l)
		}
		out = append(out, hc)
	}
	return out, nil
}

// Markdown is the comparison as a Markdown table (printed value, then each
// config's with differences marked) followed by its note.
func (hc HyperCompare) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if len(hc.Configs) == 0 {
		w("%s\n\n", hc.Note)
		return b.String()
	}
	w("| Key | Thesis |")
	for i, c := range hc.Configs {
		w(" `%s` (%s) |", c, hc.Sources[i])
	}
	w("\n|---|---|%s\n", strings.Repeat("---|", len(hc.Configs)))
	for _, l := range hc.Lines {
		w("| %s | %s |", l.Key, l.Published)
		for i, v := range l.Ours {
			switch l.Status[i] {
			case Same:
				w(" %s |", v)
			case Differs:
				w(" **differs:** %s |", v)
			default:
				w(" n/a (%s) |", v)
			}
		}
		w("\n")
	}
	w("\n%s\n\n", hc.Note)
	return b.String()
}

// sameValue compares printed values loosely: spaces ignored, numbers by value
// ("0.0" = "0"), booleans and words exactly.
func sameValue(a, b string) bool {
	a, b = strings.ReplaceAll(a, " ", ""), strings.ReplaceAll(b, " ", "")
	if a == b {
		return true
	}
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && x == y
}

func tuple(v []int) string {
	if len(v) == 0 {
		return "null"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func g(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// configOf returns the config the experiment's newest artifact of its current
// definition under root records (and that artifact's id), else the
// registry's (and "registry").
func configOf(root, name string) (experiments.RunConfig, string, error) {
	if root != "" {
		if a, err := runners.CurrentArtifact(root, name); err == nil {
			var rc experiments.RunConfig
			if err := a.DecodeConfig(&rc); err != nil {
				return rc, "", err
			}
			return rc, a.Manifest.ID, nil
		}
	}
	e, err := experiments.Get(name)
	if err != nil {
		return experiments.RunConfig{}, "", err
	}
	rc, err := e.ResolveModel()
	return rc, "registry", err
}

// oursOf returns the value lookup of an appendix table for one config.
func oursOf(table string, rc experiments.RunConfig) (ours, error) {
	name := rc.Experiment.Name
	mc, u := rc.ModelConfig, rc.ModelConfig.UNet
	re := rc.Experiment
	known := func(v string) (string, bool, error) { return v, true, nil }
	switch table {
	case "table6":
		return func(k string) (string, bool, error) {
			switch k {
			case "image_size":
				return known(strconv.Itoa(mc.ImageSize))
			case "in_channels":
				return known(strconv.Itoa(u.InChannels))
			case "out_channels":
				return known(strconv.Itoa(u.OutChannels))
			case "model_channels":
				return known(strconv.Itoa(u.ModelChannels))
			case "attention_resolutions":
				return known(tuple(u.AttentionResolutions))
			case "num_res_blocks":
				return known(strconv.Itoa(u.NumResBlocks))
			case "channel_mult":
				return known(tuple(u.ChannelMult))
			case "use_spatial_transformer":
				return known("false") // kernels/models/unet has self-attention only
			case "num_head_channels":
				return known(strconv.Itoa(u.NumHeadChannels))
			case "resblock_updown":
				return known(strconv.FormatBool(u.ResblockUpdown))
			case "dropout":
				return known(g(u.Dropout))
			}
			return "", false, fmt.Errorf("no mapping")
		}, nil
	case "table7":
		b := re.Bridge
		if b == nil {
			return nil, fmt.Errorf("experiment %s has no bridge", name)
		}
		return func(k string) (string, bool, error) {
			switch k {
			case "num_timesteps":
				return known(strconv.Itoa(b.Timesteps))
			case "mt_type":
				return known(b.MtType)
			case "max_var":
				return known(g(b.MaxVar))
			case "eta":
				return known(g(b.Eta))
			case "sample_type":
				return known("linear") // schedule.BBDMTimesteps: the official linear skip list
			case "sample_step":
				return known(strconv.Itoa(b.SampleSteps))
			case "objective":
				return known(b.Objective)
			case "image_size":
				return known(strconv.Itoa(mc.ImageSize))
			case "in_channels":
				return known(strconv.Itoa(u.InChannels))
			case "condition_key":
				return known("nocond") // x_T is the image itself; no extra condition
			}
			return "", false, fmt.Errorf("no mapping")
		}, nil
	case "table8":
		d, s := re.Diffusion, re.Sampling
		return func(k string) (string, bool, error) {
			switch k {
			case "timeteps":
				return known(strconv.Itoa(d.Timesteps))
			case "beta_schedule":
				if d.Beta == "sqrt-linear" {
					return known("linear") // CompVis's "linear" is linear in sqrt(beta)
				}
				return known(d.Beta)
			case "image_size":
				return known(strconv.Itoa(mc.ImageSize))
			case "channels":
				return known(strconv.Itoa(mc.DataChannels))
			case "log_every_t":
				return "intermediate samples not logged", false, nil
			case "linear_start":
				return known(g(d.BetaStart))
			case "linear_end":
				return known(g(d.BetaEnd))
			case "cosine_s":
				return "only for a cosine schedule", false, nil
			case "original_elbo_weight":
				return known("0") // L_simple only (ddpm.Loss)
			case "v_posterior":
				return known("0") // posterior variance beta-tilde (ddpm.Ancestral)
			case "l_simple_weight":
				if d.AuxDice > 0 {
					return known("1 (+ " + g(d.AuxDice) + " x soft Dice)")
				}
				return known("1")
			case "given_betas":
				return known("null")
			case "parameterization":
				return known(d.Param)
			case "ddim":
				return known(strconv.FormatBool(s.DDIMSteps > 0))
			case "ddim_num_timesteps":
				return known(strconv.Itoa(s.DDIMSteps))
			case "is_conditional":
				return known(strconv.FormatBool(mc.Cond != registry.CondNone))
			case "cond_stage_trainable":
				return known("true") // the RRDB encoder's variables train with the U-Net
			case "data_key":
				return known("mask")
			case "concat_mode":
				return known(strconv.FormatBool(mc.Cond == registry.CondConcat))
			case "addition_mode":
				return known(strconv.FormatBool(mc.Cond == registry.CondAdd))
			case "cross_attn_mode":
				return known("false")
			}
			return "", false, fmt.Errorf("no mapping")
		}, nil
	case "table9", "table10":
		a := rc.Autoencoder
		if a == nil {
			return nil, fmt.Errorf("experiment %s is not a VQ-GAN", name)
		}
		c := a.VQGAN
		return func(k string) (string, bool, error) {
			switch k {
			case "embed_dim":
				return known(strconv.Itoa(c.EmbedDim))
			case "n_embed":
				return known(strconv.Itoa(c.NEmbed))
			case "double_z":
				return known(strconv.FormatBool(c.DoubleZ))
			case "z_channels":
				return known(strconv.Itoa(c.ZChannels))
			case "resolution":
				return known(strconv.Itoa(c.Resolution))
			case "in_channels":
				return known(strconv.Itoa(c.InChannels))
			case "out_ch":
				return known(strconv.Itoa(c.OutCh))
			case "ch":
				return known(strconv.Itoa(c.Ch))
			case "ch_mult":
				return known(tuple(c.ChMult))
			case "num_res_blocks":
				return known(strconv.Itoa(c.NumResBlocks))
			case "attn_resolutions":
				if len(c.AttnResolutions) == 1 {
					return known(strconv.Itoa(c.AttnResolutions[0]))
				}
				return known(tuple(c.AttnResolutions))
			case "dropout":
				return known(g(c.Dropout))
			case "lr_g_factor":
				return known("1") // one optimiser, one learning rate
			case "sane_index_shape":
				return "index layout option of the reference; not applicable", false, nil
			case "normalize_latent":
				return "a setting of the latent models, not of the VQ-GAN: false in the ch5-*-paper experiments, true (per-channel standardisation) in -cpu and -gpu", false, nil
			case "image_key":
				return known(rc.Experiment.VQ.Target)
			}
			return "", false, fmt.Errorf("no mapping")
		}, nil
	}
	return nil, fmt.Errorf("no configs for %s", table)
}
