package bot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/triage"
)

const token = "123456789:AAFakeTokenForTestsOnly_abcdefghij"

// harness runs the real bot against the fake Bot API and a real Redis.
type harness struct {
	t   *testing.T
	env *testenv.Env
	api *fakeapi.Server
	reg *prometheus.Registry // the bot's metrics
}

// staffChat is the staff alert group in the tests.
var staffChat = models.Chat{ID: -1009999, Type: models.ChatTypeSupergroup, Title: "Mission staff"}

// start runs the bot; wrap, when given, stands between the bot and the real
// conversation.
func start(t *testing.T, wrap func(bot.Conversation) bot.Conversation) *harness {
	t.Helper()
	return startWith(t, wrap, nil)
}

// startWith is start with prepare, when given, called on the core and the
// bot's configuration before the bot is made.
func startWith(t *testing.T, wrap func(bot.Conversation) bot.Conversation, prepare func(*testenv.Env, *bot.Config)) *harness {
	t.Helper()
	h := &harness{t: t, env: testenv.New(t, "rdbcompression no"), api: fakeapi.New(t, token), reg: prometheus.NewRegistry()}
	h.api.AddChat(staffChat)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := bot.Config{
		Token: token, APIURL: h.api.URL(), Text: h.env.Text, Log: h.env.Log,
		PollTimeout: 2 * time.Second, ReplyPoll: 100 * time.Millisecond,
		Alerts:     &bot.AlertConfig{Chat: staffChat.ID, Interval: 300 * time.Millisecond, Every: 20 * time.Millisecond},
		Partitions: 4, LeaseTTL: time.Second, Metrics: h.reg,
	}
	if prepare != nil {
		prepare(h.env, &cfg)
	}
	var conv bot.Conversation = h.env.Service
	if wrap != nil {
		conv = wrap(conv)
	}
	cfg.Service, cfg.Replies, cfg.Inbox, cfg.Alerts.Source = conv, h.env.Service, h.env.Service, h.env.Service
	b, err := bot.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.env.Fetch = b.Fetch
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// defender is one person in a private chat with the bot.
type defender struct {
	h    *harness
	chat models.Chat
	user models.User
	lang string
}

func (h *harness) defender(id int64, lang string) *defender {
	return &defender{h: h, lang: lang,
		chat: models.Chat{ID: id, Type: models.ChatTypePrivate, FirstName: "Defender"},
		user: models.User{ID: id, FirstName: "Defender", LanguageCode: lang}}
}

// expect waits until the bot has done n more things in the chat.
func (d *defender) expect(before, n int) []fakeapi.Action {
	d.h.t.Helper()
	acts, err := d.h.api.WaitSent(d.chat.ID, before+n, fakeapi.Patience)
	if err != nil {
		d.h.t.Fatal(err)
	}
	return acts[before:]
}

func (d *defender) send(text string, n int) []fakeapi.Action {
	d.h.t.Helper()
	before := len(d.h.api.Sent(d.chat.ID))
	d.h.api.SendText(d.chat, d.user, text)
	return d.expect(before, n)
}

// label is the text of a key in the defender's language.
func (d *defender) label(key string) string { return d.h.env.Text.T(d.lang, key, nil) }

// press presses the button labelled with the text of key on the newest bot
// message that has it, and waits for n more actions.
func (d *defender) press(key string, n int) []fakeapi.Action {
	d.h.t.Helper()
	want := d.label(key)
	if strings.HasPrefix(key, "region:") {
		want = d.h.env.Text.Region(d.lang, strings.TrimPrefix(key, "region:"))
	}
	if strings.HasPrefix(key, "lang:") {
		want = strings.TrimPrefix(key, "lang:")
	}
	return d.tap(want, n)
}

// tap presses the button whose label contains want on the newest bot
// message that has it, as Telegram sends it (a callback query), waits for
// the answer to the query and for n more actions.
func (d *defender) tap(want string, n int) []fakeapi.Action {
	d.h.t.Helper()
	msgs := d.h.api.Messages(d.chat.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.ReplyMarkup == nil {
			continue
		}
		for _, row := range m.ReplyMarkup.InlineKeyboard {
			for _, b := range row {
				if strings.Contains(b.Text, want) {
					before := len(d.h.api.Sent(d.chat.ID))
					answers := len(d.h.api.CallbackAnswers())
					d.h.api.PressButton(d.chat, d.user, m.ID, b.CallbackData)
					if err := d.h.api.WaitFor(fakeapi.Patience, func() bool { return len(d.h.api.CallbackAnswers()) > answers }); err != nil {
						d.h.t.Fatal(err)
					}
					return d.expect(before, n)
				}
			}
		}
	}
	d.h.t.Fatalf("no button %q on screen", want)
	return nil
}

// report walks a whole report and returns the reference from the receipt.
func (d *defender) report(marker string, menuLabel string) string {
	t := d.h.t
	t.Helper()
	first := d.send("/start", 1)
	if kb := first[0].Keyboard; len(kb) == 0 || !strings.Contains(kb[0][0].Text, menuLabel) {
		t.Fatalf("language menu does not offer %q first: %+v", menuLabel, first[0])
	}
	d.press("lang:"+menuLabel, 1)
	d.press("btn.continue", 1)
	acts := d.press("opt.danger.yes", 2)
	if !strings.Contains(acts[0].Text, "Duty officer +00 000") {
		t.Fatalf("emergency contacts not shown: %q", acts[0].Text)
	}
	d.press("opt.affected.organisation", 1)
	if acts := d.press("opt.what.detention", 1); acts[0].Method != "editMessageText" {
		t.Fatalf("a toggle should edit the message, got %s", acts[0].Method)
	}
	d.press("opt.what.judicial", 1)
	d.press("btn.done", 1)
	d.press("opt.when.earlier", 1)
	d.send("2026-10-01 "+marker, 1)
	d.press("region:UA", 1)
	d.send("Kyiv "+marker, 1)
	d.press("opt.perpetrator.judiciary", 1)
	d.press("btn.done", 1)
	for i := 0; i < 3; i++ {
		d.send(fmt.Sprintf("part %d %s", i, marker), 1)
	}
	d.press("btn.done", 1)
	d.press("btn.skip", 1) // evidence
	d.press("opt.help.legal", 1)
	d.press("opt.help.monitoring", 1)
	d.press("btn.done", 1)
	d.press("opt.consent.public", 1)
	d.press("opt.contact.yes", 1)
	review := d.send("Signal after 18:00 "+marker, 1)
	if !strings.Contains(review[0].Text, "Kyiv "+marker) {
		t.Fatalf("review lacks the place: %q", review[0].Text)
	}
	receipt := d.press("btn.send", 1)
	text := receipt[0].Text
	for i := 0; i+9 <= len(text); i++ {
		if ref, ok := flows.ParseRef(text[i : i+9]); ok && text[i+4] == '-' {
			return ref
		}
	}
	t.Fatalf("no reference in receipt %q", text)
	return ""
}

func TestReportEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		lang, menu string
	}{
		{"en", "English"},
		{"ar", "العربية"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			h := start(t, nil)
			d := h.defender(5550001, tc.lang)
			marker := "MARK-" + strings.ToUpper(tc.lang)
			ref := d.report(marker, tc.menu)

			rep := h.env.OpenReport(t, ref)
			want := map[string]any{
				"danger": "yes", "affected": "organisation", "what": []string{"detention", "judicial"},
				"when": "earlier", "when_detail": "2026-10-01 " + marker, "country": "UA", "place": "Kyiv " + marker,
				"perpetrator": []string{"judiciary"},
				"description": "part 0 " + marker + "\n\npart 1 " + marker + "\n\npart 2 " + marker,
				"help":        []string{"legal", "monitoring"}, "consent": "public", "contact": "yes",
				"contact_detail": "Signal after 18:00 " + marker,
			}
			if fmt.Sprint(rep.Answers) != fmt.Sprint(want) {
				t.Errorf("answers\n got %v\nwant %v", rep.Answers, want)
			}
			if rep.Language != tc.lang || !rep.Urgent || rep.Ref != ref {
				t.Errorf("report: lang %s urgent %v ref %s", rep.Language, rep.Urgent, rep.Ref)
			}
			if tc.lang == "ar" {
				last := h.api.Sent(d.chat.ID)
				if r := last[len(last)-1].Text; !strings.Contains(r, "\u2068"+ref+"\u2069") {
					t.Errorf("Arabic receipt does not isolate the reference: %q", r)
				}
			}
			st := d.send("/status", 1)
			if !strings.Contains(st[0].Text, ref) {
				t.Errorf("/status: %q", st[0].Text)
			}
			for _, secret := range []string{marker, "5550001"} {
				if bytes.Contains(h.env.Everything(t), []byte(secret)) {
					t.Errorf("%q stored in plain text", secret)
				}
				if bytes.Contains(h.env.Logs.Bytes(), []byte(secret)) {
					t.Errorf("%q logged", secret)
				}
			}
		})
	}
}

