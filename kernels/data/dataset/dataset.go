// Package dataset is the one interface trainers use for segmentation data: a Source (the
// synthetic phantom, a COVID-QU-Ex folder, or the embedded brain MRI) is materialised per split
// into a Set of 8-bit pairs (optionally CLAHE-processed), from which deterministic shuffled
// batches of float32 are drawn: images scaled to [-1, 1] (v/127.5 - 1), masks to {-1, 1}.
//
// Batches are indexed by the training step, so a resumed run sees the same data: step k
// (1-based) of a stream with seed s uses epoch e = (k-1) / (N/B) shuffled by a PCG seeded with
// (s, e), and takes its ((k-1) mod (N/B))-th block of B indices (the incomplete tail of each
// epoch is dropped so every batch has the same shape).
package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"github.com/dmseg/dmseg/kernels/data/brainmri"
	"github.com/dmseg/dmseg/kernels/data/clahe"
	"github.com/dmseg/dmseg/kernels/data/covidqu"
	"github.com/dmseg/dmseg/kernels/data/phantom"
	"github.com/dmseg/dmseg/kernels/imageio"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Splits are "train", "val", "test".
var Splits = []string{"train", "val", "test"}

// Source is a finite collection of square image/mask pairs of one task, in three splits.
type Source interface {
	Name() string // e.g. "phantom:lung", "covidqu:infection", "brainmri:brain"
	Task() string
	Size() int // images are Size() x Size()
	Len(split string) int
	// Pair returns pair i of a split: row-major 8-bit image and 0/255 mask.
	Pair(split string, i int) (img, mask []uint8, err error)
	// Fingerprint is a sha256 (hex) of the generator config or of the file list and contents.
	Fingerprint() (string, error)
}

func checkSplit(split string) error {
	for _, s := range Splits {
		if s == split {
			return nil
		}
	}
	return fmt.Errorf("dataset: unknown split %q (want train, val or test)", split)
}

// ---------------------------------------------------------------------------------------------
// phantom

// PhantomConfig configures the synthetic chest X-ray source.
type PhantomConfig struct {
	Task   string `json:"task"` // lung | infection
	Seed   uint64 `json:"seed"`
	Size   int    `json:"size"`    // default 64
	NTrain int    `json:"n_train"` // default 2000
	NVal   int    `json:"n_val"`   // default 500
	NTest  int    `json:"n_test"`  // default 500
}

type phantomSource struct{ cfg PhantomConfig }

// NewPhantom returns the phantom source (zero counts/size take the defaults).
func NewPhantom(cfg PhantomConfig) (Source, error) {
	if _, err := phantom.ParseTask(cfg.Task); err != nil {
		return nil, err
	}
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.Size < 1 || cfg.Size > 1024 {
		return nil, fmt.Errorf("dataset: phantom size %d out of range [1,1024]", cfg.Size)
	}
	def := func(n *int, d int) {
		if *n == 0 {
			*n = d
		}
	}
	def(&cfg.NTrain, 2000)
	def(&cfg.NVal, 500)
	def(&cfg.NTest, 500)
	return &phantomSource{cfg}, nil
}

func (p *phantomSource) Name() string { return "phantom:" + p.cfg.Task }
func (p *phantomSource) Task() string { return p.cfg.Task }
func (p *phantomSource) Size() int    { return p.cfg.Size }
func (p *phantomSource) Len(split string) int {
	switch split {
	case "train":
		return p.cfg.NTrain
	case "val":
		return p.cfg.NVal
	case "test":
		return p.cfg.NTest
	}
	return 0
}
func (p *phantomSource) Pair(split string, i int) ([]uint8, []uint8, error) {
	if err := checkSplit(split); err != nil {
		return nil, nil, err
	}
	if i < 0 || i >= p.Len(split) {
		return nil, nil, fmt.Errorf("dataset: %s %s index %d out of range", p.Name(), split, i)
	}
	s := phantom.Generate(p.cfg.Seed, phantom.Split(split), i, p.cfg.Size)
	return s.Image.Pix, s.Mask(phantom.Task(p.cfg.Task)).Pix, nil
}
func (p *phantomSource) Fingerprint() (string, error) {
	b, _ := json.Marshal(struct {
		Gen     string `json:"generator"`
		Version int    `json:"version"`
		PhantomConfig
	}{"dmseg-phantom", phantom.Version, p.cfg})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// ---------------------------------------------------------------------------------------------
// COVID-QU-Ex

type covidSource struct {
	idx   *covidqu.Index
	size  int
	split map[string][]covidqu.Pair
	once  sync.Once
	fp    string
	fpErr error
}

// NewCOVIDQU scans a COVID-QU-Ex folder for a task ("lung" or "infection"); images are resized
// to size x size on load. With skipBad, bad entries found by the scan are left out (see Problems).
func NewCOVIDQU(root, task string, size int, skipBad bool) (Source, error) {
	idx, err := covidqu.Scan(root, task, skipBad)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = 64
	}
	c := &covidSource{idx: idx, size: size, split: map[string][]covidqu.Pair{}}
	for _, s := range Splits {
		c.split[s] = idx.Select(s)
	}
	return c, nil
}

