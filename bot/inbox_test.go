package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/metrictest"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// routeCase is a raw update and what acceptMany should make of it.
type routeCase struct {
	name string
	raw  string
	id   int64 // update_id as the offset reads it
	// decodes is "both" (route and models.Update), "neither" (a
	// malformed update, dropped by acceptMany), or "route" (a field
	// deeper than route reads is wrong: stored, dropped by the worker).
	decodes string
	chat    int64 // where route decodes
	ok      bool
	kind    string
}

var routeCases = []routeCase{
	{"text", `{"update_id":1,"message":{"message_id":3,"date":1,"chat":{"id":7,"type":"private"},"from":{"id":7,"is_bot":false,"first_name":"A"},"text":"hello"}}`,
		1, "both", 7, true, "text"},
	{"command", `{"update_id":2,"message":{"message_id":4,"date":1,"chat":{"id":7,"type":"private"},"text":"/start@vigil_bot now","entities":[{"type":"bot_command","offset":0,"length":16}]}}`,
		2, "both", 7, true, "command"},
	{"edited", `{"update_id":3,"edited_message":{"message_id":4,"date":1,"edit_date":2,"chat":{"id":8,"type":"private"},"text":"/x"}}`,
		3, "both", 8, true, "edit"},
	{"button on a message", `{"update_id":4,"callback_query":{"id":"q1","from":{"id":9,"is_bot":false,"first_name":"A"},"message":{"message_id":5,"date":1,"chat":{"id":-100,"type":"supergroup"},"text":"pick"},"data":"0|y"}}`,
		4, "both", -100, true, "button"},
	{"button on an inaccessible message", `{"update_id":5,"callback_query":{"id":"q2","from":{"id":9,"is_bot":false,"first_name":"A"},"message":{"chat":{"id":10,"type":"private"},"message_id":5,"date":0},"data":"0|y"}}`,
		5, "both", 10, true, "button"},
	{"button without a message", `{"update_id":6,"callback_query":{"id":"q3","from":{"id":11,"is_bot":false,"first_name":"A"},"inline_message_id":"im","data":"0|y"}}`,
		6, "both", 11, true, "button"},
	{"button and a message", `{"update_id":7,"message":{"message_id":1,"date":1,"chat":{"id":12,"type":"private"},"text":"t"},"callback_query":{"id":"q4","from":{"id":13,"is_bot":false,"first_name":"A"}}}`,
		7, "both", 12, true, "button"},
	{"photo without text", `{"update_id":8,"message":{"message_id":6,"date":1,"chat":{"id":7,"type":"private"},"photo":[{"file_id":"a","file_unique_id":"b","width":1,"height":1}],"caption":"/c"}}`,
		8, "both", 7, true, "other-message"},
	{"empty message", `{"update_id":9,"message":{}}`,
		9, "both", 0, true, "other-message"},
	{"null message", `{"update_id":10,"message":null}`,
		10, "both", 0, false, "other"},
	{"channel post", `{"update_id":11,"channel_post":{"message_id":1,"date":1,"chat":{"id":-200,"type":"channel"},"text":"news"}}`,
		11, "both", 0, false, "other"},
	{"unknown kind", `{"update_id":12,"some_future_update":{"chat":{"id":14}}}`,
		12, "both", 0, false, "other"},
	{"not JSON", `{"update_id":13,"message":`,
		0, "neither", 0, false, ""},
	{"update_id a string", `{"update_id":"14","message":{"message_id":1,"date":1,"chat":{"id":7,"type":"private"},"text":"t"}}`,
		0, "neither", 0, false, ""},
	{"message a number", `{"message":5,"update_id":15}`,
		15, "neither", 0, false, ""},
	{"chat id a string", `{"update_id":16,"message":{"message_id":1,"date":1,"chat":{"id":"7","type":"private"},"text":"t"}}`,
		16, "neither", 0, false, ""},
	{"button's from a string", `{"update_id":17,"callback_query":{"id":"q5","from":"me"}}`,
		17, "neither", 0, false, ""},
	{"date a string", `{"update_id":18,"message":{"message_id":1,"date":"x","chat":{"id":15,"type":"private"},"text":"/start"}}`,
		18, "route", 15, true, "command"},
	{"button's message dated with a string", `{"update_id":19,"callback_query":{"id":"q6","from":{"id":16,"is_bot":false,"first_name":"A"},"message":{"message_id":1,"date":"x","chat":{"id":16,"type":"private"}}}}`,
		19, "route", 16, true, "button"},
}

