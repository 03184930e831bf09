package intake_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

func TestWipeDeletesTheDraftAndHandsBackMessageIDs(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := newChat(t, env, 11, "")
	c.Cmd("start")
	c.Press("English")
	if err := env.Store.RememberMessages(ctx, env.Keys.Hash("chat", 11), []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	r := c.Cmd("wipe")
	if !slices.Equal(r.Delete, []int{1, 2, 3}) || len(r.Messages) != 1 || r.Messages[0].Text != "This conversation was cleared." {
		t.Fatalf("wipe: %+v", r)
	}
	if r := c.Text("hello"); !strings.Contains(r.Messages[0].Text, "/start") {
		t.Fatal("the draft survived /wipe")
	}
	if r := c.Cmd("wipe"); r.Delete == nil || len(r.Delete) != 0 {
		t.Fatalf("second wipe: %+v", r.Delete)
	}
	// The receipt offers the wipe.
	ref := c.Submit("W", true)
	if !strings.Contains(c.Button("Delete this conversation").Data, "|w|") || ref == "" {
		t.Fatal("no wipe button under the receipt")
	}
	if r := c.Press("Delete this conversation"); r.Delete == nil {
		t.Fatal("wipe button did nothing")
	}
}

func TestForgetKeepsOnlyTheReports(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := newChat(t, env, 12, "")
	ref := c.Submit("F", true)
	c.Cmd("start") // a new draft in progress
	c.Press("English")
	r := c.Cmd("forget")
	if !strings.Contains(r.Messages[0].Text, "cannot delete the 1 report you sent") {
		t.Fatalf("forget: %q", r.Messages[0].Text)
	}
	keys := env.RDB.Keys(ctx, "vigil:{c:*").Val()
	for _, k := range keys {
		if !strings.Contains(k, ":rl:") {
			t.Errorf("left after /forget: %s", k)
		}
	}
	if _, err := env.Store.Route(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reply route survived /forget: %v", err)
	}
	if _, err := env.Store.Report(ctx, ref); err != nil {
		t.Errorf("the report itself must stay: %v", err)
	}
	if r := c.Cmd("status"); !strings.Contains(r.Messages[0].Text, "not sent any report") {
		t.Errorf("status after forget: %q", r.Messages[0].Text)
	}
}

// The limits hold whether a chat's state is read from Redis or from the
// partition holder's ChatCache (which counts with the write).
func TestMessageRateLimit(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { testMessageRateLimit(t, cached) })
	}
}

func testMessageRateLimit(t *testing.T, cached bool) {
	env := testenv.New(t)
	svc := intake.New(intake.Config{Engine: env.Engine, Store: env.Store, Keys: env.Keys, Recipients: env.Recipients,
		Limits: intake.Limits{MessagesPerMinute: 5}, Log: env.Log})
	c := newChat(t, env, 13, "")
	c.Svc = svc
	if cached {
		c.Cache = intake.NewChatCache()
	}
	for i := 0; i < 5; i++ {
		if r := c.Text("hi"); len(r.Messages) != 1 || strings.Contains(r.Messages[0].Text, "very fast") {
			t.Fatalf("message %d limited too early: %+v", i, r.Messages)
		}
	}
	if r := c.Text("hi"); len(r.Messages) != 1 || !strings.Contains(r.Messages[0].Text, "very fast") {
		t.Fatalf("over the limit: %+v", r.Messages)
	}
	for i := 0; i < 3; i++ {
		if r := c.Text("hi"); len(r.Messages) != 0 {
			t.Fatalf("still answering while over the limit: %+v", r.Messages)
		}
	}
	// Counted in Redis too, whoever handles the chat's next update.
	keys, _ := env.RDB.Keys(context.Background(), "vigil:{c:*}:rl:msg:*").Result()
	total := 0
	for _, k := range keys {
		n, _ := env.RDB.Get(context.Background(), k).Int()
		total += n
	}
	if total != 9 {
		t.Fatalf("%d messages counted in Redis (%v), want 9", total, keys)
	}
	if r := c.Cmd("wipe"); r.Delete == nil {
		t.Fatal("/wipe must work whatever the rate")
	}
}

