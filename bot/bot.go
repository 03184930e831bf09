// Package bot is Vigil's Telegram front end, and the only package that
// imports github.com/go-telegram/bot.
//
// It turns Telegram updates into flows.Events for package intake and sends
// back what comes out. Its promises:
//   - One chat's updates are handled strictly in order and never at the same
//     time; different chats proceed in parallel (Dispatcher). The library's
//     own habit of running each update in its own goroutine is switched off.
//   - Nothing a defender sends reaches a log: the library's default handler
//     and error handler, which print updates and response bodies, are
//     replaced; logs carry the kind of event and of error only.
//   - A panic while handling an update is recovered and logged without
//     content; the defender gets an apology in their language and the process
//     lives on.
//   - Reports are taken in private chats only; in a group the bot says so,
//     to commands for itself only, and keeps nothing but what every update
//     leaves in the inbox's bookkeeping (its update id, and a one-minute
//     count of the chat's updates).
//   - An update is acknowledged to Telegram (the polling offset, or the
//     webhook's 200) only once it is stored in the inbox in Redis.
//   - The webhook (or, polling, its absence) is registered with Telegram
//     until Telegram reports it; until then Ready says the bot is not
//     ready, as no update can arrive (see keepMode).
package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
)

// Conversation is what the bot hands each event to; intake.Service is the
// real one. Calls for one chat never overlap.
type Conversation interface {
	// HandleEntry handles one event taken from the inbox as entry; an
	// entry already applied answers its stored reply (Reply.Resent) or
	// nothing (Reply.Skipped).
	HandleEntry(ctx context.Context, chat int64, ev flows.Event, entry string) (intake.Reply, error)
}

// Replier hands over staff replies for delivery; intake.Service is the real
// one.
type Replier interface {
	PendingReplies(ctx context.Context, consumer string, block time.Duration) ([]intake.Delivery, error)
	// ForwardReply puts a reply into its chat's inbox partition, where
	// the partition's holder delivers it in order with the chat's updates.
	ForwardReply(ctx context.Context, partitions int, d intake.Delivery) error
	OpenReply(p int, e intake.InboxEntry) (intake.Delivery, error)
	DeliverReply(ctx context.Context, d intake.Delivery, send func([]flows.Message) error) error
}

// Translator renders the few texts the front end says itself.
type Translator interface {
	T(lang, key string, data map[string]any) string
	Match(hint string) string
	Languages() []flows.Language
}

// commands are offered in Telegram's command menu, described under "cmd.*".
var commands = []string{"start", "status", "checkin", "subscribe", "guidance", "unsubscribe", "language", "cancel", "wipe", "forget", "help"}

// Config is what the bot needs.
type Config struct {
	Token   string
	APIURL  string // Bot API server, e.g. https://api.telegram.org
	Service Conversation
	// Replies, when set, delivers staff replies to defenders.
	Replies Replier
	// Alerts, when set with a chat, alerts staff to unclaimed urgent cases.
	Alerts *AlertConfig
	// Checkins, when set, runs safety check-ins: reminders and missed
	// deadlines, looked for every CheckinEvery (default 5s).
	Checkins     Checkins
	CheckinEvery time.Duration
	// Inbox holds updates durably until they are handled (required).
	Inbox Inbox
	// Partitions of the inbox (default 32); every process must use the same.
	Partitions int
	// LeaseTTL is how long a partition (or the poller role) stays with a
	// process that stopped renewing it (default 15s).
	LeaseTTL time.Duration
	// Webhook, when set, receives updates over HTTPS instead of polling.
	Webhook *WebhookConfig
	// ShutdownTimeout bounds how long Run waits for work in hand after ctx
	// ends (default 20s).
	ShutdownTimeout time.Duration
	// Metrics, when set, receives the bot's Prometheus series.
	Metrics prometheus.Registerer
	Text    Translator
	Log     *slog.Logger
	// Workers bounds how many chats are handled at once.
	Workers int
	// PollTimeout is the long-polling timeout (default 50s).
	PollTimeout time.Duration
	// SweepEachRead makes every inbox read take back entries a failover
	// left pending (store.ReadOrphans), not one read a second: with
	// replicas that must acknowledge writes (VIGIL_REDIS_WAIT_REPLICAS),
	// so that a chat's updates stay in order through a failover. It costs
	// a command on each read.
	SweepEachRead bool
	// PollInterval is the least time between the starts of two polls
	// while updates keep coming (default 5ms; see poll).
	PollInterval time.Duration
	// HandleTimeout bounds the handling of one update (default 30s).
	HandleTimeout time.Duration
	// RetryBackoff is the first wait before a Bot API call that failed
	// with a server or network error is tried again; it doubles with each
	// try, up to maxBackoff (default 200ms). A 429 waits its retry_after.
	RetryBackoff time.Duration
	// ReplyPoll is how long one wait for staff replies or for a
	// partition's next update lasts (default 2s, and at most a quarter of
	// LeaseTTL, so that a worker wakes several times a lease); shutting
	// down waits for the current ones to end.
	ReplyPoll time.Duration
	// Coordinators maps the Telegram user ids of coordinators to their
	// names; their commands and texts are taken as a coordinator's.
	Coordinators map[int64]string
	// Broadcast, when set, delivers previews and approved broadcasts; the
	// bot fills in Send, Notify, Owner and Observe. Paid sends with
	// allow_paid_broadcast (Telegram Stars) for rates above 30 a second.
	Broadcast *broadcast.DeliveryConfig
	Paid      bool
}

