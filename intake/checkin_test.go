package intake_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

const (
	noteMarker   = "NOTE-MARKER-4471"
	duressMarker = "Duress-Word-9913"
	partitions   = 4
)

// clock is a settable time for the engine and the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
func newClock(t time.Time) *clock    { return &clock{t: t} }
func grace() intake.CheckinTimes {
	return intake.CheckinTimes{Grace: 30 * time.Minute, Lease: time.Minute}
}
func ckConfig() flows.CheckinConfig {
	return flows.CheckinConfig{RemindBefore: time.Hour, DefaultOffset: 180}
}
func start() time.Time { return time.Date(2026, 12, 8, 11, 0, 0, 0, time.UTC) }
func tick(t *testing.T, e *testenv.Env) {
	t.Helper()
	if _, err := e.Service.CheckinTick(context.Background(), partitions); err != nil {
		t.Fatal(err)
	}
}

// setUp runs /checkin through: 6 h, the default zone, Ukraine, the note
// and the duress word (or Skip for either when empty).
func setUp(t *testing.T, d *testenv.Defender, note, duress string) intake.Reply {
	t.Helper()
	d.Cmd("checkin")
	d.Press("6 h")
	d.Press("(default)")
	d.Press("Ukraine")
	if note == "" {
		d.Press("Skip")
	} else {
		d.Text(note)
	}
	if duress == "" {
		return d.Press("Skip")
	}
	return d.Text(duress)
}

func texts(r intake.Reply) string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Text + "\n")
	}
	return b.String()
}

func noPlaintext(t *testing.T, e *testenv.Env) {
	t.Helper()
	all := e.Everything(t)
	for _, m := range []string{noteMarker, duressMarker, strings.ToLower(duressMarker)} {
		if bytes.Contains(all, []byte(m)) {
			t.Errorf("Redis holds %q in plain text", m)
		}
		if bytes.Contains(e.Logs.Bytes(), []byte(m)) {
			t.Errorf("the log holds %q", m)
		}
	}
}

func TestCheckinMissedMakesOneCaseThenCorrection(t *testing.T) {
	e := testenv.New(t, "rdbcompression no")
	c := newClock(start())
	e.UseCheckins(c.now, ckConfig(), grace())
	d := e.Defender(t, 501)
	if got := texts(setUp(t, d, noteMarker, duressMarker)); !strings.Contains(got, "Check-in set. Next one due 2026-12-08 20:00 (UTC+3). I will remind you 1 h before.") {
		t.Fatalf("confirmation: %q", got)
	}
	// Just before deadline + grace: nothing but the reminder.
	c.add(6*time.Hour + 30*time.Minute - time.Second)
	tick(t, e)
	if q := e.Queue(t); len(q) != 0 {
		t.Fatalf("a case before the deadline and grace: %v", q)
	}
	// Deadline + grace: several ticks at once (several processes) make one case.
	c.add(time.Minute + time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { tick(t, e) })
	}
	wg.Wait()
	tick(t, e)
	q := e.Queue(t)
	if len(q) != 1 {
		t.Fatalf("queue %v, want one case", q)
	}
	rep := e.OpenReport(t, q[0])
	if rep.Answers["category"] != "missed check-in" || !rep.Urgent || rep.Answers["country"] != "UA" || rep.Language != "en" {
		t.Fatalf("missed case: %+v", rep)
	}
	if notes := e.OpenNotes(t, q[0]); len(notes) != 1 || notes[0] != noteMarker {
		t.Fatalf("notes %q, want the defender's note first", notes)
	}
	// The defender checks in afterwards: the normal answer, and the case says so.
	d.Cmd("checkin")
	if got := texts(d.Press("I am safe")); !strings.HasPrefix(got, "Thank you. Next check-in due") {
		t.Fatalf("check-in after missed: %q", got)
	}
	notes := e.OpenNotes(t, q[0])
	if len(notes) != 2 || !strings.Contains(notes[1], "they say they are safe") {
		t.Fatalf("notes after the check-in: %q", notes)
	}
	if refs, _ := e.Service.CheckinNotices(context.Background()); len(refs) != 1 || refs[0] != q[0] {
		t.Fatalf("notices %v, want [%s]", refs, q[0])
	}
	if q := e.Queue(t); len(q) != 1 {
		t.Fatalf("queue after the check-in: %v", q)
	}
	noPlaintext(t, e)
}

// TestCheckinReminder: the reminder goes through the chat's partition once,
// and tapping I am safe sets the next deadline.
func TestCheckinReminder(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	if err := e.Store.InitInbox(ctx, partitions); err != nil {
		t.Fatal(err)
	}
	c := newClock(start())
	e.UseCheckins(c.now, ckConfig(), grace())
	d := e.Defender(t, 502)
	setUp(t, d, "", "")
	c.add(5 * time.Hour)
	tick(t, e)
	tick(t, e) // claimed: not forwarded twice
	var got []intake.InboxEntry
	var part int
	for p := range partitions {
		es, err := e.Store.NextInbox(ctx, p, "test", time.Millisecond, store.ReadNew)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) > 0 {
			got, part = append(got, es...), p
		}
	}
	if len(got) != 1 || got[0].Kind != intake.EntryCheckin {
		t.Fatalf("inbox entries %+v, want one reminder", got)
	}
	due, err := e.Service.OpenCheckin(part, got[0])
	if err != nil || due.Chat != 502 {
		t.Fatalf("open reminder: %+v %v", due, err)
	}
	var sent []flows.Message
	send := func(m []flows.Message) error { sent = append(sent, m...); return nil }
	for range 2 { // the second is a reminder forwarded again: not sent
		if err := e.Service.RemindCheckin(ctx, due, send); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 1 || sent[0].Text != "Your check-in is due at 20:00. Tap to check in." || sent[0].Buttons[0][0].Label != "I am safe" {
		t.Fatalf("reminders sent: %+v", sent)
	}
	d.KB = sent[0].Buttons[0] // the reminder's button
	if got := texts(d.Press("I am safe")); got != "Thank you. Next check-in due 2026-12-09 01:00 (UTC+3).\n" {
		t.Fatalf("check-in: %q", got)
	}
	c.add(2 * time.Hour) // past the old deadline and grace: nothing is missed
	tick(t, e)
	if q := e.Queue(t); len(q) != 0 {
		t.Fatalf("a case after checking in: %v", q)
	}
}