func (c *covidSource) Name() string         { return "covidqu:" + c.idx.Task }
func (c *covidSource) Task() string         { return c.idx.Task }
func (c *covidSource) Size() int            { return c.size }
func (c *covidSource) Len(split string) int { return len(c.split[split]) }
func (c *covidSource) Pair(split string, i int) ([]uint8, []uint8, error) {
	ps := c.split[split]
	if i < 0 || i >= len(ps) {
		return nil, nil, fmt.Errorf("dataset: %s %s index %d out of range", c.Name(), split, i)
	}
	img, mask, err := covidqu.LoadPair(ps[i], c.size)
	if err != nil {
		return nil, nil, err
	}
	return img.Pix, mask.Pix, nil
}

// Fingerprint hashes the task, size and, for every pair in a fixed order, the root-relative
// paths and the bytes of the image and mask files.
func (c *covidSource) Fingerprint() (string, error) {
	c.once.Do(func() {
		h := sha256.New()
		fmt.Fprintf(h, "covidqu\ntask=%s\nsize=%d\n", c.idx.Task, c.size)
		for _, p := range c.idx.Pairs {
			for _, f := range []string{p.Image, p.Mask} {
				if err := hashFile(h, c.idx.TaskDir, f); err != nil {
					c.fpErr = err
					return
				}
			}
		}
		c.fp = hex.EncodeToString(h.Sum(nil))
	})
	return c.fp, c.fpErr
}

// ---------------------------------------------------------------------------------------------
// brain MRI

type brainSource struct {
	size   int
	splits map[string][]brainmri.Slice
}

// NewBrainMRI returns the embedded real brain MRI slices (task "brain": label > 0).
func NewBrainMRI(size int) (Source, error) {
	if size <= 0 {
		size = 64
	}
	ss, err := brainmri.Slices(size)
	if err != nil {
		return nil, err
	}
	b := &brainSource{size: size, splits: map[string][]brainmri.Slice{}}
	for _, s := range ss {
		b.splits[s.Split] = append(b.splits[s.Split], s)
	}
	return b, nil
}

func (b *brainSource) Name() string         { return "brainmri:brain" }
func (b *brainSource) Task() string         { return "brain" }
func (b *brainSource) Size() int            { return b.size }
func (b *brainSource) Len(split string) int { return len(b.splits[split]) }
func (b *brainSource) Pair(split string, i int) ([]uint8, []uint8, error) {
	ss := b.splits[split]
	if i < 0 || i >= len(ss) {
		return nil, nil, fmt.Errorf("dataset: %s %s index %d out of range", b.Name(), split, i)
	}
	return ss[i].Image.Pix, ss[i].Mask.Pix, nil
}
func (b *brainSource) Fingerprint() (string, error) {
	fp, err := brainmri.Fingerprint()
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("brainmri\n%s\nsize=%d\nmin=%g\nblock=%d\n", fp, b.size, brainmri.MinBrainFraction, brainmri.BlockLen)))
	return hex.EncodeToString(h[:]), nil
}