func TestCommandMenuIsPublished(t *testing.T) {
	h := start(t, nil)
	if n, want := h.api.Calls("setMyCommands"), len(h.env.Text.Languages())+1; n != want {
		t.Fatalf("setMyCommands called %d times, want %d (the default, then each language)", n, want)
	}
	got := h.api.Commands()
	if len(got) != 11 || got[0].Command != "start" || got[2].Command != "checkin" || got[3].Command != "subscribe" {
		t.Fatalf("commands: %+v", got)
	}
}

func TestGroupChatsAreRefusedAndStoreNothing(t *testing.T) {
	h := start(t, nil)
	group := models.Chat{ID: -100123, Type: models.ChatTypeSupergroup, Title: "Group"}
	user := models.User{ID: 77, FirstName: "X", LanguageCode: "fr"}
	h.api.SendText(group, user, "/start")
	acts, err := h.api.WaitSent(group.ID, 1, fakeapi.Patience)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(acts[0].Text, h.env.Text.T("fr", "msg.group_only", nil)) {
		t.Fatalf("group reply: %q", acts[0].Text)
	}
	// A rate-limit counter (a number that expires within a minute) is all
	// that a group chat may leave.
	keys := slices.DeleteFunc(h.env.RDB.Keys(context.Background(), "vigil:{c:*").Val(), func(k string) bool { return strings.Contains(k, ":rl:") })
	if len(keys) != 0 {
		t.Fatalf("a group chat left keys: %v", keys)
	}
	// Ordinary group chatter gets no answer; the next command does.
	h.api.SendText(group, user, "hello everyone")
	h.api.SendText(group, user, "/status")
	acts, err = h.api.WaitSent(group.ID, 2, fakeapi.Patience)
	if err != nil {
		t.Fatal(err)
	}
	// Updates of one chat are handled in order, so had the chatter been
	// answered, a third action would follow the command's answer at once.
	if _, err := h.api.WaitSent(group.ID, 3, 300*time.Millisecond); err == nil {
		t.Fatalf("group chatter was answered: %+v", h.api.Sent(group.ID))
	}
}

