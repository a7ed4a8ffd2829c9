// Package artifacts stores every training run as a versioned, self-verifying
// folder artifacts/<id>/ with a manifest.json.
//
// The manifest records a uuid, the creation time, the full canonical config and
// its sha256, the dataset fingerprint, the git commit, the backend and PJRT
// plugin version, the seeds, metrics and timings, weights_sha256 (a hash over
// the variable values in name order, independent of the file layout; see
// train.Checkpoint.WeightsSHA256) and every file with its sha256 and size.
// Open verifies every file before anything is loaded: a changed byte is refused
// with an error naming the file. Files larger than MaxRepoBytes are kept out of
// git (listed in the artifact's .gitignore) and referenced by hash only.
package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dmseg/dmseg/kernels/atomicfile"
	"github.com/dmseg/dmseg/kernels/engine"
	"github.com/dmseg/dmseg/kernels/train"
	"github.com/google/uuid"
)

// Format is the manifest format tag. Version 2 records the resolved config
// (every default filled in, snake_case keys, inapplicable sections omitted) and
// module versions from the binary's build information; version 1 manifests
// (FormatV1) stay readable.
const Format = "dmseg-artifact/2"

// FormatV1 is the tag of manifests written before configs were resolved.
const FormatV1 = "dmseg-artifact/1"

// ManifestFile is the manifest's name inside an artifact folder.
const ManifestFile = "manifest.json"

// WeightsFile is the checkpoint every training artifact holds.
const WeightsFile = "checkpoint.dmck"

// MaxRepoBytes: files above this size are referenced by hash, not committed
// (a variable so tests can lower it).
var MaxRepoBytes int64 = 20 << 20

// EnvRoot overrides the artifacts folder.
const EnvRoot = "DMSEG_ARTIFACTS"

// File is one file of an artifact.
type File struct {
	Path   string `json:"path"` // relative to the artifact folder, slash-separated
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// Stored is "repo" (committed with the artifact) or "external" (too large:
	// referenced by hash; place the file in the folder to use it).
	Stored string `json:"stored"`
}

// Backend records where the numbers were computed.
type Backend struct {
	Name          string `json:"name"`
	PluginVersion string `json:"plugin_version,omitempty"`
	PluginPath    string `json:"plugin_path,omitempty"`
	Description   string `json:"description,omitempty"`
}

// BackendFrom converts an engine.Info.
func BackendFrom(i engine.Info) Backend {
	return Backend{Name: i.Name, PluginVersion: i.PluginVersion, PluginPath: i.PluginPath, Description: i.Description}
}

// Dataset identifies the training data.
type Dataset struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"` // the data source's own fingerprint (config and generator version)
	// PixelsSHA256 hashes the training images themselves (count, size and 8-bit pixels),
	// so a changed generator is caught even if its version was not bumped.
	PixelsSHA256 string `json:"pixels_sha256,omitempty"`
}

// Git identifies the code.
type Git struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"` // uncommitted changes to tracked files when the run started
}

// Manifest is manifest.json.
type Manifest struct {
	Format        string             `json:"format"`
	ID            string             `json:"id"`
	UUID          string             `json:"uuid"`
	Experiment    string             `json:"experiment"`
	CreatedAt     string             `json:"created_at"` // RFC 3339, UTC
	Config        json.RawMessage    `json:"config"`     // canonical JSON (sorted keys)
	ConfigSHA256  string             `json:"config_sha256"`
	Dataset       Dataset            `json:"dataset"`
	Git           Git                `json:"git"`
	Backend       Backend            `json:"backend"`
	GoVersion     string             `json:"go_version,omitempty"`
	GoMLX         string             `json:"gomlx,omitempty"`
	Modules       map[string]string  `json:"modules,omitempty"` // other module versions from build info
	Seeds         map[string]int64   `json:"seeds"`
	Metrics       map[string]float64 `json:"metrics"`
	Timings       map[string]float64 `json:"timings_seconds"`
	Notes         map[string]string  `json:"notes,omitempty"`
	WeightsSHA256 string             `json:"weights_sha256,omitempty"`
	Files         []File             `json:"files"`
	// ManifestSHA256 is the sha256 of the canonical JSON of this manifest with
	// this field empty: an edit to the manifest itself is detected too.
	ManifestSHA256 string `json:"manifest_sha256"`
}

