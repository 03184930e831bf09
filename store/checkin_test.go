package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/store"
)

// checkinAt starts a check-in for handle with its reminder at remind and
// its deadline an hour later.
func checkinAt(t *testing.T, s *store.Store, handle string, remind time.Time) {
	t.Helper()
	sc := store.CheckinSchedule{Sealed: []byte("bot-sealed"), Deadline: remind.Add(time.Hour), Remind: remind, TTL: 48 * time.Hour}
	if err := s.StartCheckin(context.Background(), handle, sc, []byte("staff-sealed")); err != nil {
		t.Fatal(err)
	}
}

func TestCheckinClaim(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	const lease = time.Minute
	for _, tc := range []struct {
		name     string
		claimers int
		at       time.Time // when they claim
		want     int       // how many get it
	}{
		{"not due yet", 4, t0.Add(-time.Second), 0},
		{"due: exactly one of several", 8, t0, 1},
		{"due later: exactly one", 8, t0.Add(time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			checkinAt(t, s, "h1", t0)
			var got sync.WaitGroup
			var mu sync.Mutex
			n := 0
			for range tc.claimers {
				got.Go(func() {
					_, ok, err := s.ClaimCheckin(ctx, "h1", tc.at, lease)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						n++
						mu.Unlock()
					}
				})
			}
			got.Wait()
			if n != tc.want {
				t.Fatalf("%d claimers got it, want %d", n, tc.want)
			}
		})
	}
}

// TestCheckinLease: a claim that is not advanced (the process died) is due
// again once its lease ends, and not before; an advance from a stale claim
// is refused.
func TestCheckinLease(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	checkinAt(t, s, "h1", t0)
	c, ok, err := s.ClaimCheckin(ctx, "h1", t0, time.Minute)
	if err != nil || !ok || c.Stage != store.StageArmed || string(c.Note) != "staff-sealed" {
		t.Fatalf("first claim: %+v %v %v", c, ok, err)
	}
	for _, tc := range []struct {
		at   time.Time
		due  bool
		name string
	}{
		{t0.Add(59 * time.Second), false, "within the lease"},
		{t0.Add(time.Minute), true, "lease over"},
	} {
		due, err := s.DueCheckins(ctx, tc.at, 100)
		if err != nil {
			t.Fatal(err)
		}
		if (len(due) == 1) != tc.due {
			t.Fatalf("%s: due %v, want due=%v", tc.name, due, tc.due)
		}
	}
	again, ok, err := s.ClaimCheckin(ctx, "h1", t0.Add(time.Minute), time.Minute)
	if err != nil || !ok || again.Version != c.Version {
		t.Fatalf("claim after the lease: %+v %v %v", again, ok, err)
	}
	if err := s.AdvanceCheckin(ctx, "h1", again.Version, store.StageReminded, t0.Add(2*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	// The first claimer wakes up late: its version is gone.
	if err := s.AdvanceCheckin(ctx, "h1", c.Version, store.StageReminded, t0.Add(2*time.Hour), nil); !errors.Is(err, store.ErrCheckinChanged) {
		t.Fatalf("stale advance: %v, want ErrCheckinChanged", err)
	}
	if due, _ := s.DueCheckins(ctx, t0.Add(2*time.Hour-time.Millisecond), 100); len(due) != 0 {
		t.Fatalf("due before deadline+grace: %v", due)
	}
}

// TestCheckinRace: a check-in racing the missed deadline ends either safe
// (the check-in came first: the missing stage is refused, no case) or
// missed with the check-in seeing it (so that it corrects the case); never
// missed unseen.
func TestCheckinRace(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		checkFirst bool
		wantStage  string // the stage CheckIn replaces
		wantRefuse bool   // the missed step is refused
	}{
		{"check-in first: safe", true, store.StageReminded, true},
		{"missed first: check-in corrects", false, store.StageMissing, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			checkinAt(t, s, "h1", t0)
			c, _, _ := s.ClaimCheckin(ctx, "h1", t0, time.Minute)
			if err := s.AdvanceCheckin(ctx, "h1", c.Version, store.StageReminded, t0.Add(2*time.Hour), nil); err != nil {
				t.Fatal(err)
			}
			late := t0.Add(2 * time.Hour)
			c, ok, err := s.ClaimCheckin(ctx, "h1", late, time.Minute)
			if err != nil || !ok || c.Stage != store.StageReminded {
				t.Fatalf("claim at deadline+grace: %+v %v %v", c, ok, err)
			}
			next := store.CheckinSchedule{Sealed: []byte("b2"), Deadline: late.Add(6 * time.Hour), Remind: late.Add(5 * time.Hour), TTL: 48 * time.Hour}
			var stage string
			var refused error
			if tc.checkFirst {
				stage, _, err = s.CheckIn(ctx, "h1", next)
				refused = s.AdvanceCheckin(ctx, "h1", c.Version, store.StageMissing, late.Add(time.Minute), nil)
			} else {
				refused = s.AdvanceCheckin(ctx, "h1", c.Version, store.StageMissing, late.Add(time.Minute), nil)
				stage, _, err = s.CheckIn(ctx, "h1", next)
			}
			if err != nil {
				t.Fatal(err)
			}
			if stage != tc.wantStage || errors.Is(refused, store.ErrCheckinChanged) != tc.wantRefuse {
				t.Fatalf("check-in replaced stage %q (want %q); missed step: %v (refused want %v)", stage, tc.wantStage, refused, tc.wantRefuse)
			}
			after, err := s.LoadCheckin(ctx, "h1")
			if err != nil || after.Stage != store.StageArmed || !after.Deadline.Equal(next.Deadline) {
				t.Fatalf("after: %+v %v", after, err)
			}
			if due, _ := s.DueCheckins(ctx, next.Remind, 10); len(due) != 1 {
				t.Fatalf("the next reminder is not scheduled: %v", due)
			}
		})
	}
}

func TestCheckinStop(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	checkinAt(t, s, "h1", t0)
	if err := s.StopCheckin(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadCheckin(ctx, "h1"); !errors.Is(err, store.ErrNoCheckin) {
		t.Fatalf("load after stop: %v", err)
	}
	if _, _, err := s.CheckIn(ctx, "h1", store.CheckinSchedule{Sealed: []byte("x"), TTL: time.Hour}); !errors.Is(err, store.ErrNoCheckin) {
		t.Fatalf("check in after stop: %v", err)
	}
	if n, _ := s.CheckinCount(ctx); n != 0 {
		t.Fatalf("%d scheduled after stop", n)
	}
}
