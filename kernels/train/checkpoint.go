package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Checkpoint file format ("DMSEGCK1"), one self-checking file:
//
//	8 bytes   magic "DMSEGCK1"
//	8 bytes   little-endian uint64 n = length of the JSON header
//	n bytes   JSON header (checkpointHeader): step, trainer state, variable table
//	...       raw little-endian variable values, in the order of the table
//	32 bytes  sha256 of everything above
//
// Any changed byte fails the trailing sha256 and the file is refused. Files
// are written to a temporary file in the same folder, synced, then renamed.
const checkpointMagic = "DMSEGCK1"

// VarRecord describes one stored variable.
type VarRecord struct {
	Name      string `json:"name"` // context scope and name, e.g. "/unet/in/conv/weights"
	DType     string `json:"dtype"`
	Shape     []int  `json:"shape"`
	Trainable bool   `json:"trainable"`
	Offset    int64  `json:"offset"` // from the start of the data section
	Bytes     int64  `json:"bytes"`
}

type checkpointHeader struct {
	Format string          `json:"format"`
	Step   int64           `json:"step"`
	State  json.RawMessage `json:"state,omitempty"`
	Vars   []VarRecord     `json:"variables"`
}

// Checkpoint is a loaded checkpoint file: every variable value plus the
// trainer's host-side state at Step.
type Checkpoint struct {
	Path   string
	Step   int64
	State  json.RawMessage
	Vars   []VarRecord // sorted by Name
	values map[string]*tensors.Tensor
}

// SaveCheckpoint writes every variable of ctx (all scopes, including optimizer
// moments, EMA and the RNG state) with the given step and state (any
// JSON-marshalable value) to path, atomically.
func SaveCheckpoint(path string, ctx *context.Context, step int64, state any) error {
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		vars = append(vars, v)
	}
	return saveVars(path, vars, step, state)
}

// SamplingState is the trainer state of a checkpoint written by ExportSampling.
type SamplingState struct {
	Export string `json:"export"` // "sampling"
	EMA    bool   `json:"ema"`    // the model variables hold the EMA weights
	Step   int64  `json:"step"`
}

// ExportSampling writes to dst the variables that sampling needs from the
// training checkpoint src: the model's variables, holding the EMA weights
// when useEMA (and src has them), without the optimiser's moments, the EMA
// copies or the trainer's state (about a third of the full checkpoint). Such
// a file cannot resume training; its state is a SamplingState.
func ExportSampling(src, dst string, useEMA bool) error {
	ck, err := ReadCheckpoint(src)
	if err != nil {
		return err
	}
	ctx := context.New()
	ck.Load(ctx)
	if useEMA {
		if err := UseEMA(ctx); err != nil {
			return fmt.Errorf("checkpoint %s: %w", src, err)
		}
	}
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.ScopeAndName(), trainScope+"/") {
			continue
		}
		vars = append(vars, v)
	}
	return saveVars(dst, vars, ck.Step, SamplingState{Export: "sampling", EMA: useEMA, Step: ck.Step})
}

// SamplingExport reports whether the checkpoint was written by ExportSampling, and with EMA weights.
func (c *Checkpoint) SamplingExport() (isExport, ema bool) {
	var s SamplingState
	if json.Unmarshal(c.State, &s) != nil || s.Export != "sampling" {
		return false, false
	}
	return true, s.EMA
}

func saveVars(path string, vars []*context.Variable, step int64, state any) error {
	sort.Slice(vars, func(i, j int) bool { return vars[i].ScopeAndName() < vars[j].ScopeAndName() })
	hdr := checkpointHeader{Format: checkpointMagic, Step: step}
	if state != nil {
		raw, err := json.Marshal(state)
		if err != nil {
			return fmt.Errorf("checkpoint %s: encoding trainer state: %w", path, err)
		}
		hdr.State = raw
	}
	var data bytes.Buffer
	for _, v := range vars {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("checkpoint %s: variable %s has no value: %w", path, v.ScopeAndName(), err)
		}
		off := int64(data.Len())
		if err := t.ConstBytes(func(b []byte) { data.Write(b) }); err != nil {
			return fmt.Errorf("checkpoint %s: reading variable %s: %w", path, v.ScopeAndName(), err)
		}
		hdr.Vars = append(hdr.Vars, VarRecord{
			Name: v.ScopeAndName(), DType: t.DType().String(), Shape: append([]int{}, t.Shape().Dimensions...),
			Trainable: v.Trainable, Offset: off, Bytes: int64(data.Len()) - off,
		})
	}
	hjson, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var buf bytes.Buffer
	buf.WriteString(checkpointMagic)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hjson)))
	buf.Write(n[:])
	buf.Write(hjson)
	buf.Write(data.Bytes())
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return atomicfile.Write(path, buf.Bytes())
}

