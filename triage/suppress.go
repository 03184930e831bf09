package triage

import (
	"strconv"
	"time"

	"github.com/vigil-hrd/vigil/internal/chart"
	"github.com/vigil-hrd/vigil/internal/disclosure"
)

// Cell is a count as it may be shown: its value, or, when it is
// suppressed, no value at all (JSON: "count": null) and a Display of "<k".
// Every output (table, CSV, JSON, chart, console) shows Display, so all
// agree on which counts are hidden.
type Cell struct {
	Count      *int   `json:"count"`      // nil when suppressed
	Suppressed bool   `json:"suppressed"` //
	Display    string `json:"display"`    // "12", or "<5" when suppressed
}

func shownCell(n int) Cell { return Cell{Count: &n, Display: strconv.Itoa(n)} }

func hiddenCell(k int) Cell { return Cell{Suppressed: true, Display: disclosure.Hidden(k)} }

// TableRow is one line of a Table.
type TableRow struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Cell
}

// Table is a Stats as it may leave the mission: counts below MinCount, and
// the cells that would let one be worked out from the total, are
// suppressed (the rule is internal/disclosure's). A suppressed count is not
// in the Table at all, so an output made from a Table cannot leak it.
type Table struct {
	By    string    `json:"by"`
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// MinCount is the threshold k; 0 for a Table of true counts
	// (Unsuppressed).
	MinCount   int        `json:"min_count"`
	Cases      Cell       `json:"cases"`      // cases counted
	Unreadable Cell       `json:"unreadable"` // cases this identity could not open, not counted
	Rows       []TableRow `json:"rows"`
}

// Suppress returns the counts as they may be shown with threshold k (at
// least 2, or disclosure.ErrMinCount). Rows keep their order. The
// unreadable count is suppressed on its own: it is not part of the total.
func (st Stats) Suppress(k int) (Table, error) {
	if err := disclosure.CheckMinCount(k); err != nil {
		return Table{}, err
	}
	counts := make([]int, len(st.Rows))
	for i, r := range st.Rows {
		counts[i] = r.Count
	}
	hidden, totalHidden := disclosure.Suppress(counts, st.Cases, k)
	t := st.table(hidden, k)
	if totalHidden {
		t.Cases = hiddenCell(k)
	}
	if _, unreadableHidden := disclosure.Suppress(nil, st.Unreadable, k); unreadableHidden {
		t.Unreadable = hiddenCell(k)
	}
	return t, nil
}

// Unsuppressed returns the true counts in Table form, for the staff
// member's own eyes (vigil triage stats --unsuppressed): never for
// sharing.
func (st Stats) Unsuppressed() Table {
	return st.table(nil, 0)
}

// table is st with the rows hidden[i] suppressed under threshold k.
func (st Stats) table(hidden []bool, k int) Table {
	t := Table{By: st.By, Since: st.Since, Until: st.Until, MinCount: k, Cases: shownCell(st.Cases),
		Unreadable: shownCell(st.Unreadable), Rows: make([]TableRow, len(st.Rows))}
	for i, r := range st.Rows {
		t.Rows[i] = TableRow{Key: r.Key, Label: r.Label, Cell: shownCell(r.Count)}
		if hidden != nil && hidden[i] {
			t.Rows[i].Cell = hiddenCell(k)
		}
	}
	return t
}

// Chart is the table as a bar chart: a suppressed row is a bar that
// withholds its count (chart.Bar.Hidden).
func (t Table) Chart(title, subtitle string) chart.Chart {
	c := chart.Chart{Title: title, Subtitle: subtitle}
	for _, r := range t.Rows {
		b := chart.Bar{Label: r.Label}
		if r.Suppressed {
			b.Hidden = r.Display
		} else {
			b.Count = *r.Count
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}