// Bot is a running Telegram front end.
type Bot struct {
	cfg      Config
	owner    string // this process, in leases and consumer groups
	apiURL   string
	metrics  *metrics
	files    *http.Client
	api      *tg.Bot    // setup calls, files
	tg       *apiClient // the calls of every update and broadcast
	dispatch *Dispatcher
	log      *slog.Logger
	// deliverer sends broadcasts; nil when broadcasts are not configured.
	deliverer *broadcast.Deliverer
	// shortPolls and longPolls make the getUpdates calls: short ones
	// through fasthttp unless a proxy is set, long ones through net/http
	// (see getUpdates).
	shortPolls, longPolls *apiClient
	// self is the bot's username, as getMe reports it (without "@").
	self string
	// confirmed says Telegram reports the mode the bot runs in (see
	// keepMode); recheck asks keepMode to make sure of it again.
	confirmed atomic.Bool
	recheck   chan struct{}
}

// orDefault sets a setting left at zero (or below) to its default.
func orDefault[T ~int | ~int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// New connects to the Bot API (getMe) and returns a bot ready to Run.
func New(ctx context.Context, cfg Config) (*Bot, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	orDefault(&cfg.Workers, 64)
	orDefault(&cfg.PollTimeout, 50*time.Second)
	orDefault(&cfg.PollInterval, 5*time.Millisecond)
	orDefault(&cfg.HandleTimeout, 30*time.Second)
	orDefault(&cfg.RetryBackoff, 200*time.Millisecond)
	orDefault(&cfg.Partitions, 32)
	orDefault(&cfg.LeaseTTL, 15*time.Second)
	orDefault(&cfg.ReplyPoll, min(2*time.Second, cfg.LeaseTTL/4))
	orDefault(&cfg.ShutdownTimeout, 20*time.Second)
	orDefault(&cfg.CheckinEvery, 5*time.Second)
	if a := cfg.Alerts; a != nil {
		orDefault(&a.Interval, 15*time.Minute)
		orDefault(&a.Lease, 24*time.Hour)
		orDefault(&a.Every, 30*time.Second)
		if a.Now == nil {
			a.Now = time.Now
		}
	}
	if cfg.Webhook != nil {
		orDefault(&cfg.Webhook.MaxBody, 1<<20)
	}
	if cfg.Inbox == nil {
		return nil, errors.New("bot: no inbox")
	}
	host, _ := os.Hostname()
	// Downloads have no overall timeout (a large file on a slow link takes
	// its time); the update's context bounds them.
	b := &Bot{cfg: cfg, dispatch: NewDispatcher(cfg.Workers), log: cfg.Log, files: &http.Client{},
		owner:  fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e6),
		apiURL: strings.TrimRight(cfg.APIURL, "/"), metrics: newMetrics(cfg.Metrics), recheck: make(chan struct{}, 1)}
	// Keep a connection per sender alive: the default of two idle
	// connections per host makes concurrent sends (broadcasts, replies to
	// many chats) open and close a TCP connection each time.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 128
	client := &http.Client{Timeout: 60 * time.Second, Transport: pacedTransport{transport}}
	api, err := tg.New(cfg.Token,
		tg.WithServerURL(b.apiURL),
		tg.WithHTTPClient(cfg.PollTimeout, client),
		tg.WithErrorsHandler(func(err error) { b.log.Warn("telegram api error", "kind", errorKind(err)) }),
		tg.WithDebugHandler(func(string, ...any) {}),
		tg.WithSkipGetMe(), // getMe below: its answer is kept
	)
	if err != nil {
		return nil, fmt.Errorf("bot: connect to the Bot API: %s", errorKind(err))
	}
	b.api = api
	if err := b.getMe(ctx); err != nil {
		return nil, err
	}
	base := b.apiURL + "/bot" + cfg.Token + "/"
	b.tg = newAPIClient(base, client, b.metrics, maxAnswer, true)
	// getUpdates answers are larger than the others; a long poll lasts up
	// to PollTimeout.
	polls := &http.Client{Timeout: cfg.PollTimeout + 10*time.Second}
	b.shortPolls = newAPIClient(base, polls, b.metrics, maxUpdatesAnswer, true)
	b.longPolls = newAPIClient(base, polls, b.metrics, maxUpdatesAnswer, false)
	if bc := cfg.Broadcast; bc != nil {
		c := *bc
		c.Send, c.Notify, c.Owner, c.Observe = b.sendHTML, b.notify, b.owner, b.metrics.broadcast
		if c.LeaseTTL <= 0 {
			c.LeaseTTL = cfg.LeaseTTL
		}
		b.deliverer = broadcast.NewDeliverer(c)
	}
	b.publishCommands(ctx)
	return b, nil
}

