package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/store"
)

var at = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func subscribeN(t *testing.T, s *store.Store, n int, countries ...string) []string {
	t.Helper()
	var handles []string
	for i := range n {
		h := fmt.Sprintf("h%s%05d", countries[0], i)
		if err := s.Subscribe(context.Background(), h, []byte("sealed-"+h), countries); err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	return handles
}

func TestSubscriptions(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	subscribeN(t, s, 3, "AM")
	subscribeN(t, s, 2, "GE", "AM")
	if err := s.Subscribe(ctx, "hAM00000", []byte("new"), []string{"GE"}); err != nil { // moves to GE only
		t.Fatal(err)
	}
	for _, c := range []struct {
		countries []string
		want      int64
	}{{[]string{"AM"}, 4}, {[]string{"GE"}, 3}, {[]string{"AM", "GE"}, 5}, {nil, 5}, {[]string{"FR"}, 0}} {
		if n, err := s.Subscribers(ctx, c.countries); err != nil || n != c.want {
			t.Errorf("subscribers of %v = %d (%v), want %d", c.countries, n, err, c.want)
		}
	}
	sealed, countries, err := s.Subscription(ctx, "hAM00000")
	if err != nil || string(sealed) != "new" || !slices.Equal(countries, []string{"GE"}) {
		t.Fatalf("subscription = %q %v %v", sealed, countries, err)
	}
	if err := s.Unsubscribe(ctx, "hGE00000"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Subscribers(ctx, []string{"AM", "GE"}); n != 4 {
		t.Fatalf("after unsubscribe: %d subscribers, want 4", n)
	}
	if sealed, countries, err := s.Subscription(ctx, "hGE00000"); sealed != nil || countries != nil || err != nil {
		t.Fatalf("an unsubscribed chat still has %q %v %v", sealed, countries, err)
	}
}

func newPub(t *testing.T, s *store.Store, id, kind, topic string, countries ...string) {
	t.Helper()
	err := s.CreatePublication(context.Background(), store.Publication{ID: id, Kind: kind, Topic: topic, Countries: countries,
		Creator: "anna", CreatedAt: at, Texts: map[string][]byte{"en": []byte("sealed-en"), "fr": []byte("sealed-fr")}})
	if err != nil {
		t.Fatal(err)
	}
}

// seenBy is the bot's record that the preview reached each of names, as
// MarkPreviewed takes it (its content is package broadcast's business).
func seenBy(names ...string) map[string][]byte {
	m := map[string][]byte{}
	for _, n := range names {
		m[n] = []byte("preview record of " + n)
	}
	return m
}

func TestApprovalRules(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	newPub(t, s, "B-1", store.KindBroadcast, "", "AM")
	if err := s.CreatePublication(ctx, store.Publication{ID: "B-1", Kind: store.KindBroadcast}); !errors.Is(err, store.ErrRefTaken) {
		t.Fatalf("a second B-1: %v", err)
	}
	var state *store.StateError
	for _, c := range []struct {
		name, who string
		need      int
		preview   bool
		wantErr   error
		want      string
	}{
		{"before the preview", "ben", 2, false, store.ErrNotPreviewed, ""},
		{"the creator, four eyes", "anna", 2, true, store.ErrOwnApproval, ""},
		{"three needed: first other", "ben", 3, true, nil, store.PubQueued},
		{"the same again", "ben", 3, true, store.ErrApprovedTwice, ""},
		{"the preview did not reach them", "erin", 3, true, store.ErrNotReached, ""},
		{"second other", "carla", 3, true, nil, store.PubApproved},
		{"once approved", "dan", 3, true, &store.StateError{}, ""},
	} {
		if c.preview {
			// Telegram delivered it to all but erin.
			if err := s.MarkPreviewed(ctx, "B-1", "", seenBy("anna", "ben", "carla", "dan")); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Approve(ctx, "B-1", c.who, c.need, at, nil)
		switch {
		case c.wantErr == nil && (err != nil || got != c.want):
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		case c.wantErr != nil && errors.As(c.wantErr, &state) && !errors.As(err, &state):
			t.Errorf("%s: %v, want a state error", c.name, err)
		case c.wantErr != nil && !errors.As(c.wantErr, &state) && !errors.Is(err, c.wantErr):
			t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
		}
	}
	if id, _ := s.NextBroadcast(ctx); id != "B-1" {
		t.Fatalf("next broadcast = %q", id)
	}

	// One coordinator alone, after the preview.
	newPub(t, s, "B-2", store.KindBroadcast, "", "AM")
	s.MarkPreviewed(ctx, "B-2", "", seenBy("anna"))
	if got, err := s.Approve(ctx, "B-2", "anna", 1, at, nil); err != nil || got != store.PubApproved {
		t.Fatalf("approvals = 1, the creator: %q %v", got, err)
	}
	// ... whom it reached: not one whom it did not.
	newPub(t, s, "B-4", store.KindBroadcast, "", "AM")
	s.MarkPreviewed(ctx, "B-4", "", seenBy("ben"))
	if got, err := s.Approve(ctx, "B-4", "anna", 1, at, nil); !errors.Is(err, store.ErrNotReached) {
		t.Fatalf("approvals = 1, the creator the preview did not reach: %q %v", got, err)
	}
	if p, _ := s.GetPublication(ctx, "B-4"); p.Status != store.PubQueued || len(p.Approvers) != 0 {
		t.Fatalf("after a refused approval: %+v", p)
	}

	// Telegram refused the preview: invalid, never approvable.
	newPub(t, s, "B-3", store.KindBroadcast, "", "AM")
	s.MarkPreviewed(ctx, "B-3", "Telegram refused the fr text")
	if _, err := s.Approve(ctx, "B-3", "ben", 2, at, nil); !errors.As(err, &state) || state.Status != store.PubInvalid {
		t.Fatalf("approving an invalid one: %v", err)
	}
	if _, err := s.Approve(ctx, "B-9", "ben", 2, at, nil); !errors.Is(err, store.ErrNoPublication) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestGuidancePublishReplaceWithdraw(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	publish := func(id string, countries ...string) {
		newPub(t, s, id, store.KindGuidance, "detention", countries...)
		s.MarkPreviewed(ctx, id, "", seenBy("ben"))
		if got, err := s.Approve(ctx, id, "ben", 2, at, nil); err != nil || got != store.PubPublished {
			t.Fatalf("publish %s: %q %v", id, got, err)
		}
	}
	publish("G-1", "AM", "GE")
	publish("G-2", "AM") // replaces G-1 in AM only
	am, _ := s.Guidance(ctx, "AM")
	ge, _ := s.Guidance(ctx, "GE")
	if am["detention"] != "G-2" || ge["detention"] != "G-1" {
		t.Fatalf("AM %v, GE %v", am, ge)
	}
	if p, _ := s.GetPublication(ctx, "G-1"); p.Status != store.PubPublished {
		t.Fatalf("G-1 still shows in GE but is %s", p.Status)
	}
	publish("G-3", "GE")
	if p, _ := s.GetPublication(ctx, "G-1"); p.Status != store.PubReplaced {
		t.Fatalf("G-1 shows nowhere but is %s", p.Status)
	}
	if got, err := s.Cancel(ctx, "G-2", "ben", at, nil); err != nil || got != store.PubWithdrawn {
		t.Fatalf("withdraw: %q %v", got, err)
	}
	if am, _ := s.Guidance(ctx, "AM"); len(am) != 0 {
		t.Fatalf("AM after withdrawal: %v", am)
	}
}

// A broadcast's audience is fixed when sending starts; each subscriber is
// taken once; a resumed broadcast sends again only what was in flight.
func TestDeliveryProgress(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	am := subscribeN(t, s, 30, "AM")
	both := subscribeN(t, s, 10, "GE", "AM")
	subscribeN(t, s, 5, "FR")
	newPub(t, s, "B-1", store.KindBroadcast, "", "AM", "GE")
	s.MarkPreviewed(ctx, "B-1", "", seenBy("ben"))
	if _, err := s.Approve(ctx, "B-1", "ben", 2, at, nil); err != nil {
		t.Fatal(err)
	}
	if resent, err := s.StartDelivery(ctx, "B-1", at); err != nil || resent != 0 {
		t.Fatalf("start: %d %v", resent, err)
	}
	subscribeN(t, s, 1, "GE") // joins after the start: not in this broadcast
	if err := s.Unsubscribe(ctx, am[0]); err != nil {
		t.Fatal(err)
	}

	seen := map[string]int{}
	// Seven are taken (six, if the one who left is among them: skipped).
	first, status, err := s.Take(ctx, "B-1", 7, at)
	if err != nil || status != store.PubSending || len(first) < 6 {
		t.Fatalf("take: %d %q %v", len(first), status, err)
	}
	// The worker dies with these in flight; another resumes.
	resent, err := s.StartDelivery(ctx, "B-1", at)
	if err != nil || resent != int64(len(first)) {
		t.Fatalf("resume: %d %v, want the %d in flight to send again", resent, err, len(first))
	}
	for {
		batch, status, err := s.Take(ctx, "B-1", 6, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			seen[r.Handle]++
			outcome := store.OutcomeSent
			if r.Handle == both[0] {
				outcome = store.OutcomeBlocked
			}
			if err := s.Record(ctx, "B-1", r.Handle, outcome, at); err != nil {
				t.Fatal(err)
			}
			if err := s.Record(ctx, "B-1", r.Handle, outcome, at); err != nil { // recorded twice: counted once
				t.Fatal(err)
			}
		}
		if status != store.PubSending {
			break
		}
	}
	p, _ := s.GetPublication(ctx, "B-1")
	if p.Status != store.PubDone || p.Total != 40 || p.Sent != 38 || p.Blocked != 1 || p.Skipped != 1 || p.Remaining != 0 || p.InFlight != 0 {
		t.Fatalf("done: %+v", p)
	}
	if len(seen) != 39 {
		t.Fatalf("%d subscribers served, want 39 (40 minus the one who left)", len(seen))
	}
	for h, n := range seen {
		if n != 1 {
			t.Fatalf("%s taken %d times", h, n)
		}
	}
	if _, countries, _ := s.Subscription(ctx, both[0]); countries != nil {
		t.Fatal("a blocked subscriber is still subscribed")
	}
	if id, _ := s.NextBroadcast(ctx); id != "" {
		t.Fatalf("a done broadcast is still next: %q", id)
	}
}

func TestCancelStopsTaking(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	subscribeN(t, s, 20, "AM")
	newPub(t, s, "B-1", store.KindBroadcast, "", "AM")
	s.MarkPreviewed(ctx, "B-1", "", seenBy("ben"))
	s.Approve(ctx, "B-1", "ben", 2, at, nil)
	s.StartDelivery(ctx, "B-1", at)
	s.Take(ctx, "B-1", 5, at)
	if got, err := s.Cancel(ctx, "B-1", "carla", at, nil); err != nil || got != store.PubCancelled {
		t.Fatalf("cancel: %q %v", got, err)
	}
	if batch, status, err := s.Take(ctx, "B-1", 5, at); err != nil || len(batch) != 0 || status != store.PubCancelled {
		t.Fatalf("after cancel: %d %q %v", len(batch), status, err)
	}
	if _, err := s.Cancel(ctx, "B-1", "carla", at, nil); err == nil {
		t.Fatal("cancelled twice")
	}
	p, _ := s.GetPublication(ctx, "B-1")
	if p.CancelledBy != "carla" {
		t.Fatalf("cancelled by %q", p.CancelledBy)
	}
}

// TestBroadcastOnCluster runs subscriptions, approval, delivery and an
// unsubscribe on a three-master Redis Cluster: every {b} key is in one slot,
// so the scripts run there as on one server.
func TestBroadcastOnCluster(t *testing.T) {
	ctx := context.Background()
	c := redistest.StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	s := store.New(rdb, store.Options{})
	subscribeN(t, s, 30, "AM")
	subscribeN(t, s, 10, "GE", "AM")
	newPub(t, s, "B-1", store.KindBroadcast, "", "AM", "GE")
	must(t, s.MarkPreviewed(ctx, "B-1", "", seenBy("ben")), "mark previewed")
	if _, err := s.Approve(ctx, "B-1", "ben", 2, at, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartDelivery(ctx, "B-1", at); err != nil {
		t.Fatal(err)
	}
	must(t, s.Unsubscribe(ctx, "hAM00001"), "unsubscribe")
	for {
		batch, status, err := s.Take(ctx, "B-1", 7, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range batch {
			must(t, s.Record(ctx, "B-1", r.Handle, store.OutcomeSent, at), "record")
		}
		if status != store.PubSending {
			break
		}
	}
	p, _ := s.GetPublication(ctx, "B-1")
	if p.Status != store.PubDone || p.Sent != 39 || p.Skipped != 1 {
		t.Fatalf("on the cluster: %+v", p)
	}
	newPub(t, s, "G-1", store.KindGuidance, "digital", "AM")
	s.MarkPreviewed(ctx, "G-1", "", seenBy("ben"))
	if got, err := s.Approve(ctx, "G-1", "ben", 2, at, nil); err != nil || got != store.PubPublished {
		t.Fatalf("publish on the cluster: %q %v", got, err)
	}
}
