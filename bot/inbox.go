package bot

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/segmentio/encoding/json"

	"github.com/vigil-hrd/vigil/intake"
)

// Inbox is where updates wait, durably, until a worker has handled them;
// intake.Service is the real one.
type Inbox interface {
	AcceptMany(ctx context.Context, partitions int, us []intake.Update) (dropped []string, err error)
	InitInbox(ctx context.Context, partitions int) error
	Lease(ctx context.Context, p int, owner string, ttl time.Duration) (bool, error)
	LeaseNamed(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, p int, owner string) error
	// NextInbox reads a partition's next updates and finishes done, the
	// updates handled since the last read, in the same round trip.
	NextInbox(ctx context.Context, p int, consumer string, block time.Duration, read intake.InboxRead, done ...intake.Done) ([]intake.InboxEntry, error)
	OpenEntry(p int, e intake.InboxEntry) ([]byte, error)
	DoneMany(ctx context.Context, p int, done []intake.Done) error
	Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error)
}

// WebhookConfig turns on webhook mode.
type WebhookConfig struct {
	URL     string // public HTTPS URL Telegram posts to
	Listen  string // local address to serve it on
	Secret  string // X-Telegram-Bot-Api-Secret-Token
	MaxBody int64  // bytes; larger bodies are refused (default 1 MiB)
}

var allowedUpdates = []string{"message", "edited_message", "callback_query"}

// acceptMany stores updates (one getUpdates answer, or one webhook post) in
// the inbox in one round trip and returns the offset past them. It returns
// nil only when every update is stored or deliberately dropped (malformed,
// from no chat, duplicate, flood), so that they may be acknowledged to
// Telegram.
//
// Of each update it decodes only what routes it (route): a field further
// in that does not decode is found by the partition's worker, which drops
// the update (process).
func (b *Bot) acceptMany(ctx context.Context, ups []json.RawMessage) (next int64, err error) {
	var batch []intake.Update
	var kinds []string
	for _, raw := range ups {
		var r route
		if err := json.Unmarshal(raw, &r); err != nil {
			// The offset must pass even an update that does not decode.
			// The decoder stops at the first field of the wrong type:
			// update_id alone is read unless raw is not JSON at all.
			var head struct {
				ID int64 `json:"update_id"`
			}
			json.Unmarshal(raw, &head)
			next = max(next, head.ID+1)
			b.metrics.updates("malformed", "dropped")
			continue
		}
		next = max(next, r.ID+1)
		chat, ok := r.chat()
		kind := r.kind()
		if !ok {
			b.metrics.updates(kind, "ignored")
			continue
		}
		batch = append(batch, intake.Update{ID: r.ID, Chat: chat, Raw: raw})
		kinds = append(kinds, kind)
	}
	if len(batch) == 0 {
		return next, nil
	}
	dropped, err := b.cfg.Inbox.AcceptMany(ctx, b.cfg.Partitions, batch)
	if err != nil {
		return 0, err
	}
	for i, d := range dropped {
		if d != "" {
			b.metrics.updates(kinds[i], d)
			b.log.Info("update not stored", "update", kinds[i], "why", d)
		}
	}
	return next, nil
}

// route is what acceptMany reads of an update: its id, and what chatOf and
// updateKind read of a models.Update, in one pass and nothing more
// (decoding a whole models.Update here as well was about 4 % of the bot's
// CPU). Its chat and kind are those chatOf and updateKind give for the
// same update; TestRouteAgreesWithTheUpdate keeps them so.
//
// One difference, for input Telegram never sends: of a callback query's
// message given as null or twice, models reads an inaccessible message of
// chat 0, or parts of one of them, and route no message or the two
// merged, so the chat may differ.
type route struct {
	ID            int64         `json:"update_id"`
	Message       *routeMessage `json:"message"`
	EditedMessage *routeMessage `json:"edited_message"`
	CallbackQuery *routeButton  `json:"callback_query"`
}

// routeMessage is what route reads of a Message.
type routeMessage struct {
	Chat routeID `json:"chat"`
	Text string  `json:"text"`
}

