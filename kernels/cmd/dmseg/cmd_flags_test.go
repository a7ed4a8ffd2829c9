package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmseg/dmseg/kernels/imageio"
)

// Bad flag values found by the reliability probe (issue 16): each is refused
// before any work with a message naming the flag and its range (or the file),
// and nothing is written.
func TestBadFlagValues(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	if err := imageio.WriteGray(in, imageio.NewGray(8, 8)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"data", "grid", "--size", "0", "--out", out}, "--size must be in 8..1024, got 0"},
		{[]string{"data", "grid", "--cols", "0", "--out", out}, "--cols must be in 1..64"},
		{[]string{"data", "grid", "--cols", "-2", "--out", out}, "--cols must be in 1..64"},
		{[]string{"data", "grid", "--size", "-5", "--out", out}, "--size must be in 8..1024"},
		{[]string{"data", "grid", "--zoom", "100000", "--out", out}, "--zoom must be in 0..32"},
		{[]string{"data", "grid", "--n", "-5", "--out", out}, "--n must be in 1..1024"},
		{[]string{"data", "grid", "--cols", "64", "--size", "1024", "--zoom", "32", "--out", out}, "the limit is 16384"},
		{[]string{"data", "phantom", "--n", "-5", "--out", dir}, "--n must be in 1..1000000"},
		{[]string{"clahe", "--tiles", "1000000000", in, out}, "--tiles must be in 1..256"},
		{[]string{"clahe", "--tiles", "100", in, out}, "more tiles than the 8x8 image"},
		{[]string{"schedule", "ddpm", "--steps", "2000000000"}, "must be in 2..100000"},
		{[]string{"schedule", "ddim", "--steps", "2000000000"}, "T in 1..100000"},
		{[]string{"params", "--config", "unet-cpu", "--in-channels", "9000000000000000000"}, "--in-channels must be in 0..65536"},
		{[]string{"train", "--experiment", "ch3-unet-tiny", "--steps", "0"}, "--steps must be in 1..1000000000, got 0"},
		{[]string{"train", "--experiment", "ch3-unet-tiny", "--steps", "-5"}, "--steps must be in 1..1000000000"},
		{[]string{"train", "--experiment", "ch3-unet-tiny", "--stop-at", "-1"}, "--stop-at must be in 0..1000000000"},
		{[]string{"train", "--experiment", "ch3-unet-tiny", "--data", "covidqu:" + filepath.Join(dir, "nope")}, "not a directory"},
		{[]string{"artifacts", "verify", "--root", filepath.Join(dir, "no", "such")}, "does not exist"},
		{[]string{"evaluate", "--artifact", "x", "--eta", "-3"}, "--eta must be a finite number >= 0"},
		{[]string{"evaluate", "--artifact", "x", "--spacing", "sideways"}, "--spacing \"sideways\""},
		{[]string{"sample", "--artifact", "x", "--clip-x0", "-2", "--out", out}, "--clip-x0 must be a finite number >= 0"},
		{[]string{"sample", "--artifact", "x", "--sampler", "ddpm", "--clip-x0", "1", "--out", out}, "--clip-x0 applies to --sampler ddim"},
		{[]string{"sample", "--artifact", "x", "--eps-scale", "-1", "--out", out}, "--eps-scale must be a positive number"},
		{[]string{"sample", "--artifact", "x", "--sampler", "ddpm", "--eps-scale", "1.01", "--out", out}, "--eps-scale applies to --sampler ddim"},
		{[]string{"evaluate", "--artifact", "x", "--eps-scale", "NaN"}, "--eps-scale must be a positive number"},
		{[]string{"segment", "--artifact", "x", "--image", in, "--out", out, "--samples", "0"}, "--samples must be in 1..255"},
		{[]string{"metrics", "--pred", dir, "--truth", filepath.Join(dir, "none")}, "none"},
	}
	for _, c := range cases {
		cmd := commands[c.args[0]]
		_, err := capture(t, func() error { return cmd.run(c.args[1:]) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dmseg %s: error %v, want one containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written by a refused command", out)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("refused commands left files behind: %v", ents)
	}
}
