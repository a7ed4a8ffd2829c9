package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/atomicfile"
)

// Evaluation records live beside the training artifact they evaluate, in
// artifacts/<id>/evals/<eval-id>/: a record.json (protocol, results, backend,
// code commit, timings, every file's sha256, and a hash of the record itself)
// and the predictions or samples as lossless PNGs. A training artifact is
// never rewritten; each evaluation is its own immutable record.
const (
	EvalFormat = "dmseg-eval/1"
	EvalsDir   = "evals"
	EvalFile   = "record.json"
)

// EvalRecord is record.json.
type EvalRecord struct {
	Format         string             `json:"format"`
	ID             string             `json:"id"`
	Name           string             `json:"name"` // what was evaluated, e.g. "quality" or "seg"
	Artifact       string             `json:"artifact"`
	WeightsSHA256  string             `json:"weights_sha256"`
	CreatedAt      string             `json:"created_at"`
	Protocol       json.RawMessage    `json:"protocol"` // canonical JSON
	ProtocolSHA256 string             `json:"protocol_sha256"`
	Results        json.RawMessage    `json:"results"`
	Backend        Backend            `json:"backend"`
	Git            Git                `json:"git"`
	Timings        map[string]float64 `json:"timings_seconds,omitempty"`
	Files          []File             `json:"files"`
	RecordSHA256   string             `json:"record_sha256"`
}

// Eval is an opened evaluation record.
type Eval struct {
	Dir    string
	Record EvalRecord
}

func (r EvalRecord) selfHash() (string, error) {
	r.RecordSHA256 = ""
	cj, err := CanonicalJSON(r)
	if err != nil {
		return "", err
	}
	return SHA256Hex(cj), nil
}

// EvalID is the id of an evaluation of name with protocol: name, then the
// first 10 hex digits of the protocol's canonical sha256. The same protocol
// on the same artifact always has the same id.
func EvalID(name string, protocol any) (string, error) {
	cj, err := CanonicalJSON(protocol)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%s", name, SHA256Hex(cj)[:10]), nil
}

// CheckNewEval returns the error CreateEval would give for an evaluation of
// name with protocol that exists already, so that a caller can refuse before
// computing it.
func (a *Artifact) CheckNewEval(name string, protocol any) error {
	id, err := EvalID(name, protocol)
	if err != nil {
		return fmt.Errorf("artifacts: eval protocol: %w", err)
	}
	return existingEval(filepath.Join(a.Dir, EvalsDir, id))
}

func existingEval(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("artifacts: evaluation %s already exists (records are immutable; delete the folder to redo it)", dir)
	}
	return nil
}

// CreateEval writes a new evaluation record of a beside it. files maps names
// (slash-separated, inside the record folder) to their contents. Everything is
// written into a temporary folder that is renamed into place at the end, so an
// interrupted evaluation leaves nothing half-written. An existing record with
// the same id is an error (records are immutable).
func (a *Artifact) CreateEval(name string, protocol, results any, files map[string][]byte, backend Backend, git Git,
	timings map[string]float64) (*Eval, error) {
	id, err := EvalID(name, protocol)
	if err != nil {
		return nil, fmt.Errorf("artifacts: eval protocol: %w", err)
	}
	pj, _ := CanonicalJSON(protocol)
	rj, err := CanonicalJSON(results)
	if err != nil {
		return nil, fmt.Errorf("artifacts: eval results: %w", err)
	}
	base := filepath.Join(a.Dir, EvalsDir)
	dir := filepath.Join(base, id)
	if err := existingEval(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".tmp-"+id+"-")
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	defer os.RemoveAll(tmp)
	rec := EvalRecord{Format: EvalFormat, ID: id, Name: name, Artifact: a.Manifest.ID, WeightsSHA256: a.Manifest.WeightsSHA256,
		CreatedAt: time.Now().UTC().Format(time.RFC3339), Protocol: pj, ProtocolSHA256: SHA256Hex(pj), Results: rj,
		Backend: backend, Git: git, Timings: timings}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == EvalFile || n == "" || strings.Contains(n, "..") || filepath.IsAbs(n) {
			return nil, fmt.Errorf("artifacts: bad eval file name %q", n)
		}
		p := filepath.Join(tmp, filepath.FromSlash(n))
		if err := atomicfile.Write(p, files[n]); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
		rec.Files = append(rec.Files, File{Path: n, SHA256: SHA256Hex(files[n]), Bytes: int64(len(files[n])), Stored: "repo"})
	}
	h, err := rec.selfHash()
	if err != nil {
		return nil, err
	}
	rec.RecordSHA256 = h
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := atomicfile.Write(filepath.Join(tmp, EvalFile), append(b, '\n')); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	return &Eval{Dir: dir, Record: rec}, nil
}

