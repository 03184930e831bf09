package bot_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/metrictest"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// refusedCount reads vigil_staff_replies_refused_total{reason} from reg.
func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	return metrictest.Value(t, reg, "vigil_staff_replies_refused_total", map[string]string{"reason": reason})
}

// forged builds a reply to ref as an attacker with the staff's Redis
// password would queue it: text sealed to the bot's public key, and the
// statement and signature that sig gives (none when sig is nil).
type forged struct {
	sealed               []byte // the copy for the bot
	statement, signature []byte
}

// sealForBot seals text to the bot's public key, which is public.
func sealForBot(t *testing.T, h *harness, text string) []byte {
	t.Helper()
	key, err := h.env.Store.BotRecipient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := seal.ParseRecipients(strings.NewReader(key))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := r.Seal([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// signed signs a reply statement by name (as the statement's signer) with
// signer, over digestOf, for subject, at when.
func signed(t *testing.T, signer *sign.Signer, name, subject string, digestOf []byte, when time.Time) (statement, signature []byte) {
	t.Helper()
	st := sign.Statement{Action: sign.ActionReply, Signer: name, Time: sign.StatementTime(when), Subject: subject, Digest: sign.DigestOf(digestOf)}
	statement, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if signature, err = signer.Sign(st); err != nil {
		t.Fatal(err)
	}
	return statement, signature
}

// queueAs adds f as a reply to ref through the staff's Redis user, as the
// shipped ACL allows it to.
func queueAs(t *testing.T, staff *store.Store, h *harness, ref string, f forged) {
	t.Helper()
	if err := queue(t, staff, h, ref, f); err != nil {
		t.Fatalf("queue a forged reply as the staff user: %v", err)
	}
}

// queue is queueAs returning the store's error (a NOPERM, say).
func queue(t *testing.T, staff *store.Store, h *harness, ref string, f forged) error {
	t.Helper()
	forStaff, err := h.env.Recipients.Seal([]byte("a reply"))
	if err != nil {
		t.Fatal(err)
	}
	return staff.AddEntry(context.Background(), store.Entry{Ref: ref, Staff: "ana", Kind: "reply", At: time.Now(), Sealed: forStaff,
		ForBot: f.sealed, Statement: f.statement, Signature: f.signature})
}

// strangerSigner is a key of nobody in the keyring.
func strangerSigner(t *testing.T) *sign.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mallory")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sign.FromFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestForgedRepliesAreNotDelivered: replies queued in the outbox by whoever
// holds the staff's Redis password (the production ACL's staff user), but
// not signed by a staff key of the bot's keyring for exactly this case and
// these bytes, reach no defender; the case records the refusal with its
// reason, the metric counts it, and the chat receives nothing.
func TestForgedRepliesAreNotDelivered(t *testing.T) {
	h := start(t, nil)
	staff := store.New(h.env.StaffRedis(t), store.Options{})
	ana := h.env.Signer(t, "ana")
	now := time.Now()
	for i, tc := range []struct {
		name   string
		reason string
		forge  func(ref, other string) forged
	}{
		{"unsigned", intake.RefusedUnsigned, func(ref, _ string) forged {
			return forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
		}},
		{"a key not in the keyring", intake.RefusedUntrusted, func(ref, _ string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, strangerSigner(t), "ana", ref, f.sealed, now)
			return f
		}},
		{"a coordinator-only key", intake.RefusedRole, func(ref, _ string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, h.env.Signer(t, "ben"), "ben", ref, f.sealed, now)
			return f
		}},
		{"another staff member's name", intake.RefusedWrongSigner, func(ref, _ string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, ana, "anna", ref, f.sealed, now)
			return f
		}},
		{"the digest of another text", intake.RefusedDigest, func(ref, _ string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, ana, "ana", ref, sealForBot(t, h, "we read you"), now)
			return f
		}},
		{"a signature for another case", intake.RefusedWrongCase, func(_, other string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, ana, "ana", other, f.sealed, now)
			return f
		}},
		{"a statement changed after signing", intake.RefusedBadSignature, func(ref, other string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			_, f.signature = signed(t, ana, "ana", ref, f.sealed, now)
			f.statement, _ = signed(t, ana, "ana", ref, f.sealed, now.Add(-time.Hour))
			return f
		}},
		{"a signature too old", intake.RefusedExpired, func(ref, _ string) forged {
			f := forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")}
			f.statement, f.signature = signed(t, ana, "ana", ref, f.sealed, now.Add(-intake.DefaultReplyMaxAge-time.Hour))
			return f
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := h.defender(int64(73459100+i), "en")
			ref := d.report("FORGE", "English")
			other := h.defender(int64(73459200+i), "en").report("OTHER", "English")
			before := len(h.api.Sent(d.chat.ID))
			queueAs(t, staff, h, ref, tc.forge(ref, other))
			var last store.Event
			if err := h.api.WaitFor(10*time.Second, func() bool {
				ev, _ := h.env.Store.Events(ctx, ref)
				if len(ev) > 0 {
					last = ev[len(ev)-1]
				}
				return last.Type == "refused"
			}); err != nil {
				t.Fatalf("no refusal in the case history (last event %+v)", last)
			}
			if want := "refused: not signed by a trusted staff key (" + tc.reason + ")"; last.Detail != want {
				t.Errorf("history: %q, want %q", last.Detail, want)
			}
			if n := refusedCount(t, h.reg, tc.reason); n != 1 {
				t.Errorf("vigil_staff_replies_refused_total{reason=%q} = %v, want 1", tc.reason, n)
			}
			if sent := h.api.Sent(d.chat.ID); len(sent) != before {
				t.Fatalf("the defender received %d messages: %+v", len(sent)-before, sent[before:])
			}
			audit, _ := h.env.Store.AuditLog(ctx, ref)
			if a := audit[len(audit)-1]; a.What != "refuse-reply" || a.Who != "bot" || !strings.Contains(a.Detail, tc.reason) {
				t.Errorf("audit: %+v", a)
			}
			if n, _ := h.env.RDB.XLen(ctx, "vigil:{q}:outbox").Result(); n != 0 {
				t.Errorf("outbox still holds %d replies", n)
			}
		})
	}
	for _, leak := range []string{"FORGED-TEXT", "7345910", "7345920"} {
		if strings.Contains(string(h.env.Logs.Bytes()), leak) {
			t.Errorf("%q logged", leak)
		}
	}
}

