package budget_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/store"
)

// clock is a time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// start is a Thursday, ten past nine UTC.
var start = time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC)

// newBudget returns a budget over a private Redis (extra lines go to its
// configuration) and the clock it reads.
func newBudget(t *testing.T, limits budget.Limits, redisConfig ...string) (*budget.Budget, *clock, *store.Store, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t, redisConfig...)
	rdb := srv.Client(t)
	st := store.New(rdb, store.Options{})
	c := &clock{t: start}
	return budget.New(budget.Config{Store: st, Limits: limits, Now: c.now}), c, st, rdb
}

// usage returns the used amounts of the budgets by name.
func usage(t *testing.T, b *budget.Budget) map[string]int64 {
	t.Helper()
	us, err := b.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, u := range us {
		m[u.Name] = u.Used
	}
	return m
}

// TestBudgetArithmetic takes files and reports through the hours of two
// days: each window holds up to its limit exactly, the day's binds when
// the hour's has room, a settled hold gives back what it did not use, and
// a new hour or UTC day starts afresh.
func TestBudgetArithmetic(t *testing.T) {
	ctx := context.Background()
	b, c, _, _ := newBudget(t, budget.Limits{EvidenceBytesPerHour: 100, EvidenceBytesPerDay: 250, ReportsPerHour: 2, ReportsPerDay: 3})
	var last *budget.Hold
	lastKind := "evidence"
	for i, s := range []struct {
		at        time.Duration // since start
		op        string        // file, report, or settle (the last hold, to n)
		n         int64
		want      error
		hour, day int64 // the budget's use after the step
	}{
		{0, "file", 60, nil, 60, 60},
		{0, "file", 40, nil, 100, 100}, // up to the limit exactly
		{0, "file", 1, budget.ErrFilesPaused, 100, 100},
		{49 * time.Minute, "file", 1, budget.ErrFilesPaused, 100, 100}, // 09:59, the same hour
		{50 * time.Minute, "file", 100, nil, 100, 200},                 // 10:00, a new hour
		{2 * time.Hour, "file", 60, budget.ErrFilesPaused, 0, 200},     // the day's would pass 250
		{2 * time.Hour, "file", 50, nil, 50, 250},
		{2 * time.Hour, "settle", 20, nil, 20, 220}, // the file was smaller than announced
		{2 * time.Hour, "file", 30, nil, 50, 250},
		{2 * time.Hour, "settle", 0, nil, 20, 220},                  // not stored after all
		{2 * time.Hour, "file", 0, nil, 20, 220},                    // an empty file costs nothing
		{14*time.Hour + 50*time.Minute, "file", 100, nil, 100, 100}, // 00:00 UTC the next day
		{0, "report", 1, nil, 1, 1},
		{0, "report", 1, nil, 2, 2},
		{0, "report", 1, budget.ErrReportsPaused, 2, 2},
		{50 * time.Minute, "report", 1, nil, 1, 3},
		{50 * time.Minute, "report", 1, budget.ErrReportsPaused, 1, 3}, // the day's
		{50 * time.Minute, "settle", 0, nil, 0, 2},                     // a report not queued after all
		{50 * time.Minute, "report", 1, nil, 1, 3},
		{14*time.Hour + 50*time.Minute, "report", 1, nil, 1, 1},
	} {
		t.Run(fmt.Sprintf("%d %s %d", i, s.op, s.n), func(t *testing.T) {
			c.t = start.Add(s.at)
			var err error
			var h *budget.Hold
			switch s.op {
			case "file":
				h, err = b.TakeFile(ctx, s.n)
				lastKind = "evidence"
			case "report":
				h, err = b.TakeReport(ctx)
				lastKind = "reports"
			case "settle":
				err = last.Settle(ctx, s.n)
			}
			if h != nil {
				last = h
			}
			kind := lastKind
			if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
				t.Fatalf("%s %d at %s: %v, want %v", s.op, s.n, c.t.Format("Jan 2 15:04"), err, s.want)
			}
			u := usage(t, b)
			if u[kind+"-hour"] != s.hour || u[kind+"-day"] != s.day {
				t.Fatalf("after %s %d at %s: %s hour %d, day %d; want %d, %d", s.op, s.n, c.t.Format("Jan 2 15:04"),
					kind, u[kind+"-hour"], u[kind+"-day"], s.hour, s.day)
			}
		})
	}
	if files, reports := b.Refused(); files != 3 || reports != 2 {
		t.Fatalf("refused %d files and %d reports, want 3 and 2", files, reports)
	}
}

