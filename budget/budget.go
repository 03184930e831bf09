// Package budget bounds what all chats together may add to Redis, so that
// a few accounts cannot fill it until every write fails and genuine reports
// are refused.
//
// Per-chat limits (package intake) stop one chat; they do not stop many.
// A Budget counts, across every chat and every bot process, the bytes of
// evidence files and the number of reports taken in the current hour and
// the current day (fixed windows of UTC time), and reads Redis's memory
// (INFO memory: used_memory against maxmemory).
//
// Its promises:
//   - A file is refused (ErrFilesPaused) before it is fetched when its bytes
//     would take the hour's or the day's evidence budget past its limit, or
//     Redis memory to FilesMemoryPercent of maxmemory. Refused files cost
//     nothing.
//   - Text keeps flowing much longer: a report is refused (ErrReportsPaused)
//     only past the report budget, far larger than anyone sends by hand, or
//     when Redis memory reaches ReportsMemoryPercent.
//   - Staff learn of it before defenders do: DueAlerts reports each budget
//     passing AlertPercent and being spent, and memory passing AlertPercent,
//     FilesMemoryPercent and ReportsMemoryPercent, once per crossing over all
//     bot processes (a budget once per window; memory again only after it
//     fell back, or a day later).
//   - When Redis memory cannot be read (an ACL without INFO) it goes by the
//     budgets alone and says so in the log; when the budgets cannot be
//     counted (Redis failing) TakeFile and TakeReport return the error, and
//     the caller decides (package intake refuses the file, takes the
//     report).
//
// What it does not do: it bounds how fast Redis fills, not what is kept.
// Cases and their files live until staff purge them; at the default
// budgets a full day of evidence is a quarter of the default maxmemory.
// It counts what was taken, not what is still stored: a file of a draft
// that is cancelled stays counted until its window ends.
//
// A nil *Budget allows everything, for front ends without one.
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-hrd/vigil/store"
)

// Limits are the budgets shared by every chat. Zero fields take
// DefaultLimits.
type Limits struct {
	EvidenceBytesPerHour int64
	EvidenceBytesPerDay  int64
	ReportsPerHour       int64
	ReportsPerDay        int64
}

// DefaultLimits suit a mission's Redis of a few GiB (the shipped
// maxmemory is 4gb): a day of evidence at full rate is a quarter of it, and
// an hour lets through 256 MiB, more than a crisis of genuine reports
// brings (about fifty reports with a few photos each). Reports are a few
// KiB each: 2,000 a day is far more than staff can read, and still a few
// dozen MiB.
var DefaultLimits = Limits{
	EvidenceBytesPerHour: 256 << 20,
	EvidenceBytesPerDay:  1 << 30,
	ReportsPerHour:       500,
	ReportsPerDay:        2000,
}

// Percentages of Redis's maxmemory, and of a budget, that matter.
const (
	// AlertPercent of a budget or of memory alerts staff.
	AlertPercent = 80
	// FilesMemoryPercent of memory refuses new files.
	FilesMemoryPercent = 90
	// ReportsMemoryPercent of memory refuses new reports, leaving the rest
	// for the chats' state and the inbox.
	ReportsMemoryPercent = 98
	// spentPercent is a budget spent, or a take of it refused.
	spentPercent = 100
	// memoryHysteresis is how far below a level memory must fall before
	// its next crossing is alerted again.
	memoryHysteresis = 5
)

// ErrFilesPaused means a file cannot be taken now; text still can.
var ErrFilesPaused = errors.New("budget: files cannot be taken now")

// ErrReportsPaused means a report cannot be taken now.
var ErrReportsPaused = errors.New("budget: reports cannot be taken now")

// Names of the budgets and of memory, in Usage and Alert.
const (
	EvidenceHour = "evidence-hour"
	EvidenceDay  = "evidence-day"
	ReportsHour  = "reports-hour"
	ReportsDay   = "reports-day"
	Memory       = "memory"
)

// Store kinds.
const (
	evidence = "evidence"
	reports  = "reports"
	memory   = "memory"
)

var windows = []time.Duration{time.Hour, 24 * time.Hour}

// Config wires a Budget.
type Config struct {
	Store  *store.Store
	Limits Limits
	Now    func() time.Time // default time.Now
	Log    *slog.Logger
}

// Budget is the budget shared by all chats. It is safe for concurrent use.
type Budget struct {
	store  *store.Store
	limits Limits
	now    func() time.Time
	log    *slog.Logger
	// refused counts, in this process, files and reports refused.
	refusedFiles, refusedReports atomic.Int64
}

