package intake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// Safety check-ins: the record of a running check-in, sealed with the
// bot's key, and what the due loop does with it. See store/checkin.go for
// the schedule and docs/checkin.md for what defenders and staff see.
//
// Guarantees:
//   - The duress word is never kept: only its MAC under the bot's key
//     (DuressMAC). The note is sealed to the staff when it is typed.
//   - A missed deadline makes one case, whatever processes and crashes:
//     its draft id is checkin:HANDLE:DEADLINE_MS, and its note entry is
//     added once.
//   - A check-in racing the missed deadline leaves either no case, or the
//     case and an entry saying the defender checked in.

// CheckinTimes are the deployment's check-in settings the service needs.
type CheckinTimes struct {
	// Grace is how long after the deadline the case is made (default 30m).
	Grace time.Duration
	// Lease is how long a process holds a due check-in before another may
	// take it over (default 60s).
	Lease time.Duration
}

// checkinMargin is how long a record outlives its deadline plus grace if
// nothing touches it (no process ran all that time).
const checkinMargin = 7 * 24 * time.Hour

// checkinRecord is a running check-in as the bot keeps it.
type checkinRecord struct {
	Chat     int64         `json:"chat"`
	Lang     string        `json:"lang"`
	Offset   int           `json:"offset"`
	Interval time.Duration `json:"interval"`
	Country  string        `json:"country,omitempty"`
	Deadline time.Time     `json:"deadline"`
	Last     time.Time     `json:"last"` // the last check-in, or the start
	Duress   []byte        `json:"duress,omitempty"`
	Missed   string        `json:"missed,omitempty"` // the missed case's ref
}

func checkinName(handle string) string { return "checkin:" + handle }
func checkinEntryName(p int) string    { return "checkin-entry:" + strconv.Itoa(p) }

// DuressMAC returns the MAC of normalized duress words under the bot's
// key, for flows.CheckinConfig.MAC.
func DuressMAC(keys *seal.Keys) func(word string) []byte {
	return func(word string) []byte { return keys.MAC("vigil checkin duress v1", []byte(word)) }
}

func (r *checkinRecord) view() *flows.Checkin {
	return &flows.Checkin{Deadline: r.Deadline, Offset: r.Offset, Interval: r.Interval, Duress: r.Duress}
}

// loadCheckin reads and unseals a chat's check-in; nil when none runs or
// it does not open.
func (s *Service) loadCheckin(ctx context.Context, handle string) (*checkinRecord, store.Checkin, error) {
	c, err := s.store.LoadCheckin(ctx, handle)
	if errors.Is(err, store.ErrNoCheckin) {
		return nil, c, nil
	}
	if err != nil {
		return nil, c, fmt.Errorf("intake: %w", err)
	}
	rec, err := s.openCheckin(handle, c.Sealed)
	if err != nil {
		s.log.Warn("a check-in could not be unsealed; treated as absent", "err", err)
		return nil, c, nil
	}
	return rec, c, nil
}

func (s *Service) openCheckin(handle string, sealed []byte) (*checkinRecord, error) {
	raw, err := s.keys.Open(checkinName(handle), sealed)
	if err != nil {
		return nil, fmt.Errorf("intake: open check-in: %w", err)
	}
	var rec checkinRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, errors.New("intake: a check-in record is malformed")
	}
	return &rec, nil
}

// schedule seals rec and says when its reminder goes.
func (s *Service) schedule(handle string, rec *checkinRecord, now time.Time) (store.CheckinSchedule, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return store.CheckinSchedule{}, fmt.Errorf("intake: encode check-in: %w", err)
	}
	remind := rec.Deadline.Add(-s.engine.RemindBefore())
	if remind.Before(now) {
		remind = now
	}
	return store.CheckinSchedule{Sealed: s.keys.Seal(checkinName(handle), raw), Deadline: rec.Deadline, Remind: remind,
		TTL: rec.Deadline.Sub(now) + s.checkin.Grace + checkinMargin}, nil
}

