package intake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

// TestReportsPastTheSharedBudgetAreRefusedKindly: once all chats together
// have sent the reports of the hour, the next Send gets a kind message in
// the defender's language, queues nothing and keeps the draft, which goes
// once the hour has turned. A retried Send of a queued draft costs nothing.
func TestReportsPastTheSharedBudgetAreRefusedKindly(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	now := time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC)
	b := env.UseBudget(budget.Limits{ReportsPerHour: 2, ReportsPerDay: 100}, func() time.Time { return now })
	for i := int64(1); i <= 2; i++ {
		newChat(t, env, 100+i, "").Submit("FIRST", false)
	}
	late := newChat(t, env, 200, "")
	late.Fill("LATE-MARKER", false)
	send := late.Button("Send")
	r := late.Press("Send")
	want := env.Text.T("en", "msg.reports_paused", nil)
	if len(r.Messages) != 1 || r.Messages[0].Text != want {
		t.Fatalf("Send past the budget: %+v, want %q", r.Messages, want)
	}
	if q := env.Queue(t); len(q) != 2 {
		t.Fatalf("queue holds %d reports, want the 2 sent before", len(q))
	}
	if files, reports := b.Refused(); files != 0 || reports != 1 {
		t.Fatalf("refused %d files, %d reports; want 0, 1", files, reports)
	}
	if !strings.Contains(string(env.Logs.Bytes()), "report refused") || strings.Contains(string(env.Logs.Bytes()), "LATE-MARKER") {
		t.Fatal("the refusal is not logged, or logged with the defender's words")
	}

	now = now.Add(time.Hour) // the draft waited
	handle := env.Keys.Hash("chat", 200)
	kept, err := env.Store.LoadChat(ctx, handle)
	if err != nil || kept.Draft == nil {
		t.Fatalf("the draft was not kept: %v", err)
	}
	ref := receiptRef(t, late.Press("Send"))
	if rep := env.OpenReport(t, ref); rep.Answers["place"] != "place LATE-MARKER" {
		t.Fatalf("the kept draft was not the one sent: %v", rep.Answers["place"])
	}
	// The same draft sent again, as after a crash before the draft was
	// deleted: the same reference, and nothing more of the budget.
	if err := env.Store.SaveChat(ctx, handle, store.ChatUpdate{Draft: kept.Draft}); err != nil {
		t.Fatal(err)
	}
	if again := receiptRef(t, late.Do(flows.Event{Kind: flows.EventButton, Data: send.Data})); again != ref {
		t.Fatalf("the retried send gave %s, want %s", again, ref)
	}
	us, err := b.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := us[2]; u.Name != budget.ReportsHour || u.Used != 1 {
		t.Fatalf("the hour's reports: %+v, want 1 used", u)
	}
}
