// Package tables is the one table model that every thesis table and every dmseg reproduction goes
// through: a Table holds columns (metric keys with headers and printing precision) and rows (one model
// on one task, either as published in the thesis or as measured by dmseg), and is written as Markdown
// for people and as JSON for machines (Write, Read). Compare checks a regenerated table against a
// committed one; Published holds the thesis's Tables 1-5 exactly as printed; Audit checks the printed
// segmentation metrics against the relations their definitions imply.
package tables

import (
	"fmt"
	"math"
	"strings"
)

// Sources of a row.
const (
	SourcePublished = "published" // typed in from the thesis
	SourceDMSeg     = "dmseg"     // measured by this repository
)

// Metric keys of the segmentation tables.
const (
	Dice             = "dice"
	Jaccard          = "jaccard"
	Accuracy         = "accuracy"
	Sensitivity      = "sensitivity"
	Specificity      = "specificity"
	BalancedAccuracy = "balanced_accuracy"
	Precision        = "precision"
	MCC              = "mcc"
)

// SegMetrics lists the segmentation metric keys in the thesis's column order (Tables 1-5).
var SegMetrics = []string{Dice, Jaccard, Accuracy, Sensitivity, Specificity, BalancedAccuracy, Precision, MCC}

var segHeaders = map[string]string{
	Dice:             "Dice",
	Jaccard:          "Jaccard",
	Accuracy:         "Accuracy",
	Sensitivity:      "Sensitivity",
	Specificity:      "Specificity",
	BalancedAccuracy: "Balanced Accuracy",
	Precision:        "Precision",
	MCC:              "MCC",
}

// SegColumns returns a fresh slice of the eight segmentation columns in SegMetrics order, printed
// with 4 decimals as in the thesis.
func SegColumns() []Column {
	cols := make([]Column, len(SegMetrics))
	for i, k := range SegMetrics {
		cols[i] = Column{Key: k, Header: segHeaders[k], Digits: 4}
	}
	return cols
}

// Table is one table of results.
type Table struct {
	ID      string   `json:"id"` // file stem, e.g. "table1", "fig10-quality"
	Title   string   `json:"title"`
	Caption string   `json:"caption"`
	Columns []Column `json:"columns"`
	Rows    []Row    `json:"rows"`
	Notes   []string `json:"notes"`
	// Tolerance holds, per metric key, the absolute difference allowed when the table is regenerated
	// on another backend than the committed one; on the same backend values must be equal. A key
	// without an entry has tolerance 0.
	Tolerance map[string]float64 `json:"tolerance"`
}

// Column is one metric column.
type Column struct {
	Key    string `json:"key"`    // metric key in Row.Metrics
	Header string `json:"header"` // text in the Markdown header
	Digits int    `json:"digits"` // decimals in Markdown; negative: shortest exact form
}

// Row is one line of a table: one model on one task from one source.
type Row struct {
	Label    string             `json:"label"`              // e.g. "DDPM addition"
	Task     string             `json:"task,omitempty"`     // "lung" or "infection" for segmentation
	Source   string             `json:"source"`             // SourcePublished or SourceDMSeg
	Dataset  string             `json:"dataset"`            // e.g. "COVID-QU-Ex", "phantom"
	Artifact string             `json:"artifact,omitempty"` // artifact the numbers come from
	Eval     string             `json:"eval,omitempty"`     // evaluation protocol / run name
	Backend  string             `json:"backend,omitempty"`  // e.g. "xla:cpu"
	Metrics  map[string]float64 `json:"metrics"`
	N        int                `json:"n,omitempty"` // number of evaluated images
	Note     string             `json:"note,omitempty"`
}

// rowKey identifies a row within a table: rows are matched by (label, task, source).
type rowKey struct{ label, task, source string }

func (r *Row) key() rowKey { return rowKey{r.Label, r.Task, r.Source} }

// describe names a row for messages: `"DDPM addition" (lung)`; the source is added when it is not
// dmseg, so a published row reads `"DDPM addition" (lung, published)`.
func (k rowKey) describe() string {
	var paren []string
	if k.task != "" {
		paren = append(paren, k.task)
	}
	if k.source != SourceDMSeg {
		paren = append(paren, k.source)
	}
	s := fmt.Sprintf("%q", k.label)
	if len(paren) > 0 {
		s += " (" + strings.Join(paren, ", ") + ")"
	}
	return s
}

// Validate checks that the table can be written and read back unambiguously: a file-safe ID, unique
// non-empty column keys, rows with a label, a known source, unique (label, task, source), metrics
// only for declared columns, finite metric values (JSON has no NaN or infinity), and finite
// non-negative tolerances for declared columns.
func (t *Table) Validate() error {
	if t == nil {
		return fmt.Errorf("tables: nil table")
	}
	if err := checkID(t.ID); err != nil {
		return err
	}
	cols := make(map[string]bool, len(t.Columns))
	for i, c := range t.Columns {
		if c.Key == "" {
			return fmt.Errorf("table %s: column %d has an empty key", t.ID, i)
		}
		if cols[c.Key] {
			return fmt.Errorf("table %s: column %q appears twice", t.ID, c.Key)
		}
		cols[c.Key] = true
	}
	seen := make(map[rowKey]bool, len(t.Rows))
	for i := range t.Rows {
		r := &t.Rows[i]
		if r.Label == "" {
			return fmt.Errorf("table %s: row %d has an empty label", t.ID, i)
		}
		if r.Source != SourcePublished && r.Source != SourceDMSeg {
			return fmt.Errorf("table %s: row %s has source %q, want %q or %q",
				t.ID, r.key().describe(), r.Source, SourcePublished, SourceDMSeg)
		}
		if seen[r.key()] {
			return fmt.Errorf("table %s: row %s appears twice", t.ID, r.key().describe())
		}
		seen[r.key()] = true
		if r.N < 0 {
			return fmt.Errorf("table %s: row %s has negative n %d", t.ID, r.key().describe(), r.N)
		}
		for _, k := range sortedKeys(r.Metrics) {
			if !cols[k] {
				return fmt.Errorf("table %s: row %s has metric %q, which is not a column", t.ID, r.key().describe(), k)
			}
			if v := r.Metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("table %s: row %s metric %s is %v, which JSON cannot hold", t.ID, r.key().describe(), k, v)
			}
		}
	}
	for _, k := range sortedKeys(t.Tolerance) {
		if !cols[k] {
			return fmt.Errorf("table %s: tolerance for %q, which is not a column", t.ID, k)
		}
		if v := t.Tolerance[k]; !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("table %s: tolerance for %s is %v, want a finite value >= 0", t.ID, k, v)
		}
	}
	return nil
}

// checkID accepts IDs that are safe as a file stem: letters, digits, '-', '_' and '.', not starting
// with '.'.
func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("tables: table has an empty id")
	}
	if id[0] == '.' {
		return fmt.Errorf("tables: table id %q starts with '.'", id)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("tables: table id %q has %q; use letters, digits, '-', '_', '.'", id, c)
		}
	}
	return nil
}

// column returns the column with the given key.
func (t *Table) column(key string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Key == key {
			return c, true
		}
	}
	return Column{}, false
}
