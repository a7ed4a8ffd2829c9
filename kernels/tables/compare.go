package tables

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// MismatchKind says what differs between a committed and a regenerated table.
type MismatchKind int

const (
	// ValueDiffers: a metric differs (exactly on the same backend, beyond Tolerance otherwise).
	ValueDiffers MismatchKind = iota
	// MissingValue: the committed row has the metric, the regenerated row does not.
	MissingValue
	// ExtraValue: the regenerated row has a metric the committed row does not.
	ExtraValue
	// MissingRow: a committed row is absent from the regenerated table.
	MissingRow
	// ExtraRow: the regenerated table has a row the committed one does not.
	ExtraRow
	// MissingColumn: a committed column is absent from the regenerated table.
	MissingColumn
	// ExtraColumn: the regenerated table has a column the committed one does not.
	ExtraColumn
	// FieldDiffers: a non-metric field differs: table id, title, caption, notes, tolerance, a
	// column's header or digits, or a row's dataset, artifact, eval, n, note or backend.
	FieldDiffers
)

// Mismatch is one difference found by Compare.
type Mismatch struct {
	Kind  MismatchKind
	Table string // the committed table's id
	// Row is the row's label, task and source; Label is empty for table- and column-level mismatches.
	Label, Task, Source string
	// Column is the metric key (ValueDiffers, MissingValue, ExtraValue, MissingColumn, ExtraColumn)
	// or the field name (FieldDiffers: "id", "title", "caption", "notes", "tolerance",
	// "<key>.header", "<key>.digits", "dataset", "artifact", "eval", "n", "note", "backend").
	Column string
	// Committed and Regenerated hold the metric values (ValueDiffers, and the present side of
	// MissingValue / ExtraValue).
	Committed, Regenerated float64
	// CommittedText and RegeneratedText hold the two sides of a FieldDiffers.
	CommittedText, RegeneratedText string
	Tolerance                      float64 // the tolerance used for ValueDiffers
	SameBackend                    bool
	// Digits is the column's printing precision; Error prints differing values with at least this
	// many decimals and with more when needed to show the difference.
	Digits int
}

func (m Mismatch) where() string {
	s := m.Table
	if m.Label != "" {
		s += " row " + rowKey{m.Label, m.Task, m.Source}.describe()
	}
	return s
}

// Error describes the mismatch, e.g.
// `table1 row "DDPM addition" (lung) column dice: committed 0.9529, regenerated 0.9530, tolerance 0 (same backend)`.
func (m Mismatch) Error() string {
	switch m.Kind {
	case ValueDiffers:
		c, r := formatPair(m.Committed, m.Regenerated, m.Digits)
		backend := "same backend"
		if !m.SameBackend {
			backend = "different backends"
		}
		return fmt.Sprintf("%s column %s: committed %s, regenerated %s, tolerance %s (%s)",
			m.where(), m.Column, c, r, strconv.FormatFloat(m.Tolerance, 'g', -1, 64), backend)
	case MissingValue:
		return fmt.Sprintf("%s column %s: committed %s, missing in regenerated", m.where(), m.Column, FormatValue(m.Committed, -1))
	case ExtraValue:
		return fmt.Sprintf("%s column %s: missing in committed, regenerated %s", m.where(), m.Column, FormatValue(m.Regenerated, -1))
	case MissingRow:
		return fmt.Sprintf("%s: in committed, missing in regenerated", m.where())
	case ExtraRow:
		return fmt.Sprintf("%s: missing in committed, present in regenerated", m.where())
	case MissingColumn:
		return fmt.Sprintf("%s column %s: in committed, missing in regenerated", m.where(), m.Column)
	case ExtraColumn:
		return fmt.Sprintf("%s column %s: missing in committed, present in regenerated", m.where(), m.Column)
	default:
		return fmt.Sprintf("%s %s: committed %q, regenerated %q", m.where(), m.Column, m.CommittedText, m.RegeneratedText)
	}
}

// formatPair prints two different values with at least digits decimals, and more when needed to
// show that they differ.
func formatPair(a, b float64, digits int) (string, string) {
	if digits < 0 {
		digits = 4
	}
	for d := digits; d <= 17; d++ {
		sa, sb := FormatValue(a, d), FormatValue(b, d)
		if sa != sb {
			return sa, sb
		}
	}
	return FormatValue(a, -1), FormatValue(b, -1)
}

