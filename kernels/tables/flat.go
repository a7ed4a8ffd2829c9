package tables

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// A row's JSON also carries the metrics fd and kid at the top level
// (rows[].fd, rows[].kid of the chapter-2 quality table, as programs read
// them), in addition to rows[].metrics. Reading checks that both agree.

type plainRow Row

// MarshalJSON writes the row with FlatMetrics copied to the top level.
func (r Row) MarshalJSON() ([]byte, error) {
	type out struct {
		plainRow
		FD  *float64 `json:"fd,omitempty"`
		KID *float64 `json:"kid,omitempty"`
	}
	o := out{plainRow: plainRow(r)}
	if v, ok := r.Metrics["fd"]; ok {
		o.FD = &v
	}
	if v, ok := r.Metrics["kid"]; ok {
		o.KID = &v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// UnmarshalJSON reads a row, checking top-level flat metrics against rows[].metrics.
func (r *Row) UnmarshalJSON(b []byte) error {
	var in struct {
		plainRow
		FD  *float64 `json:"fd,omitempty"`
		KID *float64 `json:"kid,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return err
	}
	*r = Row(in.plainRow)
	for k, p := range map[string]*float64{"fd": in.FD, "kid": in.KID} {
		if p == nil {
			continue
		}
		if v, ok := r.Metrics[k]; !ok || v != *p {
			return fmt.Errorf("row %q: top-level %s %v disagrees with metrics.%s", r.Label, k, *p, k)
		}
	}
	return nil
}