// TestSettleCorrectsTheBucketsItWasTakenFrom: a file taken at 09:59 and
// found smaller at 10:01 gives back to the 09:00 hour, not to the 10:00
// one; a bucket that has expired is not brought back.
func TestSettleCorrectsTheBucketsItWasTakenFrom(t *testing.T) {
	ctx := context.Background()
	b, c, _, rdb := newBudget(t, budget.Limits{EvidenceBytesPerHour: 100, EvidenceBytesPerDay: 1000})
	c.t = time.Date(2026, 11, 26, 9, 59, 0, 0, time.UTC)
	h, err := b.TakeFile(ctx, 80)
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(2 * time.Minute)
	if _, err := b.TakeFile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := h.Settle(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, b); u["evidence-hour"] != 10 || u["evidence-day"] != 40 {
		t.Fatalf("10:01: hour %d, day %d; want 10, 40", u["evidence-hour"], u["evidence-day"])
	}
	c.t = c.t.Add(-2 * time.Minute)
	if u := usage(t, b); u["evidence-hour"] != 30 {
		t.Fatalf("09:59: hour %d, want 30", u["evidence-hour"])
	}
	// Every counter lives no longer than its window.
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ttl := rdb.PTTL(ctx, k).Val()
		window := time.Hour
		if strings.Contains(k, ":86400:") {
			window = 24 * time.Hour
		}
		if ttl <= 0 || ttl > window {
			t.Errorf("%s lives %v, want at most %v", k, ttl, window)
		}
	}
	// Gone with its window, a bucket is not brought back by a late settle.
	h, err = b.TakeFile(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	rdb.FlushDB(ctx) // as if every window had expired
	if err := h.Settle(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("a settle after expiry wrote %d keys", n)
	}
}

