// Package intake runs a defender's conversation against stored state: it
// loads a chat's sealed draft and settings, runs one event through the flow
// engine, seals and stores what changed, and carries out the engine's
// effects (submitting a report, looking up its status).
//
// It is shared by every front end, so the Telegram bot and the terminal
// console seal and queue reports in exactly the same way.
//
// Contract:
//   - Calls for one chat must not run concurrently; the caller serialises
//     them (bot.Dispatcher does). Different chats may run in parallel.
//   - A receipt is returned only after the report is stored in the queue.
//     Submitting the same draft again (a double tap, a retried update)
//     queues nothing new and returns the same reference.
//   - Nothing a defender writes reaches Redis unsealed, nor an error message:
//     errors name the operation, never the content.
package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// Service handles defenders' events.
type Service struct {
	engine     *flows.Engine
	store      *store.Store
	keys       *seal.Keys
	recipients *seal.Recipients
	botID      seal.Identity
	trust      *sign.Trust
	maxAge     time.Duration
	limits     Limits
	budget     *budget.Budget
	fetch      func(ctx context.Context, fileID string) (io.ReadCloser, error)
	broadcasts *broadcast.Service
	rate       float64
	log        *slog.Logger
	now        func() time.Time
	checkin    CheckinTimes
	// urgent is signalled (without blocking; signals coalesce) whenever
	// this process queues a new urgent case, so that staff are alerted at
	// once rather than at the alert loop's next look.
	urgent chan struct{}
}

// Limits bound what one chat may do. Zero fields take DefaultLimits.
type Limits struct {
	MessagesPerMinute int
	ReportsPerHour    int
	ReportsPerDay     int
}

// DefaultLimits are generous for a person and stop a script.
var DefaultLimits = Limits{MessagesPerMinute: 60, ReportsPerHour: 5, ReportsPerDay: 20}

// Config wires a Service.
type Config struct {
	Engine     *flows.Engine
	Store      *store.Store
	Keys       *seal.Keys       // the bot's own key: drafts, settings
	Recipients *seal.Recipients // the staff: reports, the defender's answers
	// BotIdentity opens staff replies for delivery (see EnsureBotIdentity);
	// nil disables delivery.
	BotIdentity seal.Identity
	// Trust is the staff keyring in force: a staff reply is delivered only
	// when signed by a key of it with the staff role (see PendingReplies);
	// without it none is. ReplyMaxAge bounds how old a reply's signature
	// may be when it is delivered (default DefaultReplyMaxAge).
	Trust       *sign.Trust
	ReplyMaxAge time.Duration
	Limits      Limits
	// Budget, when set, is the budget all chats share: files and reports
	// past it are refused with a kind message (msg.files_paused,
	// msg.reports_paused) and change nothing.
	Budget *budget.Budget
	// Fetch opens a file the defender sent, by the transport's id; nil
	// means files cannot be taken.
	Fetch func(ctx context.Context, fileID string) (io.ReadCloser, error)
	// Broadcasts, when set, lets coordinators create and approve
	// broadcasts and guidance pages, and defenders read guidance; Rate is
	// the delivery rate, for estimates of the time left.
	Broadcasts *broadcast.Service
	Rate       float64
	Log        *slog.Logger
	Now        func() time.Time
	// Checkin holds the check-ins' grace and lease (defaults 30m, 60s).
	Checkin CheckinTimes
}

// New returns a Service.
func New(c Config) *Service {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Limits.MessagesPerMinute <= 0 {
		c.Limits.MessagesPerMinute = DefaultLimits.MessagesPerMinute
	}
	if c.Limits.ReportsPerHour <= 0 {
		c.Limits.ReportsPerHour = DefaultLimits.ReportsPerHour
	}
	if c.Limits.ReportsPerDay <= 0 {
		c.Limits.ReportsPerDay = DefaultLimits.ReportsPerDay
	}
	if c.ReplyMaxAge <= 0 {
		c.ReplyMaxAge = DefaultReplyMaxAge
	}
	if c.Checkin.Grace <= 0 {
		c.Checkin.Grace = 30 * time.Minute
	}
	if c.Checkin.Lease <= 0 {
		c.Checkin.Lease = time.Minute
	}
	return &Service{checkin: c.Checkin, engine: c.Engine, store: c.Store, keys: c.Keys, recipients: c.Recipients, botID: c.BotIdentity,
		trust: c.Trust, maxAge: c.ReplyMaxAge, limits: c.Limits, budget: c.Budget, fetch: c.Fetch, broadcasts: c.Broadcasts, rate: c.Rate, log: c.Log, now: c.Now,
		urgent: make(chan struct{}, 1)}
}

