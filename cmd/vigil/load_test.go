package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// BenchmarkLoad is the load generator: it plays the Bot API (the fake, in
// this process) and feeds scripted report conversations at a fixed arrival
// rate to one `vigil bot` process (long polling, real Redis, drafts sealed
// and stored as in production), then reports:
//
//	upd/cpu-s   updates handled per CPU-second of the bot process
//	p50/p95/p99-ms  latency from the update being available to its reply
//	lost, out-of-order  replies missing, or reports broken by reordering
//	rss-MB, rss-10k-drafts-MB  the bot's resident memory after the run, and
//	                after 10,000 more chats each opened a draft
//
// Run it without -race, twice, and compare the runs (CPU time drifts
// between runs minutes apart on shared machines):
//
//	go test ./cmd/vigil -run '^$' -bench Load -benchtime 1x -count 2
//
// VIGIL_BENCH_MODE=webhook posts the updates to the bot's webhook, one
// after another as Telegram would, instead of queueing them for
// getUpdates. VIGIL_BENCH_WAIT=1 gives Redis a replica and the bot
// VIGIL_REDIS_WAIT_REPLICAS=1, so that every write waits for it.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		loadRun(b, benchRate(), benchChats())
	}
}

func loadRun(b *testing.B, rate, chats int) {
	ctx := context.Background()
	env := testenv.New(b)
	api := fakeapi.New(b, replicaToken)
	const parts = 7 // 25 updates a conversation
	for c := 0; c < chats; c++ {
		api.AddChat(models.Chat{ID: int64(400000 + c), Type: models.ChatTypePrivate})
	}
	cmd := exec.Command(os.Args[0], "bot")
	cmd.Env = append(os.Environ(), "VIGIL_TEST_RUN_MAIN=1",
		"TELEGRAM_BOT_TOKEN="+replicaToken, "TELEGRAM_API_URL="+api.URL(), "REDIS_URL="+env.Redis.URL(),
		"VIGIL_RECIPIENTS_FILE="+filepath.Join(env.Dir, "recipients.txt"),
		"VIGIL_SECRET_FILE="+filepath.Join(env.Dir, "bot.secret"),
		"VIGIL_STAFF_KEYRING="+env.KeyringFile,
		"VIGIL_METRICS_LISTEN=off", "VIGIL_LOG_LEVEL="+os.Getenv("VIGIL_BENCH_LOG"), "VIGIL_LOG_FORMAT=text", "VIGIL_PARTITIONS=32")
	if os.Getenv("VIGIL_BENCH_WAIT") != "" {
		redistest.StartReplica(b, env.Redis)
		// WAIT counts a replica once it is in sync.
		err := waitFor(20*time.Second, func() bool {
			repl, _ := env.RDB.Info(ctx, "replication").Result()
			return strings.Contains(repl, ",state=online,")
		})
		if err != nil {
			b.Fatal("the replica did not come online")
		}
		cmd.Env = append(cmd.Env, "VIGIL_REDIS_WAIT_REPLICAS=1")
	}
	// deliver hands an update to the bot as Telegram would.
	deliver := func(u models.Update) { api.SendUpdate(u) }
	started := func() bool { return api.Calls("getUpdates") > 0 }
	if os.Getenv("VIGIL_BENCH_MODE") == "webhook" {
		hook := "http://" + freeAddr(b) + "/hook"
		cmd.Env = append(cmd.Env, "VIGIL_WEBHOOK_URL="+hook, "VIGIL_WEBHOOK_LISTEN="+strings.TrimSuffix(strings.TrimPrefix(hook, "http://"), "/hook"),
			"VIGIL_WEBHOOK_SECRET="+replicaSecret)
		post := func(raw []byte) int {
			req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(raw))
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", replicaSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		deliver = func(u models.Update) {
			if code := post(api.WebhookUpdate(u)); code != http.StatusOK {
				b.Errorf("webhook answered %d", code)
			}
		}
		started = func() bool { return post([]byte("{}")) == http.StatusOK }
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if err := waitFor(20*time.Second, started); err != nil {
		b.Fatalf("bot did not start: %s", logs.String())
	}

	type step struct {
		chat int64
		u    models.Update
	}
	var plan []step
	scripts := make([][][]byte, chats)
	for c := range scripts {
		scripts[c] = script(int64(400000+c), 1, parts)
	}
	for k := range scripts[0] {
		for c := range scripts {
			var u models.Update
			if err := json.Unmarshal(scripts[c][k], &u); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, step{int64(400000 + c), u})
		}
	}
	sentAt := map[int64][]time.Time{}
	cpu0 := cpuSeconds(b, cmd.Process.Pid)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i, s := range plan {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		sentAt[s.chat] = append(sentAt[s.chat], time.Now())
		deliver(s.u)
	}
	expected := len(scripts[0])
	replies := func(chat int64) []fakeapi.Action {
		return slices.DeleteFunc(api.Sent(chat), func(a fakeapi.Action) bool { return a.Method == "deleteMessage" })
	}
	waitFor(60*time.Second, func() bool {
		for c := 0; c < chats; c++ {
			if len(replies(int64(400000+c))) < expected {
				return false
			}
		}
		return true
	})
	cpu := cpuSeconds(b, cmd.Process.Pid) - cpu0
	calls := map[string]int{}
	for _, m := range []string{"sendMessage", "editMessageText", "answerCallbackQuery", "getUpdates"} {
		calls[m] = api.Calls(m)
	}
	var lat []time.Duration
	lost := 0
	for c := 0; c < chats; c++ {
		chat := int64(400000 + c)
		got := replies(chat)
		lost += max(0, expected-len(got))
		for k := 0; k < min(len(got), expected); k++ {
			lat = append(lat, got[k].At.Sub(sentAt[chat][k]))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	broken := chats - len(env.Queue(b))
	want := make([]string, parts)
	for i := range want {
		want[i] = fmt.Sprintf("p%d", i)
	}
	for _, ref := range env.Queue(b) {
		if d, _ := env.OpenReport(b, ref).Answers["description"].(string); d != strings.Join(want, "\n\n") {
			broken++
		}
	}
	rss := rssMB(b, cmd.Process.Pid)

	// 10,000 more chats each open a draft: the bot's memory must not grow
	// with them (drafts live in Redis).
	for c := 0; c < envInt("VIGIL_BENCH_DRAFTS", 10000); c++ {
		chat := models.Chat{ID: int64(500000 + c), Type: models.ChatTypePrivate}
		api.AddChat(chat)
		deliver(models.Update{Message: &models.Message{Chat: chat, From: &models.User{ID: chat.ID, FirstName: "D"},
			Text: "/start", Entities: []models.MessageEntity{{Type: models.MessageEntityTypeBotCommand, Length: 6}}}})
	}
	waitFor(120*time.Second, func() bool {
		depth, _, _ := env.Service.InboxDepth(ctx, 32)
		return api.Pending() == 0 && depth == 0
	})
	time.Sleep(time.Second)
	drafts, _ := env.RDB.Keys(ctx, "vigil:{c:*}:draft").Result()
	rss10k := rssMB(b, cmd.Process.Pid)

	b.ReportMetric(float64(len(plan))/cpu, "upd/cpu-s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(broken), "out-of-order")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(rss10k, "rss-10k-drafts-MB")
	if os.Getenv("VIGIL_BENCH_LOG") != "" {
		b.Log(logs.String())
	}
	b.Logf("%d updates at %d/s to %d chats in %v; bot CPU %.2fs; %d open drafts in Redis; Bot API calls during the run: %v", len(plan), rate, chats,
		time.Since(start).Round(time.Millisecond), cpu, len(drafts), calls)
}

// cpuSeconds reads a process's user+system CPU time from /proc.
func cpuSeconds(tb testing.TB, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// rssMB reads a process's resident memory from /proc.
func rssMB(tb testing.TB, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func benchRate() int  { return envInt("VIGIL_BENCH_RATE", 500) }
func benchChats() int { return envInt("VIGIL_BENCH_CHATS", 500) }

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
