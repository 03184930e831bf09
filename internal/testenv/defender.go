package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/store"
)

// Defender drives the intake service as a person in one chat would,
// without Telegram.
type Defender struct {
	T    testing.TB
	Svc  *intake.Service
	Chat int64
	Hint string // the phone's language
	// Coordinator, when set, names the sender as a coordinator.
	Coordinator string
	KB          []flows.Button
	Last        intake.Reply
	// Cache, when set, is passed to HandleEntry, as the holder of the
	// chat's inbox partition passes its own.
	Cache *intake.ChatCache
	// entries numbers the events as a bot's inbox would (stream ids), so
	// that the service records what it applied and the reply to it, as in
	// production.
	entries *atomic.Int64
}

// Defender returns a defender in chat.
func (e *Env) Defender(tb testing.TB, chat int64) *Defender {
	return &Defender{T: tb, Svc: e.Service, Chat: chat, entries: &e.entries}
}

// Do sends one event and remembers the newest keyboard.
func (d *Defender) Do(ev flows.Event) intake.Reply {
	d.T.Helper()
	ev.LanguageHint = d.Hint
	ev.Coordinator = d.Coordinator
	ctx := context.Background()
	if d.Cache != nil {
		ctx = intake.WithChatCache(ctx, d.Cache)
	}
	r, err := d.Svc.HandleEntry(ctx, d.Chat, ev, fmt.Sprintf("1700000000000-%d", d.entries.Add(1)))
	if err != nil {
		d.T.Fatalf("handle: %v", err)
	}
	for _, m := range r.Messages {
		if len(m.Buttons) > 0 {
			d.KB = slices.Concat(m.Buttons...)
		}
	}
	d.Last = r
	return r
}

// Cmd sends a command such as "start".
func (d *Defender) Cmd(name string) intake.Reply {
	return d.Do(flows.Event{Kind: flows.EventCommand, Command: name})
}

// Text sends a text message.
func (d *Defender) Text(s string) intake.Reply {
	return d.Do(flows.Event{Kind: flows.EventText, Text: s})
}

// Button returns the on-screen button whose label contains label.
func (d *Defender) Button(label string) flows.Button {
	d.T.Helper()
	for _, b := range d.KB {
		if strings.Contains(b.Label, label) {
			return b
		}
	}
	d.T.Fatalf("no button %q", label)
	return flows.Button{}
}

// Press presses the button whose label contains label.
func (d *Defender) Press(label string) intake.Reply {
	d.T.Helper()
	return d.Do(flows.Event{Kind: flows.EventButton, Data: d.Button(label).Data})
}

// Fill walks an English report to the review, writing marker into every
// free text: urgent, Georgia, threats, military, discreet action, and no
// reply in the chat unless contact is true.
func (d *Defender) Fill(marker string, contact bool) {
	d.T.Helper()
	d.Cmd("start")
	d.Press("English")
	d.Press("continue")
	d.Press("Yes, immediate")
	d.Press("Me")
	d.Press("Threats")
	d.Press("Done")
	d.Press("Earlier")
	d.Text("when " + marker)
	d.Press("Georgia")
	d.Text("place " + marker)
	d.Press("Military")
	d.Press("Done")
	d.Text("description " + marker)
	d.Text("second part " + marker)
	d.Press("Done")
	d.Press("Skip") // evidence
	d.Press("None")
	d.Press("Done")
	d.Press("Act discreetly")
	if contact {
		d.Press("Yes, you may reply")
	} else {
		d.Press("No, do not")
	}
	d.Text("channel " + marker)
}

// Submit fills a report and sends it, returning its reference.
func (d *Defender) Submit(marker string, contact bool) string {
	d.T.Helper()
	d.Fill(marker, contact)
	return ReceiptRef(d.T, d.Press("Send"))
}

// ReceiptRef finds the case reference in a receipt.
func ReceiptRef(tb testing.TB, r intake.Reply) string {
	tb.Helper()
	for _, m := range r.Messages {
		if i := strings.Index(m.Text, "reference is "); i >= 0 && len(m.Text) >= i+len("reference is ")+9 {
			if ref, ok := flows.ParseRef(m.Text[i+len("reference is ") : i+len("reference is ")+9]); ok {
				return ref
			}
		}
	}
	tb.Fatalf("no receipt in %+v", r.Messages)
	return ""
}

// SeedFiles queues a report with evidence files, each sealed to the staff
// as the bot seals them; r.Evidence is filled in from files (kind
// "document", names file1.bin, …, their SHA-256 as received).
func (e *Env) SeedFiles(tb testing.TB, r flows.Report, files ...[]byte) {
	tb.Helper()
	ctx := context.Background()
	draft := "seed-" + r.Ref
	var uploads []string
	r.Evidence = nil
	for i, f := range files {
		sealed, err := e.Recipients.Seal(f)
		if err != nil {
			tb.Fatal(err)
		}
		key := store.UploadKey(draft, i)
		w := e.Store.Upload(ctx, key)
		if _, err := w.Write(sealed); err != nil {
			tb.Fatal(err)
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		uploads = append(uploads, key)
		sum := sha256.Sum256(f)
		r.Evidence = append(r.Evidence, flows.Evidence{Kind: "document", Name: fmt.Sprintf("file%d.bin", i+1),
			MIME: "application/octet-stream", Size: int64(len(f)), SHA256: hex.EncodeToString(sum[:]), ReceivedAt: r.ReceivedAt})
	}
	e.seed(tb, r, draft, uploads)
}

// Seed queues a report directly, sealed as the bot seals it but without a
// conversation or a reply route: for tests and benchmarks that need many.
func (e *Env) Seed(tb testing.TB, r flows.Report) {
	tb.Helper()
	e.seed(tb, r, "seed-"+r.Ref, nil)
}

func (e *Env) seed(tb testing.TB, r flows.Report, draft string, uploads []string) {
	tb.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := e.Recipients.Seal(raw)
	if err != nil {
		tb.Fatal(err)
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = time.Now()
	}
	_, fresh, err := e.Store.Enqueue(context.Background(), store.Submission{DraftID: draft, Ref: r.Ref, Sealed: sealed,
		SealedTo: e.Recipients.Fingerprints(), ReceivedAt: r.ReceivedAt, Urgent: r.Urgent, Uploads: uploads})
	if err != nil || !fresh {
		tb.Fatalf("seed %s: %v", r.Ref, err)
	}
}