// startCheckin stores a new check-in (EffectCheckinStart).
func (s *Service) startCheckin(ctx context.Context, chat int64, handle, lang string, plan *flows.CheckinPlan) ([]flows.Message, error) {
	now := s.now()
	rec := &checkinRecord{Chat: chat, Lang: lang, Offset: plan.Offset, Interval: plan.Interval, Country: plan.Country,
		Deadline: now.Add(plan.Interval).UTC(), Last: now.UTC(), Duress: plan.Duress}
	sc, err := s.schedule(handle, rec, now)
	if err != nil {
		return nil, err
	}
	if err := s.store.StartCheckin(ctx, handle, sc, plan.Note); err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	s.log.Info("check-in started")
	return s.engine.CheckinSet(lang, *rec.view()), nil
}

// checkIn sets the next deadline of a running check-in (EffectCheckinNow,
// EffectCheckinInterval with interval set). A check-in made with the
// duress word answers the same, and raises an urgent case at once; one
// made after a missed deadline adds to the missed case that the defender
// checked in. entry names the inbox entry, so that a retry adds once.
func (s *Service) checkIn(ctx context.Context, handle, lang, entry string, rec *checkinRecord, c store.Checkin, duress bool, interval time.Duration) ([]flows.Message, error) {
	if rec == nil {
		return []flows.Message{{Text: s.engine.Text(lang, "msg.checkin_none")}}, nil
	}
	missed := *rec
	now := s.now()
	next := *rec
	if interval > 0 {
		next.Interval = interval
	}
	next.Last, next.Deadline, next.Missed, next.Lang = now.UTC(), now.Add(next.Interval).UTC(), "", lang
	sc, err := s.schedule(handle, &next, now)
	if err != nil {
		return nil, err
	}
	stage, deadline, err := s.store.CheckIn(ctx, handle, sc)
	if errors.Is(err, store.ErrNoCheckin) {
		return []flows.Message{{Text: s.engine.Text(lang, "msg.checkin_none")}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	switch {
	case duress:
		if _, err := s.checkinCase(ctx, handle, &missed, c.Note, "duress:"+handle+":"+strconv.FormatInt(now.UnixMilli(), 10), flows.CategoryDuressCheckin, now); err != nil {
			return nil, err
		}
		s.log.Warn("duress check-in: urgent case queued")
	case stage == store.StageMissing || stage == store.StageMissed:
		missed.Deadline = deadline
		if err := s.correctMissed(ctx, handle, &missed, c.Note, entry, now); err != nil {
			return nil, err
		}
	}
	s.log.Info("checked in")
	return s.engine.CheckedIn(lang, *next.view()), nil
}

// correctMissed adds to the case of a missed deadline that the defender
// checked in, and queues a line for the staff alert chat. The case is
// made here if the process making it has not yet (same draft id).
func (s *Service) correctMissed(ctx context.Context, handle string, rec *checkinRecord, note []byte, entry string, now time.Time) error {
	ref, err := s.checkinCase(ctx, handle, rec, note, missedDraftID(handle, rec.Deadline), flows.CategoryMissedCheckin, rec.Deadline.Add(s.checkin.Grace))
	if err != nil {
		return err
	}
	text := fmt.Sprintf("The defender checked in at %s UTC; they say they are safe.", now.UTC().Format("2006-01-02 15:04:05"))
	sealed, err := s.recipients.Seal([]byte(text))
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	once := ""
	if entry != "" {
		once = "safe:" + entry
	}
	if err := s.store.AddEntry(ctx, store.Entry{Ref: ref, Kind: "note", At: now, Sealed: sealed, Once: once}); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	if err := s.store.Notice(ctx, ref); err != nil {
		s.log.Warn("could not queue the checked-in notice for staff; the case says it", "err", err)
	}
	s.log.Info("checked in after a missed deadline: the case says so")
	return nil
}

func missedDraftID(handle string, deadline time.Time) string {
	return "checkin:" + handle + ":" + strconv.FormatInt(deadline.UnixMilli(), 10)
}

// checkinCase queues an urgent case for a check-in (missed, or made under
// duress) once per draft id, with a route so that staff can reply, and the
// note, already sealed to the staff, as its first entry.
func (s *Service) checkinCase(ctx context.Context, handle string, rec *checkinRecord, note []byte, draftID, category string, at time.Time) (string, error) {
	answers := map[string]any{"category": category, "deadline": rec.Deadline.UTC(), "last_check_in": rec.Last.UTC(),
		"interval": rec.Interval.String(), "utc_offset": flows.Zone(rec.Offset),
		flows.QDescription: checkinSummary(category, rec, at)}
	if rec.Country != "" {
		answers[flows.QCountry] = rec.Country
	}
	for attempt := 0; attempt < 5; attempt++ {
		ref, err := flows.NewRef(rand.Reader)
		if err != nil {
			return "", fmt.Errorf("intake: %w", err)
		}
		report := flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: at.UTC().Truncate(time.Second), Language: rec.Lang,
			Urgent: true, Answers: answers}
		raw, err := json.Marshal(report)
		if err != nil {
			return "", fmt.Errorf("intake: encode report: %w", err)
		}
		sealed, err := s.recipients.Seal(raw)
		if err != nil {
			return "", fmt.Errorf("intake: %w", err)
		}
		rt, err := json.Marshal(route{Chat: rec.Chat, Contact: true})
		if err != nil {
			return "", fmt.Errorf("intake: encode route: %w", err)
		}
		got, fresh, err := s.store.Enqueue(ctx, store.Submission{DraftID: draftID, Ref: ref, Sealed: sealed,
			SealedTo: s.recipients.Fingerprints(), ReceivedAt: report.ReceivedAt, Urgent: true, Route: s.keys.Seal(routeName(ref), rt)})
		if errors.Is(err, store.ErrRefTaken) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("intake: %w", err)
		}
		if note != nil {
			if err := s.store.AddEntry(ctx, store.Entry{Ref: got, Kind: "note", At: report.ReceivedAt, Sealed: note, Once: "checkin-note"}); err != nil {
				return "", fmt.Errorf("intake: %w", err)
			}
		}
		if fresh {
			s.queuedUrgent()
			s.log.Info("check-in case queued", "category", category)
		}
		return got, nil
	}
	return "", errors.New("intake: could not find a free case reference after 5 tries")
}