// UrgentQueued receives after this process has queued a new urgent case
// (a report, a missed or duress check-in); several cases may make one
// receive. Whoever alerts staff looks for due alerts then (DueAlerts).
func (s *Service) UrgentQueued() <-chan struct{} { return s.urgent }

// queuedUrgent signals UrgentQueued.
func (s *Service) queuedUrgent() {
	select {
	case s.urgent <- struct{}{}:
	default:
	}
}

// NewDraftID returns a random draft id, for flows.Config.NewID.
func NewDraftID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// profile is what is remembered of a chat between reports.
type profile struct {
	Lang    string         `json:"lang,omitempty"`
	Refs    []string       `json:"refs,omitempty"`   // reports sent from this chat, oldest first
	Thread  string         `json:"thread,omitempty"` // the case the mission last wrote about
	Pick    *flows.Pick    `json:"pick,omitempty"`
	Compose *flows.Compose `json:"compose,omitempty"`
	// Setup is a /checkin conversation in progress: choices, the note
	// sealed to the staff and the duress word's MAC, never the word.
	Setup *flows.CheckinSetup `json:"setup,omitempty"`
	// Checkin says whether a check-in runs, so that a text (which may be
	// the duress word) reads the record only then: checkinOn, checkinOff,
	// or "" for not known (a profile written before the flag, or lost),
	// which reads it.
	Checkin string `json:"checkin,omitempty"`
}

// The values of profile.Checkin.
const (
	checkinOn  = "on"
	checkinOff = "off"
)

// skipsCheckin tells whether handling ev may do without the check-in
// record: only a text, in a chat known to run none and with no setup in
// progress (a setup's last step starts one). In doubt the record is read,
// so that a stale flag costs a read and never misses a duress word.
func (p profile) skipsCheckin(ev flows.Event) bool {
	return ev.Kind == flows.EventText && p.Checkin == checkinOff && p.Setup == nil
}

// equal tells whether q is p unchanged. The engine replaces Pick and
// Compose when it changes them, so comparing pointers is enough.
func (p profile) equal(q profile) bool {
	return p.Lang == q.Lang && p.Thread == q.Thread && slices.Equal(p.Refs, q.Refs) &&
		p.Pick == q.Pick && p.Compose == q.Compose && p.Setup == q.Setup && p.Checkin == q.Checkin
}

func (p profile) state(d *flows.Draft) flows.State {
	return flows.State{Lang: p.Lang, Draft: d, Thread: p.Thread, Pick: p.Pick, Compose: p.Compose, Setup: p.Setup}
}

func (p profile) with(s flows.State) profile {
	p.Lang, p.Thread, p.Pick, p.Compose, p.Setup = s.Lang, s.Thread, s.Pick, s.Compose, s.Setup
	return p
}

// Reply is what to send back for one event.
type Reply struct {
	Messages []flows.Message
	Toast    string
	// Lang is the language the chat speaks now, for any message the front
	// end adds itself.
	Lang string
	// Delete lists messages of the chat to delete before sending Messages
	// (/wipe). Deleting may fail for messages older than Telegram allows.
	Delete []int
	// DeleteIncoming says the defender's own message must not stay in the
	// chat: a check-in's note or duress word, typed in. Deleted at once,
	// it leaves the chat as a tapped check-in would.
	DeleteIncoming bool
	// Skipped is true when the update had already been applied (it was
	// handled before a crash) and its reply is not known: nothing to send.
	Skipped bool
	// Resent is true when the update had already been applied and
	// Messages are the reply stored with it: the process that handled it
	// may have died before sending them, so they go again (the defender
	// may see them twice, and never not at all).
	Resent bool
}

// wipeOrForget are let through any rate limit: a defender in danger must be
// able to clear the chat whatever they sent before.
func wipeOrForget(ev flows.Event) bool {
	return ev.Kind == flows.EventCommand && (ev.Command == "wipe" || ev.Command == "forget")
}