// routeButton is what route reads of a CallbackQuery. Its message is a
// MaybeInaccessibleMessage: accessible or not (dated 0), it has chat.id.
type routeButton struct {
	From    routeID `json:"from"`
	Message *struct {
		Chat routeID `json:"chat"`
	} `json:"message"`
}

type routeID struct {
	ID int64 `json:"id"`
}

// chat is the chat the update belongs to, as chatOf reads it.
func (r *route) chat() (int64, bool) {
	switch {
	case r.Message != nil:
		return r.Message.Chat.ID, true
	case r.EditedMessage != nil:
		return r.EditedMessage.Chat.ID, true
	case r.CallbackQuery != nil:
		if m := r.CallbackQuery.Message; m != nil {
			return m.Chat.ID, true
		}
		return r.CallbackQuery.From.ID, true
	}
	return 0, false
}

// kind names the update as updateKind does.
func (r *route) kind() string {
	switch {
	case r.CallbackQuery != nil:
		return "button"
	case r.EditedMessage != nil:
		return "edit"
	case r.Message != nil && strings.HasPrefix(r.Message.Text, "/"):
		return "command"
	case r.Message != nil && r.Message.Text != "":
		return "text"
	case r.Message != nil:
		return "other-message"
	}
	return "other"
}

// maxUpdatesPerPoll is the most updates getUpdates answers at once.
const maxUpdatesPerPoll = 100

// maxUpdatesAnswer bounds a getUpdates answer, in bytes: a hundred updates
// of a few tens of kilobytes at most (a text of 4096 characters escaped,
// its entities, a button press's message with its keyboard), with room.
const maxUpdatesAnswer = 64 << 20

// shortPollDeadline bounds a short poll, which Telegram answers at once: a
// server that does not answer must not hold the poller up.
const shortPollDeadline = 10 * time.Second

// poll runs getUpdates while this process holds the poller's lease (one
// process polls; the others stand by). The offset moves past an update only
// once it is stored.
//
// Polls start at least PollInterval apart unless the last one came back
// full. Against a Bot API server a few milliseconds away, updates arriving
// at hundreds a second would otherwise each get a poll and a round trip to
// Redis of their own; waiting gathers them, for at most PollInterval of
// latency. Against Telegram's servers, tens of milliseconds away, polls are
// further apart than that anyway.
//
// While updates keep coming, polls are short: after an answer that held
// updates the next poll does not wait (timeout 0; Telegram answers at once
// with what it has) and goes through fasthttp, which costs less CPU than
// net/http. The first poll, one after an empty answer and one after an
// error are long polls, on net/http, which ends them as soon as ctx ends
// (see getUpdates).
func (b *Bot) poll(ctx context.Context) {
	ttl := b.cfg.LeaseTTL
	timeout := min(b.cfg.PollTimeout, ttl/2)
	var offset int64
	var renewed, polled time.Time
	full := false // the last answer held as many updates as one may
	busy := false // the last answer held updates: the next poll is short
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 {
			sleep(ctx, backoff)
		}
		// The lease is renewed a few times per lease, not on every poll:
		// at a steady stream of updates polls come every millisecond. A
		// poll lasts at most ttl/2, so the lease never lapses mid-poll.
		if time.Since(renewed) > ttl/4 {
			leader, err := b.cfg.Inbox.LeaseNamed(ctx, "poller", b.owner, ttl)
			if err != nil || !leader {
				renewed = time.Time{}
				backoff = ttl / 3
				continue
			}
			renewed = time.Now()
		}
		// At most one poll per PollInterval while updates trickle in:
		// each takes what came meanwhile, in one round trip to Redis.
		if !full {
			sleep(ctx, time.Until(polled.Add(b.cfg.PollInterval)))
		}
		polled = time.Now()
		wait := timeout
		if busy {
			wait = 0
		}
		ups, err := b.getUpdates(ctx, offset, wait)
		full = len(ups) >= maxUpdatesPerPoll
		busy = len(ups) > 0
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("getUpdates failed", "kind", errorKind(err))
			}
			if errors.Is(err, tg.ErrorConflict) {
				// A webhook is set (or another poller runs): no update
				// comes until it is removed.
				b.modeLost()
			}
			var retryAfter time.Duration
			var tooMany *tg.TooManyRequestsError
			if errors.As(err, &tooMany) {
				retryAfter = time.Duration(tooMany.RetryAfter) * time.Second
			}
			backoff = max(retryAfter, min(2*max(backoff, 100*time.Millisecond), 5*time.Second))
			continue
		}
		backoff = 0
		b.log.Debug("updates fetched", "n", len(ups))
		next, err := b.acceptMany(ctx, ups)
		if err != nil {
			b.log.Warn("could not store updates; they will be fetched again", "err", err)
			backoff = time.Second
			continue
		}
		offset = max(offset, next)
	}
}

