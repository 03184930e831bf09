package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/store"
)

// TestFirstClaimAndFirstReplyAreSetOnce: the first claim and the first
// reply queued for the defender are recorded on the case, and neither a
// later reply, nor a release and another claim, moves them.
func TestFirstClaimAndFirstReplyAreSetOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	mustEnqueue(t, s, "FRST-REPL", at, true)
	c, _ := s.Report(ctx, "FRST-REPL")
	if !c.FirstClaimedAt.IsZero() || !c.FirstReplyAt.IsZero() {
		t.Fatalf("a new case has first times: %+v", c)
	}
	reply := func(by string, after time.Duration) {
		t.Helper()
		if err := s.AddEntry(ctx, store.Entry{Ref: "FRST-REPL", Staff: by, Kind: "reply", At: at.Add(after),
			Sealed: []byte("sealed"), ForBot: []byte("for-bot")}); err != nil {
			t.Fatal(err)
		}
	}
	hold := func(mode string, after time.Duration) {
		t.Helper()
		if _, err := s.Hold(ctx, store.Holding{Ref: "FRST-REPL", Staff: "ana", Mode: mode, At: at.Add(after), Lease: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// A note is no reply.
	if err := s.AddEntry(ctx, store.Entry{Ref: "FRST-REPL", Staff: "ana", Kind: "note", At: at, Sealed: []byte("n")}); err != nil {
		t.Fatal(err)
	}
	hold("claim", 10*time.Minute)
	reply("ana", 20*time.Minute)
	hold("release", 30*time.Minute)
	hold("claim", 40*time.Minute)
	reply("ana", 50*time.Minute)
	c, err := s.Report(ctx, "FRST-REPL")
	if err != nil {
		t.Fatal(err)
	}
	if !c.FirstClaimedAt.Equal(at.Add(10*time.Minute)) || !c.FirstReplyAt.Equal(at.Add(20*time.Minute)) ||
		!c.ClaimedAt.Equal(at.Add(40*time.Minute)) {
		t.Fatalf("first claim %v, first reply %v, claim %v", c.FirstClaimedAt, c.FirstReplyAt, c.ClaimedAt)
	}
	if tm := c.Times(); !tm.ClaimedAt.Equal(at.Add(10*time.Minute)) || !tm.RepliedAt.Equal(at.Add(20*time.Minute)) {
		t.Fatalf("times %+v", tm)
	}
}

func mustEnqueue(t *testing.T, s *store.Store, ref string, at time.Time, urgent bool) {
	t.Helper()
	if _, _, err := s.Enqueue(context.Background(), store.Submission{DraftID: "d-" + ref, Ref: ref,
		Sealed: []byte("SEALED-CONTENT-MARKER"), ReceivedAt: at, Urgent: urgent}); err != nil {
		t.Fatal(err)
	}
}

// TestEscalationsOnceAcrossProcesses: several bot processes look for
// overdue urgent cases at once, again and again; each overdue deadline of
// each urgent case is handed to exactly one of them, once. Cases not
// urgent, on time, met or closed are never escalated, and the counts of
// overdue cases are right for every caller.
func TestEscalationsOnceAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tg := response.DefaultTargets
	mustEnqueue(t, s, "URGN-BOTH", now.Add(-5*time.Hour), true)                  // claim and reply overdue
	mustEnqueue(t, s, "URGN-CLMD", now.Add(-4*time.Hour-time.Millisecond), true) // claimed; reply 1ms overdue
	mustEnqueue(t, s, "URGN-EXCT", now.Add(-time.Hour), true)                    // claim exactly due: on time
	mustEnqueue(t, s, "URGN-CLSD", now.Add(-9*time.Hour), true)                  // closed
	mustEnqueue(t, s, "URGN-RPLD", now.Add(-9*time.Hour), true)                  // claimed and answered
	mustEnqueue(t, s, "OTHR-LATE", now.Add(-72*time.Hour), false)                // other, claim overdue: counted, not escalated
	for _, ref := range []string{"URGN-CLMD", "URGN-RPLD", "URGN-CLSD"} {
		if _, err := s.Hold(ctx, store.Holding{Ref: ref, Staff: "ana", Mode: "claim", At: now.Add(-8 * time.Hour), Lease: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddEntry(ctx, store.Entry{Ref: "URGN-RPLD", Staff: "ana", Kind: "reply", At: now.Add(-8 * time.Hour),
		Sealed: []byte("s"), ForBot: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, store.Transition{Ref: "URGN-CLSD", Staff: "ana", From: "new", To: "closed", At: now}); err != nil {
		t.Fatal(err)
	}

	const callers, rounds = 6, 3
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bot := store.New(srv.Client(t), store.Options{})
			for r := 0; r < rounds; r++ {
				due, counts, err := bot.DueEscalations(ctx, now, tg)
				if err != nil {
					errs <- err
					return
				}
				want := response.Counts{{"urgent", "claim"}: 1, {"urgent", "reply"}: 2, {"other", "claim"}: 1, {"other", "reply"}: 0}
				for k, v := range want {
					if counts[k] != v {
						errs <- fmt.Errorf("counts %v, want %v", counts, want)
						return
					}
				}
				mu.Lock()
				for _, e := range due {
					got = append(got, e.Ref+" "+e.Deadline+" "+e.Due.Format(time.RFC3339Nano))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{
		"URGN-BOTH claim " + now.Add(-4*time.Hour).Format(time.RFC3339Nano),
		"URGN-BOTH reply " + now.Add(-time.Hour).Format(time.RFC3339Nano),
		"URGN-CLMD reply " + now.Add(-time.Millisecond).Format(time.RFC3339Nano),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("escalations:\n%s\nwant each once:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A millisecond later the case exactly due is overdue, and is announced.
	due, _, err := s.DueEscalations(ctx, now.Add(time.Millisecond), tg)
	if err != nil || len(due) != 1 || due[0].Ref != "URGN-EXCT" || due[0].Deadline != "claim" {
		t.Fatalf("1ms later: %+v, %v", due, err)
	}
}