// TestRouteAgreesWithTheUpdate: route, which acceptMany decodes, reads the
// same update id, chat and kind as chatOf and updateKind read of a whole
// models.Update, and refuses no update models.Update reads.
func TestRouteAgreesWithTheUpdate(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			var r route
			rerr := json.Unmarshal(raw, &r)
			var u models.Update
			uerr := json.Unmarshal(raw, &u)
			if r.ID != tc.id {
				t.Errorf("route reads update_id %d, want %d", r.ID, tc.id)
			}
			decodes := map[[2]bool]string{{true, true}: "both", {false, false}: "neither", {true, false}: "route", {false, true}: "models"}[[2]bool{rerr == nil, uerr == nil}]
			if decodes != tc.decodes {
				t.Fatalf("decodes: %s, want %s (route: %v; models: %v)", decodes, tc.decodes, rerr, uerr)
			}
			if rerr != nil {
				return
			}
			chat, ok := r.chat()
			if chat != tc.chat || ok != tc.ok || r.kind() != tc.kind {
				t.Errorf("route: chat %d %v, kind %q; want %d %v, %q", chat, ok, r.kind(), tc.chat, tc.ok, tc.kind)
			}
			if uerr != nil {
				return
			}
			if mchat, mok := chatOf(&u); mchat != chat || mok != ok || updateKind(&u) != r.kind() {
				t.Errorf("models.Update: chat %d %v, kind %q; route: %d %v, %q", mchat, mok, updateKind(&u), chat, ok, r.kind())
			}
		})
	}
}

// acceptAll is an Inbox that stores every update; only AcceptMany is
// implemented.
type acceptAll struct {
	Inbox
	got []intake.Update
}

func (a *acceptAll) AcceptMany(_ context.Context, _ int, us []intake.Update) ([]string, error) {
	a.got = append(a.got, us...)
	return make([]string, len(us)), nil
}

// TestAcceptManyRoutesEachUpdate runs every routeCase through acceptMany at
// once: the offset passes them all, updates of a chat are stored with it,
// the rest are counted as ignored (by kind) or malformed.
func TestAcceptManyRoutesEachUpdate(t *testing.T) {
	inbox := &acceptAll{}
	reg := prometheus.NewRegistry()
	b := &Bot{cfg: Config{Inbox: inbox, Partitions: 4}, metrics: newMetrics(reg), log: slog.New(slog.DiscardHandler)}
	var raws []json.RawMessage
	var want []intake.Update
	var last int64
	ignored := map[string]float64{}
	malformed := 0.0
	for _, tc := range routeCases {
		raws = append(raws, json.RawMessage(tc.raw))
		last = max(last, tc.id)
		switch {
		case tc.decodes == "neither":
			malformed++
		case !tc.ok:
			ignored[tc.kind]++
		default:
			want = append(want, intake.Update{ID: tc.id, Chat: tc.chat, Raw: json.RawMessage(tc.raw)})
		}
	}
	next, err := b.acceptMany(context.Background(), raws)
	if err != nil || next != last+1 {
		t.Fatalf("acceptMany: next %d, err %v; want %d", next, err, last+1)
	}
	if len(inbox.got) != len(want) {
		t.Fatalf("stored %d updates, want %d", len(inbox.got), len(want))
	}
	for i, u := range inbox.got {
		if u.ID != want[i].ID || u.Chat != want[i].Chat || string(u.Raw) != string(want[i].Raw) {
			t.Errorf("stored update %d: id %d chat %d; want id %d chat %d, raw as received", i, u.ID, u.Chat, want[i].ID, want[i].Chat)
		}
	}
	if n := updatesCounted(t, reg, "malformed", "dropped"); n != malformed {
		t.Errorf("malformed updates counted: %v, want %v", n, malformed)
	}
	for kind, n := range ignored {
		if got := updatesCounted(t, reg, kind, "ignored"); got != n {
			t.Errorf("%q updates ignored: %v, want %v", kind, got, n)
		}
	}
}

