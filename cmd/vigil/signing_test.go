package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// TestRepliesNeedAGoodStaffKeyring: the bot and the console, which deliver
// staff replies, do not start without the staff keyring or on a malformed
// one, and say so in one line naming the setting or the entry.
func TestRepliesNeedAGoodStaffKeyring(t *testing.T) {
	env := testenv.New(t)
	good, err := os.ReadFile(env.KeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "keyring")
	if err := os.WriteFile(bad, append(good, "bob staff ssh-ed25519 AAAAnot-a-key\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, keyring string
		want          []string
	}{
		{"unset", "", []string{"VIGIL_STAFF_KEYRING: not set", "docs/signing.md"}},
		{"malformed", bad, []string{bad, "line 5", "(bob)"}},
		{"missing", filepath.Join(t.TempDir(), "nope"), []string{"nope"}},
	} {
		for _, cmd := range []string{"bot", "console"} {
			t.Run(tc.name+"/"+cmd, func(t *testing.T) {
				vars := consoleVars(env)
				vars["TELEGRAM_BOT_TOKEN"] = replicaToken
				vars["VIGIL_STAFF_KEYRING"] = tc.keyring
				_, stderr, code := vigil(t, vars, "", cmd)
				if code == 0 {
					t.Fatalf("%s started without a good keyring", cmd)
				}
				for _, want := range tc.want {
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr %q lacks %q", stderr, want)
					}
				}
				if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
					t.Errorf("want one line, got %q", stderr)
				}
			})
		}
	}
}

