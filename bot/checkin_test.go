package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// clock is a time the test moves by hand, for the engine, the service and
// so the check-ins' loop and the alerts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startCheckins runs the bot with check-ins on the clock c: the intervals
// offered are the defaults (6 h first), the reminder an hour before, the
// grace 30 minutes, and the loop looks every 20 ms of real time, so that
// moving the clock is acted on at once.
func startCheckins(t *testing.T, c *clock, also ...func(*bot.Config)) *harness {
	t.Helper()
	return startWith(t, nil, func(env *testenv.Env, cfg *bot.Config) {
		env.UseCheckins(c.now, flows.CheckinConfig{RemindBefore: time.Hour, DefaultOffset: 180},
			intake.CheckinTimes{Grace: 30 * time.Minute, Lease: time.Minute})
		cfg.Checkins, cfg.CheckinEvery = env.Service, 20*time.Millisecond
		for _, f := range also {
			f(cfg)
		}
	})
}

// slowAlertLoop sets the alert loop to look once an hour: an announcement
// within a test's patience then comes from the check-in loop.
func slowAlertLoop(cfg *bot.Config) { cfg.Alerts.Every = time.Hour }

// waitQueue waits until the queue holds n cases and returns them.
func waitQueue(t *testing.T, h *harness, n int) []string {
	t.Helper()
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return len(h.env.Queue(t)) >= n }); err != nil {
		t.Fatalf("queue %v, want %d case(s): %v", h.env.Queue(t), n, err)
	}
	return h.env.Queue(t)
}

// staffSaid waits until a message of the alert chat contains want, and
// returns how many do.
func staffSaid(t *testing.T, h *harness, want string) int {
	t.Helper()
	count := func() int {
		n := 0
		for _, a := range h.api.Sent(staffChat.ID) {
			if strings.Contains(a.Text, want) {
				n++
			}
		}
		return n
	}
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return count() > 0 }); err != nil {
		t.Fatalf("the alert chat never said %q: %+v", want, h.api.Sent(staffChat.ID))
	}
	return count()
}

// seen is what the defender sees of a bot message: its text and buttons.
func seen(t *testing.T, a fakeapi.Action) string {
	t.Helper()
	kb, err := json.Marshal(a.Keyboard)
	if err != nil {
		t.Fatal(err)
	}
	return a.Method + "|" + a.ParseMode + "|" + a.RawText + "|" + string(kb)
}

