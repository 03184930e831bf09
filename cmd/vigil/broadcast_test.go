package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

// coordinatorsOf is the bot's configuration of the broadcast tests: the
// coordinators, and the staff keyring of env that checks what they sign.
func coordinatorsOf(env *testenv.Env) []string {
	return []string{"VIGIL_COORDINATORS=anna=801,ben=802", "VIGIL_BROADCAST_RATE=1000", "VIGIL_BROADCAST_PAID=1",
		"VIGIL_STAFF_KEYRING=" + env.KeyringFile}
}

// broadcastWorld is a Redis and a fake Bot API that know the coordinators
// and the subscribers seeded with subscribe.
type broadcastWorld struct {
	env *testenv.Env
	api *fakeapi.Server
}

func newBroadcastWorld(t testing.TB) *broadcastWorld {
	w := &broadcastWorld{env: testenv.New(t), api: fakeapi.New(t, replicaToken)}
	for _, id := range []int64{801, 802} {
		w.api.AddChat(models.Chat{ID: id, Type: models.ChatTypePrivate})
	}
	return w
}

// subscribe seeds n subscribers of country (see testenv.SeedSubscribers)
// and makes their chats known to the fake.
func (w *broadcastWorld) subscribe(t testing.TB, first int64, n int, country string, langs ...string) map[int64]string {
	subs := w.env.SeedSubscribers(t, first, n, country, langs...)
	for chat := range subs {
		w.api.AddChat(models.Chat{ID: chat, Type: models.ChatTypePrivate})
	}
	return subs
}

// approved creates a broadcast as anna and approves it as ben once a
// running bot has sent its preview.
func (w *broadcastWorld) approved(t testing.TB, countries []string, texts map[string]string) string {
	t.Helper()
	ctx := context.Background()
	p, _, err := w.env.As(t, "anna").Create(ctx, "anna", broadcast.Draft{Kind: store.KindBroadcast, Countries: countries, Texts: texts})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(fakeapi.Patience, func() bool { q, _ := w.env.Store.GetPublication(ctx, p.ID); return q.Previewed }); err != nil {
		t.Fatal("no preview:", err)
	}
	if _, _, err := w.env.As(t, "ben").Approve(ctx, p.ID, "ben"); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestBroadcastSurvivesKill9: the bot delivering a broadcast to 4,000
// subscribers is killed with SIGKILL three times; each time a new process
// takes over. In the end every subscriber got the broadcast in their
// language, and no more got it twice than were in flight at the kills.
func TestBroadcastSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills bot processes; skipped with -short")
	}
	ctx := context.Background()
	w := newBroadcastWorld(t)
	env, api := w.env, w.api
	const n = 4000
	subs := w.subscribe(t, 500000, n/2, "UA", "en", "fr", "ar")
	for chat, lang := range w.subscribe(t, 600000, n/2, "GE", "fr", "ar", "es") {
		subs[chat] = lang
	}
	bot := startReplica(t, env, api, replicaSecret, coordinatorsOf(env)...)

	texts := map[string]string{"en": "MARK-en <b>change your passwords</b>", "fr": "MARK-fr <b>changez vos mots de passe</b>",
		"ar": "MARK-ar <b>غيّروا كلمات المرور</b>"}
	id := w.approved(t, []string{"UA", "GE"}, texts)

	kills := 0
	for kills < 3 {
		// Kill once a few hundred more messages went out.
		before := api.SendCount()
		if err := waitFor(fakeapi.Patience, func() bool { return api.SendCount() > before+300 }); err != nil {
			q, _ := env.Store.GetPublication(ctx, id)
			t.Fatalf("no progress before kill %d: %+v", kills+1, q)
		}
		bot.cmd.Process.Signal(syscall.SIGKILL)
		bot.cmd.Wait()
		bot.dead = true
		kills++
		if q, _ := env.Store.GetPublication(ctx, id); q.Status != store.PubSending {
			t.Fatalf("kill %d came too late: %+v", kills, q)
		}
		bot = startReplica(t, env, api, replicaSecret, coordinatorsOf(env)...)
	}
	if err := waitFor(2*time.Minute, func() bool { q, _ := env.Store.GetPublication(ctx, id); return q.Status == store.PubDone }); err != nil {
		q, _ := env.Store.GetPublication(ctx, id)
		t.Fatalf("not done: %+v", q)
	}

	twice := 0
	for chat, lang := range subs {
		msgs := api.Messages(chat)
		if len(msgs) == 0 {
			t.Fatalf("chat %d (%s) got nothing", chat, lang)
		}
		want := lang
		if _, ok := texts[lang]; !ok {
			want = "en"
		}
		for _, m := range msgs {
			if !strings.HasPrefix(m.Text, "MARK-"+want) {
				t.Fatalf("chat %d (%s) got %q", chat, lang, m.Text)
			}
		}
		twice += len(msgs) - 1
	}
	inFlight := 2 * broadcast.Batch(1000)
	q, _ := env.Store.GetPublication(ctx, id)
	t.Logf("%d kills; %d subscribers served, %d messages sent twice (at most %d in flight per kill); counts %d sent",
		kills, len(subs), twice, inFlight, q.Sent)
	if twice > kills*inFlight {
		t.Fatalf("%d duplicates after %d kills: more than the %d messages in flight at each", twice, kills, inFlight)
	}
	if q.Sent != n {
		t.Fatalf("recorded %d sent, want %d", q.Sent, n)
	}
}