// updatesRequest is the body of getUpdates.
type updatesRequest struct {
	Offset         int64    `json:"offset"`
	Timeout        int      `json:"timeout"` // seconds
	AllowedUpdates []string `json:"allowed_updates"`
}

// getUpdates asks for the updates from offset on, of the kinds in
// allowedUpdates, waiting up to timeout (in whole seconds) for one to
// come. It calls the Bot API directly: the library's poller moves the
// offset before updates are handled, which loses them on a crash.
//
// A short poll (timeout under a second: the server answers at once) goes
// through shortPolls, on fasthttp unless a proxy is set, and ends after
// shortPollDeadline (or half a lease, if shorter) if the server does not
// answer. A long poll goes through longPolls, on net/http only: fasthttp
// takes a deadline, not a context, and shutting down would wait for the
// poll to end. Errors are apiClient's: a 429 is a *tg.TooManyRequestsError,
// every error answer is counted, and no error holds the token.
func (b *Bot) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]json.RawMessage, error) {
	req := updatesRequest{Offset: offset, Timeout: int(timeout.Seconds()), AllowedUpdates: allowedUpdates}
	c := b.longPolls
	if req.Timeout == 0 {
		c = b.shortPolls
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, min(shortPollDeadline, b.cfg.LeaseTTL/2))
		defer cancel()
	}
	return call[[]json.RawMessage](ctx, c, "getUpdates", req)
}

