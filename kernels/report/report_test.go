package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/tables"
)

// Our configs against the printed appendix: the -paper ones differ exactly
// where we know they do and equal every other printed value; the -cpu ones
// show their known departures; a committed artifact's config is preferred.
func TestHyperTablesMarkTheDifferences(t *testing.T) {
	hts, err := HyperTables(filepath.Join("..", "..", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	paper := map[string]map[string][]string{ // table -> key -> status per -paper config
		"table9":  {"sane_index_shape": {NA}, "normalize_latent": {NA}},
		"table10": {"sane_index_shape": {NA}, "normalize_latent": {NA}, "image_key": {Same}},
		"table8": {
			"log_every_t":   {NA, NA},
			"cosine_s":      {NA, NA},
			"concat_mode":   {Same, Differs}, // the addition model
			"addition_mode": {Same, Differs},
		},
	}
	cpu := map[string]map[string]string{ // -cpu config -> key -> status
		"ch2-ddpm-uncond-cpu":        {"model_channels": Differs, "image_size": Same},
		"ch3-ddpm-add-lung-cpu":      {"parameterization": Differs, "l_simple_weight": Same, "addition_mode": Differs},
		"ch3-ddpm-add-infection-cpu": {"parameterization": Differs},
		"ch4-bbdm-lung-cpu":          {"objective": Same, "sample_step": Same},
		"ch5-vqgan-lung-f4-cpu":      {"ch": Differs, "n_embed": Differs, "embed_dim": Same, "ch_mult": Same},
		"ch5-vqgan-lung-f8-cpu":      {"ch": Differs, "attn_resolutions": Same, "z_channels": Same},
	}
	if len(hts) != 5 {
		t.Fatalf("%d appendix tables, want 5 (Tables 6-10)", len(hts))
	}
	checked := 0
	for _, hc := range hts {
		if len(hc.Configs) == 0 {
			t.Errorf("%s compared with no config", hc.Table.ID)
			continue
		}
		for _, l := range hc.Lines {
			for i, st := range l.Status {
				name := hc.Configs[i]
				w := Same
				if strings.HasSuffix(name, "-paper") {
					if exp := paper[hc.Table.ID][l.Key]; exp != nil {
						w = exp[i]
					}
				} else if c, ok := cpu[name][l.Key]; ok {
					w = c
				} else {
					continue
				}
				checked++
				if st != w {
					t.Errorf("%s %s (%s): thesis %q, ours %q: %s, want %s", hc.Table.ID, l.Key, name, l.Published, l.Ours[i], st, w)
				}
			}
		}
		for i, name := range hc.Configs {
			if name == "ch3-ddpm-add-lung-cpu" && hc.Sources[i] != "ch3-ddpm-add-lung-cpu-20261202-37bbebc1" {
				t.Errorf("%s read from %s, want its committed artifact", name, hc.Sources[i])
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d values checked", checked)
	}
	if !sameValue("0.0", "0") || !sameValue("(8, 4, 2)", "(8,4,2)") || sameValue("true", "false") || sameValue("1e-4", "0.001") {
		t.Error("sameValue")
	}
}

// The report of a table with a committed artifact's row: the provenance comes
// from that artifact's manifest and record, the audit finds the thesis's
// Table 1 balanced-accuracy cell without being told, a missing artifact is an
// error naming the row, and the output is deterministic.
func TestMarkdownProvenanceAndAudit(t *testing.T) {
	root := filepath.Join("..", "..", "artifacts")
	const id = "ch3-unet-lung-cpu-20261202-1f761461"
	raw, err := os.ReadFile(filepath.Join(root, id, "manifest.json"))
	if err != nil {
		t.Skipf("committed artifact %s not in this checkout: %v", id, err)
	}
	var man struct {
		ConfigSHA256 string `json:"config_sha256"`
		Dataset      struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"dataset"`
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	evs, _ := filepath.Glob(filepath.Join(root, id, "evals", "seg-*"))
	if len(evs) == 0 {
		t.Fatalf("%s has no seg record", id)
	}
	tab, err := tables.PublishedTable("table1")
	if err != nil {
		t.Fatal(err)
	}
	tab.Rows = append(tab.Rows, tables.Row{Label: "U-Net baseline (BCE + Dice), pooled", Task: "lung", Source: tables.SourceDMSeg, Dataset: "phantom",
		Artifact: id, Eval: filepath.Base(evs[0]), Backend: "xla:cpu",
		Metrics: map[string]float64{"dice": 0.98, "jaccard": 0.98 / 1.02, "sensitivity": 0.97, "specificity": 0.99, "balanced_accuracy": 0.98, "accuracy": 0.985, "precision": 0.99, "mcc": 0.97}})
	in := Input{Tables: []*tables.Table{tab}, Artifacts: root,
		Figures: []Figure{{Thesis: "Figure 13", Path: "plots/fig13-lung-masks.png", What: "masks", Sources: []string{id}}}}
	md, err := Markdown(in)
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{
		"`" + man.ConfigSHA256[:12] + "`", "`" + man.Dataset.Fingerprint[:12] + "`", "seed=1234", "split=val",
		"Balanced Accuracy", "[fig13-lung-masks.png](../plots/fig13-lung-masks.png)", "**differs:** false",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	audit := s[strings.Index(s, "## Audit"):strings.Index(s, "## Hyperparameters")]
	pub := audit[:strings.Index(audit, "**Our rows**")]
	if !strings.Contains(pub, "DDPM concatenation") || !strings.Contains(pub, tables.VerdictInconsistent) {
		t.Errorf("the audit of the published rows misses Table 1 concatenation's balanced accuracy:\n%s", pub)
	}
	again, _ := Markdown(in)
	if string(again) != s {
		t.Error("two renderings of the same input differ")
	}
	tab.Rows[len(tab.Rows)-1].Artifact = "ch3-nope-20000101-00000000"
	if _, err := Markdown(in); err == nil || !strings.Contains(err.Error(), "U-Net baseline") {
		t.Errorf("missing artifact: %v", err)
	}
}