// TestBroadcastCommands walks a broadcast and a guidance page through the
// coordinators' commands as a person types them (the preview is marked as
// sent by hand; no bot runs here).
func TestBroadcastCommands(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	en, fr := write("en.html", "<b>MARK-cli</b> en"), write("fr.html", "<b>MARK-cli</b> fr")
	// Each signs with their own key; the tool checks it against the
	// keyring, as the bot does.
	as := func(name string) map[string]string {
		return map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": name,
			"VIGIL_RECIPIENTS_FILE": filepath.Join(env.Dir, "recipients.txt"), "VIGIL_IDENTITY": env.IdentityFile,
			"VIGIL_SIGNING_KEY": env.SigningKeyFile(name), "VIGIL_STAFF_KEYRING": env.KeyringFile}
	}
	ok := func(env map[string]string, want string, args ...string) string {
		t.Helper()
		out, stderr, code := vigil(t, env, "", args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vigil %v: exit %d, want %q in\n%s%s", args, code, want, out, stderr)
		}
		return out
	}
	fails := func(env map[string]string, want string, args ...string) {
		t.Helper()
		_, stderr, code := vigil(t, env, "", args...)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("vigil %v: exit %d, want failure with %q, got %q", args, code, want, stderr)
		}
	}

	mallory := as("mallory")
	mallory["VIGIL_SIGNING_KEY"] = env.SigningKeyFile("carl")
	fails(mallory, "carl's", "broadcast", "create", "--country", "UA", "--text-file", en)
	fails(as("anna"), "default language", "broadcast", "create", "--country", "UA", "--text-file", "fr:"+fr)
	fails(as("anna"), "two-letter", "broadcast", "create", "--country", "Ukraine", "--text-file", en)
	fails(as("anna"), "not one of the bot's languages", "broadcast", "create", "--country", "UA", "--text-file", en, "--text-file", "xx:"+fr)
	out := ok(as("anna"), "queued", "broadcast", "create", "--country", "ua", "--country", "GE", "--text-file", en, "--text-file", "fr:"+fr)
	id := strings.Fields(out)[0]
	if !strings.HasPrefix(id, "B-") || !strings.Contains(out, "texts: en,fr") {
		t.Fatalf("create said:\n%s", out)
	}
	ok(as("anna"), "preview has not been sent", "broadcast", "status", id)
	fails(as("ben"), "has not sent the preview", "broadcast", "approve", id)
	// The preview reached anna only (the bot's record of it is package
	// broadcast's; the store only needs one): ben may not approve.
	if err := env.Store.MarkPreviewed(ctx, id, "", map[string][]byte{"anna": []byte("seen")}); err != nil {
		t.Fatal(err)
	}
	fails(as("ben"), "did not reach you", "broadcast", "approve", id)
	if err := env.Store.MarkPreviewed(ctx, id, "", map[string][]byte{"ben": []byte("seen")}); err != nil {
		t.Fatal(err)
	}
	fails(as("anna"), "another coordinator must approve it", "broadcast", "approve", id)
	// --as is a name; the key is the proof: anna cannot approve as ben.
	annaAsBen := as("ben")
	annaAsBen["VIGIL_SIGNING_KEY"] = env.SigningKeyFile("anna")
	fails(annaAsBen, "the signing key is anna's", "broadcast", "approve", id)
	ok(as("ben"), "is being sent", "broadcast", "approve", strings.ToLower(id))
	fails(as("ben"), "it is approved", "broadcast", "approve", id)
	ok(as("anna"), "approved by ben", "broadcast", "status", id)
	ok(as("anna"), id, "broadcast", "list")
	noIdentity := as("anna")
	delete(noIdentity, "VIGIL_IDENTITY")
	fails(noIdentity, "give -i", "broadcast", "show", id)
	fails(noIdentity, "give -i", "broadcast", "approve", id)
	show := ok(map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_IDENTITY": env.IdentityFile}, "MARK-cli", "broadcast", "show", id)
	if !strings.Contains(show, "--- fr ---") {
		t.Fatalf("show:\n%s", show)
	}
	ok(as("ben"), "cancelled", "broadcast", "cancel", id)
	var status publicationJSON
	out = ok(as("anna"), `"status": "cancelled"`, "broadcast", "status", id, "--json")
	if err := json.Unmarshal([]byte(out), &status); err != nil || status.ID != id || status.Approvers[0] != "ben" {
		t.Fatalf("json %+v %v", status, err)
	}

	fails(as("anna"), "unknown topic", "guidance", "create", "--topic", "weather", "--country", "UA", "--text-file", en)
	out = ok(as("anna"), "guidance (detention)", "guidance", "create", "--topic", "detention", "--country", "UA", "--text-file", en)
	gid := strings.Fields(out)[0]
	env.Store.MarkPreviewed(ctx, gid, "", map[string][]byte{"ben": []byte("seen")})
	ok(as("ben"), "published", "guidance", "approve", gid)
	if pages, _ := env.Store.Guidance(ctx, "UA"); pages["detention"] != gid {
		t.Fatalf("guidance for UA: %v", pages)
	}
	ok(as("ben"), "withdrawn", "guidance", "cancel", gid)
	fails(as("ben"), "no broadcast or guidance page B-NOPE22", "broadcast", "status", "B-NOPE22")
}