// Webhook returns the HTTP handler Telegram posts updates to. It answers
// 200 only once the update is stored in Redis; anything else gets a non-2xx
// answer so that Telegram delivers it again.
func (b *Bot) Webhook() http.Handler {
	wc := b.cfg.Webhook
	secret := []byte(wc.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if subtle.ConstantTimeCompare(got, secret) != 1 {
			b.metrics.updates("webhook", "unauthorized")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wc.MaxBody))
		if err != nil {
			b.metrics.updates("webhook", "too-large")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if _, err := b.acceptMany(r.Context(), []json.RawMessage{raw}); err != nil {
			b.log.Warn("could not store a webhook update; Telegram will retry", "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// serveWebhook serves the webhook and, once it listens, registers it with
// Telegram (keepMode), until ctx ends; it stops taking updates first on
// shutdown.
func (b *Bot) serveWebhook(ctx context.Context) error {
	wc := b.cfg.Webhook
	path := "/"
	if i := strings.Index(strings.TrimPrefix(strings.TrimPrefix(wc.URL, "https://"), "http://"), "/"); i >= 0 {
		path = strings.TrimPrefix(strings.TrimPrefix(wc.URL, "https://"), "http://")[i:]
	}
	mux := http.NewServeMux()
	mux.Handle(path, b.Webhook())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", wc.Listen)
	if err != nil {
		return fmt.Errorf("bot: webhook listener: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var keeper sync.WaitGroup
	defer keeper.Wait()
	keeper.Go(func() { b.keepMode(ctx) })
	select {
	case err := <-errc:
		return fmt.Errorf("bot: webhook listener: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

// errModeNotReported says Telegram's getWebhookInfo does not show the mode
// the bot asked for: another webhook, or one left while the bot polls.
var errModeNotReported = errors.New("bot: getWebhookInfo does not report the mode asked for")

// keepMode tells Telegram how the bot takes updates and makes sure it took,
// until ctx ends: at start, and again whenever polling meets 409 Conflict
// (modeLost). Meanwhile Ready reports the bot not ready: no update can
// arrive.
func (b *Bot) keepMode(ctx context.Context) {
	for {
		if b.confirmMode(ctx) {
			b.log.Info("Telegram reports the bot's mode", "webhook", b.cfg.Webhook != nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-b.recheck:
		}
	}
}

// confirmMode registers the webhook (setWebhook) in webhook mode, or
// removes any webhook (deleteWebhook) when polling, then checks with
// getWebhookInfo that Telegram reports the webhook's URL, or none. It
// tries again with retryUntil's backoff and retry_after handling until
// that holds or ctx ends, and reports whether it holds.
func (b *Bot) confirmMode(ctx context.Context) bool {
	b.setConfirmed(false)
	wc := b.cfg.Webhook
	want := ""
	if wc != nil {
		want = wc.URL
	}
	warn := func(msg string, err error) {
		if ctx.Err() == nil {
			b.log.Warn(msg+"; trying again", "kind", errorKind(err))
		}
	}
	err := b.retryUntil(ctx, func() error {
		if wc != nil {
			_, err := b.api.SetWebhook(ctx, &tg.SetWebhookParams{URL: wc.URL, SecretToken: wc.Secret, AllowedUpdates: allowedUpdates, MaxConnections: 40})
			if err != nil {
				warn("could not register the webhook with Telegram", err)
				return err
			}
		} else if _, err := b.api.DeleteWebhook(ctx, &tg.DeleteWebhookParams{}); err != nil {
			warn("could not remove a webhook before polling", err)
			return err
		}
		info, err := b.api.GetWebhookInfo(ctx)
		if err != nil {
			warn("could not read the webhook Telegram knows", err)
			return err
		}
		if info.URL != want {
			// Not the URL itself: it is the webhook's address.
			b.log.Warn("Telegram does not report the webhook asked for; trying again", "webhook", wc != nil, "other-webhook", info.URL != "")
			return errModeNotReported
		}
		return nil
	})
	if err != nil {
		return false
	}
	b.setConfirmed(true)
	return true
}

// modeLost says Telegram refused a poll with 409 Conflict: the bot is not
// ready until keepMode has removed the webhook again.
func (b *Bot) modeLost() {
	b.setConfirmed(false)
	select {
	case b.recheck <- struct{}{}:
	default: // a recheck is already asked for
	}
}

func (b *Bot) setConfirmed(ok bool) {
	b.confirmed.Store(ok)
	b.metrics.modeConfirmed(ok)
}

// ErrModeNotConfirmed is what Ready returns until Telegram reports the
// bot's mode.
var ErrModeNotConfirmed = errors.New("bot: Telegram does not report the bot's mode yet (webhook registered, or none while polling): no update can arrive")

// Ready returns nil once Telegram reports the mode the bot runs in: in
// webhook mode the bot's webhook, when polling no webhook. Until then, and
// from a poll refused with 409 Conflict until the webhook is removed again,
// it returns ErrModeNotConfirmed. It is safe to call at any time.
func (b *Bot) Ready() error {
	if !b.confirmed.Load() {
		return ErrModeNotConfirmed
	}
	return nil
}

// work holds partitions of the inbox and handles their updates, one at a
// time and in order per partition, so each chat's updates stay in order.
// Processes share the partitions: each takes about its share, and takes over
// those of a process whose lease lapsed.
func (b *Bot) work(ctx context.Context) {
	ttl := b.cfg.LeaseTTL
	type held struct {
		stop chan struct{}
		done chan struct{}
		// until is when the lease may lapse, as far as this process
		// knows (unix ns): half a TTL after the last renewal was sent.
		until atomic.Int64
	}
	owned := map[int]*held{}
	stopOne := func(p int) {
		h := owned[p]
		close(h.stop)
		<-h.done
		delete(owned, p)
		b.cfg.Inbox.Release(context.WithoutCancel(ctx), p, b.owner)
	}
	defer func() {
		for p := range owned {
			stopOne(p)
		}
	}()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		alive, err := b.cfg.Inbox.Heartbeat(ctx, b.owner, ttl)
		if err != nil || alive < 1 {
			alive = 1
		}
		target := (b.cfg.Partitions + alive - 1) / alive
		for p := 0; p < b.cfg.Partitions && ctx.Err() == nil; p++ {
			if h, ok := owned[p]; ok {
				sent := time.Now()
				still, err := b.cfg.Inbox.Lease(ctx, p, b.owner, ttl)
				switch {
				case err == nil && still:
					h.until.Store(sent.Add(ttl / 2).UnixNano())
				case err == nil:
					stopOne(p) // another process took it: stop at once
				}
				continue
			}
			if len(owned) >= target {
				continue
			}
			sent := time.Now()
			if got, err := b.cfg.Inbox.Lease(ctx, p, b.owner, ttl); err == nil && got {
				h := &held{stop: make(chan struct{}), done: make(chan struct{})}
				h.until.Store(sent.Add(ttl / 2).UnixNano())
				owned[p] = h
				go func() { defer close(h.done); b.partition(ctx, p, h.stop, &h.until) }()
			}
		}
		for p := range owned {
			if len(owned) <= target {
				break
			}
			stopOne(p) // hand a share to a process that joined
		}
		b.metrics.partitions(len(owned))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// orphanSweep is how often a partition's holder takes back entries left
// pending by a failover (see store.ReadOrphans), unless it does on each
// read (Config.SweepEachRead). Without replicas that acknowledge writes a
// failover may lose the writes of its last instant anyway; the sweep keeps
// such entries from lingering.
const orphanSweep = time.Second

// partition handles the updates of partition p until stop or ctx ends; the
// update in hand is finished first.
//
// It takes no entry once its lease may have lapsed (until, renewed by
// work): when Redis was out of reach for longer than the lease, or fails
// over to a replica that missed the last renewal, another process may hold
// the partition already, and two holders would handle a chat's updates
// out of order. It waits for the lease to be renewed, or to be stopped, and
// then reads what it had taken again first.
//
// A handled update is removed from the inbox with the next read (one round
// trip for both), or before its chat's next update is handled, so that
// /wipe finds the ids of every message before it. Until then a crash
// leaves it to be seen again, and skipped: its chat's state records it.
func (b *Bot) partition(ctx context.Context, p int, stop chan struct{}, until *atomic.Int64) {
	reclaim := true // what a previous holder left unfinished comes first
	// The state of the partition's chats is remembered between their
	// updates while no other process can have written it: from taking the
	// partition, or reclaiming it after a lapse or an error, on. Entries
	// are handled in entryCtx, which carries it; not cancelled by ctx, as
	// the update in hand is finished first.
	var entryCtx context.Context
	var pending []intake.Done
	defer func() { b.finish(context.WithoutCancel(ctx), p, &pending) }()
	lapsed := func() bool { return time.Now().UnixNano() > until.Load() }
	var swept time.Time
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if lapsed() {
			reclaim = true
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(b.cfg.LeaseTTL / 20):
			}
			continue
		}
		if reclaim {
			entryCtx = intake.WithChatCache(context.WithoutCancel(ctx), intake.NewChatCache())
		}
		read := intake.ReadNew
		switch {
		case reclaim:
			read = intake.ReadReclaim
		case b.cfg.SweepEachRead || time.Since(swept) > orphanSweep:
			read, swept = intake.ReadOrphans, time.Now()
		}
		entries, err := b.cfg.Inbox.NextInbox(ctx, p, b.owner, b.cfg.ReplyPoll, read, pending...)
		if err == nil {
			reclaim, pending = false, nil
		}
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("could not read the inbox", "err", err)
				sleep(ctx, time.Second)
			}
			// Redis may have failed over to a replica that had an entry
			// this process took but not the chat's state after it: read
			// what is pending first, as on taking the partition over
			// (entries applied already are answered from the state).
			reclaim = true
			continue
		}
		if len(entries) > 0 {
			b.log.Debug("inbox entries read", "partition", p, "n", len(entries))
		}
		for _, e := range entries {
			select {
			case <-stop:
				return // another process holds it now; it takes over from here
			default:
			}
			if lapsed() {
				reclaim = true // the rest are read again once renewed
				break
			}
			if !b.process(entryCtx, p, e, &pending, lapsed) {
				reclaim = true // left in the inbox: read again, first, once renewed
				break
			}
		}
	}
}

// finish removes the handled updates in pending from the inbox.
func (b *Bot) finish(ctx context.Context, p int, pending *[]intake.Done) {
	if len(*pending) == 0 {
		return
	}
	if err := b.cfg.Inbox.DoneMany(ctx, p, *pending); err != nil {
		b.log.Warn("could not remove handled updates; they will be skipped when seen again", "err", err)
	}
	*pending = nil
}

// process handles one inbox entry in its chat's serial slot and adds it to
// pending, the updates to remove from the inbox. It returns false when it
// left the entry in the inbox, unfinished: Redis kept failing and the
// partition's lease may have lapsed (lapsed; see handleEntry).
func (b *Bot) process(ctx context.Context, p int, e intake.InboxEntry, pending *[]intake.Done, lapsed func() bool) bool {
	if e.Kind == intake.EntryReply {
		b.processReply(ctx, p, e, pending)
		return true
	}
	if e.Kind == intake.EntryCheckin {
		b.processCheckin(ctx, p, e, pending)
		return true
	}
	raw, err := b.cfg.Inbox.OpenEntry(p, e)
	if err != nil {
		b.log.Warn("an update in the inbox does not open; dropped")
		*pending = append(*pending, intake.Done{ID: e.ID})
		return true
	}
	var u models.Update
	chat, ok := int64(0), false
	if json.Unmarshal(raw, &u) == nil {
		chat, ok = chatOf(&u)
	}
	if !ok {
		// acceptMany read only what routes the update; a field further
		// in does not decode. The decoding error could quote the update:
		// not logged.
		b.metrics.updates("malformed", "dropped")
		b.log.Warn("an update in the inbox does not decode; dropped")
		*pending = append(*pending, intake.Done{ID: e.ID})
		return true
	}
	b.finishChat(ctx, p, chat, pending) // its message ids first: this update may be /wipe
	var ids []int
	finished := true
	b.dispatch.Run(ctx, chat, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, b.cfg.HandleTimeout)
		defer cancel()
		ids, finished = b.handle(ctx, chat, &u, e.ID, lapsed)
	})
	if finished {
		*pending = append(*pending, intake.Done{ID: e.ID, Chat: chat, MessageIDs: ids})
	}
	return finished
}

// processReply delivers a staff reply forwarded to the partition, in its
// chat's serial slot. The entry is finished whatever happens: a reply not
// delivered stays pending in the outbox, which hands it out again.
func (b *Bot) processReply(ctx context.Context, p int, e intake.InboxEntry, pending *[]intake.Done) {
	if b.cfg.Replies == nil {
		*pending = append(*pending, intake.Done{ID: e.ID})
		return
	}
	d, err := b.cfg.Replies.OpenReply(p, e)
	if err != nil {
		b.log.Warn("a staff reply in the inbox does not open; dropped (it stays in the outbox)")
		*pending = append(*pending, intake.Done{ID: e.ID})
		return
	}
	b.finishChat(ctx, p, d.Chat, pending)
	var ids []int
	b.dispatch.Run(ctx, d.Chat, func(ctx context.Context) { ids = b.deliverReply(ctx, d) })
	*pending = append(*pending, intake.Done{ID: e.ID, Chat: d.Chat, MessageIDs: ids})
}

// finishChat finishes the pending entries first when one is of chat, so
// that the chat's message ids are recorded before its next entry runs.
func (b *Bot) finishChat(ctx context.Context, p int, chat int64, pending *[]intake.Done) {
	for _, d := range *pending {
		if d.Chat == chat {
			b.finish(ctx, p, pending)
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