// getMe asks Telegram who the bot is, for its username, trying for up to
// 15 seconds.
func (b *Bot) getMe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var me *models.User
	err := b.retry(ctx, func() error {
		var err error
		me, err = b.api.GetMe(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("bot: connect to the Bot API: getMe: %s", errorKind(err))
	}
	b.self = me.Username
	return nil
}

// publishCommands fills Telegram's command menu in every language, the
// default language also for everyone else. Failing here is not fatal.
func (b *Bot) publishCommands(ctx context.Context) {
	langs := b.cfg.Text.Languages()
	for i, l := range langs {
		var list []models.BotCommand
		for _, c := range commands {
			list = append(list, models.BotCommand{Command: c, Description: b.cfg.Text.T(l.Code, "cmd."+c, nil)})
		}
		codes := []string{l.Code}
		if i == 0 {
			codes = append(codes, "") // the default language: for every other phone
		}
		for _, code := range codes {
			_, err := b.api.SetMyCommands(ctx, &tg.SetMyCommandsParams{Commands: list, LanguageCode: code})
			if err != nil {
				b.log.Warn("could not publish the command menu", "kind", errorKind(err))
				return
			}
		}
	}
}

// Run takes updates (by long polling or webhook) into the inbox, handles
// them, delivers staff replies and sends alerts until ctx ends. Then it
// stops taking updates, finishes the updates in hand (the rest stay in the
// inbox for the next process) and returns within ShutdownTimeout.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.cfg.Inbox.InitInbox(ctx, b.cfg.Partitions); err != nil {
		return err
	}
	mode := "long polling"
	if b.cfg.Webhook != nil {
		mode = "webhook"
	}
	b.log.Info("bot started", "mode", mode, "partitions", b.cfg.Partitions)
	var wg sync.WaitGroup
	var runErr error
	for _, f := range []func(){
		func() { b.deliverReplies(ctx) },
		func() { b.alert(ctx) },
		func() { b.checkins(ctx) },
		func() { b.work(ctx) },
		func() {
			if b.deliverer != nil {
				b.deliverer.Run(ctx)
			}
		},
		func() {
			if b.cfg.Webhook != nil {
				runErr = b.serveWebhook(ctx) // it runs keepMode once it listens
			} else {
				b.poll(ctx)
			}
		},
		func() {
			if b.cfg.Webhook == nil {
				b.keepMode(ctx)
			}
		},
	} {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	<-ctx.Done()
	finished := make(chan struct{})
	go func() { wg.Wait(); b.dispatch.Wait(); close(finished) }()
	select {
	case <-finished:
		b.log.Info("bot stopped")
	case <-time.After(b.cfg.ShutdownTimeout):
		b.log.Warn("bot stopped with work in hand; it stays in the inbox for the next process")
	}
	return runErr
}

// deliverReplies takes staff replies from the outbox and delivers each in
// its chat's serial slot, so that it never races the defender's own updates.
func (b *Bot) deliverReplies(ctx context.Context) {
	if b.cfg.Replies == nil {
		return
	}
	consumer := fmt.Sprintf("bot-%d-%d", os.Getpid(), time.Now().UnixNano())
	for ctx.Err() == nil {
		ds, err := b.cfg.Replies.PendingReplies(ctx, consumer, b.cfg.ReplyPoll)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("could not read staff replies", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for _, d := range ds {
			if d.Chat == 0 { // undeliverable or refused: recorded, nothing to send
				if d.Refused != "" {
					b.metrics.refusedReply(d.Refused)
				}
				b.deliverReply(context.WithoutCancel(ctx), d)
				continue
			}
			// The chat's state changes with the reply: it goes through
			// the chat's partition, like the defender's own updates.
			if err := b.cfg.Replies.ForwardReply(ctx, b.cfg.Partitions, d); err != nil {
				b.log.Warn("staff reply not forwarded yet; it will be retried", "err", err)
			}
		}
	}
}

// deliverReply delivers a staff reply now and returns the ids of the
// messages sent. Call it in the chat's serial slot.
func (b *Bot) deliverReply(ctx context.Context, d intake.Delivery) (ids []int) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.HandleTimeout)
	defer cancel()
	err := b.cfg.Replies.DeliverReply(ctx, d, func(msgs []flows.Message) error {
		var err error
		ids, err = b.send(ctx, d.Chat, msgs, 0)
		return err
	})
	if err != nil {
		b.log.Warn("staff reply not delivered yet; it will be retried", "err", err)
	}
	return ids
}