// Open builds a source from a spec: "phantom:lung", "phantom:infection" (seed, size and counts
// from cfg), "covidqu:lung:/path/to/root", "covidqu:infection:/path", or "brainmri".
func Open(spec string, cfg PhantomConfig, skipBad bool) (Source, error) {
	parts := strings.SplitN(spec, ":", 3)
	switch parts[0] {
	case "phantom":
		if len(parts) != 2 {
			return nil, fmt.Errorf("dataset: spec %q: want phantom:lung or phantom:infection", spec)
		}
		cfg.Task = parts[1]
		return NewPhantom(cfg)
	case "covidqu":
		if len(parts) != 3 {
			return nil, fmt.Errorf("dataset: spec %q: want covidqu:TASK:ROOT", spec)
		}
		return NewCOVIDQU(parts[2], parts[1], cfg.Size, skipBad)
	case "brainmri":
		return NewBrainMRI(cfg.Size)
	}
	return nil, fmt.Errorf("dataset: unknown source %q (want phantom:TASK, covidqu:TASK:ROOT or brainmri)", spec)
}

// ---------------------------------------------------------------------------------------------
// materialised sets and batches

// Set is one split of a source held in memory as 8-bit pixels.
type Set struct {
	Source      string
	Split       string
	N, H, W     int
	Images      []uint8 // N*H*W
	Masks       []uint8 // N*H*W, 0/255
	CLAHE       *clahe.Params
	fingerprint string
}

// Load materialises a split (in parallel; the result does not depend on the worker count),
// applying CLAHE to the images when p is non-nil.
func Load(src Source, split string, p *clahe.Params) (*Set, error) {
	if err := checkSplit(split); err != nil {
		return nil, err
	}
	n, sz := src.Len(split), src.Size()
	if n == 0 {
		return nil, fmt.Errorf("dataset: %s has no %s pairs", src.Name(), split)
	}
	s := &Set{Source: src.Name(), Split: split, N: n, H: sz, W: sz, CLAHE: p,
		Images: make([]uint8, n*sz*sz), Masks: make([]uint8, n*sz*sz)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				img, mask, err := src.Pair(split, i)
				if err == nil && (len(img) != sz*sz || len(mask) != sz*sz) {
					err = fmt.Errorf("dataset: %s %s pair %d has %d/%d pixels, want %d", src.Name(), split, i, len(img), len(mask), sz*sz)
				}
				if err == nil && p != nil {
					var g *imageio.Gray
					g, err = clahe.Apply(&imageio.Gray{W: sz, H: sz, Pix: img}, *p)
					if err == nil {
						img = g.Pix
					}
				}
				if err != nil {
					errs[i] = err
					continue
				}
				copy(s.Images[i*sz*sz:], img)
				copy(s.Masks[i*sz*sz:], mask)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	fp, err := src.Fingerprint()
	if err != nil {
		return nil, err
	}
	cl := "none"
	if p != nil {
		cl = p.String()
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\nsource=%s\nsplit=%s\nclahe=%s\n", fp, src.Name(), split, cl)))
	s.fingerprint = hex.EncodeToString(h[:])
	return s, nil
}

// Fingerprint is the sha256 (hex) of the source fingerprint, split and preprocessing.
func (s *Set) Fingerprint() string { return s.fingerprint }

// Batch is a batch of B examples, H x W x 1, as flat float32 slices in NHWC order.
type Batch struct {
	B, H, W int
	Images  []float32 // in [-1, 1]
	Masks   []float32 // in {-1, 1}; nil for image-only batches
	Index   []int     // example indices within the set
}

// ImagesTensor returns the images as a [B,H,W,1] tensor.
func (b *Batch) ImagesTensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(b.Images, b.B, b.H, b.W, 1)
}

// MasksTensor returns the masks as a [B,H,W,1] tensor (nil for image-only batches).
func (b *Batch) MasksTensor() *tensors.Tensor {
	if b.Masks == nil {
		return nil
	}
	return tensors.FromFlatDataAndDimensions(b.Masks, b.B, b.H, b.W, 1)
}

// Image returns example i as float32 in [-1, 1].
func (s *Set) Image(i int) []float32 { return toFloat(s.Images[i*s.H*s.W : (i+1)*s.H*s.W]) }

// Mask returns example i's mask as float32 in {-1, 1}.
func (s *Set) Mask(i int) []float32 { return toSign(s.Masks[i*s.H*s.W : (i+1)*s.H*s.W]) }

func toFloat(p []uint8) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v)/127.5 - 1
	}
	return out
}

