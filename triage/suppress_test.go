package triage_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/internal/disclosure"
	"github.com/vigil-hrd/vigil/triage"
)

// TestStatsSuppress: the counts as they may be shown, for the tables Vigil
// makes. The true value of a suppressed count is nowhere in the Table, so
// no output made from it can show it.
func TestStatsSuppress(t *testing.T) {
	rows := func(counts ...int) []triage.Row {
		out := make([]triage.Row, len(counts))
		for i, n := range counts {
			out[i] = triage.Row{Key: string(rune('A' + i)), Label: "label " + string(rune('A'+i)), Count: n}
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		st         triage.Stats
		k          int
		want       string // the displays of the rows, the total, then the unreadable count
		hiddenVals []int  // true counts that must not appear in the JSON
	}{
		{"country: one small cell and its complement", triage.Stats{By: "country", Cases: 13, Rows: rows(6, 5, 2)}, 5,
			"6 <5 <5 | 13 | 0", nil},
		{"small total hides everything", triage.Stats{By: "month", Cases: 4, Rows: rows(3, 1)}, 5,
			"<5 <5 | <5 | 0", []int{3, 4}},
		{"category: multi-valued, same rule", triage.Stats{By: "category", Cases: 10, Rows: rows(8, 6, 2)}, 5,
			"8 <5 <5 | 10 | 0", nil},
		{"unreadable below k", triage.Stats{By: "country", Cases: 20, Unreadable: 3, Rows: rows(12, 8)}, 5,
			"12 8 | 20 | <5", []int{3}},
		{"unreadable at k", triage.Stats{By: "country", Cases: 20, Unreadable: 5, Rows: rows(12, 8)}, 5,
			"12 8 | 20 | 5", nil},
		{"k of 7", triage.Stats{By: "country", Cases: 13, Rows: rows(6, 5, 2)}, 7,
			"<7 <7 <7 | 13 | 0", nil},
		{"no cases", triage.Stats{By: "country"}, 5, " | 0 | 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := tc.st.Suppress(tc.k)
			if err != nil {
				t.Fatal(err)
			}
			var shown []string
			for i, r := range tab.Rows {
				shown = append(shown, r.Display)
				if r.Key != tc.st.Rows[i].Key || r.Label != tc.st.Rows[i].Label {
					t.Errorf("row %d is %q %q, want the order and labels of the count", i, r.Key, r.Label)
				}
				if r.Suppressed != (r.Count == nil) || r.Suppressed != strings.HasPrefix(r.Display, "<") {
					t.Errorf("row %+v: suppressed, a nil count and a display of <k go together", r)
				}
			}
			if got := strings.Join(shown, " ") + " | " + tab.Cases.Display + " | " + tab.Unreadable.Display; got != tc.want {
				t.Errorf("shown %q, want %q", got, tc.want)
			}
			if tab.MinCount != tc.k {
				t.Errorf("MinCount %d, want %d", tab.MinCount, tc.k)
			}
			js, _ := json.Marshal(tab)
			for _, v := range tc.hiddenVals {
				if strings.Contains(string(js), `"count":`+itoa(v)) || strings.Contains(string(js), `"display":"`+itoa(v)+`"`) {
					t.Errorf("the JSON holds the hidden count %d: %s", v, js)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestStatsJSON: a suppressed row and total are "count": null,
// "suppressed": true, "display": "<5"; a shown one has its count.
func TestStatsJSON(t *testing.T) {
	st := triage.Stats{By: "country", Cases: 4, Unreadable: 2, Rows: []triage.Row{{Key: "UA", Label: "Ukraine (UA)", Count: 4}}}
	tab, err := st.Suppress(5)
	if err != nil {
		t.Fatal(err)
	}
	js := marshal(tab)
	want := `{"by":"country","min_count":5,"cases":{"count":null,"suppressed":true,"display":"<5"},` +
		`"unreadable":{"count":null,"suppressed":true,"display":"<5"},` +
		`"rows":[{"key":"UA","label":"Ukraine (UA)","count":null,"suppressed":true,"display":"<5"}]}`
	if js != want {
		t.Errorf("JSON\n got %s\nwant %s", js, want)
	}
	js = marshal(st.Unsuppressed())
	want = `{"by":"country","min_count":0,"cases":{"count":4,"suppressed":false,"display":"4"},` +
		`"unreadable":{"count":2,"suppressed":false,"display":"2"},` +
		`"rows":[{"key":"UA","label":"Ukraine (UA)","count":4,"suppressed":false,"display":"4"}]}`
	if js != want {
		t.Errorf("unsuppressed JSON\n got %s\nwant %s", js, want)
	}
}

// marshal is JSON without HTML escapes ("<5", not "\u003c5").
func marshal(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func TestStatsSuppressRefusesKBelowTwo(t *testing.T) {
	for _, k := range []int{1, 0, -3} {
		if _, err := (triage.Stats{Cases: 1, Rows: []triage.Row{{Key: "UA", Count: 1}}}).Suppress(k); !errors.Is(err, disclosure.ErrMinCount) {
			t.Errorf("Suppress(%d): %v, want ErrMinCount", k, err)
		}
	}
}

// TestStatsChartWithholdsSuppressedCounts: the chart of a Table draws a
// suppressed row as a bar without its count.
func TestStatsChartWithholdsSuppressedCounts(t *testing.T) {
	tab, _ := triage.Stats{By: "country", Cases: 13, Rows: []triage.Row{{Key: "UA", Label: "UA", Count: 6},
		{Key: "GE", Label: "GE", Count: 5}, {Key: "BY", Label: "BY", Count: 2}}}.Suppress(5)
	c := tab.Chart("t", "s")
	if len(c.Bars) != 3 || c.Bars[0].Count != 6 || c.Bars[0].Hidden != "" ||
		c.Bars[1].Hidden != "<5" || c.Bars[1].Count != 0 || c.Bars[2].Hidden != "<5" || c.Bars[2].Count != 0 {
		t.Errorf("bars %+v", c.Bars)
	}
}