// checkinSummary is the description of a check-in's case, for the staff
// (in English, as the staff tools are): what happened and what to do, so
// that the case reads in every view that shows a report's description.
func checkinSummary(category string, rec *checkinRecord, at time.Time) string {
	const layout = "2006-01-02 15:04 UTC"
	zone := flows.Zone(rec.Offset)
	every := strconv.FormatFloat(rec.Interval.Hours(), 'f', -1, 64) + " h"
	if rec.Interval < time.Hour {
		every = rec.Interval.String()
	}
	if category == flows.CategoryDuressCheckin {
		return fmt.Sprintf("SAFETY CHECK-IN UNDER DURESS. At %s the defender checked in with their duress word: "+
			"someone may be forcing them, and may be reading their phone. The bot answered as to a normal check-in. "+
			"Do not reply with anything that shows the mission was alerted. Their note for the mission, if they left one, "+
			"is the first note below. They check in every %s (their time zone: %s).",
			at.UTC().Format(layout), every, zone)
	}
	return fmt.Sprintf("SAFETY CHECK-IN MISSED. The defender agreed to check in every %s and has not: the deadline was %s "+
		"(their time zone: %s), their last check-in %s. Their note for the mission, if they left one, is the first note below. "+
		"If they check in later, a note says so here.",
		every, rec.Deadline.UTC().Format(layout), zone, rec.Last.UTC().Format(layout))
}

