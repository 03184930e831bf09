package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// TestMain lets the test binary stand in for the vigil binary: re-executed
// with VIGIL_TEST_RUN_MAIN=1 it runs main, so the replica tests start real
// processes they can kill, without a separate build.
//
// A binary built with -race sleeps a second before it exits, to let other
// goroutines report races (GORACE atexit_sleep_ms); the tests start
// hundreds of processes, so their children exit at once unless GORACE says
// otherwise. Races are still reported.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	if _, set := os.LookupEnv("GORACE"); !set {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

const (
	replicaToken  = "123456789:AAFakeTokenForReplicaTests_abcdefg"
	replicaSecret = "replica-test-secret-0123"
)

// privateChats makes n private chats known to the fake, with ids from first.
func privateChats(api *fakeapi.Server, first int64, n int) []int64 {
	chats := make([]int64, n)
	for c := range chats {
		chats[c] = first + int64(c)
		api.AddChat(models.Chat{ID: chats[c], Type: models.ChatTypePrivate})
	}
	return chats
}

// replica is one `vigil bot` process in webhook mode.
type replica struct {
	cmd  *exec.Cmd
	addr string
	dead bool
	logs *testenv.SafeBuffer // what it wrote to stderr
}

func startReplica(t testing.TB, env *testenv.Env, api *fakeapi.Server, secret string, extraEnv ...string) *replica {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "bot")
	var redisVar string
	switch {
	case env.Cluster != nil:
		redisVar = "REDIS_ADDRS=" + strings.Join(env.Cluster.Addrs(), ",")
	case env.Sentinel != nil:
		redisVar = "REDIS_ADDRS=" + env.Sentinel.Addr
		extraEnv = append(extraEnv, "REDIS_MASTER_NAME=vigil")
	default:
		redisVar = "REDIS_URL=" + env.Redis.URL()
	}
	cmd.Env = append(os.Environ(), redisVar,
		"VIGIL_TEST_RUN_MAIN=1",
		"TELEGRAM_BOT_TOKEN="+replicaToken,
		"TELEGRAM_API_URL="+api.URL(),
		"VIGIL_RECIPIENTS_FILE="+filepath.Join(env.Dir, "recipients.txt"),
		"VIGIL_SECRET_FILE="+filepath.Join(env.Dir, "bot.secret"),
		"VIGIL_STAFF_KEYRING="+env.KeyringFile,
		"VIGIL_WEBHOOK_URL=http://"+addr+"/hook",
		"VIGIL_WEBHOOK_LISTEN="+addr,
		"VIGIL_WEBHOOK_SECRET="+secret,
		"VIGIL_PARTITIONS=8",
		"VIGIL_LEASE_TTL=2s",
		"VIGIL_METRICS_LISTEN=off",
		"VIGIL_LOG_LEVEL=error",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &testenv.SafeBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{cmd: cmd, addr: addr, logs: logs}
	t.Cleanup(func() {
		if !r.dead {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
		if t.Failed() && len(logs.Bytes()) > 0 {
			t.Logf("replica %s log:\n%s", addr, logs.Bytes())
		}
	})
	// A loaded test machine may take many seconds to start a process
	// built with the race detector.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Post("http://"+addr+"/hook", "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica on %s did not start:\n%s", addr, logs.Bytes())
	return nil
}

// freeAddr returns a free loopback address.
func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// kill stops the replica with SIGKILL, as a crash would.
func (r *replica) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
	r.dead = true
}

// forwarder plays Telegram's webhook delivery behind a round-robin balancer:
// an update goes to the next replica; a refusal or a dead replica means the
// next one, until one answers 200.
type forwarder struct {
	mu       sync.Mutex
	replicas []*replica
	next     int
	secret   string
	// patience is how long an update is offered before the test fails
	// (default a minute: Telegram keeps redelivering for hours, and a
	// loaded machine may take seconds to start the next process).
	patience time.Duration
}