func (m Manifest) selfHash() (string, error) {
	m.ManifestSHA256 = ""
	cj, err := CanonicalJSON(m)
	if err != nil {
		return "", err
	}
	return SHA256Hex(cj), nil
}

// Artifact is an opened, verified artifact folder.
type Artifact struct {
	Dir      string
	Manifest Manifest
}

// Root returns the artifacts folder: $DMSEG_ARTIFACTS, else <checkout>/artifacts, else ./artifacts.
func Root() string {
	if r := os.Getenv(EnvRoot); r != "" {
		return r
	}
	if p := engine.ProjectRoot(); p != "" {
		return filepath.Join(p, "artifacts")
	}
	return "artifacts"
}

// CanonicalJSON marshals v with sorted object keys and no insignificant
// whitespace, so equal configs give equal bytes (and equal hashes).
func CanonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic) // maps marshal with sorted keys; json.Number keeps digits
}

// SHA256Hex is the hex sha256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// GitState returns the commit of the checkout holding dir and whether tracked
// files have uncommitted changes. Outside a git checkout (e.g. a copy sent to
// a GPU machine) it takes $DMSEG_GIT_COMMIT and $DMSEG_GIT_DIRTY=1 when set,
// else "unknown".
func GitState(dir string) Git {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		if c := os.Getenv("DMSEG_GIT_COMMIT"); c != "" {
			return Git{Commit: c, Dirty: os.Getenv("DMSEG_GIT_DIRTY") == "1"}
		}
		return Git{Commit: "unknown"}
	}
	g := Git{Commit: strings.TrimSpace(string(out))}
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(st)) > 0 {
		g.Dirty = true
	}
	return g
}

// NewManifest starts a manifest for experiment with config (any JSON value;
// stored canonically with its sha256), a fresh uuid, the creation time and an
// id "<experiment>-<yyyymmdd>-<first 8 hex of the uuid>".
func NewManifest(experiment string, config any, now time.Time) (Manifest, error) {
	cj, err := CanonicalJSON(config)
	if err != nil {
		return Manifest{}, fmt.Errorf("artifacts: config: %w", err)
	}
	u := uuid.New()
	now = now.UTC()
	return Manifest{
		Format: Format, UUID: u.String(), Experiment: experiment,
		ID:        fmt.Sprintf("%s-%s-%s", experiment, now.Format("20060102"), strings.ReplaceAll(u.String(), "-", "")[:8]),
		CreatedAt: now.Format(time.RFC3339),
		Config:    cj, ConfigSHA256: SHA256Hex(cj),
		Seeds: map[string]int64{}, Metrics: map[string]float64{}, Timings: map[string]float64{}, Notes: map[string]string{},
	}, nil
}

// IncompletePrefix starts the name of the temporary folder an artifact is
// written into before it is renamed into place; such a folder left in the
// root is an interrupted write.
const IncompletePrefix = ".incomplete-"

// Create writes a new artifact folder root/<m.ID>/ holding copies of the
// given files (name in the artifact -> source path) and the manifest. If a
// file named WeightsFile is among them, weights_sha256 is computed from it.
// The folder appears whole or not at all: it is written as
// root/.incomplete-<ID>-<pid>/ and renamed into place when complete.
func Create(root string, m Manifest, files map[string]string) (*Artifact, error) {
	if m.ID == "" || strings.ContainsAny(m.ID, "/\\") || strings.HasPrefix(m.ID, ".") {
		return nil, fmt.Errorf("artifacts: bad id %q", m.ID)
	}
	dir := filepath.Join(root, m.ID)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("artifacts: %s already exists", dir)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	tmp := filepath.Join(root, fmt.Sprintf("%s%s-%d", IncompletePrefix, m.ID, os.Getpid()))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	a, err := create(tmp, m, files)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	a.Dir = dir
	return a, nil
}

func create(dir string, m Manifest, files map[string]string) (*Artifact, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == ManifestFile || strings.Contains(n, "..") || filepath.IsAbs(n) {
			return nil, fmt.Errorf("artifacts: bad file name %q", n)
		}
		data, err := os.ReadFile(files[n])
		if err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(dir, filepath.FromSlash(n)), data); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
	}
	a := &Artifact{Dir: dir, Manifest: m}
	if err := a.Rescan(); err != nil {
		return nil, err
	}
	return a, nil
}