// TestCheckinDuress: the duress word, typed in the middle of a report,
// answers exactly as I am safe does and queues an urgent case at once.
func TestCheckinDuress(t *testing.T) {
	e := testenv.New(t, "rdbcompression no")
	c := newClock(start())
	e.UseCheckins(c.now, ckConfig(), grace())
	safe, forced := e.Defender(t, 601), e.Defender(t, 602)
	setUp(t, safe, "", "")
	setUp(t, forced, noteMarker, duressMarker)
	c.add(time.Hour)
	safe.Cmd("checkin")
	normal := safe.Press("I am safe")
	forced.Cmd("start")
	forced.Press("English")
	under := forced.Text("  " + strings.ToUpper(duressMarker) + " ")
	if texts(under) != texts(normal) || len(under.Messages) != 1 || len(under.Messages[0].Buttons) != 0 {
		t.Fatalf("duress answer %q differs from the normal one %q", texts(under), texts(normal))
	}
	q := e.Queue(t)
	if len(q) != 1 {
		t.Fatalf("queue %v, want the duress case", q)
	}
	rep := e.OpenReport(t, q[0])
	if rep.Answers["category"] != "duress check-in" || !rep.Urgent {
		t.Fatalf("duress case: %+v", rep)
	}
	if notes := e.OpenNotes(t, q[0]); len(notes) != 1 || notes[0] != noteMarker {
		t.Fatalf("notes %q", notes)
	}
	// The draft did not take the word: it is still at the notice.
	if got := texts(forced.Press("continue")); strings.Contains(got, duressMarker) {
		t.Fatalf("the word reached the draft: %q", got)
	}
	noPlaintext(t, e)
}

// TestCheckinWipeForgetStop: /wipe keeps the check-in and says so; Stop
// and /forget end it.
func TestCheckinWipeForgetStop(t *testing.T) {
	e := testenv.New(t)
	c := newClock(start())
	e.UseCheckins(c.now, ckConfig(), grace())
	for _, tc := range []struct {
		name string
		end  func(d *testenv.Defender)
	}{
		{"stop", func(d *testenv.Defender) { d.Cmd("checkin"); d.Press("Stop"); d.Press("Yes, stop") }},
		{"forget", func(d *testenv.Defender) { d.Cmd("forget") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.Defender(t, 700+int64(len(tc.name)))
			setUp(t, d, "", "")
			if got := texts(d.Cmd("wipe")); !strings.Contains(got, "Your check-in is still running; /checkin to stop it.") {
				t.Fatalf("/wipe: %q", got)
			}
			if got := texts(d.Cmd("status")); !strings.Contains(got, "Check-in running: next one due") {
				t.Fatalf("/status: %q", got)
			}
			tc.end(d)
			if got := texts(d.Cmd("checkin")); !strings.HasPrefix(got, "Safety check-in:") {
				t.Fatalf("/checkin after %s: %q", tc.name, got)
			}
			c.add(24 * time.Hour)
			tick(t, e)
			if q := e.Queue(t); len(q) != 0 {
				t.Fatalf("a case after %s: %v", tc.name, q)
			}
		})
	}
}

// recordReads counts the reads of check-in records (HGETALL, which
// nothing else a text does runs) from INFO commandstats.
func recordReads(t *testing.T, e *testenv.Env) int64 {
	t.Helper()
	info, err := e.RDB.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(info, "cmdstat_hgetall:calls=")
	if !found {
		return 0
	}
	n, _, _ := strings.Cut(rest, ",")
	calls, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		t.Fatalf("cmdstat_hgetall: %v", err)
	}
	return calls
}

// TestCheckinTextReadsTheRecordOnlyWhenOneMayRun: the chat's sealed
// profile says whether a check-in runs; a text reads the record when one
// runs or when that is not known, and not in a chat known to run none.
func TestCheckinTextReadsTheRecordOnlyWhenOneMayRun(t *testing.T) {
	e := testenv.New(t)
	c := newClock(start())
	e.UseCheckins(c.now, ckConfig(), grace())
	d := e.Defender(t, 701)
	d.Cmd("start")
	d.Press("English")
	text := func(s string, wantReads int64) {
		t.Helper()
		before := recordReads(t, e)
		d.Text(s)
		if got := recordReads(t, e) - before; got != wantReads {
			t.Fatalf("text %q read the check-in record %d times, want %d", s, got, wantReads)
		}
	}
	text("hello", 1) // not known yet: read, and remembered
	text("hello again", 0)
	setUp(t, d, "", duressMarker)
	text("a text while a check-in runs", 1)
	text(duressMarker, 1)
	if q := e.Queue(t); len(q) != 1 {
		t.Fatalf("queue %v: the duress word was missed", q)
	}
	d.Cmd("checkin")
	d.Press("Stop")
	d.Press("Yes, stop")
	text("after the stop", 0)
}
