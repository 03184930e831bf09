package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// attack is one attempt, by whoever holds the staff's Redis password, to
// make the bot speak to defenders in the mission's name.
type attack struct {
	name string
	// try makes the attacker's writes as the staff ACL user, and the
	// honest steps that follow them; its error is Redis refusing a write.
	try func() error
	// stopped waits until the bot has dealt with it, checks the refusal a
	// staff member can see, and returns it.
	stopped func() string
}

// refusedByACL reports whether err is Redis refusing a command or a key to
// the user (NOPERM), and not another error.
func refusedByACL(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "NOPERM")
}

// TestTheStaffRedisUserCannotSpeakForTheMission (issue 15): a live bot, with
// broadcasts, previews and replies, subscribers in UA and defenders with
// open cases; then every attack the production ACL's staff user can make
// through Redis alone. No defender's chat receives anything once the
// attacks begin, and each attack leaves a refusal staff can read: the
// publication invalid with its reason, the case history's "refused: …",
// or the bot's answer to the coordinator in Telegram.
func TestTheStaffRedisUserCannotSpeakForTheMission(t *testing.T) {
	ctx := context.Background()
	h := startWith(t, nil, func(env *testenv.Env, cfg *bot.Config) {
		names := map[string]int64{}
		for id, name := range coordinators {
			names[name] = id
		}
		cfg.Coordinators = coordinators
		// The approvals are the bot's own setting, as cmd/vigil wires it;
		// a lease shorter than the deliverer's one-second round, so that
		// the test can take it between two rounds (below).
		cfg.Broadcast = &broadcast.DeliveryConfig{Store: env.Store, Keys: env.Keys, Open: broadcast.Opener(env.BotID),
			Coordinators: names, Rate: 25, Text: env.Text, Log: env.Log, Trust: env.Trust, Approvals: env.Policy.Approvals,
			LeaseTTL: 300 * time.Millisecond}
	})
	bh := &broadcastHarness{t: t, env: h.env, api: h.api, rate: 25}
	for id, name := range coordinators {
		h.api.AddChat(models.Chat{ID: id, Type: models.ChatTypePrivate, FirstName: name})
	}
	subs := bh.subscribe(100000, 3, "UA", "en")
	d := h.defender(73460001, "en")
	ref := d.report("ADVERSARY", "English")
	e := h.defender(73460002, "en")
	other := e.report("REPLIED", "English")

	// From here on, everything written to Redis is written by the staff
	// user: the coordinators' and ana's honest tools, and the attacker.
	rdb := h.env.StaffRedis(t)
	staff := store.New(rdb, store.Options{})
	botKey, err := staff.BotRecipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := broadcast.SealFor(h.env.Recipients, botKey)
	if err != nil {
		t.Fatal(err)
	}
	tool := func(name string) *broadcast.Service {
		return broadcast.New(broadcast.Config{Store: staff, Seal: sealer, Open: broadcast.Opener(h.env.Identities...), Signer: h.env.Signer(t, name)})
	}
	annaTool, benTool := tool("anna"), tool("ben")
	benTG := bh.person(802, "en")

	// ana's honest reply to the other case, signed with her key; the
	// attacker copies the outbox entry (the staff user may read it).
	honestReply := forged{sealed: sealForBot(t, h, "HONEST-REPLY we read you")}
	honestReply.statement, honestReply.signature = signed(t, h.env.Signer(t, "ana"), "ana", other, honestReply.sealed, time.Now())
	before := len(h.api.Sent(e.chat.ID))
	queueAs(t, staff, h, other, honestReply)
	if got := e.expect(before, 1)[0].Text; !strings.Contains(got, "HONEST-REPLY") {
		t.Fatalf("the honest reply arrived as %q", got)
	}

	// One honest broadcast by anna per attack on publications, previewed.
	pubs := map[string]string{}
	for _, purpose := range []string{"swap-before", "swap-after", "stranger", "creator-key", "copied", "preview-record", "telegram", "policy"} {
		p, _, err := annaTool.Create(ctx, "anna", broadcast.Draft{Kind: store.KindBroadcast, Countries: []string{"UA"}, Texts: honest})
		if err != nil {
			t.Fatalf("anna's broadcast, as the staff user: %v", err)
		}
		pubs[purpose] = p.ID
	}
	page, _, err := annaTool.Create(ctx, "anna", broadcast.Draft{Kind: store.KindGuidance, Topic: "digital", Countries: []string{"UA"}, Texts: honest})
	if err != nil {
		t.Fatalf("anna's guidance page, as the staff user: %v", err)
	}
	pubs["guidance"] = page.ID
	for _, id := range pubs {
		bh.waitStatus(id, func(p store.Publication) bool { return p.Previewed }, fakeapi.Patience)
	}

	// While the attacks are set up the test holds the delivery lease, as
	// a second bot process would: the bot reads a publication approved
	// then swapped only after the swap, not whenever it happens to.
	const holder = "adversary-test"
	lease := func(ttl time.Duration) bool {
		held, err := h.env.Store.LeaseNamed(ctx, "broadcast", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	for deadline := time.Now().Add(fakeapi.Patience); !lease(fakeapi.Patience); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the bot kept the delivery lease")
		}
	}

	swap := func(id string) error {
		sealed, err := sealer([]byte(swapped))
		if err != nil {
			t.Fatal(err)
		}
		return rdb.HSet(ctx, store.PublicationKey(id), "text:en", sealed).Err()
	}
	// invalid waits for publication id to end, and requires it given up
	// with a problem that says why.
	invalid := func(id, why string) func() string {
		return func() string {
			t.Helper()
			p := bh.waitStatus(id, func(p store.Publication) bool {
				return p.Status != store.PubQueued && p.Status != store.PubApproved && p.Status != store.PubSending
			}, fakeapi.Patience)
			if p.Status != store.PubInvalid || !strings.Contains(p.Problem, why) {
				t.Errorf("%s: %s %q, want invalid saying %q", id, p.Status, p.Problem, why)
			}
			q, err := staff.GetPublication(ctx, id)
			if err != nil || q.Problem != p.Problem {
				t.Errorf("the staff user reads %q (%v), the bot wrote %q", q.Problem, err, p.Problem)
			}
			return "bot: " + id + " " + p.Status + ": " + p.Problem
		}
	}
	// refused waits for the case's history to record a refused reply of
	// kind, as staff read it.
	refused := func(ref, kind string) func() string {
		return func() string {
			t.Helper()
			want := "refused: not signed by a trusted staff key (" + kind + ")"
			deadline := time.Now().Add(fakeapi.Patience)
			for {
				ev, err := staff.Events(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ev {
					if e.Type == "refused" && e.Detail == want {
						return "bot: case " + ref + " history: " + e.Detail
					}
				}
				if time.Now().After(deadline) {
					t.Errorf("case %s: no %q in its history %+v", ref, want, ev)
					return "NOT REFUSED"
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	forgedReply := func() forged { return forged{sealed: sealForBot(t, h, "FORGED-TEXT come to the station")} }
	telegramProof := func(st sign.Statement) []byte {
		msg, err := st.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(statementProof{Statement: string(msg), Telegram: 802, MAC: make([]byte, 32)})
		return raw
	}
	approveStatement := func(id string, texts map[string]string) sign.Statement {
		return sign.Statement{Action: sign.ActionApprove, Signer: "ben", Time: sign.StatementTime(time.Now()), Subject: id,
			Countries: []string{"UA"}, Digest: sign.TextsDigest(texts)}
	}
	var benRefusal string // the bot's answer to ben's /approve over a forged preview record

	// Every defender's chat, and what it had received before the attacks.
	chats := map[int64]int{d.chat.ID: 0, e.chat.ID: 0}
	for chat := range subs {
		chats[chat] = 0
	}
	for chat := range chats {
		chats[chat] = len(h.api.Sent(chat))
	}

	attacks := []attack{
		{"1. texts swapped after the preview; then ben approves honestly (his tool, then Telegram)", func() error {
			id := pubs["swap-before"]
			if err := swap(id); err != nil {
				return err
			}
			if _, _, err := benTool.Approve(ctx, id, "ben"); !errors.Is(err, broadcast.ErrChangedTexts) {
				t.Fatalf("ben's tool approved swapped texts: %v", err)
			}
			// In Telegram his approval is bound to the preview he saw.
			if acts := benTG.text("/approve "+id, 1); !strings.Contains(acts[0].Text, "being sent") {
				t.Fatalf("ben's approval in Telegram: %q", acts[0].Text)
			}
			return nil
		}, invalid(pubs["swap-before"], broadcast.ErrTextsChanged.Error())},
		{"2. texts swapped after ben's honest approval", func() error {
			id := pubs["swap-after"]
			if status, _, err := benTool.Approve(ctx, id, "ben"); err != nil || status != store.PubApproved {
				t.Fatalf("ben's approval: %q %v", status, err)
			}
			if err := swap(id); err != nil {
				benTool.Cancel(ctx, id, "ben") // not swapped: it must not go out in this test
				return err
			}
			return nil
		}, invalid(pubs["swap-after"], broadcast.ErrTextsChanged.Error())},
		{"3a. a forged reply in the outbox, unsigned", func() error {
			return queue(t, staff, h, ref, forgedReply())
		}, refused(ref, intake.RefusedUnsigned)},
		{"3b. a forged reply in the outbox, signed by a stranger's key as ana", func() error {
			f := forgedReply()
			f.statement, f.signature = signed(t, strangerSigner(t), "ana", ref, f.sealed, time.Now())
			return queue(t, staff, h, ref, f)
		}, refused(ref, intake.RefusedUntrusted)},
		{"4a. approval:ben signed by a stranger's key", func() error {
			id := pubs["stranger"]
			_, err := staff.Approve(ctx, id, "ben", 2, time.Now(), approval(t, strangerSigner(t), "ben", id, honest))
			return err
		}, invalid(pubs["stranger"], `approval by "ben" does not verify`)},
		{"4b. approval:ben signed by the creator's (anna's) key", func() error {
			id := pubs["creator-key"]
			_, err := staff.Approve(ctx, id, "ben", 2, time.Now(), approval(t, h.env.Signer(t, "anna"), "ben", id, honest))
			return err
		}, invalid(pubs["creator-key"], `approval by "ben" does not verify`)},
		{"4c. ben's real approval copied from another publication", func() error {
			id := pubs["copied"]
			from, err := staff.GetPublication(ctx, pubs["swap-after"])
			if err != nil {
				return err
			}
			if from.Approvals["ben"] == nil {
				t.Fatal("no approval by ben to copy")
			}
			_, err = staff.Approve(ctx, id, "ben", 2, time.Now(), from.Approvals["ben"])
			return err
		}, invalid(pubs["copied"], `approval by "ben" does not verify`)},
		{"5a. a preview record forged for swapped texts; ben approves in Telegram", func() error {
			id := pubs["preview-record"]
			if err := swap(id); err != nil {
				return err
			}
			rec := telegramProof(approveStatement(id, map[string]string{"en": swapped}))
			if err := rdb.HSet(ctx, store.PublicationKey(id), "preview:ben", rec).Err(); err != nil {
				return err
			}
			acts := benTG.text("/approve "+id, 1)
			benRefusal = acts[0].Text
			return nil
		}, func() string {
			id := pubs["preview-record"]
			p, err := staff.GetPublication(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(benRefusal, "being sent") || p.Status != store.PubQueued || len(p.Approvers) != 0 {
				t.Errorf("approved on a forged preview record: %q, %+v", benRefusal, p)
			}
			return "bot: ben's /approve refused in Telegram (" + benRefusal + "); " + id + " still queued, no approver"
		}},
		{"5b. a Telegram approval by ben that the bot did not make", func() error {
			id := pubs["telegram"]
			_, err := staff.Approve(ctx, id, "ben", 2, time.Now(), telegramProof(approveStatement(id, honest)))
			return err
		}, invalid(pubs["telegram"], "not made by this bot")},
		{"6a. ana's signed reply to another case replayed onto this one", func() error {
			return queue(t, staff, h, ref, honestReply)
		}, refused(ref, intake.RefusedWrongCase)},
		{"6b. ana's signed reply replayed onto its own case", func() error {
			return queue(t, staff, h, other, honestReply)
		}, refused(other, intake.RefusedReplayed)},
		{"7. a published guidance page's text swapped", func() error {
			id := pubs["guidance"]
			if status, _, err := benTool.Approve(ctx, id, "ben"); err != nil || status != store.PubPublished {
				t.Fatalf("ben's approval of the page: %q %v", status, err)
			}
			return swap(id)
		}, func() string {
			// What the bot's /guidance does before it shows a page.
			p, err := staff.GetPublication(ctx, pubs["guidance"])
			if err != nil {
				t.Fatal(err)
			}
			if html, err := h.env.Broadcasts.Shown(ctx, p, "en"); err == nil {
				t.Errorf("the bot would show the swapped page: %q", html)
			}
			return invalid(pubs["guidance"], broadcast.ErrTextsChanged.Error())()
		}},
		{"8. the published policy lowered to one approval; anna approves her own", func() error {
			pol := h.env.Policy
			pol.Approvals = 1
			if err := staff.SetPolicy(ctx, pol); err != nil {
				return err
			}
			_, _, err := annaTool.Approve(ctx, pubs["policy"], "anna")
			return err
		}, invalid(pubs["policy"], broadcast.ErrNotEnough.Error())},
	}

	verdicts := make([]string, len(attacks))
	for i, a := range attacks {
		switch err := a.try(); {
		case refusedByACL(err):
			verdicts[i] = "ACL: " + err.Error()
		case err != nil:
			t.Fatalf("%s: not a refusal by the ACL: %v", a.name, err)
		}
	}
	if !lease(time.Millisecond) { // let the bot deliver
		t.Fatal("the test lost the delivery lease while setting up the attacks")
	}
	for i, a := range attacks {
		if verdicts[i] == "" {
			verdicts[i] = a.stopped()
		}
	}

	var table strings.Builder
	for i, a := range attacks {
		fmt.Fprintf(&table, "\n  %-90s %s", a.name, verdicts[i])
	}
	t.Logf("how each attack was stopped:%s", table.String())
	for chat, n := range chats {
		if sent := h.api.Sent(chat); len(sent) != n {
			t.Errorf("defender's chat %d received %d messages after the attacks began: %+v", chat, len(sent)-n, sent[n:])
		}
	}
}