// errLapsed says an update was left in the inbox: it kept failing, and the
// lease of its partition may have lapsed meanwhile.
var errLapsed = errors.New("bot: the update's partition lease may have lapsed; left in the inbox")

// handleEntry runs an event through the conversation, trying again while
// that fails: Redis failing over (seconds with Sentinel, up to about 20 s
// with a Redis Cluster's default node timeout), or a replica late to
// acknowledge; an update handled again is not applied twice. It gives up
// with the error once a quarter of the update's time (ctx) is left, for
// the apology, or with errLapsed as soon as lapsed reports that the
// partition's lease may have lapsed: another process may take the update
// over, and two must not handle it at once. Without a deadline in ctx it
// tries four times.
func (b *Bot) handleEntry(ctx context.Context, chat int64, ev flows.Event, entry string, lapsed func() bool) (intake.Reply, error) {
	deadline, bounded := ctx.Deadline()
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		reply, err := b.cfg.Service.HandleEntry(ctx, chat, ev, entry)
		switch {
		case err == nil || ctx.Err() != nil:
			return reply, err
		case lapsed != nil && lapsed():
			return reply, fmt.Errorf("%w: %w", errLapsed, err)
		case bounded && time.Until(deadline) < b.cfg.HandleTimeout/4+wait:
			return reply, err
		case !bounded && attempt == 4:
			return reply, err
		}
		b.log.Warn("update failed; trying again", "err", err)
		sleep(ctx, wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// chatOf returns the chat an update belongs to; false for an update of no
// chat. route.chat (inbox.go) reads the same from the raw update.
func chatOf(u *models.Update) (int64, bool) {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID, true
	case u.EditedMessage != nil:
		return u.EditedMessage.Chat.ID, true
	case u.CallbackQuery != nil:
		if m := u.CallbackQuery.Message.Message; m != nil {
			return m.Chat.ID, true
		}
		if m := u.CallbackQuery.Message.InaccessibleMessage; m != nil {
			return m.Chat.ID, true
		}
		return u.CallbackQuery.From.ID, true
	}
	return 0, false
}

// handle runs one update taken from the inbox as entry and returns the ids
// of the chat's messages it involved, for /wipe to find, and whether the
// update is finished: not when it was left in the inbox (see handleEntry).
// It never panics.
func (b *Bot) handle(ctx context.Context, chat int64, u *models.Update, entry string, lapsed func() bool) (remember []int, finished bool) {
	finished = true
	start := time.Now()
	kind := updateKind(u)
	hint := languageHint(u)
	defer func() {
		if r := recover(); r != nil {
			// The panic value and stack can hold message text; log neither
			// in full. The stack's frames name code, not content.
			b.log.Error("panic while handling an update", "update", kind, "stack", stackFrames())
			b.send(ctx, chat, []flows.Message{{Text: b.cfg.Text.T(b.cfg.Text.Match(hint), "msg.internal_error", nil)}}, 0)
			b.answer(ctx, u, "")
		}
	}()

	if private, ok := isPrivate(u); !ok || !private {
		b.answer(ctx, u, "")
		// Only a command for this bot gets an answer, so that the bot does
		// not talk over a group's conversation, nor answer for other bots.
		if _, to, isCommand := command(orEmpty(u.Message)); isCommand && forBot(to, b.self) {
			b.send(ctx, chat, []flows.Message{{Text: b.cfg.Text.T(b.cfg.Text.Match(hint), "msg.group_only", nil)}}, 0)
		}
		b.log.Info("update outside a private chat ignored", "update", kind)
		return
	}

	var incoming []int
	if u.Message != nil {
		incoming = append(incoming, u.Message.ID)
	}
	ev := toEvent(u, b.self)
	if name, ok := b.cfg.Coordinators[senderOf(u)]; ok {
		ev.Coordinator = name
		if m := u.Message; m != nil && ev.Kind == flows.EventText {
			ev.HTML = toHTML(m.Text, m.Entities)
		}
	}
	reply, err := b.handleEntry(ctx, chat, ev, entry, lapsed)
	if errors.Is(err, errLapsed) {
		// Handled in its turn once the lease is renewed, or by the
		// process that takes the partition over; no apology meanwhile.
		b.metrics.updates(kind, "deferred")
		b.log.Warn("update left in the inbox: Redis failing and the partition's lease may have lapsed", "update", kind)
		return nil, false
	}
	if err == nil && reply.Skipped {
		b.metrics.updates(kind, "already-handled")
		return
	}
	defer func() { b.metrics.observe(kind, time.Since(start)) }()
	if err != nil {
		b.metrics.updates(kind, "error")
		b.log.Error("update failed", "update", kind, "err", err)
		b.answer(ctx, u, "")
		ids, _ := b.send(ctx, chat, []flows.Message{{Text: b.cfg.Text.T(b.cfg.Text.Match(hint), "msg.internal_error", nil)}}, 0)
		return append(incoming, ids...), true
	}
	b.answer(ctx, u, reply.Toast)
	if reply.Delete != nil {
		// /wipe: the defender's own command goes too; the neutral line
		// that follows is all that stays.
		b.deleteMessages(ctx, chat, append(reply.Delete, incoming...))
		b.send(ctx, chat, reply.Messages, 0)
		return
	}
	if reply.DeleteIncoming {
		for _, id := range incoming {
			if err := b.retry(ctx, func() error { return b.tg.deleteMessage(ctx, chat, id) }); err != nil {
				b.log.Warn("a typed check-in message could not be deleted", "kind", errorKind(err))
			}
		}
		incoming = nil
	}
	editable := 0
	if u.CallbackQuery != nil && u.CallbackQuery.Message.Message != nil {
		editable = u.CallbackQuery.Message.Message.ID
	}
	ids, _ := b.send(ctx, chat, reply.Messages, editable)
	if reply.Resent {
		// Handled by a process that may have died before replying.
		b.metrics.updates(kind, "resent")
		b.log.Info("reply to an update handled before sent again", "update", kind)
		return append(incoming, ids...), true
	}
	b.metrics.updates(kind, "handled")
	b.log.Debug("update handled", "update", kind, "ms", time.Since(start).Milliseconds())
	return append(incoming, ids...), true
}

// deleteMessages deletes messages of a private chat. Telegram refuses those
// older than 48 hours; the rest still go.
func (b *Bot) deleteMessages(ctx context.Context, chat int64, ids []int) {
	failed := 0
	for _, id := range ids {
		err := b.retry(ctx, func() error {
			return b.tg.deleteMessage(ctx, chat, id)
		})
		if err != nil {
			failed++
		}
	}
	b.log.Info("conversation wiped", "messages", len(ids), "not-deleted", failed)
}

func isPrivate(u *models.Update) (private, known bool) {
	var c *models.Chat
	switch {
	case u.Message != nil:
		c = &u.Message.Chat
	case u.EditedMessage != nil:
		c = &u.EditedMessage.Chat
	case u.CallbackQuery != nil && u.CallbackQuery.Message.Message != nil:
		c = &u.CallbackQuery.Message.Message.Chat
	case u.CallbackQuery != nil && u.CallbackQuery.Message.InaccessibleMessage != nil:
		c = &u.CallbackQuery.Message.InaccessibleMessage.Chat
	default:
		return false, false
	}
	return c.Type == models.ChatTypePrivate, true
}

// toEvent reads what the defender did; self is the bot's username.
// Forwarded messages are taken as text; where they came from is not read.
//
// A command addressed to another bot ("/start@OtherBot") is taken as text
// too: in a private chat every message is for this bot, so the defender
// typed or pasted it, perhaps in the account of what happened to them (a
// bot that was used against them), and it must not start or cancel
// anything. The conversation treats it as any text: an answer to the
// question asked, or a reply saying what to do next.
func toEvent(u *models.Update, self string) flows.Event {
	ev := flows.Event{Kind: flows.EventOther, LanguageHint: languageHint(u)}
	switch {
	case u.CallbackQuery != nil:
		ev.Kind, ev.Data = flows.EventButton, u.CallbackQuery.Data
	case u.EditedMessage != nil:
		ev.Kind = flows.EventEdited
	case u.Message != nil && fileOf(u.Message) != nil:
		ev.Kind, ev.File, ev.Text = flows.EventFile, fileOf(u.Message), u.Message.Caption
	case u.Message != nil && u.Message.Text != "" && !hasMedia(u.Message):
		text := u.Message.Text
		if cmd, to, ok := command(u.Message); ok && forBot(to, self) {
			ev.Kind, ev.Command = flows.EventCommand, cmd
			if _, rest, found := strings.Cut(strings.TrimSpace(text), " "); found {
				ev.Args = strings.TrimSpace(rest)
			}
		} else {
			ev.Kind, ev.Text = flows.EventText, text
		}
	}
	return ev
}

// command returns the command a message starts with, in lower case, and
// the bot it is addressed to, if any: "/start@vigil_bot now" gives "start"
// and "vigil_bot", "/help" gives "help" and "". It reads the text itself
// rather than trusting the entity's offsets, which count UTF-16 units and
// may be wrong. Whether the command is for this bot is forBot's to say.
func command(m *models.Message) (cmd, to string, ok bool) {
	if !strings.HasPrefix(m.Text, "/") {
		return "", "", false
	}
	token := strings.TrimPrefix(strings.Fields(m.Text + " ")[0], "/")
	if i := strings.IndexByte(token, '@'); i >= 0 {
		token, to = token[:i], token[i+1:]
	}
	if token == "" || len(token) > 32 {
		return "", "", false
	}
	for _, r := range token {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", "", false
		}
	}
	return strings.ToLower(token), to, true
}

