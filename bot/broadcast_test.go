package bot_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// Coordinators in these tests: anna creates, ben approves.
var coordinators = map[int64]string{801: "anna", 802: "ben"}

type broadcastHarness struct {
	t    testing.TB
	env  *testenv.Env
	api  *fakeapi.Server
	rate float64
	// approvals, when set, is the bot's own setting (else the policy's).
	approvals int
}

// startBroadcasting runs the bot with broadcasts at rate.
func startBroadcasting(t testing.TB, rate float64) *broadcastHarness {
	t.Helper()
	h := newBroadcasting(t, rate)
	h.start()
	return h
}

// newBroadcasting prepares the bot's Redis and the fake Bot API; start
// runs the bot.
func newBroadcasting(t testing.TB, rate float64) *broadcastHarness {
	t.Helper()
	return &broadcastHarness{t: t, env: testenv.New(t, "rdbcompression no"), api: fakeapi.New(t, token), rate: rate}
}

func (h *broadcastHarness) start() {
	t, rate := h.t, h.rate
	t.Helper()
	names := map[string]int64{}
	for id, name := range coordinators {
		h.api.AddChat(models.Chat{ID: id, Type: models.ChatTypePrivate, FirstName: name})
		names[name] = id
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bot.New(ctx, bot.Config{
		Token: token, APIURL: h.api.URL(), Service: h.env.Service, Text: h.env.Text, Log: h.env.Log,
		PollTimeout: 2 * time.Second, ReplyPoll: 100 * time.Millisecond, Inbox: h.env.Service, Partitions: 2, LeaseTTL: time.Second,
		Coordinators: coordinators, Paid: rate > 30,
		Broadcast: &broadcast.DeliveryConfig{Store: h.env.Store, Keys: h.env.Keys, Open: broadcast.Opener(h.env.BotID),
			Coordinators: names, Rate: rate, Text: h.env.Text, Log: h.env.Log, Trust: h.env.Trust, Approvals: h.approvals},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// subscribe seeds n subscribers of country, speaking the languages in turn,
// with chat ids from first, known to the fake; it returns chat id → language.
func (h *broadcastHarness) subscribe(first int64, n int, country string, langs ...string) map[int64]string {
	h.t.Helper()
	subs := h.env.SeedSubscribers(h.t, first, n, country, langs...)
	for chat := range subs {
		h.api.AddChat(models.Chat{ID: chat, Type: models.ChatTypePrivate, FirstName: "Subscriber"})
	}
	return subs
}

// publish creates a broadcast as anna, waits for the preview, and approves
// it as ben, each signing with their key.
func (h *broadcastHarness) publish(countries []string, texts map[string]string) string {
	h.t.Helper()
	id := h.create(store.KindBroadcast, countries, texts)
	h.waitStatus(id, func(p store.Publication) bool { return p.Previewed }, 10*time.Second)
	if status, _, err := h.env.As(h.t, "ben").Approve(context.Background(), id, "ben"); err != nil || status != store.PubApproved {
		h.t.Fatalf("approve: %q %v", status, err)
	}
	return id
}

// create creates a publication as anna, signed with her key.
func (h *broadcastHarness) create(kind string, countries []string, texts map[string]string) string {
	h.t.Helper()
	d := broadcast.Draft{Kind: kind, Countries: countries, Texts: texts}
	if kind == store.KindGuidance {
		d.Topic = "digital"
	}
	p, _, err := h.env.As(h.t, "anna").Create(context.Background(), "anna", d)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.ID
}

// seenBy stands for the deliverer's records that the preview reached each
// of names: the store takes no approval from a coordinator without one
// (their content matters to approvals in Telegram only).
func seenBy(names ...string) map[string][]byte {
	m := map[string][]byte{}
	for _, n := range names {
		m[n] = []byte("preview record of " + n)
	}
	return m
}

func (h *broadcastHarness) waitStatus(id string, ok func(store.Publication) bool, timeout time.Duration) store.Publication {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := h.env.Store.GetPublication(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: still %+v after %s", id, p, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func done(p store.Publication) bool { return p.Status == store.PubDone }

// variants are the texts of a broadcast, each with a marker of its
// language.
var variants = map[string]string{
	"en": "<b>Safety notice</b> MARK-en: change your passwords.",
	"fr": "<b>Avis de sécurité</b> MARK-fr : changez vos mots de passe.",
	"ar": "<b>تنبيه أمني</b> MARK-ar: غيّروا كلمات المرور.",
}

// chatBase makes chat ids long enough that finding one in Redis means it
// was stored, not that a timestamp happened to hold its digits.
const chatBase = 7_310_000_000

// TestBroadcastReachesEachSubscriberInTheirLanguage: 3,000 subscribers in
// three languages (and one without a variant) in two countries get exactly
// one message each, in their language or the default; subscribers of a
// third country get nothing; 403s unsubscribe.
func TestBroadcastReachesEachSubscriberInTheirLanguage(t *testing.T) {
	h := startBroadcasting(t, 1000)
	audience := h.subscribe(chatBase+100000, 1800, "UA", "en", "fr", "ar", "es")
	for chat, lang := range h.subscribe(chatBase+200000, 1200, "GE", "fr", "ar", "en") {
		audience[chat] = lang
	}
	outside := h.subscribe(chatBase+300000, 50, "BY", "en")
	blocked := []int64{chatBase + 100007, chatBase + 100500, chatBase + 200123}
	for _, c := range blocked {
		h.api.Block(c, fakeapi.UserDeactivated)
	}

	start := time.Now()
	id := h.publish([]string{"UA", "GE"}, variants)
	p := h.waitStatus(id, done, 2*time.Minute)
	elapsed := time.Since(start)

	if p.Total != 3000 || p.Sent != 3000-int64(len(blocked)) || p.Blocked != int64(len(blocked)) || p.Failed != 0 {
		t.Fatalf("counts %+v", p)
	}
	for chat, lang := range audience {
		msgs := h.api.Messages(chat)
		want := lang
		if _, ok := variants[lang]; !ok {
			want = "en"
		}
		if slices.Contains(blocked, chat) {
			if len(msgs) != 0 {
				t.Fatalf("blocked chat %d got %d messages", chat, len(msgs))
			}
			if _, c, _ := h.env.Store.Subscription(context.Background(), h.env.Keys.Hash("chat", chat)); c != nil {
				t.Fatalf("blocked chat %d is still subscribed", chat)
			}
			continue
		}
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "MARK-"+want) {
			t.Fatalf("chat %d (%s) got %d messages: %+v", chat, lang, len(msgs), msgs)
		}
	}
	for chat := range outside {
		if n := len(h.api.Messages(chat)); n != 0 {
			t.Fatalf("chat %d outside the countries got %d messages", chat, n)
		}
	}
	// Formatting arrives as Telegram parsed it from the HTML.
	if m := h.api.Messages(chatBase + 100000); len(m[0].Entities) == 0 || m[0].Entities[0].Type != models.MessageEntityTypeBold {
		t.Fatalf("entities %+v", m[0].Entities)
	}
	sends := h.api.Sends()
	t.Logf("3,000 recipients in %s; busiest second %d sends at a configured 1000/s", elapsed, fakeapi.MaxInWindow(sends, time.Second))
	// The rate itself is the pacer's to keep (see its test) and the
	// benchmark's to measure: arrival times here also carry the jitter of
	// a loaded test machine.
	// Nothing plain at rest or in the logs: not the texts, not a chat id.
	everything := string(h.env.Everything(t)) + string(h.env.Logs.Bytes())
	for _, marker := range []string{"MARK-en", "MARK-fr", "MARK-ar", "Safety notice", fmt.Sprint(blocked[2]), fmt.Sprint(blocked[1])} {
		if strings.Contains(everything, marker) {
			t.Fatalf("%q is in Redis or the logs in plain text", marker)
		}
	}
	// Previews: each coordinator got the header and the three texts.
	for id := range coordinators {
		if n := len(h.api.Messages(id)); n != 4 {
			t.Fatalf("coordinator %d got %d preview messages, want 4", id, n)
		}
	}
}

// TestBroadcastHonoursRetryAfter: a 429 storm (1% of sends answered with
// retry_after) pauses every send until retry_after has passed; nobody is
// skipped and nobody gets two.
func TestBroadcastHonoursRetryAfter(t *testing.T) {
	h := startBroadcasting(t, 200)
	audience := h.subscribe(100000, 400, "UA", "en", "fr")
	h.api.Flood(0.012, 1, 7)
	id := h.publish([]string{"UA"}, variants)
	p := h.waitStatus(id, done, 2*time.Minute)
	if p.Sent != 400 || p.Failed != 0 {
		t.Fatalf("counts %+v", p)
	}
	for chat := range audience {
		if n := len(h.api.Messages(chat)); n != 1 {
			t.Fatalf("chat %d got %d messages", chat, n)
		}
	}
	floods := h.api.FloodsStarted()
	if floods < 4 {
		t.Fatalf("only %d floods started; the storm did not happen", floods)
	}
	// A send that had already left when the 429 came back may arrive in
	// the window; anything later would be the worker ignoring retry_after.
	late := h.api.ViolationsAfter(500 * time.Millisecond)
	t.Logf("%d floods, %d sends arrived in a window (in flight when it opened), %d later", floods, h.api.Violations(), late)
	if late != 0 {
		t.Fatalf("%d sends came more than 500 ms into a 1 s retry_after window", late)
	}
	if v := h.api.Violations(); v > floods*2*broadcast.Batch(200) {
		t.Fatalf("%d sends in flood windows, more than the %d in flight at %d floods", v, floods*2*broadcast.Batch(200), floods)
	}
}

// TestBroadcastStopSendsOnlyWhatWasInFlight: a broadcast stopped while
// sending sends nothing more after the messages in flight when the stop
// came (at most two batches: one taken, one being sent).
func TestBroadcastStopSendsOnlyWhatWasInFlight(t *testing.T) {
	const rate = 20
	h := startBroadcasting(t, rate)
	h.subscribe(100000, 200, "UA", "en")
	id := h.publish([]string{"UA"}, map[string]string{"en": "MARK-en stop test"})
	h.waitStatus(id, func(p store.Publication) bool { return p.Sent >= 5 }, fakeapi.Patience)
	if _, err := h.env.As(t, "ben").Cancel(context.Background(), id, "ben"); err != nil {
		t.Fatal(err)
	}
	atStop := len(h.api.Sends())
	// The deliverer says it has ended once every message in flight is
	// sent and recorded.
	ended := `msg="broadcast ended" id=` + id
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return strings.Contains(string(h.env.Logs.Bytes()), ended) }); err != nil {
		t.Fatalf("the deliverer never ended the stopped broadcast: %v\n%s", err, h.env.Logs.Bytes())
	}
	after := len(h.api.Sends()) - atStop
	p, _ := h.env.Store.GetPublication(context.Background(), id)
	if inFlight := 2 * broadcast.Batch(rate); after > inFlight || p.Status != store.PubCancelled || p.Sent >= 200 {
		t.Fatalf("%d sends after the stop, more than the %d that can be in flight; %+v", after, inFlight, p)
	}
	t.Logf("stopped after %d of 200; %d were in flight", p.Sent, after)
}

func TestPreviewRefusedMakesItInvalid(t *testing.T) {
	h := startBroadcasting(t, 25)
	id := h.create(store.KindBroadcast, []string{"UA"}, map[string]string{"en": "fine", "fr": "<b>pas fermé"})
	p := h.waitStatus(id, func(p store.Publication) bool { return p.Previewed }, fakeapi.Patience)
	if p.Status != store.PubInvalid || !strings.Contains(p.Problem, "fr") {
		t.Fatalf("after a refused preview: %+v", p)
	}
	if _, _, err := h.env.As(t, "ben").Approve(context.Background(), p.ID, "ben"); err == nil {
		t.Fatal("an invalid broadcast was approved")
	}
}

// person is someone in a private chat with the bot, in these tests.
type person struct {
	h    *broadcastHarness
	chat models.Chat
	user models.User
}

func (h *broadcastHarness) person(id int64, lang string) *person {
	return &person{h: h, chat: models.Chat{ID: id, Type: models.ChatTypePrivate},
		user: models.User{ID: id, FirstName: "P", LanguageCode: lang}}
}

// do sends an update and waits for the bot to do n things in the chat.
func (p *person) do(n int, send func()) []fakeapi.Action {
	p.h.t.Helper()
	before := len(p.h.api.Sent(p.chat.ID))
	send()
	acts, err := p.h.api.WaitSent(p.chat.ID, before+n, fakeapi.Patience)
	if err != nil {
		p.h.t.Fatal(err)
	}
	return acts[before:]
}

func (p *person) text(s string, n int) []fakeapi.Action {
	return p.do(n, func() { p.h.api.SendText(p.chat, p.user, s) })
}

// press presses the newest button whose label contains label.
func (p *person) press(label string, n int) []fakeapi.Action {
	p.h.t.Helper()
	msgs := p.h.api.Messages(p.chat.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].ReplyMarkup == nil {
			continue
		}
		for _, row := range msgs[i].ReplyMarkup.InlineKeyboard {
			for _, b := range row {
				if strings.Contains(b.Text, label) {
					return p.do(n, func() { p.h.api.PressButton(p.chat, p.user, msgs[i].ID, b.CallbackData) })
				}
			}
		}
	}
	p.h.t.Fatalf("no button %q in chat %d", label, p.chat.ID)
	return nil
}

// TestCoordinatorsInTelegram: a defender subscribes; a coordinator composes
// a formatted broadcast in the bot; both coordinators get the preview; the
// other approves with /approve; the defender gets it, formatted. Someone
// else trying /approve gets the help text.
func TestCoordinatorsInTelegram(t *testing.T) {
	h := startBroadcasting(t, 25)
	defender := h.person(4000, "fr")
	defender.text("/subscribe", 1)
	defender.press(h.env.Text.Region("fr", "UA"), 1)
	defender.press("✓", 1)

	anna, ben := h.person(801, "en"), h.person(802, "en")
	anna.text("/broadcast", 1)
	anna.press("Ukraine", 1)
	anna.press("Done", 1)
	text := "🔒 Update Signal today"
	anna.do(1, func() {
		h.api.SendUpdate(models.Update{Message: &models.Message{From: &anna.user, Chat: anna.chat, Text: text,
			Entities: []models.MessageEntity{{Type: models.MessageEntityTypeBold, Offset: 3, Length: 6}}}})
	})
	acts := anna.press("Create", 1)
	ref := ""
	for _, w := range strings.Fields(acts[0].Text) {
		if strings.HasPrefix(w, "B-") {
			ref = strings.Trim(w, ".:")
			break
		}
	}
	if ref == "" {
		t.Fatalf("no reference in %q", acts[0].Text)
	}
	// The preview: a header and the text as subscribers will see it.
	for _, c := range []*person{anna, ben} {
		if err := h.api.WaitFor(fakeapi.Patience, func() bool { return strings.Contains(lastText(h.api, c.chat.ID), "Update Signal") }); err != nil {
			t.Fatalf("no preview for %d: %v", c.chat.ID, err)
		}
	}

	stranger := h.person(900, "en")
	if acts := stranger.text("/approve "+ref, 1); !strings.Contains(acts[0].Text, "/start") {
		t.Fatalf("a stranger's /approve: %q", acts[0].Text)
	}
	if acts := anna.text("/approve "+ref, 1); !strings.Contains(acts[0].Text, "another coordinator") {
		t.Fatalf("own approval: %q", acts[0].Text)
	}
	if acts := ben.text("/approve "+ref, 1); !strings.Contains(acts[0].Text, "being sent") {
		t.Fatalf("approval: %q", acts[0].Text)
	}
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return strings.Contains(lastText(h.api, defender.chat.ID), "Update Signal") }); err != nil {
		t.Fatal("the defender did not get the broadcast")
	}
	msgs := h.api.Messages(defender.chat.ID)
	got := msgs[len(msgs)-1]
	if got.Text != text || len(got.Entities) != 1 || got.Entities[0].Type != models.MessageEntityTypeBold || got.Entities[0].Offset != 3 || got.Entities[0].Length != 6 {
		t.Fatalf("the defender got %q %+v", got.Text, got.Entities)
	}
	h.waitStatus(ref, done, fakeapi.Patience)
	if acts := ben.text("/broadcasts "+ref, 1); !strings.Contains(acts[0].Text, "Sent 1 of 1") {
		t.Fatalf("status: %q", acts[0].Text)
	}
}

