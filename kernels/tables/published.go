package tables

import (
	"fmt"
	"strings"
)

// DatasetCOVIDQUEx is the dataset of every published segmentation row.
const DatasetCOVIDQUEx = "COVID-QU-Ex"

// Task names of the segmentation tables.
const (
	TaskLung      = "lung"
	TaskInfection = "infection"
)

// publishedRow is one column of a thesis table (the thesis prints models as columns and metrics as
// rows), with the eight values in SegMetrics order: Dice, Jaccard, Accuracy, Sensitivity,
// Specificity, Balanced Accuracy, Precision, MCC.
type publishedRow struct {
	label, task string
	values      [8]float64
}

type publishedTable struct {
	caption string
	rows    []publishedRow
}

// published holds the thesis's Tables 1-5 (chapters 3.4, 3.5, 4.1, 5.2), typed in once, exactly as
// printed, including the cells that Audit shows to be inconsistent. Do not correct them here.
var published = map[string]publishedTable{
	"table1": {
		caption: "Metrics measured on the COVID-QU lung segmentation validation dataset at the final epoch using DDPMs.",
		rows: []publishedRow{
			{"DDPM addition", TaskLung, [8]float64{0.9529, 0.9101, 0.9792, 0.9455, 0.9888, 0.9672, 0.9604, 0.9396}},
			{"DDPM concatenation", TaskLung, [8]float64{0.9541, 0.9123, 0.9793, 0.9502, 0.9878, 0.9793, 0.9581, 0.9408}},
		},
	},
	"table2": {
		caption: "Metrics measured on the COVID-QU infection segmentation validation dataset at the final epoch using DDPMs.",
		rows: []publishedRow{
			{"DDPM addition", TaskInfection, [8]float64{0.6755, 0.5105, 0.9183, 0.6687, 0.9550, 0.8119, 0.6838, 0.6293}},
			{"DDPM concatenation", TaskInfection, [8]float64{0.4708, 0.3087, 0.8967, 0.3646, 0.9736, 0.6691, 0.6674, 0.4431}},
		},
	},
	"table3": {
		// The caption says "infection" although the table has a Lung and an Infection column.
		caption: "Metrics measured on the COVID-QU infection segmentation validation dataset at the final epoch using Brownian Bridge Diffusion Models.",
		rows: []publishedRow{
			{"BBDM", TaskLung, [8]float64{0.8411, 0.7268, 0.9281, 0.8459, 0.9522, 0.8990, 0.8397, 0.7959}},
			{"BBDM", TaskInfection, [8]float64{0.5152, 0.3577, 0.8851, 0.5359, 0.9333, 0.7346, 0.5341, 0.4625}},
		},
	},
	"table4": {
		caption: "Measured metrics on the COVID-QU segmentation validation dataset from the last epoch.",
		rows: []publishedRow{
			{"LDM-f4", TaskLung, [8]float64{0.9533, 0.9115, 0.9792, 0.9511, 0.9873, 0.9424, 0.9558, 0.9400}},
			{"LDM-f8", TaskLung, [8]float64{0.8992, 0.8206, 0.9535, 0.9218, 0.9630, 0.9301, 0.8798, 0.8702}},
			{"LDM-f4", TaskInfection, [8]float64{0.3299, 0.2008, 0.7357, 0.5039, 0.6710, 0.6383, 0.2549, 0.2101}},
			{"LDM-f8", TaskInfection, [8]float64{0.4696, 0.3133, 0.8649, 0.4880, 0.9260, 0.7070, 0.5003, 0.4087}},
		},
	},
	"table5": {
		caption: "Measured metrics on the COVID-QU segmentation validation dataset from the last epoch.",
		rows: []publishedRow{
			{"LBBDM-f4", TaskLung, [8]float64{0.8921, 0.9115, 0.9512, 0.8916, 0.9686, 0.9301, 0.8927, 0.9400}},
			{"LBBDM-f8", TaskLung, [8]float64{0.8565, 0.7494, 0.9352, 0.8568, 0.9580, 0.9074, 0.8565, 0.8147}},
			{"LBBDM-f4", TaskInfection, [8]float64{0.5775, 0.4068, 0.8963, 0.5311, 0.7405, 0.7419, 0.6358, 0.5225}},
			{"LBBDM-f8", TaskInfection, [8]float64{0.5768, 0.4074, 0.9015, 0.5087, 0.9613, 0.7350, 0.6759, 0.5313}},
		},
	},
}

