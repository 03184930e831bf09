package intake_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// TestForwardedReplyIsDeliveredOnceInItsChatsPartition: a staff reply goes
// into its chat's partition of the inbox, sealed, to be delivered there in
// order with the chat's updates; forwarded twice (it went stale in the
// outbox), it is delivered once.
func TestForwardedReplyIsDeliveredOnceInItsChatsPartition(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, "rdbcompression no")
	const chatID, partitions = int64(727272), 4
	if err := env.Service.InitInbox(ctx, partitions); err != nil {
		t.Fatal(err)
	}
	c := newChat(t, env, chatID, "")
	ref := c.Submit("FWD", true)
	d := staffReply(t, env, chatID, ref, "MARKER-FWD-REPLY call us")
	for range 2 {
		if err := env.Service.ForwardReply(ctx, partitions, d); err != nil {
			t.Fatal(err)
		}
	}
	all := env.Everything(t)
	for _, secret := range []string{"MARKER-FWD-REPLY", strconv.FormatInt(chatID, 10)} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("%q is in Redis in plain text", secret)
		}
	}

	p := env.Service.Partition(chatID, partitions)
	entries, err := env.Service.NextInbox(ctx, p, "worker", -1, intake.ReadNew)
	if err != nil || len(entries) != 2 {
		t.Fatalf("partition %d holds %d entries (%v), want the reply twice", p, len(entries), err)
	}
	var sent [][]flows.Message
	for _, e := range entries {
		if e.Kind != intake.EntryReply {
			t.Fatalf("entry kind %q, want %q", e.Kind, intake.EntryReply)
		}
		if _, err := env.Service.OpenReply((p+1)%partitions, e); err == nil {
			t.Fatal("a reply opened as another partition's")
		}
		d, err := env.Service.OpenReply(p, e)
		if err != nil || d.Chat != chatID {
			t.Fatalf("open reply: %+v %v", d, err)
		}
		if err := env.Service.DeliverReply(ctx, d, func(m []flows.Message) error { sent = append(sent, m); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 1 || !strings.Contains(sent[0][0].Text, "MARKER-FWD-REPLY") {
		t.Fatalf("sent %d times: %+v; want once", len(sent), sent)
	}
	if r := c.Text("an answer"); !strings.Contains(r.Messages[0].Text, ref) {
		t.Fatalf("the next text is not an answer to %s: %+v", ref, r.Messages)
	}
	if ds, _ := env.Service.PendingReplies(ctx, "bot-b", -1); len(ds) != 0 {
		t.Fatalf("%d replies still pending after delivery", len(ds))
	}
}

// TestAnswerHandledAgainIsAddedOnce: the process handling a defender's
// answer to staff dies after adding it to the case and before saving the
// chat's state; the next process handles the same inbox entry again, as a
// new one. The case gets the answer once.
func TestAnswerHandledAgainIsAddedOnce(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	const chatID = int64(5004)
	c := env.Defender(t, chatID)
	ref := c.Submit("ONCE", true)
	d := staffReply(t, env, chatID, ref, "please call us")
	if err := env.Service.DeliverReply(ctx, d, func([]flows.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}

	// The chat's state before the answer, to put back as the crash left it.
	pattern := "vigil:{c:" + env.Keys.Hash("chat", chatID) + "}:*"
	keys, err := env.RDB.Keys(ctx, pattern).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the chat's keys: %v %v", keys, err)
	}
	saved := map[string]string{}
	for _, k := range keys {
		// A rate counter may expire between the listing and its dump.
		if v, err := env.RDB.Dump(ctx, k).Result(); err == nil {
			saved[k] = v
		}
	}
	answer := flows.Event{Kind: flows.EventText, Text: "my answer"}
	const entry = "1800000000000-0"
	for try := range 2 {
		if try == 1 {
			after, _ := env.RDB.Keys(ctx, pattern).Result()
			env.RDB.Del(ctx, after...)
			for k, v := range saved {
				if err := env.RDB.Restore(ctx, k, 0, v).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, err := env.Service.HandleEntry(ctx, chatID, answer, entry)
		if err != nil || r.Skipped || r.Resent || len(r.Messages) == 0 || !strings.Contains(r.Messages[0].Text, ref) {
			t.Fatalf("try %d: %+v %v; want the answer taken", try, r, err)
		}
	}
	events, err := env.Store.Events(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	answers := 0
	for _, e := range events {
		if e.Type == "answer" {
			answers++
		}
	}
	if answers != 1 {
		t.Fatalf("the case holds %d answers, want 1", answers)
	}
}

// staffReply has staff member ana reply text to case ref, the report of
// chat, signed with her key, and returns the reply as the bot is handed it
// for delivery.
func staffReply(t *testing.T, env *testenv.Env, chat int64, ref, text string) intake.Delivery {
	t.Helper()
	ctx := context.Background()
	env.Reply(t, "ana", ref, text)
	ds, err := env.Service.PendingReplies(ctx, "bot-a", -1)
	if err != nil || len(ds) != 1 || ds[0].Chat != chat {
		t.Fatalf("pending replies: %+v %v", ds, err)
	}
	return ds[0]
}
