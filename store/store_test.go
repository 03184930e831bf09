package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/store"
)

func newStore(t *testing.T) (*store.Store, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	s := store.New(srv.Client(t), store.Options{DraftTTL: time.Hour, ProfileTTL: 48 * time.Hour, SubmissionTTL: 2 * time.Hour})
	if err := s.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestEnqueueIsOncePerDraft(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	sub := store.Submission{DraftID: "d1", Ref: "AAAA-BBBB", Sealed: []byte("age-bytes"), ReceivedAt: at, Urgent: true}

	ref, fresh, err := s.Enqueue(ctx, sub)
	if err != nil || !fresh || ref != "AAAA-BBBB" {
		t.Fatalf("first enqueue: %q %v %v", ref, fresh, err)
	}
	sub.Ref = "CCCC-DDDD" // a retry picks a new ref, but the draft is the same
	ref, fresh, err = s.Enqueue(ctx, sub)
	if err != nil || fresh || ref != "AAAA-BBBB" {
		t.Fatalf("second enqueue: %q %v %v, want the first ref, not fresh", ref, fresh, err)
	}
	if n, _ := s.QueueLength(ctx); n != 1 {
		t.Fatalf("queue holds %d entries, want 1", n)
	}
	_, _, err = s.Enqueue(ctx, store.Submission{DraftID: "d2", Ref: "AAAA-BBBB", Sealed: []byte("x"), ReceivedAt: at})
	if !errors.Is(err, store.ErrRefTaken) {
		t.Fatalf("ref collision: %v", err)
	}

	r, err := s.Report(ctx, "AAAA-BBBB")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Sealed) != "age-bytes" || !r.Urgent || r.Status != "new" || !r.ReceivedAt.Equal(at) {
		t.Fatalf("stored report: %+v", r)
	}
	if _, err := s.Report(ctx, "ZZZZ-ZZZZ"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing report: %v", err)
	}
}

func TestQueueKeepsArrivalOrderAndGroup(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	refs := []string{"0000-0001", "0000-0002", "0000-0003"}
	for i, ref := range refs {
		if _, _, err := s.Enqueue(ctx, store.Submission{DraftID: ref, Ref: ref, Sealed: []byte{byte(i)}, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := s.Queue(ctx, 0)
	if err != nil || len(q) != 3 {
		t.Fatalf("queue: %d %v", len(q), err)
	}
	for i, r := range q {
		if r.Ref != refs[i] {
			t.Fatalf("entry %d is %s, want %s", i, r.Ref, refs[i])
		}
	}
	if q, _ := s.Queue(ctx, 2); len(q) != 2 {
		t.Fatalf("limit 2 gave %d", len(q))
	}
	groups, err := srv.Client(t).XInfoGroups(ctx, "vigil:{q}:reports").Result()
	if err != nil || len(groups) != 1 || groups[0].Name != "staff" {
		t.Fatalf("consumer group: %+v %v", groups, err)
	}
	if err := s.Init(ctx); err != nil {
		t.Fatalf("Init is not idempotent: %v", err)
	}
	st, err := s.Statuses(ctx, []string{"0000-0002", "NOPE-NOPE"})
	if err != nil || len(st) != 1 || st[0].Status != "new" {
		t.Fatalf("statuses: %+v %v", st, err)
	}
}

func TestChatStateHasLifetimes(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	rdb := srv.Client(t)
	if c, err := s.LoadChat(ctx, "h1"); err != nil || c.Draft != nil || c.Profile != nil {
		t.Fatalf("empty chat: %+v %v", c, err)
	}
	if err := s.SaveChat(ctx, "h1", store.ChatUpdate{Draft: []byte("d"), Profile: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	c, err := s.LoadChat(ctx, "h1")
	if err != nil || string(c.Draft) != "d" || string(c.Profile) != "p" {
		t.Fatalf("load: %+v %v", c, err)
	}
	keys, _ := rdb.Keys(ctx, "vigil:{c:*").Result()
	if len(keys) != 2 {
		t.Fatalf("chat keys: %v", keys)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("%s has no TTL", k)
		}
	}
	if ttl := rdb.PTTL(ctx, "vigil:{c:h1}:draft").Val(); ttl > time.Hour {
		t.Errorf("draft TTL %v over the configured hour", ttl)
	}
	if err := s.SaveChat(ctx, "h1", store.ChatUpdate{DeleteDraft: true}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.LoadChat(ctx, "h1"); c.Draft != nil || string(c.Profile) != "p" {
		t.Fatalf("after delete: %+v", c)
	}
}

// TestCasesAllInListOrder checks that every case, open and closed, pages
// in the order Redis itself gives their union (score, then reference,
// highest first), whatever the page.
func TestCasesAllInListOrder(t *testing.T) {
	ctx := context.Background()
	s, srv := newStore(t)
	rdb := srv.Client(t)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		ref    string
		minute int
		urgent bool
		closed bool
	}{
		{"AAAA-0001", 0, false, false}, {"AAAA-0002", 1, true, true}, {"AAAA-0003", 1, true, false},
		{"AAAA-0004", 2, false, true}, {"AAAA-0005", 2, false, false}, {"AAAA-0006", 3, false, true},
		{"AAAA-0007", 0, true, false}, {"AAAA-0008", 5, false, true}, {"AAAA-0009", 4, false, false},
	} {
		received := at.Add(time.Duration(c.minute) * time.Minute)
		if _, _, err := s.Enqueue(ctx, store.Submission{DraftID: "d" + c.ref, Ref: c.ref, Sealed: []byte("x"), ReceivedAt: received, Urgent: c.urgent}); err != nil {
			t.Fatal(err)
		}
		if c.closed {
			if err := s.SetStatus(ctx, store.Transition{Ref: c.ref, Staff: "ana", From: "new", To: "closed", At: at.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rdb.ZUnionStore(ctx, "union", &redis.ZStore{Keys: []string{"vigil:{q}:open", "vigil:{q}:status:closed"}}).Err(); err != nil {
		t.Fatal(err)
	}
	all := rdb.ZRevRange(ctx, "union", 0, -1).Val()
	if len(all) != 9 {
		t.Fatalf("union of %d cases", len(all))
	}
	for offset := int64(0); offset <= 10; offset++ {
		for count := int64(1); count <= 10; count++ {
			cases, total, err := s.Cases(ctx, store.SelectAll, offset, count)
			if err != nil || total != 9 {
				t.Fatalf("Cases(all, %d, %d): total %d, %v", offset, count, total, err)
			}
			var got []string
			for _, c := range cases {
				got = append(got, c.Ref)
			}
			want := all[min(offset, 9):min(offset+count, 9)]
			if !slices.Equal(got, want) {
				t.Errorf("Cases(all, %d, %d) = %v, want %v", offset, count, got, want)
			}
		}
	}
}