// Handle runs one event from chat (a transport's chat id; only its keyed
// hash is stored).
func (s *Service) Handle(ctx context.Context, chat int64, ev flows.Event) (Reply, error) {
	return s.HandleEntry(ctx, chat, ev, "")
}

// HandleEntry is Handle for an update taken from the inbox as entry (a
// stream id). The chat's state records the last entry applied to it and the
// reply, in the same write as the state itself, so an entry handled again
// after a crash changes nothing: the last one applied is answered with its
// stored reply (Reply.Resent), an older one with Reply.Skipped.
//
// With a ChatCache in ctx (WithChatCache), the chat's state as the last
// entry left it is taken from there instead of Redis, and this update is
// counted with the write of the new state.
func (s *Service) HandleEntry(ctx context.Context, chat int64, ev flows.Event, entry string) (Reply, error) {
	handle := s.keys.Hash("chat", chat)
	var stored store.Chat
	var n int64
	var err error
	cache := chatCacheFrom(ctx)
	now := s.now()
	read := now // when stored was read from Redis
	// uncounted is this update's count, when it is to be written with the
	// chat's state: taken from the cache, and under the limit.
	var uncounted *store.Counter
	// The entry is taken out whatever is done with it: the chat's state
	// is about to change.
	cached, hit := cache.take(handle, now)
	switch {
	case wipeOrForget(ev):
		// Let through any limit, so not counted.
		stored, err = s.store.LoadChat(ctx, handle)
	case hit && entry != "" && cached.count < int64(s.limits.MessagesPerMinute):
		stored, n, read = cached.chat, cached.count+1, cached.read
		uncounted = &store.Counter{Kind: "msg", Window: time.Minute, Now: now}
	default:
		stored, n, err = s.store.LoadChatCounting(ctx, handle, "msg", time.Minute, now)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("intake: %w", err)
	}
	// An update handled before a crash was counted then: it neither counts
	// as over the limit nor is applied again.
	if entry != "" && store.Applied(stored.Applied, entry) {
		return s.replay(ctx, handle, entry, stored.Applied), nil
	}
	if n > int64(s.limits.MessagesPerMinute) {
		s.log.Info("chat over its message rate; event ignored")
		if n == int64(s.limits.MessagesPerMinute)+1 {
			lang := s.engine.Lang(flows.State{}, ev.LanguageHint)
			return Reply{Lang: lang, Messages: []flows.Message{{Text: s.engine.Text(lang, "msg.slow_down")}}}, nil
		}
		return Reply{}, nil
	}
	prof, draft := s.open(handle, stored)
	before := prof.state(draft)
	if flows.ReadsSubscription(ev) {
		// The subscription is kept in one place, where a 403 from a
		// broadcast also ends it: read it only for the events that need it.
		if before.Subscribed, err = s.subscription(ctx, handle); err != nil {
			return Reply{}, err
		}
	}
	var ck *checkinRecord
	var ckStored store.Checkin
	running := prof.Checkin // what profile.Checkin becomes
	if flows.ReadsCheckin(ev) && !prof.skipsCheckin(ev) {
		if ck, ckStored, err = s.loadCheckin(ctx, handle); err != nil {
			return Reply{}, err
		}
		running = checkinOff
		if ck != nil {
			before.Checkin = ck.view()
			running = checkinOn
		}
	}

	after, res := s.engine.Handle(before, ev)
	lang := s.engine.Lang(after, ev.LanguageHint)
	reply := Reply{Messages: res.Messages, Toast: res.Toast, Lang: lang}

	switch res.Effect {
	case flows.EffectSubmit:
		if over, err := s.overReportLimit(ctx, handle); err != nil {
			return Reply{}, err
		} else if over {
			if uncounted != nil {
				s.count(ctx, handle, uncounted)
			}
			s.log.Info("chat over its report limit; draft kept")
			reply.Messages = []flows.Message{{Text: s.engine.Text(lang, "msg.too_many_reports")}}
			return reply, nil
		}
		hold, paused := s.takeReport(ctx)
		if paused {
			if uncounted != nil {
				s.count(ctx, handle, uncounted)
			}
			reply.Messages = []flows.Message{{Text: s.engine.Text(lang, "msg.reports_paused")}}
			return reply, nil
		}
		ref, fresh, err := s.submit(ctx, chat, after)
		if err != nil || !fresh {
			s.settle(ctx, hold, 0) // nothing new queued
		}
		if err != nil {
			return Reply{}, err
		}
		for _, w := range reportWindows {
			if _, err := s.store.Count(ctx, handle, w.kind, w.window, s.now()); err != nil {
				s.log.Warn("could not count a report against the limit", "err", err)
			}
		}
		after = s.engine.Submitted(after)
		next := prof.with(after)
		next.Checkin = running
		if !slices.Contains(next.Refs, ref) {
			next.Refs = append(slices.Clip(next.Refs), ref)
		}
		reply.Messages = append(reply.Messages, s.engine.Receipt(lang, ref)...)
		if _, err := s.save(ctx, handle, next, after, true, true, entry, reply, uncounted); err != nil {
			// The report is queued; only the draft lingers. Sending the
			// draft again returns the same reference.
			return Reply{}, err
		}
		return reply, nil
	case flows.EffectStatus:
		cases, err := s.store.Statuses(ctx, prof.Refs)
		if err != nil {
			return Reply{}, fmt.Errorf("intake: %w", err)
		}
		statuses := make([]flows.CaseStatus, len(cases))
		for i, c := range cases {
			statuses[i] = flows.CaseStatus{Ref: c.Ref, ReceivedAt: c.ReceivedAt, Status: c.Status}
		}
		reply.Messages = append(reply.Messages, s.engine.Status(lang, statuses)...)
		reply.Messages = append(reply.Messages, s.engine.CheckinStatus(lang, before.Checkin)...)
	case flows.EffectFile:
		stored, err := s.storeFile(ctx, after.Draft, ev)
		if err != nil {
			s.log.Warn("file not taken", "err", err)
			key := "msg.file_failed"
			switch {
			case errors.Is(err, errFileTooBig):
				key = "msg.file_failed_size"
			case errors.Is(err, budget.ErrFilesPaused):
				key = "msg.files_paused"
			}
			reply.Messages = append(reply.Messages, flows.Message{Text: s.engine.Text(lang, key)})
			return reply, nil
		}
		var msgs []flows.Message
		after, msgs = s.engine.FileAdded(after, stored)
		reply.Messages = append(reply.Messages, msgs...)
	case flows.EffectWipe:
		ids, err := s.store.TakeMessages(ctx, handle)
		if err != nil {
			return Reply{}, fmt.Errorf("intake: %w", err)
		}
		reply.Delete = ids
	case flows.EffectForget:
		if before.Draft != nil {
			if err := s.store.DeleteUploads(ctx, before.Draft.Uploads()); err != nil {
				return Reply{}, fmt.Errorf("intake: %w", err)
			}
		}
		if err := s.store.Forget(ctx, handle, prof.Refs); err != nil {
			return Reply{}, fmt.Errorf("intake: %w", err)
		}
		if err := s.store.Unsubscribe(ctx, handle); err != nil {
			return Reply{}, fmt.Errorf("intake: %w", err)
		}
		if err := s.store.StopCheckin(ctx, handle); err != nil {
			return Reply{}, fmt.Errorf("intake: %w", err)
		}
		s.log.Info("chat forgotten")
		reply.Messages = append(reply.Messages, s.engine.Forgotten(lang, len(prof.Refs))...)
		return reply, nil
	case flows.EffectSubscribe, flows.EffectUnsubscribe, flows.EffectGuidance, flows.EffectGuidancePage,
		flows.EffectCreatePublication, flows.EffectApprove, flows.EffectCancelPublication, flows.EffectPublicationStatus:
		msgs, err := s.publishing(ctx, chat, handle, lang, after, ev, res)
		if err != nil {
			return Reply{}, err
		}
		reply.Messages = append(reply.Messages, msgs...)
	case flows.EffectCheckinNote, flows.EffectCheckinStart, flows.EffectCheckinNow, flows.EffectCheckinInterval, flows.EffectCheckinStop:
		var msgs []flows.Message
		after, msgs, err = s.checkinEffect(ctx, chat, handle, lang, entry, after, ev, res, ck, ckStored)
		if err != nil {
			return Reply{}, err
		}
		switch res.Effect {
		case flows.EffectCheckinStart:
			running = checkinOn
		case flows.EffectCheckinStop:
			running = checkinOff
		}
		reply.Messages = append(reply.Messages, msgs...)
		// Typed, the note or the duress word (at setup, or to check in
		// under duress) would stay on the phone for anyone to read.
		reply.DeleteIncoming = ev.Kind == flows.EventText &&
			(res.Effect == flows.EffectCheckinNote || res.Effect == flows.EffectCheckinStart || res.Effect == flows.EffectCheckinNow)
	case flows.EffectAnswer:
		var msgs []flows.Message
		switch err := s.answer(ctx, after.Thread, ev.Text, entry); {
		case errors.Is(err, store.ErrNotFound):
			after, msgs = s.engine.CaseGone(after, lang)
		case err != nil:
			return Reply{}, err
		default:
			msgs = s.engine.AnswerSent(lang, after.Thread)
		}
		reply.Messages = append(reply.Messages, msgs...)
	}

	if res.Refused {
		s.log.Warn("a coordinator's command was refused to someone who is not a coordinator")
	}
	if after.Lang != before.Lang && res.Effect == flows.EffectNone {
		// Broadcasts follow the chat's language.
		if err := s.followLanguage(ctx, chat, handle, lang); err != nil {
			return Reply{}, err
		}
	}
	next := prof.with(after)
	next.Checkin = running
	saved, err := s.save(ctx, handle, next, after, !next.equal(prof), after.Draft != before.Draft, entry, reply, uncounted)
	if err != nil {
		return Reply{}, err
	}
	if entry != "" && n > 0 {
		cache.put(handle, cachedChat{chat: saved.Apply(stored), count: n, window: minute(now), read: read}, now)
	}
	if before.Draft != nil && (after.Draft == nil || after.Draft.ID != before.Draft.ID) {
		// The draft was cancelled or wiped: its files go with it.
		if err := s.store.DeleteUploads(ctx, before.Draft.Uploads()); err != nil {
			s.log.Warn("could not delete the files of a discarded draft; they expire on their own", "err", err)
		}
	}
	return reply, nil
}

