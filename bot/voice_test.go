package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// The mission's voice (issue 15): whoever writes to Redis cannot make the
// bot send a broadcast its coordinators did not sign, with these texts.

var honest = map[string]string{"en": "BENIGN-TEXT MARK-en"}

const swapped = "SWAPPED-TEXT install this app"

// swap replaces a publication's English text, as anyone who can write to
// Redis can: the bot's age recipient is public.
func (h *broadcastHarness) swap(id string) {
	h.t.Helper()
	ctx := context.Background()
	botKey, err := h.env.Store.BotRecipient(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	sealer, err := broadcast.SealFor(h.env.Recipients, botKey)
	if err != nil {
		h.t.Fatal(err)
	}
	sealed, err := sealer([]byte(swapped))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.env.RDB.HSet(ctx, store.PublicationKey(id), "text:en", sealed).Err(); err != nil {
		h.t.Fatal(err)
	}
}

// invalidNothingSent waits for id to be given up and checks that no
// subscriber got anything and that staff can read why.
func (h *broadcastHarness) invalidNothingSent(id, why string, subs map[int64]string) {
	h.t.Helper()
	p := h.waitStatus(id, func(p store.Publication) bool { return p.Status == store.PubInvalid }, 20*time.Second)
	if !strings.Contains(p.Problem, why) {
		h.t.Errorf("problem %q, want it to say %q", p.Problem, why)
	}
	for chat := range subs {
		if msgs := h.api.Messages(chat); len(msgs) != 0 {
			h.t.Fatalf("subscriber %d got %q", chat, msgs[0].Text)
		}
	}
}

// TestSwappedTextsAreNotSent: the texts replaced in Redis after the
// preview (the approver's tool then refuses, and an approval forced through
// the store has no valid proof), or after an honest approval: nothing is
// sent and the publication says the texts changed.
func TestSwappedTextsAreNotSent(t *testing.T) {
	for _, after := range []string{"preview", "approval"} {
		t.Run("after "+after, func(t *testing.T) {
			h := newBroadcasting(t, 25)
			subs := h.subscribe(100000, 3, "UA", "en")
			ctx := context.Background()
			id := h.create(store.KindBroadcast, []string{"UA"}, honest)
			if err := h.env.Store.MarkPreviewed(ctx, id, "", seenBy("ben", "carl")); err != nil {
				t.Fatal(err)
			}
			if after == "preview" {
				h.swap(id)
				if _, _, err := h.env.As(t, "ben").Approve(ctx, id, "ben"); !errors.Is(err, broadcast.ErrChangedTexts) {
					t.Fatalf("ben's tool approved swapped texts: %v", err)
				}
				if _, err := h.env.Store.Approve(ctx, id, "ben", 2, time.Now(), nil); err != nil {
					t.Fatal(err)
				}
			} else {
				if _, _, err := h.env.As(t, "ben").Approve(ctx, id, "ben"); err != nil {
					t.Fatal(err)
				}
				h.swap(id)
			}
			h.start()
			h.invalidNothingSent(id, "texts changed after signing", subs)
		})
	}
}

// statementProof is a proof as package broadcast stores it (docs/signing.md).
type statementProof struct {
	Statement string `json:"statement"`
	SSHSig    string `json:"sshsig,omitempty"`
	Telegram  int64  `json:"telegram,omitempty"`
	MAC       []byte `json:"mac,omitempty"`
}

// approval returns an approve statement by who over texts of publication
// id, signed with s.
func approval(t *testing.T, s *sign.Signer, who, id string, texts map[string]string) []byte {
	t.Helper()
	st := sign.Statement{Action: sign.ActionApprove, Signer: who, Time: sign.StatementTime(time.Now()), Subject: id,
		Countries: []string{"UA"}, Digest: sign.TextsDigest(texts)}
	msg, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(st)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(statementProof{Statement: string(msg), SSHSig: string(sig)})
	return raw
}

// TestApprovalsThatDoNotCount: the bot requires three coordinators (anna
// creates; two others approve). Carl's honest approval is there each time;
// the second one is not a second pair of eyes, so nothing is sent. The
// control, ben's honest approval, is sent.
func TestApprovalsThatDoNotCount(t *testing.T) {
	cases := []struct {
		name string
		slot string // the approval's name in Redis
		make func(h *broadcastHarness, id string) []byte
		why  string // "" : sent
	}{
		{"ben's honest approval (control)", "ben", func(h *broadcastHarness, id string) []byte {
			return approval(h.t.(*testing.T), h.env.Signer(h.t, "ben"), "ben", id, honest)
		}, ""},
		{"a key not in the keyring", "ben", func(h *broadcastHarness, id string) []byte {
			return approval(h.t.(*testing.T), strangerSigner(h.t.(*testing.T)), "ben", id, honest)
		}, "approval by \"ben\" does not verify"},
		{"the creator", "anna", func(h *broadcastHarness, id string) []byte {
			return approval(h.t.(*testing.T), h.env.Signer(h.t, "anna"), "anna", id, honest)
		}, "not enough approvals"},
		{"carl twice", "ben", func(h *broadcastHarness, id string) []byte {
			return approval(h.t.(*testing.T), h.env.Signer(h.t, "carl"), "carl", id, honest)
		}, "signed by carl"},
		{"another publication's digest", "ben", func(h *broadcastHarness, id string) []byte {
			return approval(h.t.(*testing.T), h.env.Signer(h.t, "ben"), "ben", id, map[string]string{"en": "another text"})
		}, "texts changed after signing"},
		{"a Telegram approval the bot did not make", "ben", func(h *broadcastHarness, id string) []byte {
			st := sign.Statement{Action: sign.ActionApprove, Signer: "ben", Time: sign.StatementTime(time.Now()), Subject: id,
				Countries: []string{"UA"}, Digest: sign.TextsDigest(honest)}
			msg, _ := st.Encode()
			raw, _ := json.Marshal(statementProof{Statement: string(msg), Telegram: 802, MAC: make([]byte, 32)})
			return raw
		}, "not made by this bot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newBroadcasting(t, 25)
			h.approvals = 3
			subs := h.subscribe(100000, 3, "UA", "en")
			ctx := context.Background()
			id := h.create(store.KindBroadcast, []string{"UA"}, honest)
			if err := h.env.Store.MarkPreviewed(ctx, id, "", seenBy("ben", "carl")); err != nil {
				t.Fatal(err)
			}
			// Written as the staff tools write them; the last one makes it
			// approved in Redis.
			if err := h.env.RDB.HSet(ctx, store.PublicationKey(id), "approval:"+c.slot, c.make(h, id)).Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := h.env.Store.Approve(ctx, id, "carl", 2, time.Now(), approval(t, h.env.Signer(t, "carl"), "carl", id, honest)); err != nil {
				t.Fatal(err)
			}
			h.start()
			if c.why == "" {
				h.waitStatus(id, done, 20*time.Second)
				for chat := range subs {
					if n := len(h.api.Messages(chat)); n != 1 {
						t.Fatalf("subscriber %d got %d messages", chat, n)
					}
				}
				return
			}
			h.invalidNothingSent(id, c.why, subs)
		})
	}
}