// polling is a bot long-polling the fake Bot API, over a real inbox.
type polling struct {
	*Bot
	api *fakeapi.Server
	env *testenv.Env
	reg *prometheus.Registry
	// stop ends Run and returns how long that took.
	stop func() time.Duration
}

// startPolling runs a bot whose long polls last pollTimeout (its lease
// is long enough for that); prepare, when given, runs before Run.
func startPolling(t *testing.T, pollTimeout time.Duration, prepare func(*Bot)) *polling {
	t.Helper()
	p := &polling{env: testenv.New(t), api: fakeapi.New(t, apiToken), reg: prometheus.NewRegistry()}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, Config{Token: apiToken, APIURL: p.api.URL(), Service: p.env.Service, Text: p.env.Text, Log: p.env.Log,
		Metrics: p.reg, Inbox: p.env.Service, Partitions: 2, LeaseTTL: 2 * pollTimeout, PollTimeout: pollTimeout,
		ReplyPoll: 100 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p.Bot = b
	if prepare != nil {
		prepare(b)
	}
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	p.stop = func() time.Duration {
		began := time.Now()
		cancel()
		<-done
		return time.Since(began)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

// defender is a private chat with the bot and its one user.
func defender(id int64) (models.Chat, models.User) {
	return models.Chat{ID: id, Type: models.ChatTypePrivate, FirstName: "D"}, models.User{ID: id, FirstName: "D", LanguageCode: "en"}
}

// TestUpdateMalformedDeepInIsDroppedByTheWorker: an update whose routing
// fields decode but a field further in does not (a date that is a string)
// is stored and passed by the offset; the partition's worker drops it,
// counts it once and removes it from the inbox, and the chat's next update
// is handled as usual.
func TestUpdateMalformedDeepInIsDroppedByTheWorker(t *testing.T) {
	p := startPolling(t, time.Second, nil)
	chat, user := defender(5150)
	// An id far above the fake's, which the inbox would take for a duplicate.
	deep := `{"update_id":900001,"message":{"message_id":1,"date":"x","chat":{"id":5150,"type":"private"},"from":{"id":5150,"is_bot":false,"first_name":"D"},"text":"/start"}}`
	next, err := p.acceptMany(context.Background(), []json.RawMessage{json.RawMessage(deep)})
	if err != nil || next != 900002 {
		t.Fatalf("acceptMany: next %d, err %v; want 900002", next, err)
	}
	// The chat's next update comes after it in the same partition.
	p.api.SendText(chat, user, "/start")
	if _, err := p.api.WaitSent(chat.ID, 1, fakeapi.Patience); err != nil {
		t.Fatal(err)
	}
	if n := updatesCounted(t, p.reg, "malformed", "dropped"); n != 1 {
		t.Errorf("malformed updates counted: %v, want 1", n)
	}
	if !bytes.Contains(p.env.Logs.Bytes(), []byte("does not decode; dropped")) {
		t.Error("the worker did not drop the update")
	}
	p.stop()
	if n := len(p.api.Sent(chat.ID)); n != 1 {
		t.Errorf("the bot did %d things in the chat, want 1 (the answer to the second /start)", n)
	}
	if n, _, err := p.env.Service.InboxDepth(context.Background(), 2); err != nil || n != 0 {
		t.Errorf("after shutdown %d updates wait in the inbox (%v), want 0", n, err)
	}
}

// netPolls is a net/http transport that records the timeout of each
// getUpdates request it carries.
type netPolls struct {
	mu       sync.Mutex
	timeouts []int
}

func (n *netPolls) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/getUpdates") {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		var req updatesRequest
		json.Unmarshal(body, &req)
		n.mu.Lock()
		n.timeouts = append(n.timeouts, req.Timeout)
		n.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// count counts the short polls (timeout 0) and the long ones carried.
func (n *netPolls) count() (short, long int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.timeouts {
		if t == 0 {
			short++
		} else {
			long++
		}
	}
	return short, long
}

// withNetPolls has the bot's getUpdates calls on net/http go through n.
func withNetPolls(n *netPolls) func(*Bot) {
	return func(b *Bot) {
		b.shortPolls.http.Transport = n
		b.longPolls.http.Transport = n
	}
}

// setWay sets the environment up for one way of posting: no proxy for
// fasthttp; for net/http an HTTPS proxy, which newFastClient heeds and
// net/http does not use for the fake (plain HTTP on a loopback address).
func setWay(t *testing.T, fast bool) {
	for _, v := range proxyVars {
		t.Setenv(v, "")
	}
	if !fast {
		t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	}
}

// TestPollsAreShortWhileUpdatesKeepComing: a steady stream of updates is
// fetched with short polls (after an answer with updates the next poll
// asks for no wait) on fasthttp, or on net/http behind a proxy; after an
// empty answer the poll is long, on net/http, and shutting down ends it
// at once.
func TestPollsAreShortWhileUpdatesKeepComing(t *testing.T) { bothWays(t, testShortPolls) }

func testShortPolls(t *testing.T, fast bool) {
	setWay(t, fast)
	const pollTimeout = 4 * time.Second
	seen := &netPolls{}
	p := startPolling(t, pollTimeout, withNetPolls(seen))
	if (p.shortPolls.fast != nil) != fast || p.longPolls.fast != nil {
		t.Fatalf("fasthttp for short polls: %v, for long polls: %v", p.shortPolls.fast != nil, p.longPolls.fast != nil)
	}

	const chats, each = 10, 10
	for j := range each {
		for i := range chats {
			chat, user := defender(int64(6000 + i))
			p.api.SendText(chat, user, fmt.Sprintf("m%d", j))
			time.Sleep(time.Millisecond)
		}
	}
	for i := range chats {
		if _, err := p.api.WaitSent(int64(6000+i), each, fakeapi.Patience); err != nil {
			t.Fatal(err)
		}
	}

	polls := p.api.Polls()
	short := 0
	for i, poll := range polls {
		wantShort := i > 0 && polls[i-1].Updates > 0
		if (poll.Timeout == 0) != wantShort {
			t.Errorf("poll %d waited %v after an answer of %d updates", i, poll.Timeout, polls[max(i-1, 0)].Updates)
		}
		if poll.Timeout == 0 {
			short++
		}
	}
	netShort, _ := seen.count()
	switch {
	case short == 0:
		t.Errorf("no short poll in %d polls for %d updates", len(polls), chats*each)
	case fast && netShort > 0:
		t.Errorf("%d short polls went through net/http", netShort)
	case !fast && netShort < short:
		t.Errorf("behind a proxy, %d of %d short polls went through net/http", netShort, short)
	}
	t.Logf("%d updates in %d polls, %d short", chats*each, len(polls), short)

	// Idle: once an empty answer came back, the next poll is a long one.
	if err := p.api.WaitFor(fakeapi.Patience, func() bool {
		polls := p.api.Polls()
		return len(polls) > 0 && polls[len(polls)-1].Updates == 0 && p.api.Calls("getUpdates") == len(polls)+1
	}); err != nil {
		t.Fatal(err)
	}
	if took := p.stop(); took > pollTimeout/2 {
		t.Errorf("shutting down during a long poll of %v took %v", pollTimeout, took)
	}
	if _, long := seen.count(); long == 0 {
		t.Error("no long poll went through net/http")
	}
}

// TestShortPollRateLimitIsWaitedOut: a 429 answer to a short poll is waited
// out as retry_after asks, counted once, and followed by a long poll.
func TestShortPollRateLimitIsWaitedOut(t *testing.T) { bothWays(t, testShortPollRateLimit) }

func testShortPollRateLimit(t *testing.T, fast bool) {
	setWay(t, fast)
	p := startPolling(t, 4*time.Second, nil)
	chat, user := defender(7000)
	p.api.SendText(chat, user, "/start")
	if _, err := p.api.WaitSent(chat.ID, 1, fakeapi.Patience); err != nil {
		t.Fatal(err)
	}
	// Idle, in a long poll; the update below ends it, and the next poll,
	// short, is refused.
	if err := p.api.WaitFor(fakeapi.Patience, func() bool {
		polls := p.api.Polls()
		return len(polls) > 0 && polls[len(polls)-1].Updates == 0 && p.api.Calls("getUpdates") == len(polls)+1
	}); err != nil {
		t.Fatal(err)
	}
	before := len(p.api.Polls())
	p.api.FailNext("getUpdates", 1, fakeapi.TooManyRequests(1))
	p.api.SendText(chat, user, "/help")
	var refused, next time.Time
	if err := p.api.WaitFor(fakeapi.Patience, func() bool {
		calls := p.api.Calls("getUpdates")
		if refused.IsZero() && calls == before+2 {
			refused = time.Now()
		}
		if calls == before+3 {
			next = time.Now()
		}
		return !next.IsZero()
	}); err != nil {
		t.Fatal(err)
	}
	if waited := next.Sub(refused); waited < 900*time.Millisecond {
		t.Errorf("the poll after a 429 with retry_after 1 came %v later", waited)
	}
	p.api.SendText(chat, user, "/status") // ends that poll
	if err := p.api.WaitFor(fakeapi.Patience, func() bool { return len(p.api.Polls()) == before+2 }); err != nil {
		t.Fatal(err)
	}
	if polls := p.api.Polls(); polls[before].Updates == 0 || polls[before+1].Timeout == 0 {
		t.Errorf("around the 429: %+v, want an answer with the update, then a long poll", polls[before:])
	}
	if n := telegramErrors(t, p.reg, "429"); n != 1 {
		t.Errorf("vigil_telegram_errors_total{code=\"429\"} = %v, want 1", n)
	}
}

// TestGetUpdatesErrorsHoldNoToken: polls, short or long, fail without
// naming the URL, which holds the token.
func TestGetUpdatesErrorsHoldNoToken(t *testing.T) { bothWays(t, testGetUpdatesNoToken) }

func testGetUpdatesNoToken(t *testing.T, fast bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	b := &Bot{cfg: Config{LeaseTTL: time.Minute}}
	b.shortPolls, _ = testClient(t, url, fast)
	b.longPolls, _ = testClient(t, url, false)
	for _, timeout := range []time.Duration{0, time.Second} {
		_, err := b.getUpdates(context.Background(), 1, timeout)
		if err == nil || strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), "AAApiClient") || errorKind(err) != "network" {
			t.Errorf("a poll of %v to a closed port: %v (kind %s)", timeout, err, errorKind(err))
		}
	}
}

// updatesCounted reads vigil_updates_total{type=kind,outcome} from reg.
func updatesCounted(t *testing.T, reg *prometheus.Registry, kind, outcome string) float64 {
	return metrictest.Value(t, reg, "vigil_updates_total", map[string]string{"type": kind, "outcome": outcome})
}