func TestOddMessagesGetAKindReplyAndKeepTheDraft(t *testing.T) {
	h := start(t, nil)
	d := h.defender(42, "en")
	d.send("/start", 1)
	d.press("lang:English", 1)
	d.press("btn.continue", 1)
	for name, u := range map[string]models.Update{
		"sticker":  {Message: &models.Message{Chat: d.chat, From: &d.user, Sticker: &models.Sticker{FileID: "s", Type: "regular"}}},
		"location": {Message: &models.Message{Chat: d.chat, From: &d.user, Location: &models.Location{Latitude: 1, Longitude: 2}}},
		"photo":    {Message: &models.Message{Chat: d.chat, From: &d.user, Photo: []models.PhotoSize{{FileID: "p", Width: 1, Height: 1}}, Caption: "look"}},
		"edit":     {EditedMessage: &models.Message{Chat: d.chat, From: &d.user, Text: "changed"}},
	} {
		before := len(h.api.Sent(d.chat.ID))
		h.api.SendUpdate(u)
		acts := d.expect(before, 2)
		want := d.label("msg.unsupported")
		switch name {
		case "edit":
			want = d.label("msg.edited")
		case "photo":
			want = d.label("msg.files_here_only")
		}
		if !strings.Contains(acts[0].Text, want) || !strings.Contains(acts[1].Text, d.label("step.danger.prompt")) {
			t.Errorf("%s: got %q / %q", name, acts[0].Text, acts[1].Text)
		}
	}
	// The draft is intact: the question still answers.
	d.press("opt.danger.no", 1)
	acts := d.send("/frobnicate", 1)
	if !strings.Contains(acts[0].Text, "/start") {
		t.Errorf("unknown command: %q", acts[0].Text)
	}
}

func TestOneChatsUpdatesStayInOrder(t *testing.T) {
	h := start(t, nil)
	const chats, parts = 8, 15
	var ds []*defender
	for i := 0; i < chats; i++ {
		d := h.defender(int64(1000+i), "en")
		ds = append(ds, d)
		d.send("/start", 1)
		d.press("lang:English", 1)
		d.press("btn.continue", 1)
		d.press("btn.skip", 1)
		d.press("btn.skip", 1)
		d.press("opt.what.other", 1)
		d.press("btn.done", 1)
		for j := 0; j < 4; j++ {
			d.press("btn.skip", 1) // when, country, place, perpetrator → description
		}
	}
	// Everyone types at once, as fast as the fake takes it.
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < parts; j++ {
				h.api.SendText(d.chat, d.user, fmt.Sprintf("p%02d", j))
			}
		}()
	}
	wg.Wait()
	for _, d := range ds {
		if _, err := h.api.WaitSent(d.chat.ID, len(h.api.Sent(d.chat.ID)), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := h.api.WaitFor(fakeapi.Patience, func() bool {
			s := h.api.Sent(d.chat.ID)
			return strings.Contains(s[len(s)-1].Text, fmt.Sprintf("%d messages so far", parts))
		}); err != nil {
			t.Fatalf("chat %d: %v", d.chat.ID, err)
		}
	}
	for _, d := range ds {
		d.press("btn.done", 1)
		for j := 0; j < 5; j++ {
			d.press("btn.skip", 1) // evidence, help, consent, contact, detail
		}
		d.press("btn.send", 1)
	}
	q := h.env.Queue(t)
	if len(q) != chats {
		t.Fatalf("queue has %d reports, want %d", len(q), chats)
	}
	var want []string
	for j := 0; j < parts; j++ {
		want = append(want, fmt.Sprintf("p%02d", j))
	}
	for _, ref := range q {
		got := strings.Split(h.env.OpenReport(t, ref).Answers["description"].(string), "\n\n")
		if !slices.Equal(got, want) {
			t.Fatalf("report %s description out of order: %v", ref, got)
		}
	}
}

func TestRateLimitIsWaitedOut(t *testing.T) {
	h := start(t, nil)
	d := h.defender(31337, "en")
	h.api.FailNextInChat(d.chat.ID, "sendMessage", 1, fakeapi.TooManyRequests(1))
	began := time.Now()
	acts := d.send("/start", 1)
	if !strings.Contains(acts[0].Text, d.label("step.language.prompt")) {
		t.Fatalf("after 429: %q", acts[0].Text)
	}
	if waited := time.Since(began); waited < time.Second {
		t.Fatalf("retried after %v; Telegram asked for 1s", waited)
	}
	// A user who blocked the bot: no retry storm, no crash.
	h.api.FailNextInChat(d.chat.ID, "sendMessage", 1, fakeapi.Forbidden())
	calls := h.api.Calls("sendMessage")
	h.api.SendText(d.chat, d.user, "/help")
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return h.api.Calls("sendMessage") > calls }); err != nil {
		t.Fatal(err)
	}
	d.send("/help", 1) // the next update is handled normally
	if n := h.api.Calls("sendMessage") - calls; n != 2 {
		t.Fatalf("%d sendMessage calls for two updates after a 403", n)
	}
}

