package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/response"
)

// Alerter finds urgent cases to tell staff about, and says when this
// process has queued a new one; intake.Service is the real one.
type Alerter interface {
	DueAlerts(ctx context.Context, interval, lease time.Duration) ([]intake.Alert, error)
	UrgentQueued() <-chan struct{}
}

// BudgetAlerter finds the budget all chats share, or Redis memory, past a
// threshold staff have not been told of; *budget.Budget is the real one.
type BudgetAlerter interface {
	DueAlerts(ctx context.Context) ([]budget.Alert, error)
}

// Escalator finds the overdue deadlines of urgent cases not announced yet,
// marking each announced for exactly one caller, and counts the overdue
// open cases; *store.Store is the real one.
type Escalator interface {
	DueEscalations(ctx context.Context, now time.Time, targets response.Targets) ([]response.Escalation, response.Counts, error)
}

// AlertConfig sends an alert to a staff chat for every urgent report that
// nobody has claimed, again every Interval until someone does, and for
// each crossing of a threshold of the shared budget or of Redis memory
// (Budget), once.
type AlertConfig struct {
	Source   Alerter
	Budget   BudgetAlerter // nil: no budget alerts
	Chat     int64         // the staff alert chat (a group the bot is in)
	Interval time.Duration // default 15m
	Lease    time.Duration // a claim that lapsed counts as unclaimed (default 24h)
	Every    time.Duration // how often to look (default 30s)
	// Escalations, when set, announces once each overdue deadline of an
	// urgent case (claim or first reply, against Targets; zero Targets are
	// response.DefaultTargets) and keeps vigil_cases_overdue current.
	Escalations Escalator
	Targets     response.Targets
	Now         func() time.Time // default time.Now
}

// alertText is what staff read: the reference, "urgent" and times, never
// content, country or name, since the alert chat is not end-to-end
// encrypted either.
func alertText(a intake.Alert) string {
	repeat := ""
	if a.Repeat > 0 {
		repeat = fmt.Sprintf(" (reminder %d)", a.Repeat)
	}
	return fmt.Sprintf("URGENT report %s received %s UTC, not claimed yet%s.\nClaim it: vigil triage claim %s",
		a.Ref, a.ReceivedAt.UTC().Format("2006-01-02 15:04"), repeat, a.Ref)
}

// escalationText is what staff read when an urgent case missed a
// response target: the reference, which deadline and when it was due,
// never content.
func escalationText(e response.Escalation) string {
	what := "not claimed yet"
	next := "Claim it: vigil triage claim " + e.Ref
	if e.Deadline == response.Reply {
		what = "no reply to the defender yet"
		next = "Reply: vigil triage reply " + e.Ref + " TEXT"
	}
	return fmt.Sprintf("OVERDUE: URGENT report %s, %s; the %s target passed at %s UTC.\n%s",
		e.Ref, what, e.Deadline, e.Due.UTC().Format("2006-01-02 15:04"), next)
}

// budgetAlertText is what staff read when the shared budget or Redis
// memory passes a threshold: names and numbers, nothing of any chat.
func budgetAlertText(a budget.Alert) string {
	switch a.Name {
	case budget.Memory:
		now := fmt.Sprintf("New files are refused from %d%%, new reports from %d%%.", budget.FilesMemoryPercent, budget.ReportsMemoryPercent)
		switch {
		case a.Level >= budget.ReportsMemoryPercent:
			now = "New reports are refused now, and new files."
		case a.Level >= budget.FilesMemoryPercent:
			now = fmt.Sprintf("New files are refused now; text reports go on until %d%%.", budget.ReportsMemoryPercent)
		}
		return fmt.Sprintf("Redis memory is at %.0f%% of maxmemory (%s of %s), past %d%%. %s\n"+
			"Purge closed cases (vigil triage purge) or give Redis more memory.",
			a.Percent(), mib(a.Used), mib(a.Limit), a.Level, now)
	case budget.EvidenceHour, budget.EvidenceDay:
		window, used, limit := "hour", mib(a.Used), mib(a.Limit)
		if a.Name == budget.EvidenceDay {
			window = "day (UTC)"
		}
		if a.Level >= 100 {
			return fmt.Sprintf("The evidence budget of this %s is spent: %s of %s taken, %d file(s) refused. Files that no longer fit are refused "+
				"until the %s ends; text reports still go through. If this is no surge of genuine reports, someone may be filling Redis.",
				window, used, limit, a.Refused, window)
		}
		return fmt.Sprintf("The evidence budget of this %s is %.0f%% spent (%s of %s). Past it new files are refused; text reports still go through.",
			window, a.Percent(), used, limit)
	default:
		window := "hour"
		if a.Name == budget.ReportsDay {
			window = "day (UTC)"
		}
		if a.Level >= 100 {
			return fmt.Sprintf("The report budget of this %s is spent: %d of %d reports taken, %d refused. New reports are refused "+
				"until the %s ends (drafts are kept). If this is no surge of genuine reports, someone may be flooding the bot.",
				window, a.Used, a.Limit, a.Refused, window)
		}
		return fmt.Sprintf("The report budget of this %s is %.0f%% spent (%d of %d reports). Past it new reports are refused.",
			window, a.Percent(), a.Used, a.Limit)
	}
}