// TestSignedReplyIsDeliveredOnce: a reply signed by ana is delivered; the
// same signed entry queued again for the same case (a replay by whoever
// can write to Redis) is refused.
func TestSignedReplyIsDeliveredOnce(t *testing.T) {
	ctx := context.Background()
	h := start(t, nil)
	staff := store.New(h.env.StaffRedis(t), store.Options{})
	d := h.defender(9300, "en")
	ref := d.report("REPLAY", "English")
	f := forged{sealed: sealForBot(t, h, "SIGNED-TEXT we read you")}
	f.statement, f.signature = signed(t, h.env.Signer(t, "ana"), "ana", ref, f.sealed, time.Now())
	before := len(h.api.Sent(d.chat.ID))
	queueAs(t, staff, h, ref, f)
	if got := d.expect(before, 1)[0].Text; !strings.Contains(got, "SIGNED-TEXT we read you") {
		t.Fatalf("delivered %q", got)
	}
	queueAs(t, staff, h, ref, f)
	if err := h.api.WaitFor(10*time.Second, func() bool {
		ev, _ := h.env.Store.Events(ctx, ref)
		return len(ev) > 0 && ev[len(ev)-1].Type == "refused"
	}); err != nil {
		t.Fatal("the replayed reply was not refused")
	}
	if n := refusedCount(t, h.reg, intake.RefusedReplayed); n != 1 {
		t.Errorf("replayed refusals counted: %v", n)
	}
	if sent := h.api.Sent(d.chat.ID); len(sent) != before+1 {
		t.Fatalf("the defender received %d messages, want 1", len(sent)-before)
	}
}