// TestTwoBotsDeliverOnce: with two bot processes running, one delivers (the
// lease): every subscriber gets the broadcast exactly once, and the rate is
// the configured one, not twice it.
func TestTwoBotsDeliverOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two bot processes; skipped with -short")
	}
	ctx := context.Background()
	w := newBroadcastWorld(t)
	env, api := w.env, w.api
	subs := w.subscribe(t, 700000, 1000, "UA", "en")
	startReplica(t, env, api, replicaSecret, coordinatorsOf(env)...)
	startReplica(t, env, api, replicaSecret, coordinatorsOf(env)...)
	id := w.approved(t, []string{"UA"}, map[string]string{"en": "MARK-two"})
	if err := waitFor(fakeapi.Patience, func() bool { q, _ := env.Store.GetPublication(ctx, id); return q.Status == store.PubDone }); err != nil {
		t.Fatal("not done")
	}
	for chat := range subs {
		if n := len(api.Messages(chat)); n != 1 {
			t.Fatalf("chat %d got %d messages", chat, n)
		}
	}
	// One preview each for the two coordinators, not two.
	for _, id := range []int64{801, 802} {
		if n := len(api.Messages(id)); n != 2 {
			t.Fatalf("coordinator %d got %d preview messages, want 2 (header and text)", id, n)
		}
	}
	t.Logf("busiest second at the fake: %d sends (configured 1000)", fakeapi.MaxInWindow(api.Sends(), time.Second))
}

// BenchmarkBroadcast100k sends one broadcast to 100,000 subscribers at a
// configured 1,000 messages a second, from a `vigil bot` process of its
// own (so that the fake Bot API's clock is not paused by the bot's garbage
// collection), to the fake, which refuses (429) any send over 1,000 in the
// trailing second. It reports the rate achieved over the rate configured,
// from the first send to the last as the fake received them, and the most
// sends that arrived in any one second.
//
//	go test ./cmd/vigil -run '^$' -bench Broadcast100k -benchtime 1x -count 2
func BenchmarkBroadcast100k(b *testing.B) {
	const n, rate = 100000, 1000
	for b.Loop() {
		b.StopTimer()
		w := newBroadcastWorld(b)
		w.api.LimitRate(rate)
		w.subscribe(b, 1_000_000, n/2, "UA", "en", "fr", "ar")
		w.subscribe(b, 2_000_000, n/2, "GE", "fr", "ar", "en")
		startReplica(b, w.env, w.api, replicaSecret, coordinatorsOf(w.env)...)
		previews := 0
		b.StartTimer()
		id := w.approved(b, []string{"UA", "GE"}, map[string]string{"en": "MARK-en <b>bench</b>", "fr": "MARK-fr <b>bench</b>", "ar": "MARK-ar <b>bench</b>"})
		previews = w.api.SendCount()
		if err := waitFor(10*time.Minute, func() bool {
			q, _ := w.env.Store.GetPublication(context.Background(), id)
			return q.Status == store.PubDone
		}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sends := w.api.Sends()[previews:]
		if len(sends) != n {
			b.Fatalf("the fake accepted %d broadcast messages, want %d", len(sends), n)
		}
		achieved := float64(len(sends)-1) / sends[len(sends)-1].Sub(sends[0]).Seconds()
		b.ReportMetric(achieved, "sends/s")
		b.ReportMetric(achieved/rate, "achieved/configured")
		b.ReportMetric(float64(fakeapi.MaxInWindow(sends, time.Second)), "max-sends-in-1s")
		b.ReportMetric(float64(w.api.Violations()), "refused-by-rate")
		b.StartTimer()
	}
}