// EntryCheckin is the Kind of an inbox entry that carries a reminder.
const EntryCheckin = store.EntryCheckin

// CheckinDue is a reminder forwarded to a chat's partition.
type CheckinDue struct {
	Chat    int64  `json:"chat"`
	Handle  string `json:"handle"`
	Version int64  `json:"version"`
}

// CheckinTick does what is due of the chats' check-ins at now, at most 100
// of them: it claims each (see store.ClaimCheckin), forwards reminders to
// their chats' partitions, and makes the case of each missed deadline.
// Every bot process runs it; each due check-in goes to one. It returns how
// many missed cases it queued (each also signals UrgentQueued).
func (s *Service) CheckinTick(ctx context.Context, partitions int) (cases int, err error) {
	now := s.now()
	due, err := s.store.DueCheckins(ctx, now, 100)
	if err != nil {
		return 0, fmt.Errorf("intake: %w", err)
	}
	for _, handle := range due {
		c, ok, err := s.store.ClaimCheckin(ctx, handle, now, s.checkin.Lease)
		if err != nil {
			return cases, fmt.Errorf("intake: %w", err)
		}
		if !ok {
			continue
		}
		made, err := s.dueCheckin(ctx, handle, c, now, partitions)
		if err != nil {
			s.log.Warn("a due check-in failed; it is tried again after its lease", "err", err)
		}
		if made {
			cases++
		}
	}
	return cases, nil
}

// dueCheckin does what is due of one claimed check-in; made is true when
// it queued (or found queued) the case of a missed deadline.
func (s *Service) dueCheckin(ctx context.Context, handle string, c store.Checkin, now time.Time, partitions int) (made bool, err error) {
	rec, err := s.openCheckin(handle, c.Sealed)
	if err != nil {
		return false, err
	}
	late := !now.Before(c.Deadline.Add(s.checkin.Grace))
	switch {
	case c.Stage == store.StageMissed:
		return false, s.store.AdvanceCheckin(ctx, handle, c.Version, store.StageMissed, time.Time{}, nil)
	case c.Stage == store.StageArmed && !late:
		raw, err := json.Marshal(CheckinDue{Chat: rec.Chat, Handle: handle, Version: c.Version})
		if err != nil {
			return false, fmt.Errorf("intake: encode reminder: %w", err)
		}
		p := partitionOf(handle, partitions)
		if err := s.store.ForwardCheckin(ctx, p, s.keys.Seal(checkinEntryName(p), raw)); err != nil {
			return false, fmt.Errorf("intake: %w", err)
		}
		return false, nil
	case c.Stage == store.StageReminded && !late:
		return false, s.store.AdvanceCheckin(ctx, handle, c.Version, store.StageReminded, c.Deadline.Add(s.checkin.Grace), nil)
	}
	// Missed. Marked first, so that a check-in from now on sees it and
	// corrects the case; a check-in that came first voids this.
	version := c.Version
	if c.Stage != store.StageMissing {
		err := s.store.AdvanceCheckin(ctx, handle, version, store.StageMissing, now.Add(s.checkin.Lease), nil)
		if errors.Is(err, store.ErrCheckinChanged) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		version++
	}
	rec.Deadline = c.Deadline
	ref, err := s.checkinCase(ctx, handle, rec, c.Note, missedDraftID(handle, c.Deadline), flows.CategoryMissedCheckin, c.Deadline.Add(s.checkin.Grace))
	if err != nil {
		return false, err
	}
	rec.Missed = ref
	raw, err := json.Marshal(rec)
	if err != nil {
		return true, fmt.Errorf("intake: encode check-in: %w", err)
	}
	err = s.store.AdvanceCheckin(ctx, handle, version, store.StageMissed, time.Time{}, s.keys.Seal(checkinName(handle), raw))
	if errors.Is(err, store.ErrCheckinChanged) {
		return true, nil // the defender checked in meanwhile: the check-in corrected the case
	}
	if err == nil {
		s.log.Warn("check-in missed: urgent case queued")
	}
	return true, err
}