var errFileTooBig = errors.New("intake: the file is larger than announced or allowed")

// storeFile fetches a file, streams it through age to the staff recipients
// into Redis, hashing the bytes as received, and returns its chain-of-custody
// record. Neither the plain file nor its whole ciphertext is held in memory.
func (s *Service) storeFile(ctx context.Context, d *flows.Draft, ev flows.Event) (flows.Evidence, error) {
	if s.fetch == nil || ev.File == nil {
		return flows.Evidence{}, errors.New("intake: this front end cannot fetch files")
	}
	f := ev.File
	limits := s.engine.FileLimits()
	// The budget is taken before the file is fetched: a file refused
	// costs no download. Telegram announces the size; a file that does not
	// is counted at the most it may be until it is stored.
	announced := f.Size
	if announced <= 0 || announced > limits.MaxFileSize {
		announced = limits.MaxFileSize
	}
	hold, err := s.budget.TakeFile(ctx, announced)
	if err != nil {
		return flows.Evidence{}, fmt.Errorf("intake: %w", err)
	}
	var n int64 // bytes stored, what the hold is settled to
	defer func() { s.settle(context.WithoutCancel(ctx), hold, n) }()
	rc, err := s.fetch(ctx, f.ID)
	if err != nil {
		return flows.Evidence{}, fmt.Errorf("intake: fetch file: %w", err)
	}
	defer rc.Close()
	key := store.UploadKey(d.ID, len(d.Files))
	out := s.store.Upload(ctx, key)
	enc, err := s.recipients.SealTo(out)
	if err != nil {
		return flows.Evidence{}, fmt.Errorf("intake: %w", err)
	}
	sum := sha256.New()
	n, err = io.Copy(enc, io.TeeReader(io.LimitReader(rc, limits.MaxFileSize+1), sum))
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		err = out.Close()
	}
	if err == nil && n > limits.MaxFileSize {
		err = errFileTooBig
	}
	if err != nil {
		s.store.DeleteUploads(context.WithoutCancel(ctx), []string{key})
		n = 0
		return flows.Evidence{}, fmt.Errorf("intake: store file: %w", err)
	}
	s.log.Info("file sealed and stored", "kind", f.Kind, "bytes", n)
	return flows.Evidence{Kind: f.Kind, Name: f.Name, MIME: f.MIME, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil)),
		ReceivedAt: s.now().UTC(), Caption: ev.Text, Key: key}, nil
}

