package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
)

// Alerter finds urgent cases to tell staff about; intake.Service is the
// real one.
type Alerter interface {
	DueAlerts(ctx context.Context, interval, lease time.Duration) ([]intake.Alert, error)
}

// AlertConfig sends an alert to a staff chat for every urgent report that
// nobody has claimed, again every Interval until someone does.
type AlertConfig struct {
	Source   Alerter
	Chat     int64         // the staff alert chat (a group the bot is in)
	Interval time.Duration // default 15m
	Lease    time.Duration // a claim that lapsed counts as unclaimed (default 24h)
	Every    time.Duration // how often to look (default 30s)
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

func (b *Bot) alert(ctx context.Context) {
	ac := b.cfg.Alerts
	if ac == nil || ac.Source == nil || ac.Chat == 0 {
		return
	}
	tick := time.NewTicker(ac.Every)
	defer tick.Stop()
	for {
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
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