// TestForgedPreviewRecordIsRefused: a preview record written into Redis
// (the bot never previewed it to ben) does not let ben approve in
// Telegram, so the bot's word cannot be forged through Redis either.
func TestForgedPreviewRecordIsRefused(t *testing.T) {
	h := startBroadcasting(t, 25)
	ctx := context.Background()
	// ben's record says he saw other texts; the bot did not make it.
	id := h.create(store.KindBroadcast, []string{"UA"}, honest)
	st := sign.Statement{Action: sign.ActionApprove, Signer: "ben", Time: sign.StatementTime(time.Now()), Subject: id,
		Countries: []string{"UA"}, Digest: sign.TextsDigest(map[string]string{"en": swapped})}
	msg, _ := st.Encode()
	forged, _ := json.Marshal(statementProof{Statement: string(msg), Telegram: 802, MAC: make([]byte, 32)})
	h.waitStatus(id, func(p store.Publication) bool { return p.Previewed }, 10*time.Second)
	if err := h.env.RDB.HSet(ctx, store.PublicationKey(id), "preview:ben", forged).Err(); err != nil {
		t.Fatal(err)
	}
	ben := h.person(802, "en")
	if acts := ben.text("/approve "+id, 1); strings.Contains(acts[0].Text, "being sent") {
		t.Fatalf("approved on a forged preview record: %q", acts[0].Text)
	}
	if p, _ := h.env.Store.GetPublication(ctx, id); p.Status != store.PubQueued || len(p.Approvers) != 0 {
		t.Fatalf("after a forged preview record: %+v", p)
	}
}
