// Package ch4 makes chapter 4's outputs from evaluation records: Table 3
// (BBDM, a lung and an infection row, as the thesis prints it) with the
// published rows beside ours, and Figure 15 (generated mask beside the ground
// truth, lung then infection). It uses chapter 3's builders; every number is
// re-derived from the stored masks.
package ch4

import (
	"fmt"

	"github.com/dmseg/dmseg/kernels/figures/ch3"
	_ "github.com/dmseg/dmseg/kernels/runners/bbdmseg" // registers the bbdm-seg predictor and runner
	"github.com/dmseg/dmseg/kernels/tables"
)

// Models are our chapter-4 models at the CPU size: the bridge for lung, then infection.
func Models() []ch3.Model {
	return []ch3.Model{
		{Label: "BBDM", Experiment: "ch4-bbdm-lung-cpu", Task: tables.TaskLung},
		{Label: "BBDM", Experiment: "ch4-bbdm-infection-cpu", Task: tables.TaskInfection},
	}
}

// Table3 is Table 3 with our rows.
//
// thesis: table3
func Table3(root string, verify bool) (*tables.Table, []*ch3.Result, []string, error) {
	return ch3.SegTable(root, "table3", "Thesis Table 3 and dmseg's chapter-4 models (BBDM, lung and infection)", Models(),
		"one bridge sample per image from the CLAHE X-ray (200 skip steps, eta 1)", verify)
}

// Figure15 is Figure 15: rows lung then infection, generated mask (left) and
// ground truth (right) of validation image index.
//
// thesis: fig15
func Figure15(results []*ch3.Result, index int) ([]byte, error) {
	var rows []*ch3.Result
	var labels []string
	for _, task := range []string{tables.TaskLung, tables.TaskInfection} {
		for _, r := range results {
			if r.Model.Task == task {
				rows, labels = append(rows, r), append(labels, task)
			}
		}
	}
	if len(rows) != 2 {
		return nil, fmt.Errorf("Figure 15 needs the lung and the infection bridge, have %d of them", len(rows))
	}
	return ch3.PairFigure(fmt.Sprintf("Figure 15: BBDM, generated (left) vs ground truth (right), phantom val #%d", index), rows, labels, index)
}
