package broadcast

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// Errors a Sender returns, so that the Deliverer knows what to do.
var (
	// ErrBlocked: the subscriber blocked the bot or left Telegram (403).
	// They are unsubscribed.
	ErrBlocked = errors.New("broadcast: the subscriber blocked the bot or their account is gone")
	// ErrRefused: Telegram refused the message for good (400).
	ErrRefused = errors.New("broadcast: Telegram refused the message")
)

// RetryAfter is Telegram's 429: no message may be sent for Wait.
type RetryAfter struct{ Wait time.Duration }

func (e *RetryAfter) Error() string { return "broadcast: Telegram asks to wait " + e.Wait.String() }

// Sender sends one message of Telegram HTML to a chat. When ready is not
// nil the sender calls it once, at the last moment before the message
// leaves (with the request already built), and gives up if it fails: it
// waits for the pacer, so that the time spent preparing a request does not
// blur the rate Telegram sees. Errors other than ErrBlocked, ErrRefused
// and *RetryAfter are taken as temporary (a server or network error) and
// retried.
type Sender func(ctx context.Context, chat int64, html string, ready func() error) error

// Translator renders the preview's header.
type Translator interface {
	T(lang, key string, data map[string]any) string
	Region(lang, code string) string
}

// DeliveryConfig wires a Deliverer.
type DeliveryConfig struct {
	Store *store.Store
	Keys  *seal.Keys // opens subscriber records
	// Open opens texts (the bot's age identity).
	Open func(sealed []byte) ([]byte, error)
	// Send sends a broadcast message; Notify a plain one to a coordinator.
	Send   Sender
	Notify func(ctx context.Context, chat int64, text string) error
	// Coordinators get previews: name → Telegram user id.
	Coordinators map[string]int64
	// Trust is the staff keyring in force; Approvals the approvals the
	// bot's configuration requires (0: the published policy's). A
	// broadcast is sent only when Verify passes over the texts about to be
	// sent; with no Trust, none is.
	Trust     *sign.Trust
	Approvals int
	// Rate is the most messages sent in any one second (default 25).
	Rate float64
	// Owner names this process in the delivery lease; LeaseTTL is how long
	// the lease outlives a process that stopped renewing it (default 15s).
	Owner    string
	LeaseTTL time.Duration
	Text     Translator
	Log      *slog.Logger
	// Observe, when set, is told the outcome of every send ("sent",
	// "failed", "blocked", "retry-after", "retry") and of every pause.
	Observe func(outcome string)
	Now     func() time.Time
}