// ReadCheckpoint reads and checks a checkpoint file. A changed byte anywhere
// in the file gives an error naming the file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if len(raw) < len(checkpointMagic)+8+32 || string(raw[:8]) != checkpointMagic {
		return nil, fmt.Errorf("checkpoint %s: not a dmseg checkpoint (bad magic or truncated)", path)
	}
	body, tail := raw[:len(raw)-32], raw[len(raw)-32:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], tail) {
		return nil, fmt.Errorf("checkpoint %s: sha256 check failed: the file was modified or truncated after it was written", path)
	}
	hlen := binary.LittleEndian.Uint64(raw[8:16])
	if hlen > uint64(len(body)-16) {
		return nil, fmt.Errorf("checkpoint %s: header length %d exceeds file size", path, hlen)
	}
	var hdr checkpointHeader
	if err := json.Unmarshal(body[16:16+hlen], &hdr); err != nil {
		return nil, fmt.Errorf("checkpoint %s: bad header: %w", path, err)
	}
	data := body[16+hlen:]
	c := &Checkpoint{Path: path, Step: hdr.Step, State: hdr.State, Vars: hdr.Vars, values: map[string]*tensors.Tensor{}}
	for _, r := range hdr.Vars {
		dt, ok := dtypes.MapOfNames[r.DType]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: variable %s has unknown dtype %q", path, r.Name, r.DType)
		}
		if r.Offset < 0 || r.Bytes < 0 || r.Offset > int64(len(data)) || r.Bytes > int64(len(data))-r.Offset {
			return nil, fmt.Errorf("checkpoint %s: variable %s lies outside the data section", path, r.Name)
		}
		need := int64(dt.Size())
		for _, d := range r.Shape {
			if d < 0 || (d > 0 && need > r.Bytes/int64(d)+1) {
				return nil, fmt.Errorf("checkpoint %s: variable %s: shape %v does not fit its %d stored bytes", path, r.Name, r.Shape, r.Bytes)
			}
			need *= int64(d)
		}
		if need != r.Bytes {
			return nil, fmt.Errorf("checkpoint %s: variable %s: %d bytes stored, shape %v needs %d", path, r.Name, r.Bytes, r.Shape, need)
		}
		t := tensors.FromShape(shapes.Make(dt, r.Shape...))
		var sizeErr error
		if err := t.MutableBytes(func(b []byte) {
			if int64(len(b)) != r.Bytes {
				sizeErr = fmt.Errorf("checkpoint %s: variable %s: %d bytes stored, shape %v needs %d", path, r.Name, r.Bytes, r.Shape, len(b))
				return
			}
			copy(b, data[r.Offset:r.Offset+r.Bytes])
		}); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		if sizeErr != nil {
			return nil, sizeErr
		}
		c.values[r.Name] = t
	}
	sort.Slice(c.Vars, func(i, j int) bool { return c.Vars[i].Name < c.Vars[j].Name })
	return c, nil
}

// Tensor returns the stored value of a variable by scope+name ("/scope/name"), or nil.
func (c *Checkpoint) Tensor(name string) *tensors.Tensor { return c.values[name] }

// WeightsSHA256 hashes every stored variable in name order: for each one the
// name, dtype, shape and the raw little-endian values, each field length-
// prefixed. It depends only on the values, not on the file layout, the trainer
// state or the step.
func (c *Checkpoint) WeightsSHA256() string {
	h := sha256.New()
	for _, r := range c.Vars {
		t := c.values[r.Name]
		writeField(h, []byte(r.Name))
		writeField(h, []byte(r.DType))
		for _, d := range r.Shape {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		_ = t.ConstBytes(func(b []byte) { writeField(h, b) })
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h io.Writer, b []byte) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// Load puts every stored variable into ctx with its value and trainable
// flag, overwriting variables that exist already. Graphs built on ctx
// afterwards must reuse them: use ctx.Reuse() or ctx.Checked(false).
func (c *Checkpoint) Load(ctx *context.Context) {
	for _, r := range c.Vars {
		scope, name := context.SplitScope(r.Name)
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
			v.MustSetValue(mustClone(c.values[r.Name]))
			v.SetTrainable(r.Trainable)
			continue
		}
		ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, mustClone(c.values[r.Name])).SetTrainable(r.Trainable)
	}
}

func mustClone(t *tensors.Tensor) *tensors.Tensor {
	c, err := t.LocalClone()
	if err != nil {
		panic(err)
	}
	return c
}