func lastText(api *fakeapi.Server, chat int64) string {
	msgs := api.Messages(chat)
	if len(msgs) == 0 {
		return ""
	}
	return msgs[len(msgs)-1].Text
}

// TestPreviewDuringALongBroadcast: a publication created while a broadcast
// is being sent gets its preview at once, not after the broadcast.
func TestPreviewDuringALongBroadcast(t *testing.T) {
	h := startBroadcasting(t, 20)
	h.subscribe(100000, 400, "UA", "en") // 20 s of sending
	id := h.publish([]string{"UA"}, map[string]string{"en": "MARK-en long"})
	h.waitStatus(id, func(p store.Publication) bool { return p.Sent >= 5 }, fakeapi.Patience)
	page := h.create(store.KindGuidance, []string{"UA"}, map[string]string{"en": "MARK-page"})
	h.waitStatus(page, func(p store.Publication) bool { return p.Previewed }, fakeapi.Patience)
	if q, _ := h.env.Store.GetPublication(context.Background(), id); q.Status != store.PubSending {
		t.Fatalf("the broadcast is %s; the test wanted the preview during it", q.Status)
	}
}

// TestBroadcastTheBotCannotOpenIsGivenUp: texts sealed to another bot key
// (a bot secret replaced, say) cannot be sent: the broadcast becomes
// invalid with the reason, instead of being retried for ever.
func TestBroadcastTheBotCannotOpenIsGivenUp(t *testing.T) {
	h := startBroadcasting(t, 25)
	h.subscribe(100000, 3, "UA", "en")
	ctx := context.Background()
	_, other, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := broadcast.SealFor(h.env.Recipients, other)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := wrong([]byte("MARK-en"))
	if err := h.env.Store.CreatePublication(ctx, store.Publication{ID: "B-WRONG1", Kind: store.KindBroadcast, Countries: []string{"UA"},
		Creator: "anna", CreatedAt: time.Now(), Texts: map[string][]byte{"en": sealed}}); err != nil {
		t.Fatal(err)
	}
	// The preview catches it (the usual case); if the test marks the
	// preview first, delivery catches it. Either way: invalid, nothing sent.
	h.env.Store.MarkPreviewed(ctx, "B-WRONG1", "", seenBy("ben"))
	h.env.As(t, "ben").Approve(ctx, "B-WRONG1", "ben")
	p := h.waitStatus("B-WRONG1", func(p store.Publication) bool { return p.Status == store.PubInvalid }, fakeapi.Patience)
	if !strings.Contains(p.Problem, "open") || h.api.SendCount() > 2*len(coordinators) {
		t.Fatalf("%+v; %d sends", p, h.api.SendCount())
	}
}