// forBot reports whether a command addressed to to (see command) is for
// the bot named self: addressed to no bot, or to self in any case, as
// Telegram's usernames are.
func forBot(to, self string) bool {
	return to == "" || self != "" && strings.EqualFold(to, self)
}

// fileOf describes the file a message carries, if it carries one the flow
// can take as evidence. Of a photo, the largest size is taken.
func fileOf(m *models.Message) *flows.File {
	switch {
	case len(m.Photo) > 0:
		p := m.Photo[len(m.Photo)-1]
		return &flows.File{ID: p.FileID, Kind: "photo", Size: int64(p.FileSize), MIME: "image/jpeg"}
	case m.Document != nil:
		return &flows.File{ID: m.Document.FileID, Kind: "document", Size: m.Document.FileSize, Name: m.Document.FileName, MIME: m.Document.MimeType}
	case m.Voice != nil:
		return &flows.File{ID: m.Voice.FileID, Kind: "voice", Size: m.Voice.FileSize, MIME: m.Voice.MimeType}
	case m.Audio != nil:
		return &flows.File{ID: m.Audio.FileID, Kind: "audio", Size: m.Audio.FileSize, Name: m.Audio.FileName, MIME: m.Audio.MimeType}
	case m.Video != nil:
		return &flows.File{ID: m.Video.FileID, Kind: "video", Size: m.Video.FileSize, Name: m.Video.FileName, MIME: m.Video.MimeType}
	case m.VideoNote != nil:
		return &flows.File{ID: m.VideoNote.FileID, Kind: "video_note", Size: int64(m.VideoNote.FileSize), MIME: "video/mp4"}
	case m.Animation != nil:
		return &flows.File{ID: m.Animation.FileID, Kind: "animation", Size: m.Animation.FileSize, Name: m.Animation.FileName, MIME: m.Animation.MimeType}
	}
	return nil
}

