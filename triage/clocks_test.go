package triage_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/triage"
)

// seedClocks queues five cases around now: their clocks, by the default
// targets, are in the comments.
func seedClocks(t *testing.T, env *testenv.Env, ana *triage.Service, now time.Time) {
	t.Helper()
	env.Seed(t, report("AAAA-0001", now.Add(-time.Hour), false, "UA"))     // other: claim in 47h
	env.Seed(t, report("AAAA-0002", now.Add(-30*time.Minute), true, "UA")) // urgent: claim in 30m
	env.Seed(t, report("AAAA-0003", now.Add(-95*time.Minute), true, "UA")) // urgent: claim overdue 35m
	env.Seed(t, report("AAAA-0004", now.Add(-49*time.Hour), false, "UA"))  // other: claim overdue 1h
	env.Seed(t, report("AAAA-0005", now.Add(-2*time.Hour), true, "UA"))    // closed: no clock
	if err := ana.SetStatus(context.Background(), "AAAA-0005", "closed", ""); err != nil {
		t.Fatal(err)
	}
}

// TestListOrdersByClock: the list sorts by time left (most overdue first)
// or puts overdue cases first, across pages, and every case carries its
// clock; a closed case has none.
func TestListOrdersByClock(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	ana := staff(t, env, "ana", &clock{t: now})
	seedClocks(t, env, ana, now)

	refs := func(f triage.Filter, offset, limit int) []string {
		t.Helper()
		cases, _, err := ana.List(ctx, f, offset, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cases {
			out = append(out, c.Ref)
		}
		return out
	}
	for _, c := range []struct {
		name          string
		f             triage.Filter
		offset, limit int
		want          []string
	}{
		{"queue order", triage.Filter{}, 0, 10, []string{"AAAA-0002", "AAAA-0003", "AAAA-0001", "AAAA-0004"}},
		{"due", triage.Filter{Order: triage.OrderDue}, 0, 10, []string{"AAAA-0004", "AAAA-0003", "AAAA-0002", "AAAA-0001"}},
		{"due, second page", triage.Filter{Order: triage.OrderDue}, 2, 2, []string{"AAAA-0002", "AAAA-0001"}},
		{"due, with closed last", triage.Filter{Status: "all", Order: triage.OrderDue}, 0, 10,
			[]string{"AAAA-0004", "AAAA-0003", "AAAA-0002", "AAAA-0001", "AAAA-0005"}},
		{"due, urgent only", triage.Filter{Urgent: true, Order: triage.OrderDue}, 0, 10, []string{"AAAA-0003", "AAAA-0002"}},
		{"overdue first, then queue order", triage.Filter{Order: triage.OrderOverdueFirst}, 0, 10,
			[]string{"AAAA-0003", "AAAA-0004", "AAAA-0002", "AAAA-0001"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := refs(c.f, c.offset, c.limit); !slices.Equal(got, c.want) {
				t.Fatalf("order %v, want %v", got, c.want)
			}
		})
	}
	if _, _, err := ana.List(ctx, triage.Filter{Order: "soon"}, 0, 10); err == nil {
		t.Fatal("an unknown order was taken")
	}

	cases, _, err := ana.List(ctx, triage.Filter{Status: "all"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"AAAA-0001": "1d 23h left", "AAAA-0002": "30m left", "AAAA-0003": "overdue 35m",
		"AAAA-0004": "overdue 1h 0m", "AAAA-0005": ""}
	for _, c := range cases {
		if got := response.Describe(c.Clock); got != want[c.Ref] || (c.Clock.Running && c.Clock.Next != "claim") {
			t.Errorf("%s: clock %q (%+v), want %q", c.Ref, got, c.Clock, want[c.Ref])
		}
	}
}