type panicky struct{ bot.Conversation }

func (p panicky) HandleEntry(ctx context.Context, chat int64, ev flows.Event, entry string) (intake.Reply, error) {
	if ev.Text == "boom SECRET-PANIC-TEXT" {
		panic("handler failed on " + ev.Text)
	}
	return p.Conversation.HandleEntry(ctx, chat, ev, entry)
}

// outage plays Redis out of reach: HandleEntry fails until the outage
// ends.
type outage struct {
	bot.Conversation
	until *atomic.Int64 // unix ns
}

func (o outage) HandleEntry(ctx context.Context, chat int64, ev flows.Event, entry string) (intake.Reply, error) {
	if time.Now().UnixNano() < o.until.Load() {
		return intake.Reply{}, errors.New("store: dial tcp: connection refused")
	}
	return o.Conversation.HandleEntry(ctx, chat, ev, entry)
}

// TestAStoreOutageIsWaitedOut: Redis out of reach for longer than a few
// retries (a Redis Cluster fails over in 15 s or more by default) delays
// the reply; the update is not dropped with an apology, and the
// conversation goes on.
func TestAStoreOutageIsWaitedOut(t *testing.T) {
	var until atomic.Int64
	h := start(t, func(c bot.Conversation) bot.Conversation { return outage{c, &until} })
	d := h.defender(809, "en")
	d.send("/start", 1)
	until.Store(time.Now().Add(6 * time.Second).UnixNano())
	began := time.Now()
	acts := d.press("lang:English", 1)
	if strings.Contains(acts[0].Text, h.env.Text.T("en", "msg.internal_error", nil)) {
		t.Fatalf("an apology after %v, not the next step", time.Since(began).Round(time.Millisecond))
	}
	if time.Now().UnixNano() < until.Load() {
		t.Fatal("answered during the outage")
	}
	d.press("btn.continue", 1)
}

func TestPanicIsRecoveredWithAnApology(t *testing.T) {
	h2 := start(t, func(c bot.Conversation) bot.Conversation { return panicky{c} })
	d := h2.defender(808, "fr")
	acts := d.send("boom SECRET-PANIC-TEXT", 1)
	if !strings.Contains(acts[0].Text, h2.env.Text.T("fr", "msg.internal_error", nil)) {
		t.Fatalf("apology: %q", acts[0].Text)
	}
	if logs := h2.env.Logs.Bytes(); bytes.Contains(logs, []byte("SECRET-PANIC-TEXT")) || !bytes.Contains(logs, []byte("panic")) {
		t.Fatalf("logs: %s", logs)
	}
	d.send("/help", 1) // still alive
}

// TestStaffReplyReachesTheDefenderAndTheAnswerComesBack is the whole loop:
// a report comes in through Telegram, staff claim it, note it and reply;
// the bot delivers the reply in the defender's language; the defender
// answers; the staff see the thread, and the audit lists every step.
func TestStaffReplyReachesTheDefenderAndTheAnswerComesBack(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	d := h.defender(7310946060, "ar") // long: a timestamp cannot hold it by chance
	ref := d.report("THREAD", "العربية")

	staff := h.env.StaffService(t, "ana")
	if err := staff.Claim(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := staff.Note(ctx, ref, "NOTE-SECRET verify with the lawyer"); err != nil {
		t.Fatal(err)
	}
	before := len(h.api.Sent(d.chat.ID))
	if err := staff.Reply(ctx, ref, "REPLY-TEXT Can we call you tomorrow?"); err != nil {
		t.Fatal(err)
	}
	got := d.expect(before, 1)[0].Text
	frame := h.env.Text.T("ar", "msg.staff_reply", map[string]any{"Ref": ref, "Text": "REPLY-TEXT Can we call you tomorrow?"})
	if got != frame {
		t.Fatalf("delivered reply\n got %q\nwant %q", got, frame)
	}
	answer := d.send("ANSWER-TEXT نعم، بعد الساعة الخامسة", 1)
	if want := h.env.Text.T("ar", "msg.answer_sent", map[string]any{"Ref": ref}); answer[0].Text != want {
		t.Fatalf("answer receipt %q, want %q", answer[0].Text, want)
	}
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		ev, _ := h.env.Store.Events(ctx, ref)
		return len(ev) >= 5
	}); err != nil {
		t.Fatal(err)
	}
	detail, err := staff.Show(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var thread []string
	for _, s := range detail.History {
		thread = append(thread, s.Type+":"+s.Text)
	}
	want := []string{"claim:", "note:NOTE-SECRET verify with the lawyer", "reply:REPLY-TEXT Can we call you tomorrow?",
		"delivered:", "answer:ANSWER-TEXT نعم، بعد الساعة الخامسة"}
	if strings.Join(thread, "|") != strings.Join(want, "|") {
		t.Fatalf("thread\n got %q\nwant %q", thread, want)
	}
	audit, _ := staff.Audit(ctx, ref)
	var steps []string
	for _, a := range audit {
		steps = append(steps, a.What)
	}
	if strings.Join(steps, ",") != "claim,note,read,reply,show" {
		t.Fatalf("audit %v", steps)
	}
	for _, secret := range []string{"NOTE-SECRET", "REPLY-TEXT", "ANSWER-TEXT", "7310946060"} {
		if bytes.Contains(h.env.Everything(t), []byte(secret)) {
			t.Errorf("%q stored in plain text", secret)
		}
		if bytes.Contains(h.env.Logs.Bytes(), []byte(secret)) {
			t.Errorf("%q logged", secret)
		}
	}
}