// Rescan rehashes every file in the folder (except the manifest and
// .gitignore), recomputes weights_sha256 and rewrites the manifest. Use it
// after adding files (samples, figures) to an artifact.
func (a *Artifact) Rescan() error {
	var files []File
	var external []string
	err := filepath.WalkDir(a.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(a.Dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ManifestFile || rel == ".gitignore" || strings.HasPrefix(filepath.Base(rel), ".") {
			return nil
		}
		sum, n, err := FileSHA256(p)
		if err != nil {
			return err
		}
		f := File{Path: rel, SHA256: sum, Bytes: n, Stored: "repo"}
		if n > MaxRepoBytes {
			f.Stored = "external"
			external = append(external, rel)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("artifacts: %s: %w", a.Dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	a.Manifest.Files = files
	if _, err := os.Stat(filepath.Join(a.Dir, WeightsFile)); err == nil {
		ck, err := train.ReadCheckpoint(filepath.Join(a.Dir, WeightsFile))
		if err != nil {
			return fmt.Errorf("artifacts: %w", err)
		}
		a.Manifest.WeightsSHA256 = ck.WeightsSHA256()
	}
	gi := filepath.Join(a.Dir, ".gitignore")
	if len(external) > 0 {
		msg := "# referenced by sha256 in manifest.json (larger than the repository limit)\n" + strings.Join(external, "\n") + "\n"
		if err := atomicfile.Write(gi, []byte(msg)); err != nil {
			return err
		}
	} else {
		_ = os.Remove(gi)
	}
	return a.writeManifest()
}

func (a *Artifact) writeManifest() error {
	h, err := a.Manifest.selfHash()
	if err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	a.Manifest.ManifestSHA256 = h
	b, err := json.MarshalIndent(a.Manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	return atomicfile.Write(filepath.Join(a.Dir, ManifestFile), append(b, '\n'))
}

// ReadManifest reads root/<id>/manifest.json without verifying the files.
func ReadManifest(dir string) (Manifest, error) {
	p := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		return Manifest{}, fmt.Errorf("artifacts: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("artifacts: %s: %w", p, err)
	}
	if m.Format != Format && m.Format != FormatV1 {
		return Manifest{}, fmt.Errorf("artifacts: %s: format %q, want %q (or %q)", p, m.Format, Format, FormatV1)
	}
	return m, nil
}

// ErrNotFound is returned by Resolve when nothing matches.
var ErrNotFound = errors.New("artifact not found")

// List returns the manifests under root, newest first. Unreadable folders are
// reported in errs but do not stop the listing.
func List(root string) (ms []Manifest, errs []error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, []error{err}
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), IncompletePrefix) {
			p := filepath.Join(root, e.Name())
			errs = append(errs, fmt.Errorf("artifacts: %s is an interrupted artifact write (no artifact was published); remove it with `rm -rf %s`", p, p))
			continue
		}
		m, err := ReadManifest(filepath.Join(root, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, m)
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].CreatedAt != ms[j].CreatedAt {
			return ms[i].CreatedAt > ms[j].CreatedAt
		}
		return ms[i].ID > ms[j].ID
	})
	return ms, errs
}

// Resolve finds an artifact folder by full id, unique id prefix, or experiment
// name (the newest artifact of that experiment).
func Resolve(root, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("artifacts: empty artifact id")
	}
	if st, err := os.Stat(filepath.Join(root, ref, ManifestFile)); err == nil && !st.IsDir() {
		return filepath.Join(root, ref), nil
	}
	ms, listErrs := List(root)
	var byPrefix []string
	for _, m := range ms {
		if m.Experiment == ref {
			return filepath.Join(root, m.ID), nil // newest first
		}
		if strings.HasPrefix(m.ID, ref) {
			byPrefix = append(byPrefix, m.ID)
		}
	}
	switch len(byPrefix) {
	case 1:
		return filepath.Join(root, byPrefix[0]), nil
	case 0:
		if len(listErrs) > 0 {
			return "", fmt.Errorf("artifacts: %q in %s: %w among the readable artifacts; %d folder(s) could not be read, e.g. %v",
				ref, root, ErrNotFound, len(listErrs), listErrs[0])
		}
		return "", fmt.Errorf("artifacts: %q in %s: %w (try `dmseg artifacts list`)", ref, root, ErrNotFound)
	}
	return "", fmt.Errorf("artifacts: %q is ambiguous in %s: %s", ref, root, strings.Join(byPrefix, ", "))
}