// New returns a Budget.
func New(c Config) *Budget {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	def := DefaultLimits
	for _, f := range []struct{ v, def *int64 }{
		{&c.Limits.EvidenceBytesPerHour, &def.EvidenceBytesPerHour},
		{&c.Limits.EvidenceBytesPerDay, &def.EvidenceBytesPerDay},
		{&c.Limits.ReportsPerHour, &def.ReportsPerHour},
		{&c.Limits.ReportsPerDay, &def.ReportsPerDay},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return &Budget{store: c.Store, limits: c.Limits, now: c.Now, log: c.Log}
}

// Limits returns the budgets in force.
func (b *Budget) Limits() Limits { return b.limits }

func (b *Budget) allowances(kind string) []store.Allowance {
	if kind == evidence {
		return []store.Allowance{{Window: time.Hour, Limit: b.limits.EvidenceBytesPerHour},
			{Window: 24 * time.Hour, Limit: b.limits.EvidenceBytesPerDay}}
	}
	return []store.Allowance{{Window: time.Hour, Limit: b.limits.ReportsPerHour},
		{Window: 24 * time.Hour, Limit: b.limits.ReportsPerDay}}
}

// Hold is a part of a budget taken for something about to be stored. The
// caller settles it once it knows what was stored.
type Hold struct {
	b    *Budget
	kind string
	n    int64
	at   time.Time // the buckets it was taken from
}

// Settle corrects the hold to used, what was actually stored (0 when
// nothing was: the whole hold goes back). It corrects the buckets the hold
// was taken from, even when the clock has moved on since. Settling a nil
// Hold does nothing.
func (h *Hold) Settle(ctx context.Context, used int64) error {
	if h == nil || used == h.n {
		return nil
	}
	delta := used - h.n
	h.n = used
	if err := h.b.store.AdjustSpent(ctx, h.kind, delta, windows, h.at); err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	return nil
}

// Release gives the whole hold back: nothing was stored.
func (h *Hold) Release(ctx context.Context) error { return h.Settle(ctx, 0) }

// TakeFile takes size bytes of the evidence budget for a file about to be
// fetched and stored. It returns ErrFilesPaused (wrapped, saying which
// limit) when the file would take Redis memory to FilesMemoryPercent or a
// budget past its limit; then nothing is taken. Other errors are Redis
// failing.
func (b *Budget) TakeFile(ctx context.Context, size int64) (*Hold, error) {
	if b == nil {
		return nil, nil
	}
	mem := b.memory(ctx)
	if mem.Max > 0 && 100*(mem.Used+size) >= FilesMemoryPercent*mem.Max {
		b.refusedFiles.Add(1)
		return nil, fmt.Errorf("%w: Redis memory is at %.0f%% of maxmemory", ErrFilesPaused, mem.Percent())
	}
	return b.take(ctx, evidence, size, ErrFilesPaused, &b.refusedFiles)
}

// TakeReport takes one report of the report budget for a report about to
// be queued. It returns ErrReportsPaused (wrapped) when Redis memory is at
// ReportsMemoryPercent or the hour's or the day's reports are spent; then
// nothing is taken.
func (b *Budget) TakeReport(ctx context.Context) (*Hold, error) {
	if b == nil {
		return nil, nil
	}
	mem := b.memory(ctx)
	if mem.Max > 0 && 100*mem.Used >= ReportsMemoryPercent*mem.Max {
		b.refusedReports.Add(1)
		return nil, fmt.Errorf("%w: Redis memory is at %.0f%% of maxmemory", ErrReportsPaused, mem.Percent())
	}
	return b.take(ctx, reports, 1, ErrReportsPaused, &b.refusedReports)
}

// memory reads Redis's memory. When it cannot (an ACL without INFO), it
// says so in the log and returns no limit: the budgets still hold, and
// Redis itself refuses writes when it is full.
func (b *Budget) memory(ctx context.Context) store.Memory {
	mem, err := b.store.Memory(ctx)
	if err != nil {
		b.log.Warn("could not read Redis memory; going by the budgets alone", "err", err)
		return store.Memory{}
	}
	return mem
}

func (b *Budget) take(ctx context.Context, kind string, n int64, paused error, refused *atomic.Int64) (*Hold, error) {
	now := b.now()
	ok, err := b.store.Spend(ctx, kind, n, b.allowances(kind), now)
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	if !ok {
		refused.Add(1)
		return nil, fmt.Errorf("%w: the %s budget of the hour or the day is spent", paused, kind)
	}
	return &Hold{b: b, kind: kind, n: n, at: now}, nil
}

// Refused returns how many files and reports this process refused.
func (b *Budget) Refused() (files, reports int64) {
	if b == nil {
		return 0, 0
	}
	return b.refusedFiles.Load(), b.refusedReports.Load()
}

// Usage is the state of one budget, or of Redis memory, now.
type Usage struct {
	Name    string // EvidenceHour, EvidenceDay, ReportsHour, ReportsDay or Memory
	Used    int64  // bytes, reports, or bytes of memory
	Limit   int64  // 0 for memory when Redis has no maxmemory
	Refused int64  // takes refused in the window (budgets only)
}

// Percent is Used as a percentage of Limit; 0 without a limit.
func (u Usage) Percent() float64 {
	if u.Limit <= 0 {
		return 0
	}
	return 100 * float64(u.Used) / float64(u.Limit)
}

// Usage returns the four budgets in the current hour and day, then memory.
func (b *Budget) Usage(ctx context.Context) ([]Usage, error) {
	now := b.now()
	var out []Usage
	for _, kind := range []string{evidence, reports} {
		spent, err := b.store.Spent(ctx, kind, windows, now)
		if err != nil {
			return nil, fmt.Errorf("budget: %w", err)
		}
		allow := b.allowances(kind)
		for i, name := range []string{kind + "-hour", kind + "-day"} {
			out = append(out, Usage{Name: name, Used: spent[i].Used, Limit: allow[i].Limit, Refused: spent[i].Refused})
		}
	}
	mem, err := b.store.Memory(ctx)
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	return append(out, Usage{Name: Memory, Used: mem.Used, Limit: mem.Max}), nil
}

// Alert is a budget or memory that crossed Level (a percentage) and that
// staff have not been told of.
type Alert struct {
	Usage
	Level int
}

// DueAlerts returns the crossings staff have not been told of, and marks
// them told: a budget passing AlertPercent or spent (100: a take refused)
// in the current window; memory passing AlertPercent, FilesMemoryPercent
// or ReportsMemoryPercent. When several levels of one budget were crossed
// since the last call, one alert names the highest. Several bot processes
// may call it: each crossing goes to one of them.
func (b *Budget) DueAlerts(ctx context.Context) ([]Alert, error) {
	if b == nil {
		return nil, nil
	}
	now := b.now()
	usage, err := b.Usage(ctx)
	if err != nil {
		return nil, err
	}
	var out []Alert
	for _, u := range usage {
		var due int
		var err error
		if u.Name == Memory {
			due, err = b.memoryDue(ctx, u)
		} else {
			due, err = b.budgetDue(ctx, u, now)
		}
		if err != nil {
			return out, fmt.Errorf("budget: %w", err)
		}
		if due > 0 {
			out = append(out, Alert{Usage: u, Level: due})
		}
	}
	return out, nil
}

// budgetDue marks the levels budget u has reached in now's window and
// returns the highest of those newly marked, or 0.
func (b *Budget) budgetDue(ctx context.Context, u Usage, now time.Time) (int, error) {
	kind, window := evidence, time.Hour
	switch u.Name {
	case EvidenceDay:
		window = 24 * time.Hour
	case ReportsHour:
		kind = reports
	case ReportsDay:
		kind, window = reports, 24*time.Hour
	}
	// A take refused counts as spent, however little was taken: files
	// are being refused, which is what staff must hear.
	spent := u.Used >= u.Limit || u.Refused > 0
	near := spent || 100*u.Used >= AlertPercent*u.Limit
	due := 0
	for _, l := range []struct {
		level   int
		reached bool
	}{{AlertPercent, near}, {spentPercent, spent}} {
		if !l.reached {
			break
		}
		first, err := b.store.AlertOnce(ctx, kind, window, now, l.level)
		if err != nil {
			return 0, err
		}
		if first {
			due = l.level
		}
	}
	return due, nil
}

// memoryDue marks the levels memory has reached and returns the highest of
// those newly marked, or 0; it clears the marks of levels memory has
// fallen well below, so that their next crossing is alerted again.
func (b *Budget) memoryDue(ctx context.Context, u Usage) (int, error) {
	if u.Limit <= 0 {
		return 0, nil
	}
	pct := u.Percent()
	due := 0
	for _, level := range []int{AlertPercent, FilesMemoryPercent, ReportsMemoryPercent} {
		switch {
		case pct >= float64(level):
			first, err := b.store.AlertOnce(ctx, memory, 0, time.Time{}, level)
			if err != nil {
				return 0, err
			}
			if first {
				due = level
			}
		case pct < float64(level-memoryHysteresis):
			if err := b.store.ClearAlert(ctx, memory, level); err != nil {
				return 0, err
			}
		}
	}
	return due, nil
}