// takeReport takes a report of the budget all chats share; paused is true
// when the report must be refused (the draft is kept). Text keeps flowing:
// a budget that cannot be counted (Redis failing) does not stop a report.
func (s *Service) takeReport(ctx context.Context) (h *budget.Hold, paused bool) {
	h, err := s.budget.TakeReport(ctx)
	switch {
	case errors.Is(err, budget.ErrReportsPaused):
		s.log.Warn("report refused, draft kept", "err", err)
		return nil, true
	case err != nil:
		s.log.Warn("could not count a report against the budget; taking it", "err", err)
	}
	return h, false
}

// settle corrects a hold on the budget to what was stored; failing, it
// only says so: the hold stays counted until its window ends.
func (s *Service) settle(ctx context.Context, h *budget.Hold, used int64) {
	if err := h.Settle(ctx, used); err != nil {
		s.log.Warn("could not settle a hold on the budget; it stays counted until its window ends", "err", err)
	}
}

var reportWindows = []struct {
	kind   string
	window time.Duration
}{{"rep-h", time.Hour}, {"rep-d", 24 * time.Hour}}

// overReportLimit tells whether the chat has sent as many reports as it may
// in the past hour or day.
func (s *Service) overReportLimit(ctx context.Context, handle string) (bool, error) {
	for _, w := range reportWindows {
		n, err := s.store.Counted(ctx, handle, w.kind, w.window, s.now())
		if err != nil {
			return false, fmt.Errorf("intake: %w", err)
		}
		limit := s.limits.ReportsPerHour
		if w.window > time.Hour {
			limit = s.limits.ReportsPerDay
		}
		if n >= int64(limit) {
			return true, nil
		}
	}
	return false, nil
}