func (f *forwarder) deliver(t *testing.T, raw []byte) {
	patience := f.patience
	if patience == 0 {
		patience = time.Minute
	}
	for start := time.Now(); time.Since(start) < patience; {
		f.mu.Lock()
		r := f.replicas[f.next%len(f.replicas)]
		f.next++
		f.mu.Unlock()
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/hook", bytes.NewReader(raw))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", f.secret)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("an update was refused by every replica")
}

// script is one defender's whole report, sent without waiting for the
// bot: the buttons' data can be computed because each change bumps the
// draft's revision by one. Any update handled out of order or twice breaks
// the report (a stale button, a part twice or out of place).
func script(chat int64, firstID int64, parts int) [][]byte {
	var out [][]byte
	id := firstID
	msg := func(text string) {
		u := map[string]any{"update_id": id, "message": map[string]any{
			"message_id": id, "date": time.Now().Unix(), "text": text,
			"chat": map[string]any{"id": chat, "type": "private", "first_name": "D"},
			"from": map[string]any{"id": chat, "is_bot": false, "first_name": "D", "language_code": "en"}}}
		if strings.HasPrefix(text, "/") {
			u["message"].(map[string]any)["entities"] = []any{map[string]any{"type": "bot_command", "offset": 0, "length": len(text)}}
		}
		raw, _ := json.Marshal(u)
		out = append(out, raw)
		id++
	}
	press := func(data string) {
		raw, _ := json.Marshal(map[string]any{"update_id": id, "callback_query": map[string]any{
			"id": fmt.Sprint(id), "data": data, "chat_instance": "x",
			"from":    map[string]any{"id": chat, "is_bot": false, "first_name": "D"},
			"message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "chat": map[string]any{"id": chat, "type": "private"}}}})
		out = append(out, raw)
		id++
	}
	msg("/start")
	press("0|l|en")
	press("1|c|")
	press("2|o|no")
	press("3|s|")
	press("4|t|threats")
	press("5|d|")
	for rev := 6; rev <= 9; rev++ {
		press(fmt.Sprintf("%d|s|", rev)) // when, country, place, perpetrator
	}
	for i := 0; i < parts; i++ {
		msg(fmt.Sprintf("p%d", i))
	}
	rev := 10 + parts
	press(fmt.Sprintf("%d|d|", rev))
	for i := 1; i <= 5; i++ {
		press(fmt.Sprintf("%d|s|", rev+i)) // evidence, help, consent, contact, detail
	}
	press(fmt.Sprintf("%d|x|", rev+6))
	return out
}

func TestReplicasKeepEveryChatInOrderOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three bot processes; skipped with -short")
	}
	for _, tc := range []struct {
		name          string
		kill, cluster bool
	}{
		{"three replicas", false, false},
		{"one replica killed with SIGKILL mid-run", true, false},
		{"on a three-master Redis Cluster", false, true},
		{"on a Redis Cluster, one replica killed", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) { runReplicas(t, tc.kill, tc.cluster) })
	}
}