func TestReplyToABlockedDefenderIsRecordedUndeliverable(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	d := h.defender(7070, "en")
	ref := d.report("BLOCKED", "English")
	staff := h.env.StaffService(t, "ana")
	h.api.FailNextInChat(d.chat.ID, "sendMessage", 1, fakeapi.Forbidden())
	if err := staff.Reply(ctx, ref, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		ev, _ := h.env.Store.Events(ctx, ref)
		return len(ev) > 0 && ev[len(ev)-1].Type == "undeliverable"
	}); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.env.RDB.XLen(ctx, "vigil:{q}:outbox").Result(); n != 0 {
		t.Fatalf("outbox still holds %d replies", n)
	}
}

// TestUrgentReportAlertsStaffUntilClaimed: an urgent report is announced in
// the staff chat (reference and time only), again until someone claims it.
func TestUrgentReportAlertsStaffUntilClaimed(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	d := h.defender(8080, "en")
	ref := d.report("ALERT-MARKER", "English")
	alerts, err := h.api.WaitSent(staffChat.ID, 2, fakeapi.Patience)
	if err != nil {
		t.Fatal(err)
	}
	first := alerts[0].Text
	if !strings.Contains(first, "URGENT report "+ref) || !strings.Contains(alerts[1].Text, "reminder 1") {
		t.Fatalf("alerts: %q / %q", first, alerts[1].Text)
	}
	for _, leak := range []string{"ALERT-MARKER", "Ukraine", "UA", "Kyiv", "Defender"} {
		if strings.Contains(first, leak) {
			t.Errorf("the alert leaks %q: %q", leak, first)
		}
	}
	staff, _ := triage.New(triage.Config{Store: h.env.Store, Identities: h.env.Identities, Recipients: h.env.Recipients, Staff: "ana"})
	if err := staff.Claim(ctx, ref); err != nil {
		t.Fatal(err)
	}
	n := len(h.api.Sent(staffChat.ID))
	// Three more intervals: at most one alert that was already on its way.
	if _, err := h.api.WaitSent(staffChat.ID, n+2, time.Second); err == nil {
		t.Fatalf("alerts went on after the claim: %d", len(h.api.Sent(staffChat.ID)))
	}
	// A report that is not urgent raises no alert.
	other := h.defender(8081, "en")
	other.send("/start", 1)
	if kb := h.api.Sent(staffChat.ID); len(kb) > n+1 {
		t.Fatal("alert without an urgent report")
	}
}