// answer seals a defender's answer to the staff and adds it to the case.
func (s *Service) answer(ctx context.Context, ref, text, entry string) error {
	sealed, err := s.recipients.Seal([]byte(text))
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	// An inbox entry handled again (the process died before saving the
	// chat's state) adds its answer once.
	if err := s.store.AddEntry(ctx, store.Entry{Ref: ref, Kind: "answer", At: s.now(), Sealed: sealed, Once: entry}); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	s.log.Info("answer added to a case")
	return nil
}

// storedReply is a reply kept with the inbox entry it answers.
type storedReply struct {
	Entry    string          `json:"entry"`
	Lang     string          `json:"lang,omitempty"`
	Toast    string          `json:"toast,omitempty"`
	Messages []flows.Message `json:"messages"`
}

// replay answers an inbox entry that was applied before: with its stored
// reply when it is the last entry applied (the process handling it may
// have died before sending it), or Skipped. A reply that cannot be read is
// not sent again; the defender can repeat the step.
func (s *Service) replay(ctx context.Context, handle, entry, lastApplied string) Reply {
	if entry != lastApplied {
		return Reply{Skipped: true} // later entries were handled since: its reply went out
	}
	sealed, err := s.store.LoadReply(ctx, handle)
	if err != nil || sealed == nil {
		if err != nil {
			s.log.Warn("the reply to an update handled before could not be read", "err", err)
		}
		return Reply{Skipped: true}
	}
	var r storedReply
	if raw, err := s.keys.Open(replyName(handle), sealed); err != nil {
		s.log.Warn("the reply to an update handled before could not be unsealed", "err", err)
		return Reply{Skipped: true}
	} else if err := json.Unmarshal(raw, &r); err != nil || r.Entry != entry {
		return Reply{Skipped: true}
	}
	return Reply{Resent: true, Lang: r.Lang, Toast: r.Toast, Messages: r.Messages}
}

func draftName(handle string) string   { return "draft:" + handle }
func replyName(handle string) string   { return "reply:" + handle }
func profileName(handle string) string { return "profile:" + handle }
func routeName(ref string) string      { return "route:" + ref }

// route is how a staff reply finds its defender.
type route struct {
	Chat    int64 `json:"chat"`
	Contact bool  `json:"contact"` // false when the defender said not to reply here
}

