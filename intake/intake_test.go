package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// chat is a defender driving the service; see testenv.Defender.
type chat = testenv.Defender

func newChat(t testing.TB, env *testenv.Env, id int64, hint string) *chat {
	d := env.Defender(t, id)
	d.Hint = hint
	return d
}

func receiptRef(t testing.TB, r intake.Reply) string { return testenv.ReceiptRef(t, r) }

func TestReportIsSealedQueuedOnceAndReadableByStaff(t *testing.T) {
	env := testenv.New(t)
	c := newChat(t, env, 4242, "")
	c.Fill("M1", false)
	send := c.Button("Send")
	r := c.Do(flows.Event{Kind: flows.EventButton, Data: send.Data})
	ref := receiptRef(t, r)

	// A double tap arrives after the draft is gone: a polite note, nothing queued.
	again := c.Do(flows.Event{Kind: flows.EventButton, Data: send.Data})
	if again.Toast == "" || len(again.Messages) != 0 {
		t.Fatalf("second tap: %+v", again)
	}
	if q := env.Queue(t); len(q) != 1 || q[0] != ref {
		t.Fatalf("queue %v, want [%s]", q, ref)
	}

	rep := env.OpenReport(t, ref)
	if rep.Ref != ref || !rep.Urgent || rep.Language != "en" || rep.Schema != "vigil.report.v1" {
		t.Fatalf("report header: %+v", rep)
	}
	for id, want := range map[string]any{
		"when_detail": "when M1", "country": "GE", "place": "place M1",
		"description": "description M1\n\nsecond part M1", "contact": "no", "contact_detail": "channel M1",
		"consent": "discreet", "danger": "yes",
	} {
		if rep.Answers[id] != want {
			t.Errorf("%s = %v, want %v", id, rep.Answers[id], want)
		}
	}

	st := c.Cmd("status")
	if !strings.Contains(st.Messages[0].Text, ref) {
		t.Fatalf("status does not list %s: %q", ref, st.Messages[0].Text)
	}
}

// TestRetriedSendQueuesOnce replays a Send whose draft is still stored, as
// after a crash between queueing and deleting the draft.
func TestRetriedSendQueuesOnce(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := newChat(t, env, 7, "")
	c.Fill("M2", false)
	handle := env.Keys.Hash("chat", 7)
	draftKey := "vigil:{c:" + handle + "}:draft"
	saved, err := env.RDB.Get(ctx, draftKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	send := c.Button("Send")
	first := receiptRef(t, c.Do(flows.Event{Kind: flows.EventButton, Data: send.Data}))
	if err := env.RDB.Set(ctx, draftKey, saved, 0).Err(); err != nil {
		t.Fatal(err)
	}
	second := receiptRef(t, c.Do(flows.Event{Kind: flows.EventButton, Data: send.Data}))
	if first != second {
		t.Fatalf("retry gave %s, first send %s", second, first)
	}
	if q := env.Queue(t); len(q) != 1 {
		t.Fatalf("queue %v after a retried send", q)
	}
	st := c.Cmd("status")
	if strings.Count(st.Messages[0].Text, first) != 1 {
		t.Fatalf("status lists the report %d times", strings.Count(st.Messages[0].Text, first))
	}
}

// TestNothingPlainAtRest writes reports and drafts carrying unique markers,
// then reads every key in Redis (all types) and an uncompressed RDB snapshot,
// and everything logged: no marker, no chat id may appear. The staff
// identity must still find the markers, or the test proves nothing.
func TestNothingPlainAtRest(t *testing.T) {
	env := testenv.New(t, "rdbcompression no")
	const sent, drafted = "ZQXJ-SENT-MARKER", "ZQXJ-DRAFT-MARKER"
	const chatID, otherChat = int64(918273645), int64(564738291)

	c := newChat(t, env, chatID, "fr")
	c.Fill(sent, false)
	ref := receiptRef(t, c.Press("Send"))
	c.Cmd("language")
	c.Press("English")

	d := newChat(t, env, otherChat, "")
	d.Fill(drafted, false) // left in progress at the review
	// The review quotes the defender, and it is the reply kept to be sent
	// again after a crash: that copy must be sealed too.
	if !strings.Contains(fmt.Sprint(d.Last.Messages), drafted) {
		t.Fatal("the review does not quote the draft: the check of the kept reply is blind")
	}
	if n, _ := env.RDB.Exists(context.Background(), "vigil:{c:"+env.Keys.Hash("chat", otherChat)+"}:reply").Result(); n != 1 {
		t.Fatal("no reply is kept for the chat at the review")
	}

	all := env.Everything(t)
	logs := env.Logs.Bytes()
	for _, secret := range []string{sent, drafted, strconv.FormatInt(chatID, 10), strconv.FormatInt(otherChat, 10), "Georgia"} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("%q is in Redis or its RDB file in plain text", secret)
		}
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("%q is in the logs", secret)
		}
	}
	if len(all) < 1000 || len(logs) == 0 {
		t.Fatalf("the check read too little: %d bytes of Redis, %d of logs", len(all), len(logs))
	}
	rep := env.OpenReport(t, ref)
	if !strings.Contains(rep.Answers["description"].(string), sent) {
		t.Fatal("the staff identity does not find the marker: the check is blind")
	}
}

// TestTamperedDraftStartsAfresh: a draft that does not open (another bot
// secret, or changed bytes) is dropped, not shown and not fatal.
func TestTamperedDraftStartsAfresh(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := newChat(t, env, 99, "")
	c.Cmd("start")
	c.Press("English")
	key := "vigil:{c:" + env.Keys.Hash("chat", 99) + "}:draft"
	raw, _ := env.RDB.Get(ctx, key).Bytes()
	raw[len(raw)-1] ^= 0xff
	env.RDB.Set(ctx, key, raw, 0)
	r := c.Cmd("start")
	if len(r.Messages) != 1 || !strings.Contains(r.Messages[0].Text, "choose your language") {
		t.Fatalf("after tampering: %+v", r.Messages)
	}
	if !bytes.Contains(env.Logs.Bytes(), []byte("draft could not be unsealed")) {
		t.Fatal("tampering not logged")
	}
}