// TestDueAlertsOncePerCrossing: staff are told when a budget passes 80 %
// and when it is spent, once per window, even with two bot processes
// asking; a jump past both levels at once is one alert, of the higher.
func TestDueAlertsOncePerCrossing(t *testing.T) {
	ctx := context.Background()
	limits := budget.Limits{EvidenceBytesPerHour: 100, EvidenceBytesPerDay: 1000, ReportsPerHour: 2, ReportsPerDay: 100}
	b, c, st, _ := newBudget(t, limits)
	other := budget.New(budget.Config{Store: st, Limits: limits, Now: c.now}) // a second bot process
	due := func(b *budget.Budget) string {
		t.Helper()
		alerts, err := b.DueAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range alerts {
			out = append(out, fmt.Sprintf("%s@%d", a.Name, a.Level))
		}
		return strings.Join(out, " ")
	}
	take := func(n int64) {
		t.Helper()
		if _, err := b.TakeFile(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		do   func()
		want string
	}{
		{func() { take(79) }, ""},
		{func() { take(1) }, "evidence-hour@80"},
		{func() {}, ""}, // told already
		{func() { take(10) }, ""},
		{func() {
			if _, err := b.TakeFile(ctx, 11); !errors.Is(err, budget.ErrFilesPaused) {
				t.Fatalf("over the budget: %v", err)
			}
		}, "evidence-hour@100"}, // not spent, but a file refused
		{func() { take(10) }, ""},
		{func() { c.t = c.t.Add(time.Hour); take(85) }, "evidence-hour@80"}, // a new window, a new crossing
		{func() {
			c.t = c.t.Add(time.Hour)
			if _, err := b.TakeFile(ctx, 101); !errors.Is(err, budget.ErrFilesPaused) {
				t.Fatalf("a file larger than the budget: %v", err)
			}
		}, "evidence-hour@100"}, // nothing taken, but files are refused
		{func() { take(90) }, ""}, // 80 % was marked with the refusal
		{func() { b.TakeReport(ctx); b.TakeReport(ctx) }, "reports-hour@100"},
	} {
		s.do()
		got, again := due(b), due(other)
		if got+again != s.want || (got != "" && again != "") {
			t.Fatalf("alerts %q and %q from the other process, want %q once", got, again, s.want)
		}
	}
}

// fill writes values of 8 KiB until Redis memory reaches pct percent of its
// maxmemory, and returns the keys written.
func fill(t *testing.T, rdb *redis.Client, st *store.Store, pct float64, from int) int {
	t.Helper()
	ctx := context.Background()
	value := strings.Repeat("x", 8<<10)
	for i := from; ; i++ {
		m, err := st.Memory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Percent() >= pct {
			return i
		}
		if err := rdb.Set(ctx, fmt.Sprintf("filler:%d", i), value, 0).Err(); err != nil {
			t.Fatalf("filling Redis to %.0f%%, at %.1f%%: %v", pct, m.Percent(), err)
		}
	}
}

// TestMemoryRefusesFilesThenReports: with Redis near its maxmemory, files
// are refused first (90 %), reports only near the end (98 %); staff are
// told at each level once, and again after memory fell back and rose.
func TestMemoryRefusesFilesThenReports(t *testing.T) {
	ctx := context.Background()
	b, _, st, rdb := newBudget(t, budget.Limits{}, "maxmemory 6mb", "maxmemory-policy noeviction")
	level := func() string {
		t.Helper()
		alerts, err := b.DueAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range alerts {
			if a.Name != budget.Memory || a.Limit != 6<<20 {
				t.Fatalf("alert %+v", a)
			}
			out = append(out, fmt.Sprint(a.Level))
		}
		return strings.Join(out, " ")
	}
	if got := level(); got != "" {
		t.Fatalf("an empty Redis alerts: %s", got)
	}
	n := fill(t, rdb, st, 81, 0)
	if got := level(); got != "80" {
		t.Fatalf("at 81%%: alert %q, want 80", got)
	}
	if _, err := b.TakeFile(ctx, 1000); err != nil {
		t.Fatalf("a file at 81%%: %v", err)
	}
	if _, err := b.TakeFile(ctx, 1<<20); !errors.Is(err, budget.ErrFilesPaused) {
		t.Fatalf("a file that takes memory past 90%%: %v", err)
	}
	n = fill(t, rdb, st, 91, n)
	if _, err := b.TakeFile(ctx, 1); !errors.Is(err, budget.ErrFilesPaused) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("a file at 91%%: %v", err)
	}
	if _, err := b.TakeReport(ctx); err != nil {
		t.Fatalf("a report at 91%%: %v", err)
	}
	if got := level(); got != "90" {
		t.Fatalf("at 91%%: alert %q, want 90", got)
	}
	fill(t, rdb, st, 98.5, n)
	if _, err := b.TakeReport(ctx); !errors.Is(err, budget.ErrReportsPaused) {
		t.Fatalf("a report at 98.5%%: %v", err)
	}
	if got := level(); got != "98" {
		t.Fatalf("at 98.5%%: alert %q, want 98", got)
	}
	if got := level(); got != "" {
		t.Fatalf("asked again: alert %q, want none", got)
	}
	// Purged: memory falls back, and its next crossing is news again.
	keys, _ := rdb.Keys(ctx, "filler:*").Result()
	rdb.Del(ctx, keys...)
	if got := level(); got != "" {
		t.Fatalf("after the purge: alert %q", got)
	}
	if _, err := b.TakeReport(ctx); err != nil {
		t.Fatalf("a report after the purge: %v", err)
	}
	fill(t, rdb, st, 81, 0)
	if got := level(); got != "80" {
		t.Fatalf("at 81%% again: alert %q, want 80", got)
	}
}

// TestNoMaxmemoryNoMemoryGuard: without maxmemory the memory guard is off
// and says so by a limit of 0; the budgets still hold.
func TestNoMaxmemoryNoMemoryGuard(t *testing.T) {
	ctx := context.Background()
	b, _, _, _ := newBudget(t, budget.Limits{EvidenceBytesPerHour: 10, EvidenceBytesPerDay: 10})
	us, err := b.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := us[len(us)-1]; m.Name != budget.Memory || m.Limit != 0 || m.Used <= 0 {
		t.Fatalf("memory %+v", m)
	}
	if _, err := b.TakeFile(ctx, 11); !errors.Is(err, budget.ErrFilesPaused) {
		t.Fatalf("a file over the budget: %v", err)
	}
	var none *budget.Budget
	if h, err := none.TakeFile(ctx, 1<<40); h != nil || err != nil {
		t.Fatalf("a nil budget: %v %v", h, err)
	}
	if err := (*budget.Hold)(nil).Settle(ctx, 5); err != nil {
		t.Fatal(err)
	}
}