func runReplicas(t *testing.T, kill, cluster bool) {
	ctx := context.Background()
	env := testenv.New(t)
	if cluster {
		env = testenv.NewCluster(t)
	}
	api := fakeapi.New(t, replicaToken)
	// 25 updates a chat, sent by eight senders over three processes: the
	// chats' updates interleave at every step, which is what ordering
	// needs; more chats only make the run longer.
	const chats, parts = 64, 7
	for c := int64(0); c < chats; c++ {
		api.AddChat(models.Chat{ID: 100000 + c, Type: models.ChatTypePrivate})
	}
	secret := replicaSecret
	f := &forwarder{secret: secret}
	for i := 0; i < 3; i++ {
		f.replicas = append(f.replicas, startReplica(t, env, api, secret))
	}
	scripts := make([][][]byte, chats)
	total := 0
	for c := range scripts {
		scripts[c] = script(100000+int64(c), int64(c)*1000+1, parts)
		total += len(scripts[c])
	}
	if total != chats*25 {
		t.Fatalf("script has %d updates", total)
	}
	// Eight senders, each owning some chats, send every chat's updates in
	// order, interleaving chats.
	var sent sync.WaitGroup
	var killOnce sync.Once
	for w := 0; w < 8; w++ {
		sent.Add(1)
		go func() {
			defer sent.Done()
			for step := 0; step < len(scripts[0]); step++ {
				for c := w; c < chats; c += 8 {
					f.deliver(t, scripts[c][step])
				}
				if kill && step == len(scripts[0])/2 {
					killOnce.Do(func() {
						victim := f.replicas[0]
						victim.kill()
					})
				}
			}
		}()
	}
	sent.Wait()
	// Every update was accepted (deliver returned): once the inboxes are
	// empty, every one has been handled, and a duplicate would be queued.
	if err := waitFor(120*time.Second, func() bool { return inboxEmpty(ctx, env) }); err != nil {
		n, _ := env.Store.QueueLength(ctx)
		t.Fatalf("%d of %d reports queued: %v", n, chats, err)
	}
	refs := env.Queue(t)
	if len(refs) != chats {
		t.Fatalf("the queue holds %d reports, want %d (one per chat)", len(refs), chats)
	}
	want := make([]string, parts)
	for i := range want {
		want[i] = fmt.Sprintf("p%d", i)
	}
	for _, ref := range refs {
		rep := env.OpenReport(t, ref)
		if got, _ := rep.Answers["description"].(string); got != strings.Join(want, "\n\n") {
			t.Fatalf("report %s: description %q: an update was lost, repeated or reordered", ref, got)
		}
	}
	receipts := 0
	for c := int64(0); c < chats; c++ {
		n := 0
		for _, a := range api.Sent(100000 + c) {
			if strings.Contains(a.Text, "Your case reference is") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("chat %d got %d receipts", c, n)
		}
		receipts += n
	}
	t.Logf("%d updates through %d replicas (kill: %v): %d reports, %d receipts", total, len(f.replicas), kill, len(refs), receipts)
}

func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// inboxEmpty reports whether the bots' inboxes hold no update: each update
// accepted has been handled, its report queued and its answers sent.
func inboxEmpty(ctx context.Context, env *testenv.Env) bool {
	depth, _, err := env.Service.InboxDepth(ctx, 8)
	return err == nil && depth == 0
}

// receiptRefs returns the case references of the receipts the bot sent.
func receiptRefs(api *fakeapi.Server, chats []int64) []string {
	var refs []string
	for _, c := range chats {
		for _, a := range api.Sent(c) {
			if i := strings.Index(a.Text, "reference is "); i >= 0 && len(a.Text) >= i+13+9 {
				refs = append(refs, a.Text[i+13:i+13+9])
			}
		}
	}
	return refs
}

// TestRedisKilledDuringSubmissionsKeepsEveryReceipt: Redis runs as in
// production (appendonly, appendfsync always) and is killed with SIGKILL
// while reports are being sent, then restarted. Every report whose receipt
// went out is in the queue.
func TestRedisKilledDuringSubmissionsKeepsEveryReceipt(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts redis-server; skipped with -short")
	}
	ctx := context.Background()
	env := testenv.New(t, "appendonly yes", "appendfsync always")
	api := fakeapi.New(t, replicaToken)
	const n = 150
	chats := privateChats(api, 200000, n)
	secret := replicaSecret
	f := &forwarder{secret: secret, replicas: []*replica{startReplica(t, env, api, secret)}}
	var sent sync.WaitGroup
	var once sync.Once
	for w := 0; w < 6; w++ {
		sent.Add(1)
		go func() {
			defer sent.Done()
			scripts := map[int64][][]byte{}
			for c := w; c < n; c += 6 {
				scripts[chats[c]] = script(chats[c], int64(c)*1000+1, 1)
			}
			for step := 0; step < 19; step++ {
				for c := w; c < n; c += 6 {
					f.deliver(t, scripts[chats[c]][step])
				}
				if step == 18 { // the first sender to have sent all its Sends: others are mid-way
					once.Do(func() {
						env.Redis.Kill()
						time.Sleep(300 * time.Millisecond)
						env.Redis.Restart(t)
					})
				}
			}
		}()
	}
	sent.Wait()
	// Let the bot finish what it took (some Sends got "try again" while
	// Redis was down and stay unsent).
	if err := waitFor(fakeapi.Patience, func() bool { return inboxEmpty(ctx, env) }); err != nil {
		t.Fatalf("the inbox did not drain after Redis came back: %v", err)
	}
	refs := receiptRefs(api, chats)
	if len(refs) < n/2 {
		t.Fatalf("only %d receipts were sent; the test did not exercise submissions", len(refs))
	}
	for _, ref := range refs {
		if _, err := env.Store.Report(ctx, ref); err != nil {
			t.Errorf("receipt %s was sent but the report is not in the queue: %v", ref, err)
		}
	}
	queued, _ := env.Store.QueueLength(ctx)
	t.Logf("%d receipts sent, %d reports queued after a Redis crash", len(refs), queued)
}

