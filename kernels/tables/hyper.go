package tables

import "fmt"

// Hyper is one line of the thesis's appendix hyperparameter tables (Tables
// 6-10): a key and its value, both exactly as printed.
type Hyper struct {
	Key, Value string
}

// HyperTable is one appendix table as printed.
type HyperTable struct {
	ID, Caption string
	Rows        []Hyper
}

// publishedHyper holds the thesis's Tables 6-10, typed in once, exactly as
// printed (Table 8's "timeteps" included; its concat_mode true / addition_mode
// false describes the concatenation model although chapter 3 trains both).
var publishedHyper = []HyperTable{
	{"table6", "Hyperparameters of the UNetModel", []Hyper{
		{"image_size", "64"}, {"in_channels", "1"}, {"out_channels", "1"}, {"model_channels", "192"},
		{"attention_resolutions", "(8, 4, 2)"}, {"num_res_blocks", "2"}, {"channel_mult", "(1, 2, 3, 4)"},
		{"use_spatial_transformer", "false"}, {"num_head_channels", "64"}, {"resblock_updown", "true"}, {"dropout", "0.0"},
	}},
	{"table7", "Hyperparameters of the BrownianBridgeDiffusionModel", []Hyper{
		{"num_timesteps", "1000"}, {"mt_type", "linear"}, {"max_var", "1.0"}, {"eta", "1.0"}, {"sample_type", "linear"},
		{"sample_step", "200"}, {"objective", "grad"}, {"image_size", "64"}, {"in_channels", "1"}, {"condition_key", "nocond"},
	}},
	{"table8", "Hyperparameters of the DDPM Model", []Hyper{
		{"timeteps", "1000"}, {"beta_schedule", "linear"}, {"image_size", "64"}, {"channels", "1"}, {"log_every_t", "100"},
		{"linear_start", "0.0001"}, {"linear_end", "0.02"}, {"cosine_s", "0.008"}, {"original_elbo_weight", "0.0"},
		{"v_posterior", "0.0"}, {"l_simple_weight", "1.0"}, {"given_betas", "null"}, {"parameterization", "eps"},
		{"ddim", "true"}, {"ddim_num_timesteps", "50"}, {"is_conditional", "true"}, {"cond_stage_trainable", "true"},
		{"data_key", "mask"}, {"concat_mode", "true"}, {"addition_mode", "false"}, {"cross_attn_mode", "false"},
	}},
	{"table9", "Hyperparameters of the VQModel-F4", []Hyper{
		{"embed_dim", "3"}, {"n_embed", "8192"}, {"double_z", "false"}, {"z_channels", "3"}, {"resolution", "64"},
		{"in_channels", "1"}, {"out_ch", "1"}, {"ch", "128"}, {"ch_mult", "(1, 2, 4)"}, {"num_res_blocks", "2"},
		{"attn_resolutions", "null"}, {"dropout", "0.0"}, {"lr_g_factor", "1.0"}, {"sane_index_shape", "false"},
		{"normalize_latent", "false"},
	}},
	{"table10", "Hyperparameters of the VQModel-F8", []Hyper{
		{"image_key", "mask"}, {"embed_dim", "4"}, {"n_embed", "16384"}, {"double_z", "false"}, {"z_channels", "4"},
		{"resolution", "64"}, {"in_channels", "1"}, {"out_ch", "1"}, {"ch", "128"}, {"ch_mult", "(1, 2, 2, 4)"},
		{"num_res_blocks", "2"}, {"attn_resolutions", "32"}, {"dropout", "0.0"}, {"lr_g_factor", "1.0"},
		{"sane_index_shape", "false"}, {"normalize_latent", "false"},
	}},
}

// PublishedHyperIDs lists the appendix tables in order (table6 ... table10).
func PublishedHyperIDs() []string {
	ids := make([]string, len(publishedHyper))
	for i, t := range publishedHyper {
		ids[i] = t.ID
	}
	return ids
}

// PublishedHyper returns a copy of an appendix table as printed.
func PublishedHyper(id string) (HyperTable, error) {
	for _, t := range publishedHyper {
		if t.ID == id {
			t.Rows = append([]Hyper(nil), t.Rows...)
			return t, nil
		}
	}
	return HyperTable{}, fmt.Errorf("tables: no appendix hyperparameter table %q (have %v)", id, PublishedHyperIDs())
}