// Open resolves ref under root and verifies the artifact (see Verify).
func Open(root, ref string) (*Artifact, error) {
	dir, err := Resolve(root, ref)
	if err != nil {
		return nil, err
	}
	return OpenDir(dir)
}

// OpenDir opens and verifies the artifact in dir.
func OpenDir(dir string) (*Artifact, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	a := &Artifact{Dir: dir, Manifest: m}
	if err := a.Verify(); err != nil {
		return nil, err
	}
	return a, nil
}

// Verify checks the config hash, every file's size and sha256, and
// weights_sha256 against the checkpoint's variable values. External files
// that are absent are an error too: they cannot be used.
func (a *Artifact) Verify() error {
	m := a.Manifest
	mp := filepath.Join(a.Dir, ManifestFile)
	if h, err := m.selfHash(); err != nil || h != m.ManifestSHA256 {
		return fmt.Errorf("artifact %s: %s was modified: its content hashes to %s, manifest_sha256 says %s", m.ID, mp, h, m.ManifestSHA256)
	}
	cj, err := CanonicalJSON(m.Config)
	if err != nil {
		return fmt.Errorf("artifact %s: %s: config: %w", m.ID, mp, err)
	}
	if got := SHA256Hex(cj); got != m.ConfigSHA256 {
		return fmt.Errorf("artifact %s: %s: config_sha256 is %s but the config hashes to %s (manifest edited?)", m.ID, mp, m.ConfigSHA256, got)
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("artifact %s: manifest lists no files", m.ID)
	}
	for _, f := range m.Files {
		p := filepath.Join(a.Dir, filepath.FromSlash(f.Path))
		sum, n, err := FileSHA256(p)
		if err != nil {
			if os.IsNotExist(err) && f.Stored == "external" {
				return fmt.Errorf("artifact %s: %s is not present: it is referenced by hash only (sha256 %s, %d bytes); copy it there", m.ID, p, f.SHA256, f.Bytes)
			}
			return fmt.Errorf("artifact %s: %w", m.ID, err)
		}
		if n != f.Bytes || sum != f.SHA256 {
			return fmt.Errorf("artifact %s: %s was modified: sha256 %s (%d bytes), manifest says %s (%d bytes)", m.ID, p, sum, n, f.SHA256, f.Bytes)
		}
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
	}
	var extra []string
	err = filepath.WalkDir(a.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a.Dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == EvalsDir {
				return filepath.SkipDir // evaluation records are verified by Evals
			}
			return nil
		}
		if rel != ManifestFile && !strings.HasPrefix(filepath.Base(rel), ".") && !listed[rel] {
			extra = append(extra, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("artifact %s: %w", m.ID, err)
	}
	if len(extra) > 0 {
		return fmt.Errorf("artifact %s: %s holds files the manifest does not list: %s (artifacts are immutable: move them out; evaluations go in %s/)",
			m.ID, a.Dir, strings.Join(extra, ", "), EvalsDir)
	}
	if m.WeightsSHA256 != "" {
		ck, err := train.ReadCheckpoint(filepath.Join(a.Dir, WeightsFile))
		if err != nil {
			return fmt.Errorf("artifact %s: %w", m.ID, err)
		}
		if got := ck.WeightsSHA256(); got != m.WeightsSHA256 {
			return fmt.Errorf("artifact %s: %s: weights hash to %s, manifest says %s", m.ID, ck.Path, got, m.WeightsSHA256)
		}
	}
	return nil
}

// Path returns the absolute path of a file of the artifact.
func (a *Artifact) Path(name string) string { return filepath.Join(a.Dir, filepath.FromSlash(name)) }

// Checkpoint reads the artifact's checkpoint. The artifact was verified when opened.
func (a *Artifact) Checkpoint() (*train.Checkpoint, error) {
	return train.ReadCheckpoint(a.Path(WeightsFile))
}

// DecodeConfig unmarshals the stored config into v.
func (a *Artifact) DecodeConfig(v any) error {
	if err := json.Unmarshal(a.Manifest.Config, v); err != nil {
		return fmt.Errorf("artifact %s: config: %w", a.Manifest.ID, err)
	}
	return nil
}

// Stamp is the one-line provenance printed on every output made from the artifact.
func (a *Artifact) Stamp() string {
	c := a.Manifest.Git.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("artifact=%s commit=%s", a.Manifest.ID, c)
}