// TestKeyringReloadsOnSIGHUP: a real `vigil bot` delivers ana's signed
// reply; ana's line is removed from the keyring and the bot is sent
// SIGHUP: her next reply is refused. A malformed keyring on a later SIGHUP
// keeps the keyring in force.
func TestKeyringReloadsOnSIGHUP(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	api := fakeapi.New(t, replicaToken)
	const chat = int64(4455667)
	api.AddChat(models.Chat{ID: chat, Type: models.ChatTypePrivate})
	ref := env.Defender(t, chat).Submit("HUP", true)
	r := startReplica(t, env, api, replicaSecret, "VIGIL_LOG_LEVEL=info", "VIGIL_LOG_FORMAT=text")
	if !strings.Contains(string(r.logs.Bytes()), "staff=2 coordinators=3") {
		t.Errorf("the bot does not log whom it trusts:\n%s", r.logs.Bytes())
	}
	lastEvent := func() store.Event {
		ev, _ := env.Store.Events(ctx, ref)
		if len(ev) == 0 {
			return store.Event{}
		}
		return ev[len(ev)-1]
	}
	waitEvent := func(typ string) store.Event {
		t.Helper()
		if err := waitFor(30*time.Second, func() bool { return lastEvent().Type == typ }); err != nil {
			t.Fatalf("no %q in the case history; last: %+v", typ, lastEvent())
		}
		return lastEvent()
	}
	hup := func(want string) {
		t.Helper()
		before := strings.Count(string(r.logs.Bytes()), want)
		if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(30*time.Second, func() bool { return strings.Count(string(r.logs.Bytes()), want) > before }); err != nil {
			t.Fatalf("no %q logged after SIGHUP:\n%s", want, r.logs.Bytes())
		}
	}

	env.Reply(t, "ana", ref, "first reply")
	waitEvent("delivered")
	sent := len(api.Sent(chat))

	good, err := os.ReadFile(env.KeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(good), "\n") {
		if !strings.HasPrefix(line, "ana ") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(env.KeyringFile, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("staff keyring reloaded")
	if !strings.Contains(string(r.logs.Bytes()), "staff=1 coordinators=3") {
		t.Errorf("the reload does not log the new counts:\n%s", r.logs.Bytes())
	}
	env.Reply(t, "ana", ref, "second reply")
	if e := waitEvent("refused"); !strings.Contains(e.Detail, intake.RefusedUntrusted) {
		t.Errorf("refusal %q, want %s", e.Detail, intake.RefusedUntrusted)
	}

	if err := os.WriteFile(env.KeyringFile, []byte("anna staff ssh-ed25519 broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("keeping the keyring in force")
	env.Reply(t, "anna", ref, "third reply")
	waitEvent("delivered")
	if got := len(api.Sent(chat)); got != sent+1 {
		t.Fatalf("the defender received %d messages after the first reply, want 1 (anna's)", got-sent)
	}
}

// TestReplyPinsTheBotKey: the first reply pins the bot's key in the staff
// member's own file; a different key in Redis later makes `vigil triage
// reply` refuse, saying what changed, and queue nothing, until the staff
// member accepts the new key with trust-bot-key.
func TestReplyPinsTheBotKey(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	ref := env.Defender(t, 5).Submit("PIN", true)
	vars := staffVars(env, "ana")
	outbox := func() int64 {
		n, err := env.RDB.XLen(ctx, "vigil:{q}:outbox").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if out, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "first"); code != 0 {
		t.Fatalf("first reply: %d %s %s", code, out, stderr)
	}
	old, err := env.Store.BotRecipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pinned, err := os.ReadFile(env.KnownBotFile()); err != nil || !strings.Contains(string(pinned), old) {
		t.Fatalf("the bot's key was not pinned: %v %q", err, pinned)
	}

	// Whoever can write to Redis swaps the key for one they hold.
	_, swapped, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RDB.Set(ctx, "vigil:bot:recipient", swapped, 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := outbox()
	_, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "SECOND-MARKER")
	for _, want := range []string{"HAS CHANGED", old, swapped, "trust-bot-key " + swapped, "nothing was sent"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("reply to a swapped key: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	if outbox() != before {
		t.Fatal("a reply was queued for the swapped key")
	}

	if out, stderr, code := vigil(t, vars, "", "triage", "trust-bot-key", swapped); code != 0 || !strings.Contains(out, swapped) {
		t.Fatalf("trust-bot-key: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "third"); code != 0 || outbox() != before+1 {
		t.Fatalf("reply after accepting the new key: %d %s", code, stderr)
	}
	if _, stderr, code := vigil(t, vars, "", "triage", "trust-bot-key", "not-a-key"); code == 0 || !strings.Contains(stderr, "not an age public key") {
		t.Fatalf("trust-bot-key with a bad key: %d %s", code, stderr)
	}
}

// TestReplyNeedsASigningKey: without VIGIL_SIGNING_KEY a reply is refused,
// naming the setting, and nothing is queued.
func TestReplyNeedsASigningKey(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	ref := env.Defender(t, 5).Submit("NOKEY", true)
	vars := staffVars(env, "ana")
	delete(vars, "VIGIL_SIGNING_KEY")
	if _, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "hello"); code == 0 || !strings.Contains(stderr, "VIGIL_SIGNING_KEY") {
		t.Fatalf("reply without a signing key: %d %s", code, stderr)
	}
	if n, _ := env.RDB.XLen(ctx, "vigil:{q}:outbox").Result(); n != 0 {
		t.Fatal("an unsigned reply was queued")
	}
}

// TestAuditVerify: `vigil triage audit --verify` reports a signed reply as
// verified by its signer, one recorded before replies were signed as
// unsigned, and one whose signature does not hold as invalid (and fails).
func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	ref := env.Defender(t, 5).Submit("AUDIT", true)
	vars := staffVars(env, "ana")
	if _, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "signed"); code != 0 {
		t.Fatalf("reply: %s", stderr)
	}
	audit, err := env.Store.AuditLog(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	signed := audit[len(audit)-1]
	if signed.What != "reply" || signed.Statement == "" || !strings.Contains(signed.Signature, "BEGIN SSH SIGNATURE") {
		t.Fatalf("the reply's audit entry holds no signature: %+v", signed)
	}
	add := func(staff string, statement, signature string) {
		t.Helper()
		err := env.Store.AddEntry(ctx, store.Entry{Ref: ref, Staff: staff, Kind: "reply", At: time.Now(), Sealed: []byte("x"), ForBot: []byte("y"),
			Statement: []byte(statement), Signature: []byte(signature)})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("carl", "", "")                            // from before replies were signed
	add("ben", signed.Statement, signed.Signature) // ana's signature, claimed by ben
	out, stderr, code := vigil(t, vars, "", "triage", "audit", "--ref", ref, "--verify")
	if code == 0 || !strings.Contains(stderr, "1 signed entries do not verify") {
		t.Errorf("audit --verify with an invalid entry: exit %d, %s", code, stderr)
	}
	var verdicts []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[3] == "reply" {
			verdicts = append(verdicts, f[2]+" "+strings.Join(f[5:], " "))
		}
	}
	want := []string{"ana verified (ana)", "carl unsigned", "ben invalid: the statement is signed as ana, the entry names ben"}
	if strings.Join(verdicts, "|") != strings.Join(want, "|") {
		t.Errorf("verdicts\n got %q\nwant %q\n%s", verdicts, want, out)
	}
	// Against a keyring without ana, her reply does not verify either.
	other := filepath.Join(t.TempDir(), "keyring")
	good, _ := os.ReadFile(env.KeyringFile)
	var kept []string
	for _, line := range strings.SplitAfter(string(good), "\n") {
		if !strings.HasPrefix(line, "ana ") {
			kept = append(kept, line)
		}
	}
	os.WriteFile(other, []byte(strings.Join(kept, "")), 0o644)
	out, _, _ = vigil(t, vars, "", "triage", "audit", "--ref", ref, "--verify", "--keyring", other)
	if !strings.Contains(out, "invalid: sign: the signing key is not in the keyring") {
		t.Errorf("audit --verify against a keyring without ana:\n%s", out)
	}
}
