package brainmri

import (
	"testing"
)

func TestVolumes(t *testing.T) {
	iv, lv, err := Volumes()
	if err != nil {
		t.Fatal(err)
	}
	if iv.NX != 128 || iv.NY != 128 || iv.NZ != 62 || iv.Datatype != 4 || lv.Datatype != 2 {
		t.Fatalf("image %dx%dx%d dt %d, labels dt %d", iv.NX, iv.NY, iv.NZ, iv.Datatype, lv.Datatype)
	}
	labels := map[float32]int{}
	for _, v := range lv.Data {
		labels[v]++
	}
	for l := range labels {
		if l != 0 && l != 4 && l != 5 && l != 6 {
			t.Errorf("unexpected label %v", l)
		}
	}
	var mn, mx float32 = 1e9, -1e9
	for _, v := range iv.Data {
		mn, mx = min(mn, v), max(mx, v)
	}
	if mn < 0 || mx > 255 || mx < 100 {
		t.Errorf("image range [%v,%v], want within 0-255", mn, mx)
	}
	// brain voxels are brighter than background on average (a real T1 with skull stripping labels)
	var in, out, nin, nout float64
	for i, v := range iv.Data {
		if lv.Data[i] > 0 {
			in += float64(v)
			nin++
		} else {
			out += float64(v)
			nout++
		}
	}
	if in/nin <= 2*out/nout {
		t.Errorf("brain mean %.1f not clearly above background mean %.1f", in/nin, out/nout)
	}
}

func TestSlicesSplit(t *testing.T) {
	ss, err := Slices(64)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for i, s := range ss {
		count[s.Split]++
		if s.Image.W != 64 || s.Mask.H != 64 {
			t.Fatal("wrong size")
		}
		fg := 0
		for _, v := range s.Mask.Pix {
			if v == 255 {
				fg++
			} else if v != 0 {
				t.Fatal("mask not binary")
			}
		}
		if f := float64(fg) / 4096; f < MinBrainFraction || f > 0.4 {
			t.Errorf("slice z=%d brain fraction %.3f", s.Z, f)
		}
		if i > 0 && ss[i-1].Split != s.Split && s.Z-ss[i-1].Z < 2 {
			t.Errorf("slices %d (%s) and %d (%s) are neighbours in different splits", ss[i-1].Z, ss[i-1].Split, s.Z, s.Split)
		}
	}
	t.Logf("brain slices: %v (z %d..%d)", count, ss[0].Z, ss[len(ss)-1].Z)
	if count["train"] < 15 || count["val"] < 3 || count["test"] < 3 {
		t.Errorf("split counts %v", count)
	}
	if fp, _ := Fingerprint(); len(fp) != 64 {
		t.Errorf("fingerprint %q", fp)
	}
}
