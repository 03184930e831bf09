package fakeapi_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
)

// sendText sends text to chat as a broadcast would.
func sendText(t *testing.T, b *bot.Bot, chatID any, text string) error {
	t.Helper()
	_, err := b.SendMessage(t.Context(), &bot.SendMessageParams{
		ChatID:             chatID,
		Text:               text,
		ParseMode:          models.ParseModeHTML,
		AllowPaidBroadcast: true,
	})
	return err
}

// wantTooManyRequests checks that err is go-telegram/bot's 429 error with
// the given retry_after.
func wantTooManyRequests(t *testing.T, err error, retryAfter int) {
	t.Helper()
	var tm *bot.TooManyRequestsError
	if !errors.As(err, &tm) || tm.RetryAfter != retryAfter ||
		!strings.Contains(tm.Message, fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)) {
		t.Fatalf("error = %v, want *bot.TooManyRequestsError with RetryAfter %d", err, retryAfter)
	}
}

func TestBlock(t *testing.T) {
	tests := []struct {
		name, description, want string
	}{
		{"default", "", "Forbidden: bot was blocked by the user"},
		{"deactivated", fakeapi.UserDeactivated, "Forbidden: user is deactivated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeapi.New(t, token)
			s.AddChat(aliceChat)
			s.AddChat(bobChat)
			b := newClient(t, s)
			s.Block(aliceChat.ID, tc.description)
			s.Block(999, tc.description) // a chat the fake never saw

			wantForbidden := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, bot.ErrorForbidden) || !strings.HasSuffix(err.Error(), ", "+tc.want) {
					t.Fatalf("%s: error = %v, want bot.ErrorForbidden with %q", what, err, tc.want)
				}
			}
			wantForbidden("sendMessage", sendText(t, b, aliceChat.ID, "<b>news</b>"))
			wantForbidden("sendMessage to @alice", sendText(t, b, "@alice", "news"))
			wantForbidden("sendMessage to an unknown chat", sendText(t, b, 999, "news"))
			_, err := b.SendChatAction(t.Context(), &bot.SendChatActionParams{ChatID: aliceChat.ID, Action: models.ChatActionTyping})
			wantForbidden("sendChatAction", err)
			if err := sendText(t, b, bobChat.ID, "news"); err != nil {
				t.Fatalf("sendMessage to another chat: %v", err)
			}
			if sent := s.Sent(aliceChat.ID); len(sent) != 0 {
				t.Fatalf("Sent(alice) = %+v, want nothing", sent)
			}

			s.Unblock(aliceChat.ID)
			if err := sendText(t, b, aliceChat.ID, "news"); err != nil {
				t.Fatalf("sendMessage after Unblock: %v", err)
			}
			if n, sends, v := s.Calls("sendMessage"), s.SendCount(), s.Violations(); n != 5 || sends != 2 || v != 0 {
				t.Fatalf("Calls = %d, SendCount = %d, Violations = %d; want 5, 2, 0", n, sends, v)
			}
		})
	}
}

func TestFloodWindow(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	s.AddChat(bobChat)
	b := newClient(t, s)

	s.Flood(1, 1, 42)
	wantTooManyRequests(t, sendText(t, b, aliceChat.ID, "first"), 1)
	opened := time.Now() // the window closes at most 1s after this
	s.Flood(0, 0, 0)     // no new floods; the open window runs its course
	if f, v := s.FloodsStarted(), s.Violations(); f != 1 || v != 0 {
		t.Fatalf("after the first send: FloodsStarted = %d, Violations = %d; want 1, 0", f, v)
	}

	wantTooManyRequests(t, sendText(t, b, bobChat.ID, "during"), 1)
	if v := s.Violations(); v != 1 {
		t.Fatalf("Violations = %d after a send inside the window, want 1", v)
	}
	if _, err := b.SendChatAction(t.Context(), &bot.SendChatActionParams{ChatID: aliceChat.ID, Action: models.ChatActionTyping}); err != nil {
		t.Fatalf("sendChatAction inside the window: %v", err)
	}

	time.Sleep(time.Until(opened.Add(time.Second + 20*time.Millisecond)))
	if err := sendText(t, b, aliceChat.ID, "after"); err != nil {
		t.Fatalf("send after the window: %v", err)
	}
	sends := s.Sends()
	sent := s.Sent(aliceChat.ID)
	if len(sends) != 1 || len(sent) != 1 || sent[0].Text != "after" || !sends[0].Equal(sent[0].At) {
		t.Fatalf("Sends = %v, Sent(alice) = %+v; want just the last send", sends, sent)
	}
	if f, v := s.FloodsStarted(), s.Violations(); f != 1 || v != 1 {
		t.Fatalf("FloodsStarted = %d, Violations = %d; want 1, 1", f, v)
	}
}

func TestFloodWireFormat(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	s.Flood(1, 30, 1)
	const want = `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 30","parameters":{"retry_after":30}}`
	// The second call finds 29.9… seconds left, rounded up.
	for i := range 2 {
		status, body := post(t, s.URL()+"/bot"+token+"/sendMessage", "application/json", `{"chat_id":1001,"text":"x"}`)
		if status != 429 || body != want {
			t.Fatalf("call %d: got %d %s\nwant 429 %s", i, status, body, want)
		}
	}
}

