package tables

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dmseg/dmseg/kernels/atomicfile"
)

// Markdown renders the table: a title line, the caption, a GitHub table with a Row column (and a
// Task column when some row has a task), one column per Column formatted to its Digits (a missing
// cell is "–"), a Source column (source, dataset, artifact, eval, backend, n), then row notes, table
// notes and the cross-backend tolerances.
func (t *Table) Markdown() string {
	var b strings.Builder
	title := t.Title
	if title == "" {
		title = t.ID
	}
	fmt.Fprintf(&b, "# %s\n\n", oneLine(title))
	if t.Caption != "" {
		fmt.Fprintf(&b, "%s\n\n", oneLine(t.Caption))
	}
	hasTask := false
	for _, r := range t.Rows {
		if r.Task != "" {
			hasTask = true
		}
	}
	head := []string{"Row"}
	if hasTask {
		head = append(head, "Task")
	}
	for _, c := range t.Columns {
		h := c.Header
		if h == "" {
			h = c.Key
		}
		head = append(head, cell(h))
	}
	head = append(head, "Source")
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(head)) + "\n")
	for _, r := range t.Rows {
		line := []string{cell(r.Label)}
		if hasTask {
			line = append(line, cell(r.Task))
		}
		for _, c := range t.Columns {
			v, ok := r.Metrics[c.Key]
			if !ok {
				line = append(line, "–")
				continue
			}
			line = append(line, FormatValue(v, c.Digits))
		}
		line = append(line, cell(r.sourceText()))
		b.WriteString("| " + strings.Join(line, " | ") + " |\n")
	}
	var notes []string
	for _, r := range t.Rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", r.key().describe(), oneLine(r.Note)))
		}
	}
	for _, n := range t.Notes {
		notes = append(notes, oneLine(n))
	}
	if len(t.Tolerance) > 0 {
		var parts []string
		for _, k := range sortedKeys(t.Tolerance) {
			parts = append(parts, fmt.Sprintf("%s %s", k, strconv.FormatFloat(t.Tolerance[k], 'g', -1, 64)))
		}
		notes = append(notes, "Allowed absolute difference when regenerated on another backend: "+strings.Join(parts, ", ")+
			" (other metrics 0); on the same backend every value must be equal.")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// FormatValue prints v with the given number of decimals (negative: the shortest form that reads
// back as the same float64), never as "-0.0000".
func FormatValue(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	var s string
	if digits < 0 {
		s = strconv.FormatFloat(v, 'g', -1, 64)
	} else {
		s = strconv.FormatFloat(v, 'f', digits, 64)
	}
	if strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0.") == "" {
		s = s[1:]
	}
	return s
}

// sourceText is the Source cell: "published, COVID-QU-Ex" or
// "dmseg, phantom, artifact X, eval Y, xla:cpu, n=256".
func (r *Row) sourceText() string {
	parts := []string{r.Source}
	if r.Dataset != "" {
		parts = append(parts, r.Dataset)
	}
	if r.Artifact != "" {
		parts = append(parts, "artifact "+r.Artifact)
	}
	if r.Eval != "" {
		parts = append(parts, "eval "+r.Eval)
	}
	if r.Backend != "" {
		parts = append(parts, r.Backend)
	}
	if r.N > 0 {
		parts = append(parts, fmt.Sprintf("n=%d", r.N))
	}
	return strings.Join(parts, ", ")
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// JSON encodes the table as indented JSON with a stable key order (struct fields in declaration
// order, map keys sorted), a trailing newline, and floats in their shortest exact form, so that
// reading the file back gives the same float64 values. Nil notes, tolerance and metrics are written
// as [] and {}. The table must pass Validate.
func (t *Table) JSON() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c := *t
	if c.Columns == nil {
		c.Columns = []Column{}
	}
	if c.Rows == nil {
		c.Rows = []Row{}
	} else {
		c.Rows = append([]Row(nil), t.Rows...)
		for i := range c.Rows {
			if c.Rows[i].Metrics == nil {
				c.Rows[i].Metrics = map[string]float64{}
			}
		}
	}
	if c.Notes == nil {
		c.Notes = []string{}
	}
	if c.Tolerance == nil {
		c.Tolerance = map[string]float64{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil { // Encode ends with a newline
		return nil, fmt.Errorf("table %s: encoding JSON: %w", t.ID, err)
	}
	return buf.Bytes(), nil
}

// Write writes dir/<id>.md and dir/<id>.json, each atomically (readers see the old or the whole new
// file). The JSON is written last, so a reader that finds the new JSON also finds the new Markdown.
func Write(dir string, t *Table) error {
	data, err := t.JSON()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, t.ID+".md"), []byte(t.Markdown())); err != nil {
		return fmt.Errorf("table %s: %w", t.ID, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, t.ID+".json"), data); err != nil {
		return fmt.Errorf("table %s: %w", t.ID, err)
	}
	return nil
}

// Read reads a table written by Write (the .json file). Unknown fields, trailing data and tables
// failing Validate are errors; every error names the file. Empty columns, rows, metrics, notes and
// tolerance read back as nil.
func Read(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tables: reading %s: %w", path, err)
	}
	t, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("tables: reading %s: %w", path, err)
	}
	return t, nil
}

func decode(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty file")
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated JSON: %w", err)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: data after the table object")
	}
	if len(t.Columns) == 0 {
		t.Columns = nil
	}
	if len(t.Rows) == 0 {
		t.Rows = nil
	}
	for i := range t.Rows {
		if len(t.Rows[i].Metrics) == 0 {
			t.Rows[i].Metrics = nil
		}
	}
	if len(t.Notes) == 0 {
		t.Notes = nil
	}
	if len(t.Tolerance) == 0 {
		t.Tolerance = nil
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
