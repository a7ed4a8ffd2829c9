package experiments

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/artifacts"
	"github.com/dmseg/dmseg/kernels/data/covidqu"
)

func TestRegisteredExperimentsAreValid(t *testing.T) {
	for _, name := range Names() {
		e, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		rc, err := e.ResolveModel()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// The config must survive a JSON round trip unchanged (it is stored in artifacts).
		b1, _ := artifacts.CanonicalJSON(rc)
		var back RunConfig
		if err := json.Unmarshal(b1, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := artifacts.CanonicalJSON(back)
		if string(b1) != string(b2) {
			t.Errorf("%s: config does not round-trip through JSON", name)
		}
		if diffs, err := CheckRecorded(b1); err != nil || len(diffs) > 0 {
			t.Errorf("%s: the resolved config differs from itself resolved again: %v %v", name, diffs, err)
		}
	}
	paper, _ := Get("ch2-ddpm-uncond-paper")
	rc, _ := paper.ResolveModel()
	if rc.ModelParams != 217859905 || paper.Diffusion.Timesteps != 1000 || paper.Sampling.DDIMSteps != 50 {
		t.Errorf("paper experiment: %d params (Table 6 U-Net has 217,859,905), T=%d, DDIM %d", rc.ModelParams, paper.Diffusion.Timesteps, paper.Sampling.DDIMSteps)
	}
	if _, err := Get("nope"); err == nil || !strings.Contains(err.Error(), "ch2-ddpm-uncond-cpu") {
		t.Errorf("unknown experiment error should list the known ones: %v", err)
	}
	bad := paper
	bad.Kind = "ddpm-nope"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "bbdm-seg") {
		t.Errorf("unknown kind: %v", err)
	}
}

// A changed default changes the recorded config and so its hash: the hash is
// taken after resolution.
func TestResolvedConfigCarriesDefaults(t *testing.T) {
	e, _ := Get("ch2-ddpm-uncond-cpu")
	if e.Train.Beta1 != 0 {
		t.Skip("the experiment sets Adam's beta1 itself")
	}
	rc, _ := e.ResolveModel()
	if rc.Experiment.Train.Beta1 != 0.9 || rc.Experiment.Train.Beta2 != 0.999 || rc.Experiment.Train.Eps != 1e-8 {
		t.Fatalf("not resolved: %+v", rc.Experiment.Train)
	}
	e2 := e
	e2.Train.Beta2 = 0.99
	rc2, _ := e2.ResolveModel()
	h1, _ := artifacts.CanonicalJSON(rc)
	h2, _ := artifacts.CanonicalJSON(rc2)
	if artifacts.SHA256Hex(h1) == artifacts.SHA256Hex(h2) {
		t.Fatal("changing Adam's beta2 did not change the config hash")
	}
	e3 := e
	e3.DependsOn = []string{"vqgan-f4-20261201-abcdef12"}
	rc3, _ := e3.ResolveModel()
	h3, _ := artifacts.CanonicalJSON(rc3)
	if artifacts.SHA256Hex(h1) == artifacts.SHA256Hex(h3) || !strings.Contains(string(h3), "vqgan-f4-20261201-abcdef12") {
		t.Fatal("depends_on is not part of the hashed config")
	}
}

// The committed chapter-2 manifest of format 1 (CamelCase model keys, unresolved
// Adam settings) stays readable, and CheckRecorded names what was not resolved.
func TestOldManifestIsReadableAndFlagged(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "artifacts", "ch2-ddpm-uncond-cpu-20261128-2a820a31"))
	if len(dirs) == 0 {
		t.Skip("the format-1 artifact is not in this checkout")
	}
	m, err := artifacts.ReadManifest(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	var rc RunConfig
	if err := json.Unmarshal(m.Config, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.ModelConfig.UNet.ModelChannels != 16 || rc.ModelConfig.Arch != "unet" || rc.Experiment.Diffusion.Param != "eps" {
		t.Fatalf("old config decoded wrongly: %+v", rc.ModelConfig)
	}
	diffs, err := CheckRecorded(m.Config)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(diffs, "\n")
	for _, want := range []string{"experiment.train.adam_beta1: recorded 0, resolved 0.9", "model_config.dit"} {
		if !strings.Contains(joined, want) {
			t.Errorf("CheckRecorded misses %q:\n%s", want, joined)
		}
	}
	_ = os.Getenv
}

// A chapter-3 experiment re-pointed at a COVID-QU-Ex tree in the Kaggle layout
// (written by the test) loads its splits from it, under its own name.
func TestWithCOVIDQU(t *testing.T) {
	root := t.TempDir()
	if err := covidqu.WriteMiniTree(root, 2, 24); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"lung", "infection"} {
		e, _ := Get("ch3-unet-tiny")
		e.Data.Phantom.Task = task
		c, err := e.WithCOVIDQU(root)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "ch3-unet-tiny-covidqu" || c.Data.Source != "covidqu" || c.Validate() != nil {
			t.Fatalf("%s: %+v (%v)", task, c.Data, c.Validate())
		}
		for _, split := range []string{"train", "val"} {
			set, err := c.LoadSplit(split)
			if err != nil {
				t.Fatal(err)
			}
			if set.N < 2 || set.H != 16 || set.Source != "covidqu:"+task {
				t.Errorf("%s/%s: %d images %dx%d from %s", task, split, set.N, set.H, set.W, set.Source)
			}
			// The centred square mask of half the side survives the resize to 16x16: 8x8 = 64 pixels.
			fg := 0
			for _, v := range set.Masks[:16*16] {
				if v >= 128 {
					fg++
				}
			}
			if fg != 64 {
				t.Errorf("%s/%s: mask has %d foreground pixels, want 64", task, split, fg)
			}
		}
	}
	e, _ := Get("ch3-unet-tiny")
	if _, err := e.WithCOVIDQU(filepath.Join(root, "missing")); err == nil {
		t.Error("a missing folder was accepted")
	}
}