// ReadEval reads dir/record.json without verifying the files.
func ReadEval(dir string) (*Eval, error) {
	p := filepath.Join(dir, EvalFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	var r EvalRecord
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("artifacts: %s: %w", p, err)
	}
	if r.Format != EvalFormat {
		return nil, fmt.Errorf("artifacts: %s: format %q, want %q", p, r.Format, EvalFormat)
	}
	return &Eval{Dir: dir, Record: r}, nil
}

// Verify checks the record's own hash, its protocol hash, that it belongs to
// the artifact's weights, and every file's size and sha256.
func (e *Eval) Verify(a *Artifact) error {
	r := e.Record
	p := filepath.Join(e.Dir, EvalFile)
	if h, err := r.selfHash(); err != nil || h != r.RecordSHA256 {
		return fmt.Errorf("evaluation %s: %s was modified: its content hashes to %s, record_sha256 says %s", r.ID, p, h, r.RecordSHA256)
	}
	if a != nil && (r.Artifact != a.Manifest.ID || r.WeightsSHA256 != a.Manifest.WeightsSHA256) {
		return fmt.Errorf("evaluation %s: %s evaluates %s (weights %.16s), not this artifact %s (weights %.16s)", r.ID, p, r.Artifact, r.WeightsSHA256, a.Manifest.ID, a.Manifest.WeightsSHA256)
	}
	pj, err := CanonicalJSON(r.Protocol)
	if err != nil {
		return fmt.Errorf("evaluation %s: %s: protocol: %w", r.ID, p, err)
	}
	if got := SHA256Hex(pj); got != r.ProtocolSHA256 {
		return fmt.Errorf("evaluation %s: %s: protocol hashes to %s, protocol_sha256 says %s", r.ID, p, got, r.ProtocolSHA256)
	}
	if len(r.Files) == 0 {
		return fmt.Errorf("evaluation %s: %s lists no files", r.ID, p)
	}
	for _, f := range r.Files {
		fp := filepath.Join(e.Dir, filepath.FromSlash(f.Path))
		sum, n, err := FileSHA256(fp)
		if err != nil {
			return fmt.Errorf("evaluation %s: %w", r.ID, err)
		}
		if n != f.Bytes || sum != f.SHA256 {
			return fmt.Errorf("evaluation %s: %s was modified: sha256 %s (%d bytes), record says %s (%d bytes)", r.ID, fp, sum, n, f.SHA256, f.Bytes)
		}
	}
	return nil
}

// Path returns the path of a file of the record.
func (e *Eval) Path(name string) string { return filepath.Join(e.Dir, filepath.FromSlash(name)) }

// ReadFile returns a file of the record (verified when the record was opened).
func (e *Eval) ReadFile(name string) ([]byte, error) { return os.ReadFile(e.Path(name)) }

// DecodeResults unmarshals the results into v.
func (e *Eval) DecodeResults(v any) error {
	if err := json.Unmarshal(e.Record.Results, v); err != nil {
		return fmt.Errorf("evaluation %s: results: %w", e.Record.ID, err)
	}
	return nil
}

// DecodeProtocol unmarshals the protocol into v.
func (e *Eval) DecodeProtocol(v any) error {
	if err := json.Unmarshal(e.Record.Protocol, v); err != nil {
		return fmt.Errorf("evaluation %s: protocol: %w", e.Record.ID, err)
	}
	return nil
}

// ReadEvals reads every evaluation record of a WITHOUT verifying it (to
// re-derive and compare its numbers even when its hashes fail), sorted by id.
func (a *Artifact) ReadEvals() ([]*Eval, error) {
	base := filepath.Join(a.Dir, EvalsDir)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	var out []*Eval
	for _, en := range entries {
		if !en.IsDir() || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		e, err := ReadEval(filepath.Join(base, en.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Evals opens and verifies every evaluation record of a, sorted by id.
// Unverifiable records are returned as errors naming them.
func (a *Artifact) Evals() ([]*Eval, error) {
	all, err := a.ReadEvals()
	if err != nil {
		return nil, err
	}
	var out []*Eval
	var errs []error
	for _, e := range all {
		if err := e.Verify(a); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// Decode checks that the record is named name and decodes its protocol and
// results.
func (e *Eval) Decode(name string, protocol, results any) error {
	if e.Record.Name != name {
		return fmt.Errorf("evaluation %s is a %q record, not %q", e.Record.ID, e.Record.Name, name)
	}
	if err := e.DecodeProtocol(protocol); err != nil {
		return err
	}
	return e.DecodeResults(results)
}
