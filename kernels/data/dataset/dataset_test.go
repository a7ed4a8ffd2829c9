package dataset

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/covidqu"
	"github.com/dmseg/dmseg/kernels/imageio"
)

func smallPhantom(t testing.TB, seed uint64) Source {
	src, err := NewPhantom(PhantomConfig{Task: "lung", Seed: seed, NTrain: 20, NVal: 6, NTest: 6})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestPhantomSetAndStream(t *testing.T) {
	src := smallPhantom(t, 1)
	set, err := Load(src, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 20 || set.H != 64 || len(set.Images) != 20*64*64 {
		t.Fatalf("set %d x %dx%d", set.N, set.H, set.W)
	}
	set2, _ := Load(smallPhantom(t, 1), "train", nil)
	set3, _ := Load(smallPhantom(t, 2), "train", nil)
	if set.Fingerprint() != set2.Fingerprint() || set.Fingerprint() == set3.Fingerprint() || len(set.Fingerprint()) != 64 {
		t.Fatalf("fingerprints %s %s %s", set.Fingerprint(), set2.Fingerprint(), set3.Fingerprint())
	}
	// scaling: image v -> v/127.5-1, mask 255 -> 1, 0 -> -1
	b := set.Gather([]int{3}, false)
	for j := range b.Images {
		v, m := set.Images[3*4096+j], set.Masks[3*4096+j]
		if b.Images[j] != float32(v)/127.5-1 || (m == 255) != (b.Masks[j] == 1) || (b.Masks[j] != 1 && b.Masks[j] != -1) {
			t.Fatalf("pixel %d: %d/%d -> %v/%v", j, v, m, b.Images[j], b.Masks[j])
		}
	}
	st, err := set.Stream(9, 6, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.BatchesPerEpoch() != 3 {
		t.Fatalf("batches per epoch %d", st.BatchesPerEpoch())
	}
	seen := map[int]bool{}
	for step := int64(1); step <= 3; step++ {
		bt, _ := st.At(step)
		for _, i := range bt.Index {
			if seen[i] {
				t.Fatalf("index %d twice in one epoch", i)
			}
			seen[i] = true
		}
	}
	// a fresh stream (as after a resume) gives the same batch for the same step; epochs differ
	st2, _ := set.Stream(9, 6, true)
	a, _ := st.At(5)
	c, _ := st2.At(5)
	if a.Index[0] != c.Index[0] || a.Index[5] != c.Index[5] || c.Masks != nil {
		t.Fatalf("resume mismatch %v vs %v", a.Index, c.Index)
	}
	e1, _ := st2.At(1)
	e2, _ := st2.At(4)
	same := true
	for k := range e1.Index {
		same = same && e1.Index[k] == e2.Index[k]
	}
	if same {
		t.Fatal("epochs 0 and 1 have the same order")
	}
	ts, err := st.Batch(2)
	if err != nil || len(ts) != 2 || ts[0].Shape().Dimensions[0] != 6 || ts[1].Shape().Dimensions[3] != 1 {
		t.Fatalf("tensors %v %v", ts, err)
	}
	if _, err := set.Stream(1, 21, false); err == nil {
		t.Fatal("want error for batch > N")
	}
	// CLAHE changes images and the fingerprint, not the masks
	cs, err := Load(smallPhantom(t, 1), "train", &clahe.Default)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Fingerprint() == set.Fingerprint() || string(cs.Images) == string(set.Images) || string(cs.Masks) != string(set.Masks) {
		t.Fatal("CLAHE option had no effect or changed masks")
	}
}

func TestBrainAndCOVID(t *testing.T) {
	src, err := Open("brainmri", PhantomConfig{Size: 32}, false)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(src, "val", nil)
	if err != nil || set.H != 32 || set.N < 3 {
		t.Fatalf("brain val: %v %+v", err, set)
	}
	// miniature COVID-QU-Ex tree
	root := t.TempDir()
	tf := covidqu.TaskFolder["lung"]
	for _, s := range covidqu.Splits {
		for _, c := range covidqu.Classes {
			for i, name := range []string{"a b.png", "c d.png"} {
				g := imageio.NewGray(32, 32)
				for p := range g.Pix {
					g.Pix[p] = uint8(p*7 + i)
				}
				dir := filepath.Join(root, tf, tf, s, c)
				imageio.WriteGray(filepath.Join(dir, "images", name), g)
				imageio.WriteGray(filepath.Join(dir, "lung masks", name), imageio.Binarize(g))
			}
		}
	}
	src, err = Open("covidqu:lung:"+root, PhantomConfig{Size: 16}, false)
	if err != nil {
		t.Fatal(err)
	}
	set, err = Load(src, "test", nil)
	if err != nil || set.N != 6 || set.W != 16 {
		t.Fatalf("covid test split: %v", err)
	}
	fp1 := set.Fingerprint()
	// changing one byte of one file changes the fingerprint
	p := filepath.Join(root, tf, tf, "Val", "Normal", "images", "a b.png")
	g, _ := imageio.ReadGray(p)
	g.Pix[0]++
	imageio.WriteGray(p, g)
	src2, _ := Open("covidqu:lung:"+root, PhantomConfig{Size: 16}, false)
	set2, _ := Load(src2, "test", nil)
	if set2.Fingerprint() == fp1 {
		t.Fatal("fingerprint did not change with file content")
	}
	os.WriteFile(p, []byte("garbage"), 0o644)
	src3, _ := Open("covidqu:lung:"+root, PhantomConfig{Size: 16}, false)
	if _, err := Load(src3, "val", nil); err == nil {
		t.Fatal("want error for a corrupt file")
	} else {
		t.Logf("corrupt file: %v", err)
	}
	if _, err := Open("nope", PhantomConfig{}, false); err == nil {
		t.Fatal("want error for unknown source")
	}
}

// BenchmarkStream measures batch assembly throughput (images+masks, 64x64, B=32).
func BenchmarkStream(b *testing.B) {
	set, err := Load(smallPhantom(b, 1), "train", nil)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := set.Stream(1, 16, false)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.Batch(int64(i + 1))
	}
	b.ReportMetric(float64(b.N*16)/b.Elapsed().Seconds(), "examples/s")
}

// BenchmarkCOVIDLoad measures decoding + resizing of 256x256 PNG pairs to 64x64.
func BenchmarkCOVIDLoad(b *testing.B) {
	dir := b.TempDir()
	g := imageio.NewGray(256, 256)
	for p := range g.Pix {
		g.Pix[p] = uint8((p*31)>>5 ^ p>>9)
	}
	pair := covidqu.Pair{Image: filepath.Join(dir, "i.png"), Mask: filepath.Join(dir, "m.png")}
	imageio.WriteGray(pair.Image, g)
	imageio.WriteGray(pair.Mask, imageio.Binarize(g))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := covidqu.LoadPair(pair, 64); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