// TestFloodIsRepeatable sends until the first flood, twice per seed: the
// same seed floods at the same send.
func TestFloodIsRepeatable(t *testing.T) {
	firstFlood := func(t *testing.T, probability float64, seed int64) int {
		s := fakeapi.New(t, token)
		s.AddChat(aliceChat)
		b := newClient(t, s)
		s.Flood(probability, 60, seed)
		for i := 1; i <= 100; i++ {
			if err := sendText(t, b, aliceChat.ID, "x"); err != nil {
				wantTooManyRequests(t, err, 60)
				if s.FloodsStarted() != 1 || s.SendCount() != i-1 {
					t.Fatalf("FloodsStarted = %d, SendCount = %d; want 1, %d", s.FloodsStarted(), s.SendCount(), i-1)
				}
				return i
			}
		}
		return 0
	}
	tests := []struct {
		name        string
		probability float64
		seed        int64
	}{
		{"never", 0, 0},
		{"always", 1, 0},
		{"one in five, seed 1", 0.2, 1},
		{"one in five, seed 2", 0.2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, again := firstFlood(t, tc.probability, tc.seed), firstFlood(t, tc.probability, tc.seed)
			switch {
			case first != again:
				t.Fatalf("first flood at send %d, then %d with the same seed", first, again)
			case tc.probability == 0 && first != 0:
				t.Fatalf("flood at send %d with probability 0", first)
			case tc.probability == 1 && first != 1:
				t.Fatalf("first flood at send %d with probability 1, want 1", first)
			case tc.probability > 0 && first == 0:
				t.Fatalf("no flood in 100 sends with probability %v", tc.probability)
			}
		})
	}
}

func TestLimitRate(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	s.AddChat(bobChat)
	b := newClient(t, s)
	s.LimitRate(3)

	// Four sends well within one second: the fourth is one too many,
	// whichever chat it goes to.
	for i, chat := range []int64{aliceChat.ID, bobChat.ID, aliceChat.ID} {
		if err := sendText(t, b, chat, "x"); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	wantTooManyRequests(t, sendText(t, b, bobChat.ID, "x"), 1)
	if n, v, most := s.SendCount(), s.Violations(), fakeapi.MaxInWindow(s.Sends(), time.Second); n != 3 || v != 1 || most != 3 {
		t.Fatalf("SendCount = %d, Violations = %d, MaxInWindow = %d; want 3, 1, 3", n, v, most)
	}

	s.LimitRate(0)
	if err := sendText(t, b, bobChat.ID, "x"); err != nil {
		t.Fatalf("send with the limit off: %v", err)
	}
}

func TestLimitRateConcurrent(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)
	const limit, calls = 10, 25
	s.LimitRate(limit)

	var refused atomic.Int64
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			var tm *bot.TooManyRequestsError
			switch err := sendText(t, b, aliceChat.ID, "x"); {
			case errors.As(err, &tm):
				refused.Add(1)
			case err != nil:
				t.Errorf("send: %v", err)
			}
		})
	}
	wg.Wait()
	accepted := s.SendCount()
	if accepted < 1 || accepted > limit || accepted+int(refused.Load()) != calls || s.Violations() != int(refused.Load()) {
		t.Fatalf("accepted %d, refused %d, Violations %d; want 1–%d accepted, the rest refused and counted", accepted, refused.Load(), s.Violations(), limit)
	}
	if most := fakeapi.MaxInWindow(s.Sends(), time.Second); most > limit {
		t.Fatalf("MaxInWindow = %d, over the limit %d", most, limit)
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name   string
		times  []time.Time
		window time.Duration
		want   int
	}{
		{"none", nil, time.Second, 0},
		{"one", at(0), time.Second, 1},
		{"zero window", at(0, 0, 1), 0, 0},
		{"all in one window", at(0, 100, 200, 999), time.Second, 4},
		{"exactly a window apart", at(0, 1000), time.Second, 1},
		{"same instant", at(5, 5, 5), time.Millisecond, 3},
		{"busiest window in the middle", at(0, 900, 1000, 1100, 1200, 1899, 1900, 3000), time.Second, 5},
		{"unsorted", at(1200, 0, 1100, 1000, 900), time.Second, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fakeapi.MaxInWindow(tc.times, tc.window); got != tc.want {
				t.Fatalf("MaxInWindow(%v) = %d, want %d", tc.window, got, tc.want)
			}
		})
	}
}

// TestBroadcast sends one message to each of 1,000 chats through the real
// client from several goroutines, as a broadcast worker would.
// TestSendMessageScales (scale_test.go) does 100,000 without the network.
func TestBroadcast(t *testing.T) {
	const chats, workers = 1000, 8
	s := fakeapi.New(t, token)
	for i := range chats {
		s.AddChat(models.Chat{ID: int64(1_000_000 + i)})
	}
	b := newClient(t, s)
	s.LimitRate(1_000_000) // on, so that its window is exercised too

	next := make(chan int64)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range next {
				if err := sendText(t, b, id, fmt.Sprintf("<b>Notice</b> for %d", id)); err != nil {
					t.Errorf("chat %d: %v", id, err)
				}
			}
		})
	}
	for i := range chats {
		next <- int64(1_000_000 + i)
	}
	close(next)
	wg.Wait()

	sends := s.Sends()
	if len(sends) != chats || s.Calls("sendMessage") != chats || s.Violations() != 0 {
		t.Fatalf("Sends = %d, Calls = %d, Violations = %d; want %d, %d, 0", len(sends), s.Calls("sendMessage"), s.Violations(), chats, chats)
	}
	for i := 1; i < len(sends); i++ {
		if sends[i].Before(sends[i-1]) {
			t.Fatalf("Sends out of order at %d: %v before %v", i, sends[i], sends[i-1])
		}
	}
	for i := range chats {
		id := int64(1_000_000 + i)
		if sent := s.Sent(id); len(sent) != 1 || sent[0].Text != fmt.Sprintf("Notice for %d", id) || sent[0].MessageID != 1 {
			t.Fatalf("chat %d: Sent = %+v", id, sent)
		}
	}
}