// TestEvidenceIsSealedStoredAndVerified sends a document, a photo and a
// voice note in place of the description; staff decrypt the files and the
// hashes match. No byte of a file is in Redis, its RDB file or the logs in
// plain text.
func TestEvidenceIsSealedStoredAndVerified(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	d := h.defender(9090, "en")
	doc := []byte("%PDF-1.4 EVIDENCE-DOC-MARKER court summons " + strings.Repeat("x", 600<<10)) // spans several chunks
	photo := []byte("\xff\xd8\xff EVIDENCE-PHOTO-MARKER jpeg bytes")
	voice := []byte("OggS EVIDENCE-VOICE-MARKER")

	d.send("/start", 1)
	d.press("lang:English", 1)
	d.press("btn.continue", 1)
	d.press("btn.skip", 1)
	d.press("btn.skip", 1)
	d.press("opt.what.judicial", 1)
	d.press("btn.done", 1)
	for i := 0; i < 4; i++ {
		d.press("btn.skip", 1) // when, country, place, perpetrator
	}
	// A photo before the evidence question is not taken, kindly.
	before := len(h.api.Sent(d.chat.ID))
	h.api.SendPhoto(d.chat, d.user, photo, "")
	if acts := d.expect(before, 2); !strings.Contains(acts[0].Text, d.label("msg.files_here_only")) {
		t.Fatalf("early photo: %q", acts[0].Text)
	}
	// A voice note stands for the description.
	before = len(h.api.Sent(d.chat.ID))
	h.api.SendVoice(d.chat, d.user, voice, 7)
	if acts := d.expect(before, 1); !strings.Contains(acts[0].Text, "Voice note received") {
		t.Fatalf("voice: %q", acts[0].Text)
	}
	d.press("btn.done", 1)
	if !strings.Contains(h.api.Sent(d.chat.ID)[len(h.api.Sent(d.chat.ID))-1].Text, "photo sent as a file") {
		t.Fatal("the evidence question does not explain what a photo sent as a file keeps")
	}
	before = len(h.api.Sent(d.chat.ID))
	h.api.SendDocument(d.chat, d.user, "summons.pdf", "application/pdf", doc, "the summons CAPTION-MARKER")
	d.expect(before, 1)
	before = len(h.api.Sent(d.chat.ID))
	h.api.SendPhoto(d.chat, d.user, photo, "")
	if acts := d.expect(before, 1); !strings.Contains(acts[0].Text, "3 files so far") {
		t.Fatalf("photo: %q", acts[0].Text)
	}
	// A file over the limit is refused before it is fetched.
	id, uniq := h.api.AddFile([]byte("small really"))
	before = len(h.api.Sent(d.chat.ID))
	downloads := h.api.Downloads()
	h.api.SendUpdate(models.Update{Message: &models.Message{Chat: d.chat, From: &d.user,
		Document: &models.Document{FileID: id, FileUniqueID: uniq, FileName: "huge.mov", FileSize: 25 << 20}}})
	if acts := d.expect(before, 1); !strings.Contains(acts[0].Text, "files up to 20 MB") {
		t.Fatalf("too big: %q", acts[0].Text)
	}
	if h.api.Downloads() != downloads {
		t.Fatal("a file over the limit was downloaded")
	}
	d.press("btn.done", 1)
	for i := 0; i < 4; i++ {
		d.press("btn.skip", 1) // help, consent, contact, detail
	}
	review := h.api.Sent(d.chat.ID)[len(h.api.Sent(d.chat.ID))-1].Text
	if !strings.Contains(review, "Evidence: 3 files") || !strings.Contains(review, "Description: (voice note)") {
		t.Fatalf("review: %q", review)
	}
	receipt := d.press("btn.send", 1)[0].Text
	ref := receipt[strings.Index(receipt, "reference is ")+len("reference is "):][:9]

	rep := h.env.OpenReport(t, ref)
	if len(rep.Evidence) != 3 || !rep.Evidence[0].AsDescription || rep.Evidence[1].Name != "summons.pdf" ||
		rep.Evidence[1].Caption != "the summons CAPTION-MARKER" || rep.Evidence[1].Size != int64(len(doc)) {
		t.Fatalf("evidence records: %+v", rep.Evidence)
	}
	for _, secret := range []string{"EVIDENCE-DOC-MARKER", "EVIDENCE-PHOTO-MARKER", "EVIDENCE-VOICE-MARKER", "CAPTION-MARKER", "summons.pdf"} {
		if bytes.Contains(h.env.Everything(t), []byte(secret)) {
			t.Errorf("%q stored in plain text", secret)
		}
		if bytes.Contains(h.env.Logs.Bytes(), []byte(secret)) {
			t.Errorf("%q logged", secret)
		}
	}
	staff, _ := triage.New(triage.Config{Store: h.env.Store, Identities: h.env.Identities, Staff: "ana"})
	dir := t.TempDir()
	results, err := staff.Files(ctx, ref, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{voice, doc, photo}
	for i, r := range results {
		got, _ := os.ReadFile(r.Path)
		if r.Problem != "" || !bytes.Equal(got, want[i]) {
			t.Errorf("file %d: %+v (bytes equal: %v)", i, r, bytes.Equal(got, want[i]))
		}
	}
	// Changing a stored file is caught.
	key := "vigil:{q}:file:" + ref + ":2"
	raw, _ := h.env.RDB.Get(ctx, key).Bytes()
	raw[len(raw)-2] ^= 1
	h.env.RDB.Set(ctx, key, raw, 0)
	results, _ = staff.Files(ctx, ref, t.TempDir())
	if results[2].Problem == "" || !strings.HasSuffix(results[2].Path, ".UNVERIFIED") {
		t.Fatalf("tampered file not caught: %+v", results[2])
	}
}

// TestCancelledDraftTakesItsFiles: files of a draft that is cancelled are
// deleted with it.
func TestCancelledDraftTakesItsFiles(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	d := h.defender(9191, "en")
	d.send("/start", 1)
	d.press("lang:English", 1)
	d.press("btn.continue", 1)
	d.press("btn.skip", 1)
	d.press("btn.skip", 1)
	d.press("opt.what.raid", 1)
	d.press("btn.done", 1)
	for i := 0; i < 5; i++ {
		d.press("btn.skip", 1) // when, country, place, perpetrator, description
	}
	before := len(h.api.Sent(d.chat.ID))
	h.api.SendDocument(d.chat, d.user, "a.txt", "text/plain", []byte("to be cancelled"), "")
	d.expect(before, 1)
	if keys := h.env.RDB.Keys(ctx, "vigil:{q}:upload:*").Val(); len(keys) != 1 {
		t.Fatalf("uploads: %v", keys)
	}
	d.send("/cancel", 1)
	if keys := h.env.RDB.Keys(ctx, "vigil:{q}:upload:*").Val(); len(keys) != 0 {
		t.Fatalf("uploads left after /cancel: %v", keys)
	}
}

// TestAFloodFromOneChatDoesNotHoldUpOthers: 10,000 updates from one chat
// are dropped beyond what the chat may queue and answered once (once a
// minute: the limits count in clock minutes) with a request to slow down,
// while another defender is served as usual.
func TestAFloodFromOneChatDoesNotHoldUpOthers(t *testing.T) {
	began := time.Now()
	h := start(t, nil)
	flood := h.defender(1111, "en")
	calm := h.defender(2222, "en")
	for i := 0; i < 10000; i++ {
		h.api.SendText(flood.chat, flood.user, "spam")
	}
	calm.send("/start", 1) // served while the flood is in the queue
	slowDowns := func() int {
		n := 0
		for _, a := range h.api.Sent(flood.chat.ID) {
			if strings.Contains(a.Text, "very fast") {
				n++
			}
		}
		return n
	}
	if err := h.api.WaitFor(60*time.Second, func() bool { return h.api.Pending() == 0 && slowDowns() > 0 }); err != nil {
		t.Fatal(err)
	}
	minutes := int(time.Now().Unix()/60-began.Unix()/60) + 1
	if slow := slowDowns(); slow < 1 || slow > minutes {
		t.Fatalf("the flooding chat was told to slow down %d times in %d clock minute(s), want once a minute", slow, minutes)
	}
	// At most the per-minute limit (60) and one "slow down" in each clock
	// minute the flood was handled in: a loaded machine may cross one.
	if n := len(h.api.Sent(flood.chat.ID)); n > 61*minutes {
		t.Fatalf("the bot answered the flood %d times in %d clock minute(s), want at most %d", n, minutes, 61*minutes)
	}
}

// TestWipeLeavesOneNeutralLine: after the receipt the defender wipes the
// conversation; every message of it, theirs and the bot's, is deleted but
// one neutral line.
func TestWipeLeavesOneNeutralLine(t *testing.T) {
	h := start(t, nil)
	d := h.defender(3030, "en")
	d.report("WIPE", "English")
	before := len(h.api.Messages(d.chat.ID))
	if before < 20 {
		t.Fatalf("only %d messages in the chat before the wipe", before)
	}
	d.press("btn.wipe", 1)
	// The neutral line is sent after the deletions: once it is there, the
	// wipe is over.
	_ = h.api.WaitFor(fakeapi.Patience, func() bool {
		m := h.api.Messages(d.chat.ID)
		return len(m) > 0 && m[len(m)-1].Text == d.label("msg.wiped")
	})
	if n := len(h.api.Deleted(d.chat.ID)); n < before {
		t.Fatalf("%d messages deleted, the chat had %d from the bot alone", n, before)
	}
	if !slices.Contains(h.api.Deleted(d.chat.ID), 1) {
		t.Fatal("the defender's first message (/start) was not deleted")
	}
	left := h.api.Messages(d.chat.ID)
	if len(left) != 1 || left[0].Text != d.label("msg.wiped") {
		var texts []string
		for _, m := range left {
			texts = append(texts, m.Text)
		}
		t.Fatalf("after the wipe the chat shows %d messages: %q", len(left), texts)
	}
	// The user's own messages went too (Telegram lets bots delete them in
	// private chats).
	h.api.SendText(d.chat, d.user, "/wipe")
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return len(h.api.Messages(d.chat.ID)) == 2 }); err != nil {
		t.Fatalf("a second wipe should leave the two neutral lines: %v", err)
	}
	for _, id := range h.api.Deleted(d.chat.ID) {
		if id == left[0].ID {
			t.Fatal("a wipe deleted the neutral line of the one before")
		}
	}
}