// aux_dice is a ddpm-seg option in (0, 100]; it is absent from the recorded
// config when off, so configs without it keep their hashes.
func TestAuxDiceValidation(t *testing.T) {
	inf, _ := Get("ch3-ddpm-add-infection-auxdice-cpu")
	if inf.Diffusion.AuxDice != 1 || inf.Validate() != nil {
		t.Fatalf("ch3-ddpm-add-infection-auxdice-cpu: aux_dice %g, %v", inf.Diffusion.AuxDice, inf.Validate())
	}
	if plain, _ := Get("ch3-ddpm-add-infection-cpu"); plain.Diffusion.AuxDice != 0 || plain.Train != inf.Train || plain.Model != inf.Model {
		t.Errorf("the ablation should differ from ch3-ddpm-add-infection-cpu in the objective only")
	}
	for _, c := range []struct {
		name string
		aux  float64
	}{{"ch3-ddpm-add-infection-auxdice-cpu", -1}, {"ch3-ddpm-add-infection-auxdice-cpu", 1e3}, {"ch2-ddpm-uncond-cpu", 1}} {
		e, _ := Get(c.name)
		e.Diffusion.AuxDice = c.aux
		if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "aux_dice") {
			t.Errorf("%s with aux_dice %g: %v", c.name, c.aux, err)
		}
	}
	lung, _ := Get("ch3-ddpm-add-lung-cpu")
	b, _ := json.Marshal(lung.Diffusion)
	if strings.Contains(string(b), "aux_dice") {
		t.Errorf("lung config records aux_dice although it is off: %s", b)
	}
}

// zero_terminal_snr: the schedule ends at abar = 0 and starts where the plain
// one does; the eps objective and kinds without a schedule are refused; the key
// is left out of configs that do not use it, so their hashes stay.
func TestZeroTerminalSNRSpec(t *testing.T) {
	e, _ := Get("ch2-ddpm-uncond-tiny")
	e.Diffusion.Param = "v"
	plain, err := e.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	e.Diffusion.ZeroTerminalSNR = true
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	z, err := e.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	if z.AlphasCumprod[z.T-1] != 0 || z.AlphasCumprod[0] != plain.AlphasCumprod[0] || !strings.Contains(z.Name, "zero-terminal-snr") {
		t.Errorf("zero-terminal-SNR schedule %q: abar[0] %g (plain %g), abar[T-1] %g", z.Name, z.AlphasCumprod[0], plain.AlphasCumprod[0], z.AlphasCumprod[z.T-1])
	}
	e.Diffusion.Param = "eps"
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "zero_terminal_snr") {
		t.Errorf("eps with zero_terminal_snr: %v", err)
	}
	u, _ := Get("ch3-unet-tiny")
	u.Diffusion.ZeroTerminalSNR = true
	if err := u.Validate(); err == nil || !strings.Contains(err.Error(), "zero_terminal_snr") {
		t.Errorf("unet-seg with zero_terminal_snr: %v", err)
	}
	lung, _ := Get("ch3-ddpm-add-lung-cpu")
	if b, _ := json.Marshal(lung.Diffusion); strings.Contains(string(b), "zero_terminal") {
		t.Errorf("lung config records zero_terminal_snr although it is off: %s", b)
	}
}

// The brain-MRI experiments load the embedded volume's slices: a training
// split of at least 15 and a validation split of at least 3 64x64 slices,
// every validation mask non-empty; a wrong task is refused.
func TestBrainExperimentsLoad(t *testing.T) {
	for _, name := range []string{"brain-ddpm-concat-cpu", "brain-unet-cpu"} {
		e, err := Get(name)
		if err != nil || e.Validate() != nil {
			t.Fatalf("%s: %v %v", name, err, e.Validate())
		}
	}
	e, _ := Get("brain-unet-cpu")
	tr, err := e.LoadSplit("train")
	if err != nil {
		t.Fatal(err)
	}
	val, err := e.LoadSplit("val")
	if err != nil {
		t.Fatal(err)
	}
	if tr.N < 15 || val.N < 3 || val.W != 64 || val.H != 64 || tr.Source != "brainmri:brain" {
		t.Fatalf("train %d, val %d of %dx%d from %s", tr.N, val.N, val.W, val.H, tr.Source)
	}
	for i := 0; i < val.N; i++ {
		fg := 0
		for _, v := range val.Masks[i*64*64 : (i+1)*64*64] {
			if v >= 128 {
				fg++
			}
		}
		if fg == 0 {
			t.Errorf("val slice %d has an empty brain mask", i)
		}
	}
	e.Data.Phantom.Task = "lung"
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), `task "brain" only`) {
		t.Errorf("brainmri with task lung: %v", err)
	}
	t.Logf("brain MRI: %d train, %d val slices", tr.N, val.N)
}
