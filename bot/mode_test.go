package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/metrictest"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// startInMode runs a bot against api, in webhook mode when hook is set and
// polling otherwise, retrying failed Bot API calls 10 ms apart at first.
// It checks that the bot is not ready before it runs.
func startInMode(t *testing.T, api *fakeapi.Server, hook *WebhookConfig) (*Bot, *prometheus.Registry) {
	t.Helper()
	env := testenv.New(t)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, Config{Token: apiToken, APIURL: api.URL(), Service: env.Service, Text: env.Text, Log: env.Log,
		Metrics: reg, Inbox: env.Service, Partitions: 2, LeaseTTL: 2 * time.Second, PollTimeout: time.Second,
		ReplyPoll: 100 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, Webhook: hook})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := b.Ready(); !errors.Is(err, ErrModeNotConfirmed) || modeGauge(t, reg) != 0 {
		t.Fatalf("before Run: Ready() = %v, gauge %v; want not ready", err, modeGauge(t, reg))
	}
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b, reg
}

// modeGauge reads vigil_telegram_mode_confirmed from reg.
func modeGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	s := metrictest.Samples(t, reg, "vigil_telegram_mode_confirmed")
	if len(s) == 0 {
		t.Fatal("no vigil_telegram_mode_confirmed")
	}
	return s[0].Value
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestModeIsConfirmedThroughFailures: the call that sets the bot's mode
// (setWebhook, or deleteWebhook of a webhook left registered before
// polling) and getWebhookInfo, answered 429, 5xx or with a dropped
// connection, are tried again until Telegram reports the mode; until then
// the bot is not ready, and then it is (Ready, and the gauge
// vigil_telegram_mode_confirmed). Polling, a defender is then answered.
func TestModeIsConfirmedThroughFailures(t *testing.T) {
	failures := []struct {
		name   string
		tries  int // calls of each method that fail
		inject func(api *fakeapi.Server, method string)
	}{
		{"429", 1, func(api *fakeapi.Server, m string) { api.FailNext(m, 1, fakeapi.TooManyRequests(1)) }},
		{"5xx", 3, func(api *fakeapi.Server, m string) { api.FailNext(m, 3, fakeapi.ServerError(502)) }},
		{"network", 3, func(api *fakeapi.Server, m string) { api.DropNext(m, 3) }},
	}
	modes := []struct {
		name   string
		hook   *WebhookConfig
		method string
	}{
		{"polling", nil, "deleteWebhook"},
		{"webhook", &WebhookConfig{URL: "https://example.org/tg/hook", Listen: "127.0.0.1:0", Secret: "s3cret-s3cret-s3cret"}, "setWebhook"},
	}
	for _, mode := range modes {
		for _, f := range failures {
			t.Run(mode.name+"/"+f.name, func(t *testing.T) {
				api := fakeapi.New(t, apiToken)
				want := ""
				if mode.hook != nil {
					want = mode.hook.URL
				} else {
					api.SetWebhook("https://example.org/left-behind")
				}
				f.inject(api, mode.method)
				f.inject(api, "getWebhookInfo")
				b, reg := startInMode(t, api, mode.hook)
				// Telegram learns the mode: a defender's update arrives, or
				// the webhook is registered.
				if mode.hook == nil {
					chat, user := defender(8100)
					api.SendText(chat, user, "/start")
					if _, err := api.WaitSent(chat.ID, 1, 20*time.Second); err != nil {
						t.Fatal(err)
					}
				}
				eventually(t, 20*time.Second, "Telegram's webhook is "+want, func() bool { return api.Webhook() == want })
				eventually(t, 10*time.Second, "Ready", func() bool { return b.Ready() == nil })
				if g := modeGauge(t, reg); g != 1 {
					t.Fatalf("vigil_telegram_mode_confirmed = %v once ready", g)
				}
				for _, m := range []string{mode.method, "getWebhookInfo"} {
					if n := api.Calls(m); n < f.tries+1 {
						t.Fatalf("%s called %d times; %d failed", m, n, f.tries)
					}
				}
			})
		}
	}
}

// TestPollingRemovesAWebhookSetMeanwhile: a webhook set while the bot
// polls (by another program with the token) makes getUpdates answer 409
// Conflict; the bot is not ready until it has removed the webhook again,
// then the defender's update arrives.
func TestPollingRemovesAWebhookSetMeanwhile(t *testing.T) {
	api := fakeapi.New(t, apiToken)
	b, reg := startInMode(t, api, nil)
	eventually(t, 10*time.Second, "Ready at start", func() bool { return b.Ready() == nil })
	chat, user := defender(8200)
	api.SendText(chat, user, "/start")
	if _, err := api.WaitSent(chat.ID, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Removing it again is refused at first, for a second: long enough
	// to see the bot not ready meanwhile.
	api.FailNext("deleteWebhook", 1, fakeapi.TooManyRequests(1))
	api.SetWebhook("https://example.org/intruder")
	api.SendText(chat, user, "/help")
	eventually(t, 10*time.Second, "not ready after a 409", func() bool { return b.Ready() != nil && modeGauge(t, reg) == 0 })
	eventually(t, 10*time.Second, "ready again", func() bool { return b.Ready() == nil && modeGauge(t, reg) == 1 })
	if _, err := api.WaitSent(chat.ID, 2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := api.Webhook(); got != "" {
		t.Fatalf("the webhook set meanwhile is still there: %q", got)
	}
}