// open unseals a chat's state. A value that does not open (the bot's secret
// changed, or it was tampered with) is treated as absent, and said so in the
// log without content.
func (s *Service) open(handle string, c store.Chat) (profile, *flows.Draft) {
	var p profile
	var d *flows.Draft
	if c.Profile != nil {
		if raw, err := s.keys.Open(profileName(handle), c.Profile); err != nil {
			s.log.Warn("chat settings could not be unsealed; starting afresh", "err", err)
		} else if err := json.Unmarshal(raw, &p); err != nil {
			s.log.Warn("chat settings are malformed; starting afresh")
		}
	}
	if c.Draft != nil {
		var draft flows.Draft
		if raw, err := s.keys.Open(draftName(handle), c.Draft); err != nil {
			s.log.Warn("draft could not be unsealed; starting afresh", "err", err)
		} else if err := json.Unmarshal(raw, &draft); err != nil {
			s.log.Warn("draft is malformed; starting afresh")
		} else {
			d = &draft
		}
	}
	return p, d
}

// count adds the update to its chat's counter, when the write that was to
// count it (save) does not happen.
func (s *Service) count(ctx context.Context, handle string, c *store.Counter) {
	if _, err := s.store.Count(ctx, handle, c.Kind, c.Window, c.Now); err != nil {
		s.log.Warn("could not count a message against the limit", "err", err)
	}
}

// save stores a chat's changed state and, with applied, the inbox entry it
// applies and the reply to it, and with count the update's count, in one
// round trip, and returns what it wrote. It drops the chat from the
// ChatCache in ctx: HandleEntry puts it back once the write is done.
func (s *Service) save(ctx context.Context, handle string, p profile, st flows.State, profileChanged, draftChanged bool, applied string, reply Reply, count *store.Counter) (store.ChatUpdate, error) {
	chatCacheFrom(ctx).drop(handle)
	u := store.ChatUpdate{Applied: applied, Count: count}
	if applied != "" && len(reply.Messages) > 0 {
		raw, err := json.Marshal(storedReply{Entry: applied, Lang: reply.Lang, Toast: reply.Toast, Messages: reply.Messages})
		if err != nil {
			return u, fmt.Errorf("intake: encode reply: %w", err)
		}
		u.Reply = s.keys.Seal(replyName(handle), raw)
	}
	if profileChanged {
		raw, err := json.Marshal(p)
		if err != nil {
			return u, fmt.Errorf("intake: encode settings: %w", err)
		}
		u.Profile = s.keys.Seal(profileName(handle), raw)
	}
	if draftChanged {
		if st.Draft == nil {
			u.DeleteDraft = true
		} else {
			raw, err := json.Marshal(st.Draft)
			if err != nil {
				return u, fmt.Errorf("intake: encode draft: %w", err)
			}
			u.Draft = s.keys.Seal(draftName(handle), raw)
		}
	}
	if err := s.store.SaveChat(ctx, handle, u); err != nil {
		return u, fmt.Errorf("intake: %w", err)
	}
	return u, nil
}

// submit seals the draft in st to the staff and queues it, returning its
// reference (the earlier one if this draft was already queued, and then
// fresh false).
func (s *Service) submit(ctx context.Context, chat int64, st flows.State) (string, bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		ref, err := flows.NewRef(rand.Reader)
		if err != nil {
			return "", false, fmt.Errorf("intake: %w", err)
		}
		now := s.now()
		report := s.engine.Report(st, ref, now)
		raw, err := json.Marshal(report)
		if err != nil {
			return "", false, fmt.Errorf("intake: encode report: %w", err)
		}
		sealed, err := s.recipients.Seal(raw)
		clear(raw)
		if err != nil {
			return "", false, fmt.Errorf("intake: %w", err)
		}
		rt, err := json.Marshal(route{Chat: chat, Contact: report.Answers[flows.QContact] != "no"})
		if err != nil {
			return "", false, fmt.Errorf("intake: encode route: %w", err)
		}
		got, fresh, err := s.store.Enqueue(ctx, store.Submission{
			DraftID: st.Draft.ID, Ref: ref, Sealed: sealed, SealedTo: s.recipients.Fingerprints(),
			ReceivedAt: report.ReceivedAt, Urgent: report.Urgent, Route: s.keys.Seal(routeName(ref), rt),
			Uploads: st.Draft.Uploads(),
		})
		if errors.Is(err, store.ErrRefTaken) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("intake: %w", err)
		}
		if fresh {
			if report.Urgent {
				s.queuedUrgent()
			}
			s.log.Info("report queued", "urgent", report.Urgent)
		} else {
			s.log.Info("report already queued; not queued again")
		}
		return got, fresh, nil
	}
	return "", false, errors.New("intake: could not find a free case reference after 5 tries")
}