// TestBroadcastRetriesServerErrors: 5xx answers are retried with backoff;
// nobody is skipped or counted as failed for them.
func TestBroadcastRetriesServerErrors(t *testing.T) {
	h := startBroadcasting(t, 50)
	audience := h.subscribe(100000, 20, "UA", "en")
	for chat := range audience {
		if chat%5 == 0 {
			h.api.FailNextInChat(chat, "sendMessage", 2, fakeapi.ServerError(502))
		}
	}
	id := h.publish([]string{"UA"}, map[string]string{"en": "MARK-en retry"})
	p := h.waitStatus(id, done, fakeapi.Patience)
	if p.Sent != 20 || p.Failed != 0 {
		t.Fatalf("counts %+v", p)
	}
	for chat := range audience {
		if n := len(h.api.Messages(chat)); n != 1 {
			t.Fatalf("chat %d got %d messages", chat, n)
		}
	}
}

// TestOnlyCoordinatorsThePreviewReachedMayApprove: Telegram refuses the
// preview to ben (403: he blocked the bot), so ben may approve neither in
// Telegram, where he is told why once he writes again, nor from a staff
// tool; anna, whom it reached, may (one approval is enough here). A
// preview that reached no coordinator makes the publication invalid, with
// the reason, rather than look sent.
func TestOnlyCoordinatorsThePreviewReachedMayApprove(t *testing.T) {
	h := newBroadcasting(t, 25)
	h.approvals = 1
	ctx := context.Background()
	pol := h.env.Policy
	pol.Approvals = 1
	if err := h.env.Store.SetPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}
	h.start()
	texts := map[string]string{"en": "MARK-en preview"}

	h.api.Block(802, "")
	id := h.create(store.KindBroadcast, []string{"UA"}, texts)
	p := h.waitStatus(id, func(p store.Publication) bool { return p.Previewed }, 10*time.Second)
	if _, ben := p.Previews["ben"]; p.Status != store.PubQueued || p.Previews["anna"] == nil || ben {
		t.Fatalf("after a preview refused to ben: %s, records for %v", p.Status, slices.Collect(maps.Keys(p.Previews)))
	}
	h.api.Unblock(802)
	ben, anna := h.person(802, "en"), h.person(801, "en")
	if acts := ben.text("/approve "+id, 1); !strings.Contains(acts[0].Text, "did not reach you") {
		t.Fatalf("ben's /approve in Telegram: %q", acts[0].Text)
	}
	if _, _, err := h.env.As(t, "ben").Approve(ctx, id, "ben"); !errors.Is(err, store.ErrNotReached) {
		t.Fatalf("ben's approval from a staff tool: %v, want %v", err, store.ErrNotReached)
	}
	if acts := anna.text("/approve "+id, 1); !strings.Contains(acts[0].Text, "being sent") {
		t.Fatalf("anna's /approve in Telegram: %q", acts[0].Text)
	}

	h.api.Block(801, "")
	h.api.Block(802, fakeapi.UserDeactivated)
	id = h.create(store.KindBroadcast, []string{"UA"}, texts)
	p = h.waitStatus(id, func(p store.Publication) bool { return p.Status != store.PubQueued }, 10*time.Second)
	if p.Status != store.PubInvalid || !strings.Contains(p.Problem, "reached no coordinator") || len(p.Previews) != 0 {
		t.Fatalf("after a preview that reached nobody: %s %q, %d records", p.Status, p.Problem, len(p.Previews))
	}
	var state *store.StateError
	if _, _, err := h.env.As(t, "anna").Approve(ctx, id, "anna"); !errors.As(err, &state) {
		t.Fatalf("approving what reached nobody: %v", err)
	}
}
