package jsonkeys

import "testing"

func TestToSnake(t *testing.T) {
	for in, want := range map[string]string{
		"ModelChannels": "model_channels", "MLPRatio": "mlp_ratio", "NumResBlocks": "num_res_blocks",
		"ResblockUpdown": "resblock_updown", "DiT": "dit", "UNet": "unet", "Encoder": "cond_encoder",
		"InChannels": "in_channels", "Name": "name", "already_snake": "already_snake", "FreqDim": "freq_dim",
	} {
		if got := ToSnake(in); got != want {
			t.Errorf("ToSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSnakeRewritesNestedKeysAndKeepsNumbers(t *testing.T) {
	got, err := Snake([]byte(`{"UNet":{"ChannelMult":[1,2,4],"Dropout":0.1000000000000000055},"List":[{"NormGroups":8}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"list":[{"norm_groups":8}],"unet":{"channel_mult":[1,2,4],"dropout":0.1000000000000000055}}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if _, err := Snake([]byte(`{"a":`)); err == nil {
		t.Fatal("truncated JSON accepted")
	}
}