// mib writes bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (b *Bot) alert(ctx context.Context) {
	ac := b.cfg.Alerts
	if ac == nil || (ac.Budget == nil && ac.Escalations == nil && (ac.Source == nil || ac.Chat == 0)) {
		return
	}
	tick := time.NewTicker(ac.Every)
	defer tick.Stop()
	var queued <-chan struct{} // nil: never
	if ac.Source != nil && ac.Chat != 0 {
		queued = ac.Source.UrgentQueued()
	}
	for {
		if ac.Source != nil && ac.Chat != 0 {
			b.urgentAlerts(ctx, ac)
		}
		if ac.Escalations != nil {
			b.escalations(ctx, ac)
		}
		if ac.Budget != nil {
			b.budgetAlerts(ctx, ac)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-queued: // a new urgent case: alert at once
		}
	}
}

// urgentAlerts tells staff of urgent cases nobody has claimed.
func (b *Bot) urgentAlerts(ctx context.Context, ac *AlertConfig) {
	due, err := ac.Source.DueAlerts(ctx, ac.Interval, ac.Lease)
	if err != nil && ctx.Err() == nil {
		b.log.Warn("could not look for urgent cases", "err", err)
	}
	for _, a := range due {
		if _, err := b.send(ctx, ac.Chat, []flows.Message{{Text: alertText(a)}}, 0); err != nil {
			b.log.Warn("could not send an urgent alert", "kind", errorKind(err))
			continue
		}
		b.log.Info("urgent alert sent", "repeat", a.Repeat)
	}
}

// escalations announces, once each, the urgent cases that missed a
// response target, and refreshes the overdue gauge. Without an alert chat
// the log and the metric still tell.
func (b *Bot) escalations(ctx context.Context, ac *AlertConfig) {
	due, counts, err := ac.Escalations.DueEscalations(ctx, ac.Now(), ac.Targets)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("could not look for overdue cases", "err", err)
		}
		return
	}
	b.metrics.overdue(counts)
	for _, e := range due {
		b.log.Warn("urgent case overdue", "deadline", e.Deadline)
		if ac.Chat == 0 {
			continue
		}
		if _, err := b.send(ctx, ac.Chat, []flows.Message{{Text: escalationText(e)}}, 0); err != nil {
			b.log.Warn("could not send an overdue alert", "kind", errorKind(err))
		}
	}
}

// budgetAlerts tells staff, in the alert chat, the log and the metrics, of
// each crossing of a threshold of the shared budget or of Redis memory.
// Without an alert chat the log and the metrics still tell.
func (b *Bot) budgetAlerts(ctx context.Context, ac *AlertConfig) {
	due, err := ac.Budget.DueAlerts(ctx)
	if err != nil && ctx.Err() == nil {
		b.log.Warn("could not read the budget", "err", err)
	}
	for _, a := range due {
		b.metrics.budgetAlert(a.Name, a.Level)
		b.log.Warn("budget alert", "budget", a.Name, "level", a.Level, "used", a.Used, "limit", a.Limit, "refused", a.Refused)
		if ac.Chat == 0 {
			continue
		}
		if _, err := b.send(ctx, ac.Chat, []flows.Message{{Text: budgetAlertText(a)}}, 0); err != nil {
			b.log.Warn("could not send a budget alert", "kind", errorKind(err))
		}
	}
}