// Fetch opens a file a defender sent: getFile, then a download from the Bot
// API server. The caller closes the reader; the bytes are never written to
// disk here.
func (b *Bot) Fetch(ctx context.Context, fileID string) (io.ReadCloser, error) {
	var f *models.File
	err := b.retry(ctx, func() error {
		var err error
		f, err = b.api.GetFile(ctx, &tg.GetFileParams{FileID: fileID})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bot: getFile: %s", errorKind(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.api.FileDownloadLink(f), nil)
	if err != nil {
		return nil, errors.New("bot: build the download request")
	}
	resp, err := b.files.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bot: download file: %s", errorKind(err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("bot: download file: HTTP %d", resp.StatusCode)
	}
	return resp.Body, nil
}

// senderOf returns the Telegram user id of who sent an update; 0 if none.
func senderOf(u *models.Update) int64 {
	switch {
	case u.Message != nil && u.Message.From != nil:
		return u.Message.From.ID
	case u.CallbackQuery != nil:
		return u.CallbackQuery.From.ID
	}
	return 0
}

func orEmpty(m *models.Message) *models.Message {
	if m == nil {
		return &models.Message{}
	}
	return m
}

func hasMedia(m *models.Message) bool {
	return m.Photo != nil || m.Document != nil || m.Video != nil || m.Voice != nil || m.Audio != nil ||
		m.Sticker != nil || m.Location != nil || m.Contact != nil || m.Animation != nil || m.VideoNote != nil
}

func languageHint(u *models.Update) string {
	switch {
	case u.Message != nil && u.Message.From != nil:
		return u.Message.From.LanguageCode
	case u.EditedMessage != nil && u.EditedMessage.From != nil:
		return u.EditedMessage.From.LanguageCode
	case u.CallbackQuery != nil:
		return u.CallbackQuery.From.LanguageCode
	}
	return ""
}

// updateKind names an update for logs and metrics, without content;
// route.kind (inbox.go) names it the same from the raw update.
func updateKind(u *models.Update) string {
	switch {
	case u.CallbackQuery != nil:
		return "button"
	case u.EditedMessage != nil:
		return "edit"
	case u.Message != nil && u.Message.Text != "" && strings.HasPrefix(u.Message.Text, "/"):
		return "command"
	case u.Message != nil && u.Message.Text != "":
		return "text"
	case u.Message != nil:
		return "other-message"
	}
	return "other"
}

// answer acknowledges a button press, so the phone stops its spinner.
func (b *Bot) answer(ctx context.Context, u *models.Update, toast string) {
	if u.CallbackQuery == nil {
		return
	}
	err := b.retry(ctx, func() error {
		return b.tg.answerCallbackQuery(ctx, u.CallbackQuery.ID, toast)
	})
	if err != nil {
		b.log.Warn("could not answer a button press", "kind", errorKind(err))
	}
}

// send delivers messages in order and returns the ids of those sent. A
// message marked Replace edits the message whose button was pressed
// (editable), when there is one. It returns the first failure; one Telegram
// refuses for good wraps intake.ErrUndeliverable.
func (b *Bot) send(ctx context.Context, chat int64, msgs []flows.Message, editable int) ([]int, error) {
	var first error
	var ids []int
	for _, m := range msgs {
		if m.Text == "" {
			continue
		}
		var markup *models.InlineKeyboardMarkup
		if len(m.Buttons) > 0 {
			markup = keyboard(m.Buttons)
		}
		var err error
		if m.Replace && editable != 0 {
			err = b.retry(ctx, func() error {
				return b.tg.editMessageText(ctx, outMessage{ChatID: chat, MessageID: editable, Text: m.Text, ReplyMarkup: markup, ParseMode: htmlMode(m)})
			})
			if err != nil && isNotModified(err) {
				continue
			}
			if err == nil {
				continue
			}
		}
		err = b.retry(ctx, func() error {
			id, err := b.tg.sendMessage(ctx, outMessage{ChatID: chat, Text: m.Text, ReplyMarkup: markup, ParseMode: htmlMode(m)})
			if err == nil {
				ids = append(ids, id)
			}
			return err
		})
		if err != nil {
			b.log.Warn("could not send a message", "kind", errorKind(err))
			if errors.Is(err, tg.ErrorForbidden) || errors.Is(err, tg.ErrorBadRequest) {
				err = fmt.Errorf("%w: %s", intake.ErrUndeliverable, errorKind(err))
			}
			if first == nil {
				first = err
			}
			if errors.Is(err, tg.ErrorForbidden) || errors.Is(err, intake.ErrUndeliverable) {
				return ids, first // blocked by the user: the rest would fail too
			}
		}
	}
	return ids, first
}

func keyboard(rows [][]flows.Button) *models.InlineKeyboardMarkup {
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: make([][]models.InlineKeyboardButton, len(rows))}
	for i, row := range rows {
		for _, btn := range row {
			kb.InlineKeyboard[i] = append(kb.InlineKeyboard[i], models.InlineKeyboardButton{Text: btn.Label, CallbackData: btn.Data})
		}
	}
	return kb
}