func toSign(p []uint8) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = -1
		if v >= 128 {
			out[i] = 1
		}
	}
	return out
}

// Gather builds a batch from example indices (imagesOnly leaves Masks nil).
func (s *Set) Gather(idx []int, imagesOnly bool) *Batch {
	hw := s.H * s.W
	b := &Batch{B: len(idx), H: s.H, W: s.W, Index: append([]int(nil), idx...), Images: make([]float32, len(idx)*hw)}
	if !imagesOnly {
		b.Masks = make([]float32, len(idx)*hw)
	}
	for k, i := range idx {
		for j, v := range s.Images[i*hw : (i+1)*hw] {
			b.Images[k*hw+j] = float32(v)/127.5 - 1
		}
		if !imagesOnly {
			for j, v := range s.Masks[i*hw : (i+1)*hw] {
				m := float32(-1)
				if v >= 128 {
					m = 1
				}
				b.Masks[k*hw+j] = m
			}
		}
	}
	return b
}

// Perm is the deterministic shuffle of epoch e for a seed.
func (s *Set) Perm(seed uint64, epoch int) []int {
	return rand.New(rand.NewPCG(seed, uint64(epoch)^0xda7a5e7)).Perm(s.N)
}

// Stream yields step-indexed shuffled batches; it implements the trainer's
// Batch(step int64) ([]*tensors.Tensor, error) with [images] or [images, masks].
type Stream struct {
	set        *Set
	seed       uint64
	batch      int
	imagesOnly bool
	mu         sync.Mutex
	epoch      int
	perm       []int
}

// Stream returns a step-indexed batch stream over the set. imagesOnly serves unconditional
// training (images only). The batch size must be between 1 and N.
func (s *Set) Stream(seed uint64, batchSize int, imagesOnly bool) (*Stream, error) {
	if batchSize < 1 || batchSize > s.N {
		return nil, fmt.Errorf("dataset: batch size %d must be in [1, %d] for %s %s", batchSize, s.N, s.Source, s.Split)
	}
	return &Stream{set: s, seed: seed, batch: batchSize, imagesOnly: imagesOnly, epoch: -1}, nil
}

// BatchesPerEpoch is floor(N / B).
func (st *Stream) BatchesPerEpoch() int { return st.set.N / st.batch }

// At returns the batch of a 1-based step.
func (st *Stream) At(step int64) (*Batch, error) {
	if step < 1 {
		return nil, fmt.Errorf("dataset: step %d must be >= 1", step)
	}
	bpe := int64(st.BatchesPerEpoch())
	epoch, k := int((step-1)/bpe), int((step-1)%bpe)
	st.mu.Lock()
	if epoch != st.epoch {
		st.epoch, st.perm = epoch, st.set.Perm(st.seed, epoch)
	}
	idx := st.perm[k*st.batch : (k+1)*st.batch]
	st.mu.Unlock()
	return st.set.Gather(idx, st.imagesOnly), nil
}

// Batch implements the trainer's Batches interface: [images] or [images, masks], [B,H,W,1].
func (st *Stream) Batch(step int64) ([]*tensors.Tensor, error) {
	b, err := st.At(step)
	if err != nil {
		return nil, err
	}
	if st.imagesOnly {
		return []*tensors.Tensor{b.ImagesTensor()}, nil
	}
	return []*tensors.Tensor{b.ImagesTensor(), b.MasksTensor()}, nil
}

// Batches splits 0..N-1 into consecutive batches in order (for evaluation; the last may be short).
func (s *Set) Batches(batchSize int, imagesOnly bool) []*Batch {
	var out []*Batch
	for i := 0; i < s.N; i += batchSize {
		idx := make([]int, 0, batchSize)
		for j := i; j < min(i+batchSize, s.N); j++ {
			idx = append(idx, j)
		}
		out = append(out, s.Gather(idx, imagesOnly))
	}
	return out
}