// TestReceiptLostToACrashIsSentByTheNextProcess: the bot is killed after
// it stored a report and the chat's state, while Telegram was failing its
// calls, so before the receipt went out. The process that takes over sends
// the receipt (the reply was stored with the state), for the report queued
// once.
func TestReceiptLostToACrashIsSentByTheNextProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a bot process; skipped with -short")
	}
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, replicaToken)
	chat := privateChats(api, 600000, 1)[0]
	first := startReplica(t, env, api, replicaSecret)
	f := &forwarder{secret: replicaSecret, replicas: []*replica{first}}
	steps := script(chat, 1, 1)
	for _, raw := range steps[:len(steps)-1] {
		f.deliver(t, raw)
	}
	if err := waitFor(fakeapi.Patience, func() bool { return inboxEmpty(ctx, env) }); err != nil {
		t.Fatal("the steps before Send were not handled")
	}

	// Send: every call about the chat fails for a while. The first comes
	// once the report and the state are stored (the button's answer).
	api.FailNextInChat(chat, "", 3, fakeapi.Failure{Code: 502, Description: "Bad Gateway"})
	answers := api.Calls("answerCallbackQuery")
	f.deliver(t, steps[len(steps)-1])
	if err := waitFor(fakeapi.Patience, func() bool { return api.Calls("answerCallbackQuery") > answers }); err != nil {
		t.Fatal("the bot did not answer the Send button")
	}
	first.kill()
	queued := env.Queue(t)
	if len(queued) != 1 {
		t.Fatalf("%d reports queued before the restart, want 1", len(queued))
	}
	if refs := receiptRefs(api, []int64{chat}); len(refs) != 0 {
		t.Fatalf("the receipt went out before the kill (%v): the test did not exercise the crash", refs)
	}

	startReplica(t, env, api, replicaSecret)
	if err := waitFor(fakeapi.Patience, func() bool { return len(receiptRefs(api, []int64{chat})) > 0 }); err != nil {
		t.Fatal("the next process did not send the receipt")
	}
	if refs := receiptRefs(api, []int64{chat}); refs[0] != queued[0] {
		t.Errorf("receipt for %s, but %s is queued", refs[0], queued[0])
	}
	if again := env.Queue(t); len(again) != 1 {
		t.Errorf("%d reports queued after the restart, want 1", len(again))
	}
}