// retry runs call, waiting out Telegram's 429 (as long as retry_after asks)
// and retrying server and network errors with backoff (RetryBackoff,
// doubling), up to 5 tries or until ctx ends. 4xx answers other than 429
// are final.
func (b *Bot) retry(ctx context.Context, call func() error) error {
	return b.retryTries(ctx, 5, call)
}

// retryUntil runs call as retry does, but until it succeeds or ctx ends:
// for calls the bot cannot go without. Answers final for retry are tried
// again too, after the backoff: what they depend on may be fixed meanwhile
// (a token, a webhook URL Telegram cannot reach yet). The backoff grows to
// maxBackoff at most.
func (b *Bot) retryUntil(ctx context.Context, call func() error) error {
	return b.retryTries(ctx, 0, call)
}

// maxBackoff bounds the wait between two tries of retryUntil.
const maxBackoff = 30 * time.Second

// retryTries is retry with tries tries, or without limit when tries is 0.
func (b *Bot) retryTries(ctx context.Context, tries int, call func() error) error {
	backoff := b.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		if tries > 0 && attempt >= tries {
			return err
		}
		wait := backoff
		var tooMany *tg.TooManyRequestsError
		switch {
		case errors.As(err, &tooMany):
			wait = time.Duration(max(tooMany.RetryAfter, 1)) * time.Second
		case errors.Is(err, tg.ErrorBadRequest), errors.Is(err, tg.ErrorForbidden), errors.Is(err, tg.ErrorUnauthorized),
			errors.Is(err, tg.ErrorNotFound), errors.Is(err, tg.ErrorConflict), errors.Is(err, context.Canceled),
			errors.Is(err, context.DeadlineExceeded):
			if tries > 0 {
				return err
			}
			fallthrough
		default:
			backoff = min(2*backoff, maxBackoff)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func isNotModified(err error) bool {
	return errors.Is(err, tg.ErrorBadRequest) && strings.Contains(err.Error(), "message is not modified")
}

// errorKind classifies an error from the Bot API client for logs. The
// client's own messages can quote response bodies, which hold message text,
// so they are never logged.
func errorKind(err error) string {
	var tooMany *tg.TooManyRequestsError
	var netErr net.Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &tooMany):
		return "too-many-requests"
	case errors.Is(err, tg.ErrorForbidden):
		return "forbidden"
	case errors.Is(err, tg.ErrorBadRequest):
		return "bad-request"
	case errors.Is(err, tg.ErrorUnauthorized):
		return "unauthorized"
	case errors.Is(err, tg.ErrorNotFound):
		return "not-found"
	case errors.Is(err, tg.ErrorConflict):
		return "conflict"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case errors.As(err, &netErr):
		return "network"
	default:
		return "other"
	}
}

