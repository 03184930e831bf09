package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/response"
)

// monthJSON is one month of `vigil triage stats --response --json`: times
// in seconds; null where the month or the measure has too few cases to
// show (suppressed), or none.
type monthJSON struct {
	Month       string   `json:"month"`
	Suppressed  bool     `json:"suppressed"`
	Cases       *int     `json:"cases"`
	Claimed     *int     `json:"claimed"`
	ClaimMedian *float64 `json:"claim_median_seconds"`
	ClaimP90    *float64 `json:"claim_p90_seconds"`
	Replied     *int     `json:"replied"`
	ReplyMedian *float64 `json:"reply_median_seconds"`
	ReplyP90    *float64 `json:"reply_p90_seconds"`
}

// responseStats prints `vigil triage stats --response`: per month of
// reception, the cases and how fast they were claimed and first answered.
// A month with fewer than k cases shows "<k" instead of its numbers.
func (t *triageCLI) responseStats(ctx context.Context, since, until time.Time, k int) error {
	st, err := t.svc.ResponseTimes(ctx, since, until, k)
	if err != nil {
		return err
	}
	below := "<" + strconv.Itoa(st.K)
	// cells are one month's numbers as text: counts, then times written
	// by format, "<k" where suppressed and "-" where there is nothing.
	cells := func(m response.Month, format func(time.Duration) string) []string {
		if m.Suppressed {
			return []string{below, below, below, below, below, below, below}
		}
		times := func(has bool, n int, median, p90 time.Duration) []string {
			switch {
			case has:
				return []string{format(median), format(p90)}
			case n > 0:
				return []string{below, below}
			}
			return []string{"-", "-"}
		}
		out := []string{strconv.Itoa(m.Cases), strconv.Itoa(m.Claimed)}
		out = append(out, times(m.HasClaim, m.Claimed, m.ClaimMedian, m.ClaimP90)...)
		out = append(out, strconv.Itoa(m.Replied))
		return append(out, times(m.HasReply, m.Replied, m.ReplyMedian, m.ReplyP90)...)
	}
	switch {
	case t.f.json:
		rows := make([]monthJSON, 0, len(st.Months))
		for _, m := range st.Months {
			r := monthJSON{Month: m.Month, Suppressed: m.Suppressed}
			if !m.Suppressed {
				r.Cases, r.Claimed, r.Replied = &m.Cases, &m.Claimed, &m.Replied
				if m.HasClaim {
					r.ClaimMedian, r.ClaimP90 = seconds(m.ClaimMedian), seconds(m.ClaimP90)
				}
				if m.HasReply {
					r.ReplyMedian, r.ReplyP90 = seconds(m.ReplyMedian), seconds(m.ReplyP90)
				}
			}
			rows = append(rows, r)
		}
		return writeJSON(t.out, map[string]any{"since": st.Since, "until": st.Until, "k": st.K, "months": rows})
	case t.f.csv:
		cw := textsafe.NewCSV(t.out)
		cw.Write([]string{"month", "cases", "claimed", "claim_median_seconds", "claim_p90_seconds",
			"replied", "reply_median_seconds", "reply_p90_seconds"})
		for _, m := range st.Months {
			cw.Write(append([]string{m.Month}, cells(m, func(d time.Duration) string {
				return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
			})...))
		}
		return cw.Flush()
	}
	from, to := "the first report", "now"
	if !since.IsZero() {
		from = since.Format("2006-01-02")
	}
	if !until.IsZero() {
		to = until.Format("2006-01-02")
	}
	fmt.Fprintf(t.out, "Response times by month of reception, received from %s to %s\n", from, to)
	fmt.Fprintf(t.out, "(median and 90th percentile from reception; months with fewer than %d cases show %s)\n\n", st.K, below)
	if len(st.Months) == 0 {
		fmt.Fprintln(t.out, "No cases in this period.")
		return nil
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MONTH\tCASES\tCLAIMED\tCLAIM MEDIAN\tCLAIM P90\tREPLIED\tREPLY MEDIAN\tREPLY P90")
	for _, m := range st.Months {
		fmt.Fprintln(w, tableRow(append([]string{m.Month}, cells(m, response.Span)...)))
	}
	return w.Flush()
}

func seconds(d time.Duration) *float64 { s := d.Seconds(); return &s }
