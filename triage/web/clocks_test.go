package web_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var clockCell = regexp.MustCompile(`(?s)<tr data-ref="([^"]+)".*?<td class="clock( overdue)?">([^<]*)</td>`)

// TestQueueShowsClocksOverdueFirst: the queue puts the overdue cases
// first, then the queue's order (urgent, then newest), and says in words,
// not only in colour, how long is left or how late each case is, in the
// page's language.
func TestQueueShowsClocksOverdueFirst(t *testing.T) {
	c := start(t)
	now := time.Now()
	// Half a minute inside each minute, so that the printed minutes hold
	// however slowly the test runs (up to 30 s).
	c.env.Seed(t, report("DDDD-0001", now.Add(-time.Hour), false, "UA", "threats"))                   // claim in 1d 22h
	c.env.Seed(t, report("DDDD-0002", now.Add(-30*time.Minute-30*time.Second), true, "UA", "raid"))   // claim in 29m
	c.env.Seed(t, report("DDDD-0003", now.Add(-49*time.Hour-30*time.Second), false, "UA", "threats")) // overdue 1h 0m
	c.env.Seed(t, report("DDDD-0004", now.Add(-95*time.Minute-30*time.Second), true, "UA", "raid"))   // overdue 35m
	c.login()

	page := c.get("/").body
	if got := refs(page); got != "DDDD-0004,DDDD-0003,DDDD-0002,DDDD-0001" {
		t.Fatalf("queue order %q, want the overdue cases first, then urgent, then newest", got)
	}
	cells := func(body string) map[string]string {
		out := map[string]string{}
		for _, m := range clockCell.FindAllStringSubmatch(body, -1) {
			out[m[1]] = strings.TrimSpace(m[2] + " " + m[3])
		}
		return out
	}
	want := map[string]string{
		"DDDD-0004": "overdue claim: overdue 35m",
		"DDDD-0003": "overdue claim: overdue 1h 0m",
		"DDDD-0002": "claim: 29m left",
		"DDDD-0001": "claim: 1d 22h left",
	}
	got := cells(page)
	for ref, w := range want {
		if got[ref] != w {
			t.Errorf("%s: clock cell %q, want %q", ref, got[ref], w)
		}
	}
	// The rows the refresh script swaps in are the same.
	if rows := c.get("/queue/rows").body; refs(rows) != refs(page) || cells(rows)["DDDD-0004"] != want["DDDD-0004"] {
		t.Errorf("rows: %q %v", refs(rows), cells(rows))
	}
	c.lang = "fr"
	if got := cells(c.get("/").body)["DDDD-0004"]; got != "overdue prise en charge : en retard de 35m" {
		t.Errorf("in French: %q", got)
	}
}
