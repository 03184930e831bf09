package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
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

// TestUpdateMalformedDeepInIsDroppedByTheWorker: an update whose routing
// fields decode but a field further in does not (a date that is a string)
// is stored and passed by the offset; the partition's worker drops it,
// counts it once and removes it from the inbox, and the chat's next update
// is handled as usual.
func TestUpdateMalformedDeepInIsDroppedByTheWorker(t *testing.T) {
	env := testenv.New(t)
	api := fakeapi.New(t, apiToken)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, Config{Token: apiToken, APIURL: api.URL(), Service: env.Service, Text: env.Text, Log: env.Log, Metrics: reg,
		Inbox: env.Service, Partitions: 2, LeaseTTL: time.Second, PollTimeout: time.Second, ReplyPoll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	chat := models.Chat{ID: 5150, Type: models.ChatTypePrivate, FirstName: "D"}
	user := models.User{ID: chat.ID, FirstName: "D", LanguageCode: "en"}
	// An id far above the fake's, which the inbox would take for a duplicate.
	deep := `{"update_id":900001,"message":{"message_id":1,"date":"x","chat":{"id":5150,"type":"private"},"from":{"id":5150,"is_bot":false,"first_name":"D"},"text":"/start"}}`
	next, err := b.acceptMany(ctx, []json.RawMessage{json.RawMessage(deep)})
	if err != nil || next != 900002 {
		t.Fatalf("acceptMany: next %d, err %v; want 900002", next, err)
	}
	// The chat's next update comes after it in the same partition.
	api.SendText(chat, user, "/start")
	if _, err := api.WaitSent(chat.ID, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := updatesCounted(t, reg, "malformed", "dropped"); n != 1 {
		t.Errorf("malformed updates counted: %v, want 1", n)
	}
	if !bytes.Contains(env.Logs.Bytes(), []byte("does not decode; dropped")) {
		t.Error("the worker did not drop the update")
	}
	cancel()
	<-done
	if n := len(api.Sent(chat.ID)); n != 1 {
		t.Errorf("the bot did %d things in the chat, want 1 (the answer to the second /start)", n)
	}
	if n, _, err := env.Service.InboxDepth(context.Background(), 2); err != nil || n != 0 {
		t.Errorf("after shutdown %d updates wait in the inbox (%v), want 0", n, err)
	}
}

// updatesCounted reads vigil_updates_total{type=kind,outcome} from reg.
func updatesCounted(t *testing.T, reg *prometheus.Registry, kind, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "vigil_updates_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