// PublishedIDs lists the ids of the published tables, "table1" to "table5".
func PublishedIDs() []string {
	return []string{"table1", "table2", "table3", "table4", "table5"}
}

func lookupPublished(tableID string) (publishedTable, error) {
	p, ok := published[tableID]
	if !ok {
		return publishedTable{}, fmt.Errorf("tables: no published table %q (have %s)", tableID, strings.Join(PublishedIDs(), ", "))
	}
	return p, nil
}

// Published returns the rows of the thesis table tableID ("table1" ... "table5") as printed, in the
// thesis's column order, each with Source "published", Dataset "COVID-QU-Ex", its Task and the eight
// SegMetrics. The rows are fresh copies; changing them changes nothing here.
func Published(tableID string) ([]Row, error) {
	p, err := lookupPublished(tableID)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(p.rows))
	for i, pr := range p.rows {
		m := make(map[string]float64, len(SegMetrics))
		for j, k := range SegMetrics {
			m[k] = pr.values[j]
		}
		rows[i] = Row{Label: pr.label, Task: pr.task, Source: SourcePublished, Dataset: DatasetCOVIDQUEx, Metrics: m}
	}
	return rows, nil
}

// PublishedCaption returns the thesis's caption of table tableID, verbatim.
func PublishedCaption(tableID string) (string, error) {
	p, err := lookupPublished(tableID)
	if err != nil {
		return "", err
	}
	return p.caption, nil
}

// publishedRemarks are observations on the printed tables that Audit cannot make from the numbers.
var publishedRemarks = map[string][]string{
	"table3": {"The thesis's caption says infection, but the table has a Lung and an Infection column, and section 4.1 cites it for the lung results."},
	"table4": {"Tables 4 and 5 carry the same caption; Table 4 holds the LDMs, Table 5 the LBBDMs (section 5.2)."},
	"table5": {"Tables 4 and 5 carry the same caption; Table 4 holds the LDMs, Table 5 the LBBDMs (section 5.2)."},
}

// PublishedTable returns the thesis table tableID as a Table: id tableID, title "Thesis Table N",
// the thesis's caption, the eight SegColumns and the published rows. Its notes hold the remarks on
// the printed table and the Audit findings on its rows (audited together with the rows of the other
// published tables, so that cells shared between tables show): every VerdictInconsistent and
// VerdictSuspicious finding in full, and the VerdictNotPooled ones summarised as one line.
//
// thesis: table1 table2 table3 table4 table5
func PublishedTable(tableID string) (*Table, error) {
	rows, err := Published(tableID)
	if err != nil {
		return nil, err
	}
	caption, _ := PublishedCaption(tableID)
	mine := map[rowKey]bool{}
	for i := range rows {
		mine[rows[i].key()] = true
	}
	var all []Row
	for _, id := range PublishedIDs() {
		r, _ := Published(id)
		all = append(all, r...)
	}
	notes := append([]string(nil), publishedRemarks[tableID]...)
	var notPooled []string
	seen := map[rowKey]bool{}
	for _, f := range audit(all) {
		concerns := false
		for _, k := range f.rows {
			concerns = concerns || mine[k]
		}
		switch {
		case !concerns:
		case f.verdict != VerdictNotPooled:
			notes = append(notes, "Audit: "+f.text+".")
		case !seen[f.rows[0]]:
			seen[f.rows[0]] = true
			notPooled = append(notPooled, f.rows[0].describe())
		}
	}
	if len(notPooled) > 0 {
		notes = append(notes, "Audit: not consistent with pooled aggregation (one confusion matrix over all pixels), within 4-decimal rounding: "+
			strings.Join(notPooled, ", ")+"; tables.Audit lists the relations that fail. The thesis does not say how it aggregated.")
	} else {
		notes = append(notes, "Audit: every row is consistent with pooled aggregation (one confusion matrix over all pixels) within 4-decimal rounding, apart from any inconsistency listed above.")
	}
	return &Table{
		ID:      tableID,
		Title:   "Thesis Table " + strings.TrimPrefix(tableID, "table"),
		Caption: caption,
		Columns: SegColumns(),
		Rows:    rows,
		Notes:   notes,
	}, nil
}