// OpenCheckin unseals a reminder forwarded to partition p of the inbox.
func (s *Service) OpenCheckin(p int, e InboxEntry) (CheckinDue, error) {
	raw, err := s.keys.Open(checkinEntryName(p), e.Sealed)
	if err != nil {
		return CheckinDue{}, fmt.Errorf("intake: open forwarded reminder: %w", err)
	}
	var d CheckinDue
	if err := json.Unmarshal(raw, &d); err != nil || d.Chat == 0 || d.Handle == "" {
		return CheckinDue{}, errors.New("intake: a forwarded reminder is malformed")
	}
	return d, nil
}

// RemindCheckin sends a check-in's reminder with send, if the check-in is
// still as it was claimed, then schedules the deadline. Call it in the
// chat's serial slot. A reminder that send fails to deliver for another
// reason than ErrUndeliverable is tried again after the claim's lease.
func (s *Service) RemindCheckin(ctx context.Context, d CheckinDue, send func([]flows.Message) error) error {
	rec, c, err := s.loadCheckin(ctx, d.Handle)
	if err != nil {
		return err
	}
	if rec == nil || c.Stage != store.StageArmed || c.Version != d.Version {
		return nil // checked in, stopped or reminded since
	}
	if err := send([]flows.Message{s.engine.CheckinReminder(rec.Lang, *rec.view())}); err != nil && !errors.Is(err, ErrUndeliverable) {
		return fmt.Errorf("intake: send reminder: %w", err)
	}
	err = s.store.AdvanceCheckin(ctx, d.Handle, d.Version, store.StageReminded, c.Deadline.Add(s.checkin.Grace), nil)
	if errors.Is(err, store.ErrCheckinChanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	s.log.Info("check-in reminder sent")
	return nil
}

// CheckinNotices takes the refs of missed cases whose defender checked in
// since, for one line each in the staff alert chat.
func (s *Service) CheckinNotices(ctx context.Context) ([]string, error) {
	refs, err := s.store.TakeNotices(ctx, 20)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return refs, nil
}

// checkinEffect carries out a check-in effect of the engine.
func (s *Service) checkinEffect(ctx context.Context, chat int64, handle, lang, entry string, st flows.State, ev flows.Event, res flows.Result, rec *checkinRecord, c store.Checkin) (flows.State, []flows.Message, error) {
	switch res.Effect {
	case flows.EffectCheckinNote:
		sealed, err := s.recipients.Seal([]byte(ev.Text))
		if err != nil {
			return st, nil, fmt.Errorf("intake: %w", err)
		}
		st, msgs := s.engine.CheckinNoted(st, sealed)
		if st.Setup == nil { // no duress word offered: the setup ended
			return st, nil, errors.New("intake: a check-in without a duress word step is not supported")
		}
		return st, msgs, nil
	case flows.EffectCheckinStart:
		msgs, err := s.startCheckin(ctx, chat, handle, lang, res.Checkin)
		return st, msgs, err
	case flows.EffectCheckinNow:
		duress := len(res.Args) == 1 && res.Args[0] == "duress"
		msgs, err := s.checkIn(ctx, handle, lang, entry, rec, c, duress, 0)
		return st, msgs, err
	case flows.EffectCheckinInterval:
		secs, _ := strconv.ParseInt(res.Args[0], 10, 64)
		msgs, err := s.checkIn(ctx, handle, lang, entry, rec, c, false, time.Duration(secs)*time.Second)
		return st, msgs, err
	case flows.EffectCheckinStop:
		if err := s.store.StopCheckin(ctx, handle); err != nil {
			return st, nil, fmt.Errorf("intake: %w", err)
		}
		s.log.Info("check-in stopped")
	}
	return st, nil, nil
}