// Compare checks a regenerated table against the committed one and returns every difference, in
// the committed table's order. Rows are matched by (label, task, source), columns by key. On the
// same backend (sameBackend true) every metric must be equal exactly; on different backends a
// metric may differ by up to committed.Tolerance[key] (0 when absent). Two NaNs, or two infinities
// of the same sign, count as equal. The text fields (id, title, caption, column headers and digits,
// tolerance, row dataset, artifact, eval, n) must be equal; table and row notes and the row's backend
// are compared only on the same backend, since they may legitimately name the backend.
func Compare(committed, regenerated *Table, sameBackend bool) []Mismatch {
	var out []Mismatch
	base := Mismatch{Table: committed.ID, SameBackend: sameBackend}
	field := func(r *Row, name, c, g string) {
		if c == g {
			return
		}
		m := base
		m.Kind, m.Column, m.CommittedText, m.RegeneratedText = FieldDiffers, name, c, g
		if r != nil {
			m.Label, m.Task, m.Source = r.Label, r.Task, r.Source
		}
		out = append(out, m)
	}
	field(nil, "id", committed.ID, regenerated.ID)
	field(nil, "title", committed.Title, regenerated.Title)
	field(nil, "caption", committed.Caption, regenerated.Caption)
	if sameBackend && !equalStrings(committed.Notes, regenerated.Notes) {
		field(nil, "notes", fmt.Sprint(committed.Notes), fmt.Sprint(regenerated.Notes))
	}
	if !equalTolerance(committed.Tolerance, regenerated.Tolerance) {
		field(nil, "tolerance", fmt.Sprint(committed.Tolerance), fmt.Sprint(regenerated.Tolerance))
	}

	digits := map[string]int{}
	for _, c := range committed.Columns {
		digits[c.Key] = c.Digits
		g, ok := regenerated.column(c.Key)
		if !ok {
			m := base
			m.Kind, m.Column = MissingColumn, c.Key
			out = append(out, m)
			continue
		}
		field(nil, c.Key+".header", c.Header, g.Header)
		field(nil, c.Key+".digits", strconv.Itoa(c.Digits), strconv.Itoa(g.Digits))
	}
	for _, g := range regenerated.Columns {
		if _, ok := committed.column(g.Key); !ok {
			digits[g.Key] = g.Digits
			m := base
			m.Kind, m.Column = ExtraColumn, g.Key
			out = append(out, m)
		}
	}
	digitsOf := func(key string) int {
		if d, ok := digits[key]; ok {
			return d
		}
		return -1
	}

	regen := make(map[rowKey]*Row, len(regenerated.Rows))
	for i := range regenerated.Rows {
		regen[regenerated.Rows[i].key()] = &regenerated.Rows[i]
	}
	comm := make(map[rowKey]bool, len(committed.Rows))
	for i := range committed.Rows {
		c := &committed.Rows[i]
		comm[c.key()] = true
		rowBase := base
		rowBase.Label, rowBase.Task, rowBase.Source = c.Label, c.Task, c.Source
		g, ok := regen[c.key()]
		if !ok {
			m := rowBase
			m.Kind = MissingRow
			out = append(out, m)
			continue
		}
		field(c, "dataset", c.Dataset, g.Dataset)
		field(c, "artifact", c.Artifact, g.Artifact)
		field(c, "eval", c.Eval, g.Eval)
		field(c, "n", strconv.Itoa(c.N), strconv.Itoa(g.N))
		if sameBackend {
			field(c, "backend", c.Backend, g.Backend)
			field(c, "note", c.Note, g.Note)
		}
		for _, k := range metricOrder(committed, c, g) {
			cv, cok := c.Metrics[k]
			gv, gok := g.Metrics[k]
			m := rowBase
			m.Column, m.Digits = k, digitsOf(k)
			switch {
			case cok && !gok:
				m.Kind, m.Committed = MissingValue, cv
				out = append(out, m)
			case !cok && gok:
				m.Kind, m.Regenerated = ExtraValue, gv
				out = append(out, m)
			default:
				tol := 0.0
				if !sameBackend {
					tol = committed.Tolerance[k]
				}
				if !within(cv, gv, tol) {
					m.Kind, m.Committed, m.Regenerated, m.Tolerance = ValueDiffers, cv, gv, tol
					out = append(out, m)
				}
			}
		}
	}
	for i := range regenerated.Rows {
		g := &regenerated.Rows[i]
		if !comm[g.key()] {
			m := base
			m.Kind, m.Label, m.Task, m.Source = ExtraRow, g.Label, g.Task, g.Source
			out = append(out, m)
		}
	}
	return out
}

// metricOrder lists the metric keys of two matched rows: the committed columns' order first, then
// any other key in sorted order.
func metricOrder(t *Table, a, b *Row) []string {
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, c := range t.Columns {
		_, inA := a.Metrics[c.Key]
		_, inB := b.Metrics[c.Key]
		if inA || inB {
			add(c.Key)
		}
	}
	for _, k := range sortedKeys(a.Metrics) {
		add(k)
	}
	for _, k := range sortedKeys(b.Metrics) {
		add(k)
	}
	return keys
}

func within(a, b, tol float64) bool {
	if a == b || math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	return math.Abs(a-b) <= tol // false for NaN against a number and for different infinities
}

func equalStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func equalTolerance(a, b map[string]float64) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