func TestReportRateLimitKeepsTheDraft(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { testReportRateLimitKeepsTheDraft(t, cached) })
	}
}

func testReportRateLimitKeepsTheDraft(t *testing.T, cached bool) {
	env := testenv.New(t)
	svc := intake.New(intake.Config{Engine: env.Engine, Store: env.Store, Keys: env.Keys, Recipients: env.Recipients,
		Limits: intake.Limits{ReportsPerHour: 1}, Log: env.Log})
	c := newChat(t, env, 14, "")
	c.Svc = svc
	if cached {
		c.Cache = intake.NewChatCache()
	}
	c.Submit("R1", true)
	c.Fill("R2", true)
	r := c.Press("Send")
	if len(r.Messages) != 1 || !strings.Contains(r.Messages[0].Text, "most reports") {
		t.Fatalf("second report in the hour: %+v", r.Messages)
	}
	if q := env.Queue(t); len(q) != 1 {
		t.Fatalf("queue %v", q)
	}
	// The draft is still there: Send works once the hour has passed.
	later := intake.New(intake.Config{Engine: env.Engine, Store: env.Store, Keys: env.Keys, Recipients: env.Recipients,
		Limits: intake.Limits{ReportsPerHour: 1}, Log: env.Log, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	c.Svc = later
	testenv.ReceiptRef(t, c.Do(flows.Event{Kind: flows.EventButton, Data: c.Button("Send").Data}))
}

func TestRedeliveredUpdateIsStoredOnceAndAppliedOnce(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	svc := env.Service
	if err := svc.InitInbox(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "duplicate"} {
		dropped, err := svc.Accept(ctx, 4, 987, 42, []byte(`{"update_id":987}`))
		if err != nil || dropped != want {
			t.Fatalf("accept %d: %q %v, want %q", i, dropped, err, want)
		}
	}
	p := svc.Partition(42, 4)
	entries, err := svc.NextInbox(ctx, p, "w", -1, intake.ReadReclaim)
	if err != nil || len(entries) != 1 || entries[0].UpdateID != 987 {
		t.Fatalf("inbox: %+v %v", entries, err)
	}
	raw, err := svc.OpenEntry(p, entries[0])
	if err != nil || string(raw) != `{"update_id":987}` {
		t.Fatalf("open: %q %v", raw, err)
	}
	if _, err := svc.OpenEntry((p+1)%4, entries[0]); err == nil {
		t.Fatal("an update opened as another partition's")
	}
	start := flows.Event{Kind: flows.EventCommand, Command: "start"}
	first, err := svc.HandleEntry(ctx, 42, start, "100-1")
	if err != nil || first.Skipped || first.Resent || len(first.Messages) == 0 {
		t.Fatalf("first handling: %+v %v", first, err)
	}
	// The last entry applied, seen again, is not applied again; its reply
	// goes again, as the process may have died before sending it.
	again, err := svc.HandleEntry(ctx, 42, start, "100-1")
	if err != nil || !again.Resent || !reflect.DeepEqual(again.Messages, first.Messages) || again.Lang != first.Lang {
		t.Errorf("entry 100-1 seen again: %+v %v; want its first reply, resent", again, err)
	}
	for _, entry := range []string{"100-0", "99-7"} {
		if r, _ := svc.HandleEntry(ctx, 42, start, entry); !r.Skipped || len(r.Messages) != 0 {
			t.Errorf("entry %s handled again after 100-1: %+v", entry, r)
		}
	}
	if r, _ := svc.HandleEntry(ctx, 42, start, "100-2"); r.Skipped {
		t.Error("a newer entry was skipped")
	}
}