// stackFrames returns the function names on the stack, without arguments.
func stackFrames() string {
	var frames []string
	for _, line := range strings.Split(string(debug.Stack()), "\n") {
		if line == "" || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		if i := strings.LastIndexByte(line, '('); i > 0 {
			line = line[:i]
		}
		frames = append(frames, line)
	}
	return strings.Join(frames, " < ")
}

func htmlMode(m flows.Message) models.ParseMode {
	if m.HTML {
		return models.ParseModeHTML
	}
	return ""
}

// permitKey carries, in a request's context, the function to call just
// before the request leaves (see broadcast.Sender).
type permitKey struct{}

// pacedTransport reads a request's body before sending it, and waits for
// the request's permit, if it carries one, just before it goes out.
//
// go-telegram/bot (used for the calls apiClient does not make) streams each
// request's multipart body through a pipe, so the HTTP client would send it
// chunked, in several writes; read first, it goes out with its length in
// one write. apiClient's bodies have their length already.
type pacedTransport struct{ next http.RoundTripper }

// maxBuffered bounds the bodies read first; larger ones (none today: the
// bot uploads no files) stream as they come.
const maxBuffered = 64 << 10

func (t pacedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.ContentLength <= 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBuffered+1))
		if err != nil {
			r.Body.Close()
			return nil, err
		}
		if len(body) <= maxBuffered {
			r.Body.Close()
			r = r.Clone(r.Context())
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			r.TransferEncoding = nil
		} else {
			rest := r.Body
			r = r.Clone(r.Context())
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), rest), rest}
		}
	}
	if ready, ok := r.Context().Value(permitKey{}).(func() error); ok && ready != nil {
		if err := ready(); err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, err
		}
	}
	return t.next.RoundTrip(r)
}

// sendHTML sends one broadcast message, once: the deliverer paces and
// retries. Errors are translated for it, without their text.
func (b *Bot) sendHTML(ctx context.Context, chat int64, html string, ready func() error) error {
	if ready != nil {
		ctx = context.WithValue(ctx, permitKey{}, ready)
	}
	_, err := b.tg.sendMessage(ctx, outMessage{ChatID: chat, Text: html, ParseMode: models.ParseModeHTML,
		AllowPaidBroadcast: b.cfg.Paid})
	return broadcastError(err)
}

// notify sends a plain message to a coordinator, with the usual retries.
func (b *Bot) notify(ctx context.Context, chat int64, text string) error {
	err := b.retry(ctx, func() error {
		_, err := b.tg.sendMessage(ctx, outMessage{ChatID: chat, Text: text})
		return err
	})
	return broadcastError(err)
}

func broadcastError(err error) error {
	var tooMany *tg.TooManyRequestsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooMany):
		return &broadcast.RetryAfter{Wait: time.Duration(max(tooMany.RetryAfter, 1)) * time.Second}
	case errors.Is(err, tg.ErrorForbidden):
		return broadcast.ErrBlocked
	case errors.Is(err, tg.ErrorBadRequest):
		return broadcast.ErrRefused
	}
	return errors.New("bot: send: " + errorKind(err))
}