// TestCheckinEndToEnd: a defender sets a check-in with the buttons, gets
// the reminder, checks in with its button, misses the next deadline (one
// urgent case, announced by reference only), and then checks in under
// duress: the phone shows exactly what I am safe shows, and an urgent case
// is queued and announced. Neither the note nor the duress word is ever
// sent to the alert chat, stored or logged in plain text.
func TestCheckinEndToEnd(t *testing.T) {
	const (
		note   = "NOTE-MARKER-e2e-5521"
		duress = "Duress-Word-e2e-7730"
	)
	c := &clock{t: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)}
	h := startCheckins(t, c)
	d := h.defender(5557001, "en")
	T := func(key string, data map[string]any) string { return h.env.Text.T("en", key, data) }

	// Set up: every choice a button tapped, the note and the word typed.
	if got := d.send("/checkin", 1); !strings.Contains(got[0].Text, T("msg.checkin_interval", nil)) {
		t.Fatalf("/checkin: %q", got[0].Text)
	}
	d.tap(h.env.Engine.Duration("en", 6*time.Hour), 1)
	d.tap(T("btn.checkin_zone_default", map[string]any{"Zone": "UTC+3"}), 1)
	d.press("region:UA", 1)
	// The typed note and word are deleted from the chat first (see
	// TestTypedCheckinSecretsLeaveTheChat), then the bot answers.
	if got := d.send(note, 2); got[0].Method != "deleteMessage" || !strings.Contains(got[1].Text, T("msg.checkin_duress", nil)) {
		t.Fatalf("after the note: %+v", got)
	}
	set := d.send(duress, 2)
	if want := "Check-in set. Next one due 2026-12-08 20:00 (UTC+3). I will remind you 1 h before."; set[0].Method != "deleteMessage" || set[1].Text != want {
		t.Fatalf("confirmation %+v, want %q", set, want)
	}

	// The reminder, an hour before the deadline, with its one button.
	before := len(h.api.Sent(d.chat.ID))
	c.add(5 * time.Hour)
	rem := d.expect(before, 1)
	if rem[0].Text != "Your check-in is due at 20:00. Tap to check in." || len(rem[0].Keyboard) != 1 ||
		len(rem[0].Keyboard[0]) != 1 || rem[0].Keyboard[0][0].Text != T("btn.checkin_safe", nil) {
		t.Fatalf("reminder: %+v", rem[0])
	}
	// Tapping it sets the next deadline: now (16:00 UTC+3) plus 6 h.
	c.add(10 * time.Minute)
	if got := d.tap(T("btn.checkin_safe", nil), 1); got[0].Text != "Thank you. Next check-in due 2026-12-09 01:10 (UTC+3)." {
		t.Fatalf("check-in: %q", got[0].Text)
	}
	ck, err := h.env.Store.LoadCheckin(context.Background(), h.env.Keys.Hash("chat", d.chat.ID))
	if err != nil || !ck.Deadline.Equal(c.now().Add(6*time.Hour)) {
		t.Fatalf("stored deadline %v (%v), want %v", ck.Deadline, err, c.now().Add(6*time.Hour))
	}
	if q := h.env.Queue(t); len(q) != 0 {
		t.Fatalf("a case before any deadline passed: %v", q)
	}

	// The next reminder comes and is left; the deadline and its grace pass.
	before = len(h.api.Sent(d.chat.ID))
	c.add(5 * time.Hour)
	d.expect(before, 1)
	c.add(90 * time.Minute)
	missed := waitQueue(t, h, 1)[0]
	rep := h.env.OpenReport(t, missed)
	if rep.Answers["category"] != "missed check-in" || !rep.Urgent || rep.Answers["country"] != "UA" {
		t.Fatalf("missed case: %+v", rep)
	}
	if d, _ := rep.Answers["description"].(string); !strings.Contains(d, "SAFETY CHECK-IN MISSED") || !strings.Contains(d, "the deadline was 2026-12-08 22:10 UTC (their time zone: UTC+3), their last check-in 2026-12-08 16:10 UTC") {
		t.Fatalf("the missed case's description: %q", d)
	}
	if notes := h.env.OpenNotes(t, missed); len(notes) != 1 || notes[0] != note {
		t.Fatalf("notes of the missed case %q, want the defender's note", notes)
	}
	if n := staffSaid(t, h, missed); n != 1 {
		t.Fatalf("the missed case was announced %d times, want once", n)
	}

	// Duress: the word typed gives what tapping I am safe gives, at the
	// same moment.
	menu := d.send("/checkin", 1)
	safe := d.tap(T("btn.checkin_now", nil), 1)
	// The typed word is deleted, so the chat shows what a tap leaves.
	forced := d.send("  "+strings.ToUpper(duress)+" ", 2)
	if forced[0].Method != "deleteMessage" {
		t.Fatalf("the typed duress word stays in the chat: %+v", forced[0])
	}
	if seen(t, forced[1]) != seen(t, safe[0]) {
		t.Fatalf("under duress the defender sees\n%s\nand after I am safe\n%s", seen(t, forced[1]), seen(t, safe[0]))
	}
	if !strings.HasPrefix(safe[0].Text, "Thank you. Next check-in due") || menu[0].Keyboard == nil {
		t.Fatalf("I am safe answered %q", safe[0].Text)
	}
	q := waitQueue(t, h, 2)
	under := q[slices.IndexFunc(q, func(r string) bool { return r != missed })]
	if rep := h.env.OpenReport(t, under); rep.Answers["category"] != "duress check-in" || !rep.Urgent {
		t.Fatalf("duress case: %+v", rep)
	} else if d, _ := rep.Answers["description"].(string); !strings.Contains(d, "UNDER DURESS") || !strings.Contains(d, "Do not reply with anything that shows") {
		t.Fatalf("the duress case does not warn staff: %q", d)
	}
	if notes := h.env.OpenNotes(t, under); len(notes) != 1 || notes[0] != note {
		t.Fatalf("notes of the duress case %q", notes)
	}
	staffSaid(t, h, under)
	staffSaid(t, h, missed+": the defender checked in") // the I am safe after the missed deadline

	all := h.env.Everything(t)
	for _, marker := range []string{note, duress, strings.ToLower(duress), strings.ToUpper(duress)} {
		for _, a := range h.api.Sent(staffChat.ID) {
			if strings.Contains(a.RawText, marker) {
				t.Errorf("the alert chat was sent %q: %q", marker, a.RawText)
			}
		}
		if bytes.Contains(all, []byte(marker)) {
			t.Errorf("Redis holds %q in plain text", marker)
		}
		if bytes.Contains(h.env.Logs.Bytes(), []byte(marker)) {
			t.Errorf("the log holds %q", marker)
		}
	}
}

// TestMissedCheckinIsAnnouncedAtOnce: the process that makes a missed
// check-in's case announces it from the check-in loop, not at the alert
// loop's next look (here an hour away).
func TestMissedCheckinIsAnnouncedAtOnce(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)}
	h := startCheckins(t, c, slowAlertLoop)
	d := h.defender(5557002, "en")
	d.send("/checkin", 1)
	d.tap(h.env.Engine.Duration("en", 6*time.Hour), 1)
	d.tap("(default)", 1)
	for range 3 { // country, note, duress word
		d.press("btn.skip", 1)
	}
	c.add(6*time.Hour + 30*time.Minute)
	ref := waitQueue(t, h, 1)[0]
	announced := func() bool {
		return slices.ContainsFunc(h.api.Sent(staffChat.ID), func(a fakeapi.Action) bool { return strings.Contains(a.Text, ref) })
	}
	// Far shorter than the alert loop's hour.
	if err := h.api.WaitFor(fakeapi.Patience, announced); err != nil {
		t.Fatalf("the missed case %s was not announced: %v; alert chat: %+v", ref, err, h.api.Sent(staffChat.ID))
	}
}

// TestDuressCheckinIsAnnouncedAtOnce: a check-in under duress is
// announced at the check-in loop's next look, not the alert loop's.
func TestDuressCheckinIsAnnouncedAtOnce(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC)}
	h := startCheckins(t, c, slowAlertLoop)
	d := h.defender(5557003, "en")
	d.send("/checkin", 1)
	d.tap(h.env.Engine.Duration("en", 6*time.Hour), 1)
	d.tap("(default)", 1)
	d.press("btn.skip", 1) // country
	d.press("btn.skip", 1) // note
	h.api.SendText(d.chat, d.user, "Kestrel")
	h.api.SendText(d.chat, d.user, "kestrel")
	ref := waitQueue(t, h, 1)[0]
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		return slices.ContainsFunc(h.api.Sent(staffChat.ID), func(a fakeapi.Action) bool { return strings.Contains(a.Text, ref) })
	}); err != nil {
		t.Fatalf("the duress case %s was not announced: %v; alert chat: %+v", ref, err, h.api.Sent(staffChat.ID))
	}
}
