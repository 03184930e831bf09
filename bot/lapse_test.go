package bot

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// unreachable plays Redis out of reach for the conversation.
type unreachable struct{ Conversation }

func (unreachable) HandleEntry(context.Context, int64, flows.Event, string) (intake.Reply, error) {
	return intake.Reply{}, errors.New("store: dial tcp: connection refused")
}

// TestAnUpdateFailingAsTheLeaseLapsesStaysInTheInbox: an update that keeps
// failing while its partition's lease may lapse is neither apologised for
// nor finished: it stays pending in the inbox, to be handled in its turn
// once the lease is renewed, or by the process that takes the partition
// over, and the worker is told to read it again.
func TestAnUpdateFailingAsTheLeaseLapsesStaysInTheInbox(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, apiToken)
	reg := prometheus.NewRegistry()
	b, err := New(ctx, Config{Token: apiToken, APIURL: api.URL(), Service: unreachable{env.Service}, Text: env.Text, Log: env.Log,
		Metrics: reg, Inbox: env.Service, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Service.InitInbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
	chat, user := defender(5160)
	api.AddChat(chat)
	raw, _ := json.Marshal(models.Update{ID: 1, Message: &models.Message{ID: 1, Chat: chat, From: &user, Text: "hello"}})
	if _, err := env.Service.AcceptMany(ctx, 1, []intake.Update{{ID: 1, Chat: chat.ID, Raw: raw}}); err != nil {
		t.Fatal(err)
	}
	entries, err := env.Service.NextInbox(ctx, 0, b.owner, -1, intake.ReadNew)
	if err != nil || len(entries) != 1 {
		t.Fatalf("inbox: %v %v", entries, err)
	}

	var checks atomic.Int32
	lapsed := func() bool { return checks.Add(1) > 1 } // lapses after the first failure
	var pending []intake.Done
	began := time.Now()
	if b.process(ctx, 0, entries[0], &pending, lapsed) {
		t.Fatal("process reports the update finished")
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("gave up after %v: it must stop trying once the lease may have lapsed", took)
	}
	if len(pending) != 0 || len(api.Sent(chat.ID)) != 0 {
		t.Fatalf("finished %v, sent %+v; want neither", pending, api.Sent(chat.ID))
	}
	if n := updatesCounted(t, reg, "text", "deferred"); n != 1 {
		t.Errorf("vigil_updates_total{outcome=deferred} = %v, want 1", n)
	}
	again, err := env.Service.NextInbox(ctx, 0, "next-holder", -1, intake.ReadReclaim)
	if err != nil || len(again) != 1 || again[0].ID != entries[0].ID {
		t.Fatalf("the next holder reads %v (%v); want the update again", again, err)
	}
}