// TestWebhookAnswers2xxOnlyOnceStored drives the webhook handler: a wrong
// secret and an oversized body are refused; a good update is in the inbox
// when 200 comes back; with Redis gone the answer is 503, so that Telegram
// delivers the update again.
func TestWebhookAnswers2xxOnlyOnceStored(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, token)
	b, err := bot.New(ctx, bot.Config{Token: token, APIURL: api.URL(), Service: env.Service, Text: env.Text, Log: env.Log,
		Inbox: env.Service, Partitions: 2, ReplyPoll: 100 * time.Millisecond,
		Webhook: &bot.WebhookConfig{URL: "https://example.org/tg/hook", Listen: "127.0.0.1:0", Secret: "s3cret-s3cret-s3cret", MaxBody: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Service.InitInbox(ctx, 2); err != nil {
		t.Fatal(err)
	}
	post := func(secret, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/tg/hook", strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		rec := httptest.NewRecorder()
		b.Webhook().ServeHTTP(rec, req)
		return rec.Code
	}
	update := `{"update_id":555,"message":{"message_id":1,"date":1,"chat":{"id":4242,"type":"private"},"from":{"id":4242,"is_bot":false,"first_name":"D"},"text":"WEBHOOK-MARKER"}}`
	for name, tc := range map[string]struct {
		secret, body string
		want         int
	}{
		"no secret":    {"", update, http.StatusUnauthorized},
		"wrong secret": {"s3cret-s3cret-s3creX", update, http.StatusUnauthorized},
		"too large":    {"s3cret-s3cret-s3cret", strings.Repeat("x", 5000), http.StatusRequestEntityTooLarge},
		"good":         {"s3cret-s3cret-s3cret", update, http.StatusOK},
		"again":        {"s3cret-s3cret-s3cret", update, http.StatusOK},
	} {
		if got := post(tc.secret, tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", name, got, tc.want)
		}
	}
	p := env.Service.Partition(4242, 2)
	entries, err := env.Service.NextInbox(ctx, p, "t", -1, intake.ReadReclaim)
	if err != nil || len(entries) != 1 || entries[0].UpdateID != 555 {
		t.Fatalf("inbox after the webhook: %+v %v", entries, err)
	}
	if bytes.Contains(env.Everything(t), []byte("WEBHOOK-MARKER")) {
		t.Fatal("the stored update is not sealed")
	}
	env.RDB.Shutdown(ctx)
	if got := post("s3cret-s3cret-s3cret", strings.Replace(update, "555", "556", 1)); got != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down: HTTP %d, want 503", got)
	}
}

// TestWipeRightAfterMessagesDeletesThemToo: messages sent just before /wipe
// (likely read in the same batch, whose updates are finished together) are
// deleted with the rest.
func TestWipeRightAfterMessagesDeletesThemToo(t *testing.T) {
	h := start(t, nil)
	for round := range 5 {
		d := h.defender(int64(4040+round), "en")
		d.send("/start", 1)
		h.api.SendText(d.chat, d.user, "hello")
		h.api.SendText(d.chat, d.user, "still there?")
		h.api.SendText(d.chat, d.user, "/wipe")
		if err := h.api.WaitFor(fakeapi.Patience, func() bool {
			m := h.api.Messages(d.chat.ID)
			return len(m) > 0 && m[len(m)-1].Text == d.label("msg.wiped")
		}); err != nil {
			t.Fatal(err)
		}
		if left := h.api.Messages(d.chat.ID); len(left) != 1 {
			var texts []string
			for _, m := range left {
				texts = append(texts, m.Text)
			}
			t.Fatalf("round %d: after the wipe the chat shows %q", round, texts)
		}
	}
}

// Updates arriving faster than the poll interval are gathered: polls start
// at most every 5ms (the default), and nothing is lost by waiting.
func TestPollingGathersUpdatesThatTrickleIn(t *testing.T) {
	h := start(t, nil)
	const chats, each = 20, 10
	var ds []*defender
	for i := range chats {
		ds = append(ds, h.defender(int64(3000+i), "en"))
	}
	calls := h.api.Calls("getUpdates")
	began := time.Now()
	for j := range each {
		for _, d := range ds {
			h.api.SendText(d.chat, d.user, fmt.Sprintf("m%d", j))
			time.Sleep(500 * time.Microsecond)
		}
	}
	for _, d := range ds {
		if _, err := h.api.WaitSent(d.chat.ID, each, fakeapi.Patience); err != nil {
			t.Fatal(err)
		}
	}
	// Polls may start at most every 5ms; one may be under way at either end.
	polls, most := h.api.Calls("getUpdates")-calls, int(time.Since(began)/(5*time.Millisecond))+2
	if polls > most {
		t.Errorf("%d polls in %v for %d updates; at most %d expected", polls, time.Since(began), chats*each, most)
	}
	t.Logf("%d updates in %d polls over %v", chats*each, polls, time.Since(began).Round(time.Millisecond))
}

// TestCommandsForOtherBotsAreNotOurs: "/cmd@OtherBot" is not this bot's
// command. In a group it is ignored silently, while "/cmd@ThisBot" (in any
// case) and a bare "/cmd" get the group answer; in a private chat it is
// taken as text, so it starts nothing.
func TestCommandsForOtherBotsAreNotOurs(t *testing.T) {
	h := start(t, nil)
	self := h.api.Bot().Username
	group := models.Chat{ID: -100321, Type: models.ChatTypeSupergroup, Title: "Group"}
	user := models.User{ID: 78, FirstName: "X", LanguageCode: "en"}
	sent := []struct {
		text string
		ours bool
	}{
		{"/start@SomeOtherBot", false},
		{"/status@" + strings.ToUpper(self), true},
		{"/help@SomeOtherBot now", false},
		{"/start", true},
		{"/wipe@" + self + "x", false},
	}
	ours := 0
	for _, s := range sent {
		h.api.SendText(group, user, s.text)
		if s.ours {
			ours++
		}
	}
	// Each group update is logged once handled, in order.
	ignored := func() int {
		return strings.Count(string(h.env.Logs.Bytes()), "update outside a private chat ignored")
	}
	deadline := time.Now().Add(fakeapi.Patience)
	for ignored() < len(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d group updates handled", ignored(), len(sent))
		}
		time.Sleep(5 * time.Millisecond)
	}
	acts := h.api.Sent(group.ID)
	if len(acts) != ours {
		t.Fatalf("%d answers in the group, want %d: one per command for this bot", len(acts), ours)
	}
	for _, a := range acts {
		if a.Text != h.env.Text.T("en", "msg.group_only", nil) {
			t.Fatalf("group answer %q", a.Text)
		}
	}

	d := h.defender(4300, "en")
	if acts := d.send("/start@SomeOtherBot", 1); acts[0].Text != d.label("msg.no_draft") {
		t.Fatalf("/start@SomeOtherBot in a private chat: %q, want the text answer %q", acts[0].Text, d.label("msg.no_draft"))
	}
	if acts := d.send("/start@"+strings.ToUpper(self[:1])+self[1:], 1); !strings.Contains(acts[0].Text, d.label("step.language.prompt")) {
		t.Fatalf("/start@%s: %q", self, acts[0].Text)
	}
}