// Deliverer sends previews and approved broadcasts. Any number of bot
// processes run one; a lease in Redis lets one of them deliver at a time,
// so the rate holds for the whole deployment.
//
// Guarantees:
//   - At most Rate messages start in any one-second window (a sliding
//     window, not a token bucket: no burst), and never one before a
//     retry_after from Telegram has passed.
//   - One broadcast at a time, each subscriber once, a second's pause
//     between broadcasts: no chat gets two broadcasts within a second.
//   - Progress is in Redis: a process killed at any moment leaves at most
//     the messages it had in flight (2×Batch) to be sent again; the next
//     lease holder resumes where it stopped and skips nobody.
//   - 403 unsubscribes; 429 pauses all sending; 5xx and network errors
//     are retried with backoff (5 tries), then counted as failed.
type Deliverer struct {
	cfg   DeliveryConfig
	pace  *pacer
	batch int
	log   *slog.Logger
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(cfg DeliveryConfig) *Deliverer {
	if cfg.Rate <= 0 {
		cfg.Rate = 25
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	return &Deliverer{cfg: cfg, pace: newPacer(cfg.Rate), batch: Batch(cfg.Rate), log: cfg.Log}
}

// Batch is how many recipients are taken at once at rate, and how many
// messages are being sent at once: about a tenth of a second's worth, at
// least 1 and at most 100. Twice Batch bounds the messages in flight, and so
// the messages a crash can make a subscriber receive twice.
func Batch(rate float64) int { return min(100, max(1, int(rate/10))) }

// Run delivers until ctx ends. It returns after the messages in hand are
// sent and recorded.
func (d *Deliverer) Run(ctx context.Context) {
	go d.pace.run(ctx)
	for {
		held, err := d.cfg.Store.LeaseNamed(ctx, "broadcast", d.cfg.Owner, d.cfg.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("could not take the delivery lease", "err", err)
		}
		if held {
			d.previews(ctx)
			d.deliverAll(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (d *Deliverer) deliverAll(ctx context.Context) {
	for ctx.Err() == nil {
		id, err := d.cfg.Store.NextBroadcast(ctx)
		if err != nil || id == "" {
			return
		}
		if !d.deliver(ctx, id) {
			return
		}
		// No chat gets two broadcasts within a second.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// deliver sends broadcast id until it is done, stopped, or this process
// loses the lease or stops. It returns whether to go on to the next.
func (d *Deliverer) deliver(ctx context.Context, id string) bool {
	resent, err := d.cfg.Store.StartDelivery(ctx, id, d.cfg.Now())
	var state *store.StateError
	if errors.As(err, &state) {
		return true
	}
	if err != nil {
		d.log.Warn("could not start a broadcast", "id", id, "err", err)
		return false
	}
	p, err := d.cfg.Store.GetPublication(ctx, id)
	if err != nil {
		d.log.Warn("could not read a broadcast", "id", id, "err", err)
		return false
	}
	if resent > 0 {
		d.log.Info("broadcast resumed", "id", id, "resent", resent)
	} else {
		d.log.Info("broadcast sending", "id", id, "recipients", p.Total)
	}
	pol, err := d.cfg.Store.GetPolicy(ctx)
	if err != nil {
		d.log.Warn("no broadcast policy", "err", err)
		return false
	}
	texts := map[string]string{}
	for lang := range p.Texts {
		html, _, err := openText(d.cfg.Open, p, lang, pol.DefaultLang)
		if err != nil {
			d.log.Error("a text of a broadcast cannot be opened; it is not sent", "id", id, "err", err)
			d.invalid(ctx, id, "the bot cannot open its "+lang+" text (sealed to another bot key?)")
			return true
		}
		texts[lang] = html
	}
	if _, ok := texts[pol.DefaultLang]; !ok {
		d.log.Error("a broadcast has no text in the default language; it is not sent", "id", id)
		d.invalid(ctx, id, "no text in the default language "+pol.DefaultLang)
		return true
	}
	// The mission's voice: these exact texts, signed by their creator and
	// approved by enough coordinators of the bot's own keyring.
	if err := Verify(d.cfg.Trust.Keyring(), d.cfg.Keys, p, texts, approvalsNeeded(d.cfg.Approvals, pol)); err != nil {
		d.log.Error("a broadcast's signatures do not hold; it is not sent", "id", id, "problem", err.Error())
		d.invalid(ctx, id, err.Error())
		return true
	}

	// stop ends taking new recipients: the broadcast was stopped, the
	// lease lost, or the process is shutting down.
	stop, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go d.watch(stop, cancel, id)

	// A feeder takes recipients a batch at a time and hands them to as
	// many senders over an unbuffered channel: at most two batches are in
	// flight (one in the feeder's hand, one being sent).
	recipients := make(chan store.Recipient)
	var wg sync.WaitGroup
	for range d.batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range recipients {
				d.sendAndRecord(stop, id, r, texts, pol.DefaultLang)
			}
		}()
	}
	ended, ok := d.feed(stop, id, recipients)
	close(recipients)
	wg.Wait()
	if ended == "" && errors.Is(context.Cause(stop), errNotSending) {
		ended = "stopped"
	}
	if ended != "" {
		// Every message in flight has been sent and recorded.
		d.log.Info("broadcast ended", "id", id, "status", ended)
	}
	return ok && ctx.Err() == nil
}

// feed takes recipients of broadcast id until it is no longer sending or
// stop ends. It returns the status it ended in ("" when stopped) and
// whether delivery may go on to the next broadcast.
func (d *Deliverer) feed(stop context.Context, id string, out chan<- store.Recipient) (string, bool) {
	for stop.Err() == nil {
		batch, status, err := d.cfg.Store.Take(stop, id, d.batch, d.cfg.Now())
		if err != nil {
			if stop.Err() == nil {
				d.log.Warn("could not take recipients", "id", id, "err", err)
			}
			return "", false
		}
		if status != store.PubSending {
			return status, true
		}
		if len(batch) == 0 {
			// The last messages are in flight; their outcomes end it.
			select {
			case <-stop.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		for _, r := range batch {
			select {
			case out <- r:
			case <-stop.Done():
				// Left in flight: whoever resumes sends them.
				return "", true
			}
		}
	}
	return "", true
}

// invalid gives up a broadcast that can never be sent, saying why.
func (d *Deliverer) invalid(ctx context.Context, id, problem string) {
	if err := d.cfg.Store.Invalidate(ctx, id, problem); err != nil {
		d.log.Warn("could not mark a broadcast invalid", "id", id, "err", err)
	}
}

// Why watch stopped a delivery.
var (
	errNotSending = errors.New("the broadcast is no longer sending")
	errLeaseLost  = errors.New("the delivery lease was lost")
)

// watch renews the lease and cancels stop when the broadcast is no longer
// sending or the lease is lost, checking twice a second. Meanwhile it sends
// the previews of new publications, so that coordinators need not wait for
// a long broadcast to end.
func (d *Deliverer) watch(stop context.Context, cancel context.CancelCauseFunc, id string) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		held, err := d.cfg.Store.LeaseNamed(stop, "broadcast", d.cfg.Owner, d.cfg.LeaseTTL)
		if err == nil && !held {
			d.log.Warn("delivery lease lost; another process takes over", "id", id)
			cancel(errLeaseLost)
			return
		}
		status, err := d.cfg.Store.PublicationStatus(stop, id)
		if err == nil && status != store.PubSending {
			cancel(errNotSending)
			return
		}
		d.previews(stop)
	}
}

// sendAndRecord sends to one recipient and records the outcome. A send
// that has started always finishes and is recorded, even when stop ends
// meanwhile; one that has not started stays in flight and is sent by
// whoever resumes the broadcast.
func (d *Deliverer) sendAndRecord(stop context.Context, id string, r store.Recipient, texts map[string]string, def string) {
	outcome, started := d.sendOne(stop, r, texts, def)
	if !started {
		return
	}
	d.cfg.Observe(outcome)
	if err := d.cfg.Store.Record(context.WithoutCancel(stop), id, r.Handle, outcome, d.cfg.Now()); err != nil {
		d.log.Warn("could not record a send; it may be sent again", "id", id, "err", err)
	}
}

func (d *Deliverer) sendOne(stop context.Context, r store.Recipient, texts map[string]string, def string) (outcome string, started bool) {
	sub, err := OpenSubscriber(d.cfg.Keys, r.Handle, r.Sealed)
	if err != nil {
		d.log.Warn("a subscriber record cannot be opened; not sent", "err", err)
		return store.OutcomeFailed, true
	}
	html, ok := texts[sub.Lang]
	if !ok {
		html = texts[def]
	}
	send := context.WithoutCancel(stop)
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		var left atomic.Bool
		ready := func() error {
			if err := d.pace.wait(stop); err != nil {
				return err
			}
			left.Store(true)
			return nil
		}
		ctx, cancel := context.WithTimeout(send, 30*time.Second)
		err := d.cfg.Send(ctx, sub.Chat, html, ready)
		cancel()
		if left.Load() {
			started = true
		} else if stop.Err() != nil {
			return "", started // stopped before it left: still in flight
		}
		var retry *RetryAfter
		switch {
		case err == nil:
			return store.OutcomeSent, true
		case errors.Is(err, ErrBlocked):
			return store.OutcomeBlocked, true
		case errors.Is(err, ErrRefused):
			d.log.Info("Telegram refused a broadcast message", "err", "bad-request")
			return store.OutcomeFailed, true
		case errors.As(err, &retry):
			d.cfg.Observe("retry-after")
			d.pace.pause(retry.Wait)
			attempt-- // a 429 is not a failed try
		default:
			d.cfg.Observe("retry")
			if attempt >= 5 {
				return store.OutcomeFailed, true
			}
			select {
			case <-time.After(backoff):
			case <-stop.Done():
				// Shutting down: leave it in flight for whoever resumes.
				return "", false
			}
			backoff *= 2
		}
	}
}

// previews sends each new publication's preview to every coordinator: a
// header, then each text exactly as subscribers will get it, the default
// language first. A text Telegram refuses makes the publication invalid.
func (d *Deliverer) previews(ctx context.Context) {
	pending, err := d.cfg.Store.PendingPreviews(ctx)
	if err != nil || len(pending) == 0 {
		return
	}
	pol, err := d.cfg.Store.GetPolicy(ctx)
	if err != nil {
		return
	}
	names := make([]string, 0, len(d.cfg.Coordinators))
	for name := range d.cfg.Coordinators {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, p := range pending {
		if p.Status != store.PubQueued {
			d.cfg.Store.MarkPreviewed(ctx, p.ID, "")
			continue
		}
		problem, seen, ok := d.preview(ctx, p, pol, names)
		if !ok {
			continue // a temporary failure: tried again in a second
		}
		if problem == "" && len(seen) == 0 {
			problem = noCoordinatorReached // nobody could approve it
		}
		if err := d.cfg.Store.MarkPreviewed(ctx, p.ID, problem, seen); err != nil {
			d.log.Warn("could not record a preview", "id", p.ID, "err", err)
		}
		d.log.Info("preview sent", "id", p.ID, "coordinators", len(names), "reached", len(seen), "refused", problem != "")
	}
}

// noCoordinatorReached is the problem of a publication whose preview
// reached no coordinator.
const noCoordinatorReached = "the preview reached no coordinator: each blocked the bot or has not started a chat with it; create it again once they can receive it"

// preview sends p's preview to the coordinators named. seen holds, for
// each coordinator Telegram delivered all of it to, the record of what
// they saw (the digest of the texts, vouched for by the bot): only they
// may approve, and their approval in Telegram carries it.
func (d *Deliverer) preview(ctx context.Context, p store.Publication, pol store.Policy, names []string) (problem string, seen map[string][]byte, ok bool) {
	langs := p.Langs()
	slices.SortStableFunc(langs, func(a, b string) int {
		switch {
		case a == pol.DefaultLang:
			return -1
		case b == pol.DefaultLang:
			return 1
		}
		return 0
	})
	texts := make([]string, len(langs))
	byLang := map[string]string{}
	for i, l := range langs {
		html, _, err := openText(d.cfg.Open, p, l, pol.DefaultLang)
		if err != nil {
			return "a text cannot be opened by the bot: " + err.Error(), nil, true
		}
		texts[i] = html
		byLang[l] = html
	}
	seen = map[string][]byte{}
	n, _ := d.cfg.Store.Subscribers(ctx, p.Countries)
	lang := pol.DefaultLang
	countries := make([]string, len(p.Countries))
	for i, c := range p.Countries {
		countries[i] = d.cfg.Text.Region(lang, c)
	}
	header := d.cfg.Text.T(lang, "compose.preview", map[string]any{"ID": p.ID,
		"Kind": d.cfg.Text.T(lang, "compose.kind_"+p.Kind, nil), "Countries": strings.Join(countries, ", "),
		"Subscribers": n, "Languages": strings.Join(langs, ", "), "Creator": p.Creator})
	// Previews count against Telegram's limit like any message: paced.
	for _, name := range names {
		chat := d.cfg.Coordinators[name]
		if d.pace.wait(ctx) != nil {
			return "", nil, false
		}
		if err := d.cfg.Notify(ctx, chat, header); err != nil {
			if errors.Is(err, ErrBlocked) || errors.Is(err, ErrRefused) {
				d.log.Warn("a coordinator cannot be reached for a preview; they cannot approve it", "coordinator", name)
				continue
			}
			return "", nil, false
		}
		got := true
		for i, html := range texts {
			err := d.cfg.Send(ctx, chat, html, func() error { return d.pace.wait(ctx) })
			if errors.Is(err, ErrRefused) {
				d.cfg.Notify(ctx, chat, d.cfg.Text.T(lang, "compose.preview_refused", map[string]any{"ID": p.ID, "Language": langs[i]}))
				return "Telegram refused the " + langs[i] + " text (its formatting)", nil, true
			}
			if errors.Is(err, ErrBlocked) {
				d.log.Warn("a coordinator cannot be reached for a preview; they cannot approve it", "coordinator", name)
				got = false
				break // the rest would be refused too
			}
			if err != nil {
				return "", nil, false
			}
		}
		if got {
			rec, err := PreviewRecord(d.cfg.Keys, name, chat, p, byLang, d.cfg.Now())
			if err != nil {
				d.log.Warn("no record of a preview: its approval in Telegram will be refused", "coordinator", name, "err", err)
				continue
			}
			seen[name] = rec
		}
	}
	return "", seen, true
}

// pacer lets at most limit sends start in any window, spaced evenly, and
// none while paused. One goroutine (run) hands out permits; the moment a
// sender takes one is what the window counts, so a late sender never
// makes two sends closer than planned.
type pacer struct {
	interval time.Duration
	window   time.Duration
	limit    int
	permits  chan struct{}

	mu     sync.Mutex
	paused time.Time

	// granted, when set, is told the moment of every permit (for tests).
	granted func(time.Time)
}

// windowMargin widens the one-second window a little, so that the jitter
// between a send starting here and arriving at Telegram cannot put one
// more than the rate into a second there.
const windowMargin = 30 * time.Millisecond

// catchUp bounds how far behind its plan the pacer may catch up at once.
const catchUp = 10 * time.Millisecond

func newPacer(rate float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / rate), window: time.Second + windowMargin,
		limit: max(1, int(rate)), permits: make(chan struct{})}
}

// run hands out permits until ctx ends.
func (p *pacer) run(ctx context.Context) {
	granted := make([]time.Time, 0, p.limit) // the last limit permits, a ring
	oldest := 0
	var next time.Time // the planned moment of the next permit
	for {
		// Spacing follows the plan, so that the time it takes to hand a
		// permit over does not slow the rate down; a sender late by more
		// than a few permits does not earn a burst.
		at := later(next, time.Now().Add(-catchUp))
		if len(granted) == p.limit {
			at = later(at, granted[oldest].Add(p.window))
		}
		at = later(at, p.pausedUntil())
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if p.pausedUntil().After(time.Now()) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case p.permits <- struct{}{}:
		}
		now := time.Now()
		if p.granted != nil {
			p.granted(now)
		}
		next = at.Add(p.interval)
		if len(granted) < p.limit {
			granted = append(granted, now)
		} else {
			granted[oldest] = now
			oldest = (oldest + 1) % p.limit
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (p *pacer) pausedUntil() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// wait blocks until a send may start, or ctx ends. A permit taken while a
// pause began is given up.
func (p *pacer) wait(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.permits:
		}
		if !p.pausedUntil().After(time.Now()) {
			return nil
		}
	}
}

// pause stops every send for d from now.
func (p *pacer) pause(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := time.Now().Add(d); until.After(p.paused) {
		p.paused = until
	}
}