// TestBotKilledAtRandomDuringSubmissions: one bot process at a time runs
// 300 scripted submissions and is killed with SIGKILL at four random moments,
// a new one taking its place. Every report whose receipt was sent is in the
// queue, and no chat's report is queued twice.
func TestBotKilledAtRandomDuringSubmissions(t *testing.T) {
	if testing.Short() {
		t.Skip("kills bot processes; skipped with -short")
	}
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, replicaToken)
	const n = 300
	chats := privateChats(api, 300000, n)
	secret := replicaSecret
	f := &forwarder{secret: secret, replicas: []*replica{startReplica(t, env, api, secret)}}
	// Four kills, each at a random point of its fifth of the updates, so
	// that the number of crashes does not depend on the machine's speed.
	const steps, kills = 19, 4
	var delivered atomic.Int64
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		fifth := int64(n * steps / (kills + 1))
		for k := range int64(kills) {
			at := fifth*k + 1 + rand.Int64N(fifth)
			for delivered.Load() < at {
				time.Sleep(time.Millisecond)
			}
			f.mu.Lock()
			old := f.replicas[0]
			f.mu.Unlock()
			old.kill()
			next := startReplica(t, env, api, secret)
			f.mu.Lock()
			f.replicas = []*replica{next}
			f.mu.Unlock()
		}
	}()
	var sent sync.WaitGroup
	for w := 0; w < 8; w++ {
		sent.Add(1)
		go func() {
			defer sent.Done()
			scripts := map[int64][][]byte{}
			for c := w; c < n; c += 8 {
				scripts[chats[c]] = script(chats[c], int64(c)*1000+1, 1)
			}
			for step := 0; step < steps; step++ {
				for c := w; c < n; c += 8 {
					f.deliver(t, scripts[chats[c]][step])
					delivered.Add(1)
				}
			}
		}()
	}
	sent.Wait()
	<-killed
	// The last process finishes what is in the inbox.
	if err := waitFor(2*time.Minute, func() bool { return inboxEmpty(ctx, env) }); err != nil {
		t.Fatal(err)
	}
	refs := receiptRefs(api, chats)
	seen := map[string]bool{}
	for _, ref := range refs {
		if _, err := env.Store.Report(ctx, ref); err != nil {
			t.Errorf("receipt %s was sent but the report is not in the queue: %v", ref, err)
		}
		seen[ref] = true
	}
	// Each chat's receipts (a receipt may be sent again after a crash)
	// name one reference, and the queue holds exactly those.
	for _, c := range chats {
		if mine := receiptRefs(api, []int64{c}); len(mine) > 1 {
			for _, r := range mine[1:] {
				if r != mine[0] {
					t.Errorf("chat %d got receipts for %s and %s: its report was queued twice", c, mine[0], r)
				}
			}
		}
	}
	queued := env.Queue(t)
	if len(queued) != len(seen) {
		t.Errorf("%d reports queued, %d distinct receipts", len(queued), len(seen))
	}
	if len(refs) < n/2 {
		t.Fatalf("%d receipts: the test did not exercise submissions", len(refs))
	}
	t.Logf("%d submissions, %d kills: %d receipts, %d distinct, %d reports queued", n, kills, len(refs), len(seen), len(queued))
}

// TestSIGTERMStopsWithinTheShutdownTime: a bot process asked to stop stops
// taking updates, finishes those in hand and exits cleanly in time; what it
// had not taken is handled by the next process.
func TestSIGTERMStopsWithinTheShutdownTime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bot processes; skipped with -short")
	}
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, replicaToken)
	const n = 40
	chats := privateChats(api, 600000, n)
	secret := replicaSecret
	first := startReplica(t, env, api, secret)
	f := &forwarder{secret: secret, replicas: []*replica{first}}
	for c := range chats {
		for _, raw := range script(chats[c], int64(c)*1000+1, 1)[:10] {
			f.deliver(t, raw)
		}
	}
	began := time.Now()
	first.cmd.Process.Signal(syscall.SIGTERM)
	err := first.cmd.Wait()
	first.dead = true
	if err != nil {
		t.Fatalf("the bot did not exit cleanly on SIGTERM: %v", err)
	}
	if took := time.Since(began); took > 25*time.Second {
		t.Fatalf("the bot took %v to stop; the shutdown time is 20s", took)
	}
	// A new process finishes the conversations: every report arrives once.
	f.replicas = []*replica{startReplica(t, env, api, secret)}
	for c := range chats {
		for _, raw := range script(chats[c], int64(c)*1000+1, 1)[10:] {
			f.deliver(t, raw)
		}
	}
	if err := waitFor(fakeapi.Patience, func() bool { return inboxEmpty(ctx, env) }); err != nil {
		q, _ := env.Store.QueueLength(ctx)
		t.Fatalf("%d of %d reports after a restart: %v", q, n, err)
	}
	if q, _ := env.Store.QueueLength(ctx); q != n {
		t.Fatalf("%d reports for %d chats", q, n)
	}
}
