package bot

import (
	"context"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
)

// Checkins runs the safety check-ins' schedule; intake.Service is the real
// one.
type Checkins interface {
	// CheckinTick does what is due now: it forwards reminders to their
	// chats' partitions and makes the cases of missed deadlines, and
	// returns how many it made.
	CheckinTick(ctx context.Context, partitions int) (cases int, err error)
	// CheckinNotices takes refs of missed cases whose defender checked in.
	CheckinNotices(ctx context.Context) ([]string, error)
	OpenCheckin(p int, e intake.InboxEntry) (intake.CheckinDue, error)
	RemindCheckin(ctx context.Context, d intake.CheckinDue, send func([]flows.Message) error) error
}

// checkinNotice is what staff read when a defender checks in after a
// missed deadline: the reference only.
func checkinNotice(ref string) string { return ref + ": the defender checked in" }

// checkins is the one loop of a process over the check-ins' schedule:
// every CheckinEvery it does what is due (each due check-in goes to one
// process), announces at once the missed cases it made (not at the alert
// loop's next look, up to AlertConfig.Every later), and tells the alert
// chat of defenders who checked in after a missed deadline. There is no
// timer per check-in.
func (b *Bot) checkins(ctx context.Context) {
	if b.cfg.Checkins == nil {
		return
	}
	tick := time.NewTicker(b.cfg.CheckinEvery)
	defer tick.Stop()
	for {
		// A missed case is announced by the alert loop at once
		// (intake.Service.UrgentQueued).
		if _, err := b.cfg.Checkins.CheckinTick(ctx, b.cfg.Partitions); err != nil && ctx.Err() == nil {
			b.log.Warn("could not run the check-ins' schedule", "err", err)
		}
		if ac := b.cfg.Alerts; ac != nil && ac.Chat != 0 {
			refs, err := b.cfg.Checkins.CheckinNotices(ctx)
			if err != nil && ctx.Err() == nil {
				b.log.Warn("could not read check-in notices", "err", err)
			}
			for _, ref := range refs {
				if _, err := b.send(ctx, ac.Chat, []flows.Message{{Text: checkinNotice(ref)}}, 0); err != nil {
					b.log.Warn("could not send a check-in notice", "kind", errorKind(err))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// processCheckin sends a check-in's reminder forwarded to the partition,
// in its chat's serial slot, so that it never races the defender's own
// updates. The entry is finished whatever happens: a reminder not sent
// is forwarded again once its claim's lease ends.
func (b *Bot) processCheckin(ctx context.Context, p int, e intake.InboxEntry, pending *[]intake.Done) {
	if b.cfg.Checkins == nil {
		*pending = append(*pending, intake.Done{ID: e.ID})
		return
	}
	d, err := b.cfg.Checkins.OpenCheckin(p, e)
	if err != nil {
		b.log.Warn("a check-in reminder in the inbox does not open; dropped (it is forwarded again)")
		*pending = append(*pending, intake.Done{ID: e.ID})
		return
	}
	b.finishChat(ctx, p, d.Chat, pending)
	var ids []int
	b.dispatch.Run(ctx, d.Chat, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, b.cfg.HandleTimeout)
		defer cancel()
		err := b.cfg.Checkins.RemindCheckin(ctx, d, func(msgs []flows.Message) error {
			var err error
			ids, err = b.send(ctx, d.Chat, msgs, 0)
			return err
		})
		if err != nil {
			b.log.Warn("check-in reminder not sent yet; it will be retried", "err", err)
		}
	})
	*pending = append(*pending, intake.Done{ID: e.ID, Chat: d.Chat, MessageIDs: ids})
}
