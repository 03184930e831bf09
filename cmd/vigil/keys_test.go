package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/agetest"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
)

// TestTriageShowWithHardwareKey: a report sealed to a hardware key (the
// test plugin standing in for age-plugin-yubikey) opens in `vigil triage
// show -i` with the key's identity stub; the plugin's request for a touch
// reaches the staff member's terminal (stderr), made harmless, and nothing
// else; another staff identity is told which key the report wants.
func TestTriageShowWithHardwareKey(t *testing.T) {
	env := testenv.New(t)
	plug := agetest.Install(t)
	stub, pub := plug.NewKey(t)
	var err error
	if env.Recipients, err = seal.ParseRecipients(strings.NewReader(pub)); err != nil {
		t.Fatal(err)
	}
	const ref = "HWKY-0001"
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Language: "en", Answers: map[string]any{"country": "UA", "what": []any{"raid"}, "description": "They took the laptops.", "contact": "no"}})
	vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana"}

	out, stderr, code := vigil(t, vars, "", "triage", "show", ref, "-i", stub)
	if code != 0 || !strings.Contains(out, "Case "+ref) || !strings.Contains(out, "They took the laptops.") {
		t.Fatalf("triage show with the hardware key: exit %d\n%s\n%s", code, out, stderr)
	}
	if want := "vigil: vigiltest plugin: touch your vigiltest key \\x1b[31mnow\\x1b[0m\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if strings.Contains(out, "touch") {
		t.Errorf("the plugin's message reached stdout:\n%s", out)
	}

	out, _, _ = vigil(t, vars, "", "triage", "show", ref, "-i", env.IdentityFile)
	if want := "this identity cannot open report " + ref + " (it was sealed to: " + seal.Fingerprint(pub); !strings.Contains(out, want) {
		t.Fatalf("another identity: want %q in\n%s", want, out)
	}
}

// TestKeygenKinds: `vigil keygen` writes a classic identity, `vigil keygen
// --pq` a post-quantum one; each prints the public key a recipients file
// takes, and the identity opens what is sealed to it.
func TestKeygenKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		key  string // the identity line's prefix
		pq   bool
	}{
		{"classic", nil, "AGE-SECRET-KEY-1", false},
		{"post-quantum", []string{"--pq"}, "AGE-SECRET-KEY-PQ-1", true},
		{"post-quantum, one dash", []string{"-pq"}, "AGE-SECRET-KEY-PQ-1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "staff.key")
			pub, stderr, code := vigil(t, nil, "", append([]string{"keygen", "-o", path}, tc.args...)...)
			pub = strings.TrimSpace(pub)
			if code != 0 || !strings.HasPrefix(pub, "age1") || strings.HasPrefix(pub, "age1pq1") != tc.pq || !strings.Contains(stderr, "Wrote a staff identity to "+path) {
				t.Fatalf("keygen: exit %d, stdout %.20q…, stderr %q", code, pub, stderr)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("identity file: %v %v", fi, err)
			}
			file, _ := os.ReadFile(path)
			if !strings.Contains(string(file), "# public key: "+pub+"\n"+tc.key) {
				t.Fatalf("identity file holds no %s… under its public key", tc.key)
			}
			rs, err := seal.ParseRecipients(strings.NewReader(pub))
			if err != nil || rs.PostQuantum() != tc.pq {
				t.Fatalf("recipients: %v, post-quantum %v", err, rs != nil && rs.PostQuantum())
			}
			sealed, err := rs.Seal([]byte("report"))
			if err != nil {
				t.Fatal(err)
			}
			ids, err := seal.LoadIdentities(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := seal.Open(sealed, ids...); err != nil || string(got) != "report" {
				t.Fatalf("open: %q %v", got, err)
			}
		})
	}
	if _, stderr, code := vigil(t, nil, "", "keygen", "--pq", "extra"); code == 0 || !strings.Contains(stderr, "usage: vigil keygen [--pq] [-o FILE]") {
		t.Errorf("keygen with an argument: exit %d, %q", code, stderr)
	}
}

// stanzaTypes lists the recipient stanzas of an age file's header: whom,
// by kind of key, it was sealed to ("X25519", "mlkem768x25519", …).
func stanzaTypes(tb testing.TB, sealed []byte) []string {
	tb.Helper()
	var types []string
	for _, line := range strings.Split(string(sealed), "\n") {
		if strings.HasPrefix(line, "---") {
			return types
		}
		if f := strings.Fields(line); len(f) > 1 && f[0] == "->" {
			types = append(types, f[1])
		}
	}
	tb.Fatal("no age header")
	return nil
}

// TestPostQuantumDeployment: with post-quantum staff keys (vigil keygen
// --pq) the bot starts, and everything sealed for the staff or the bot —
// notes, replies on their way to the bot, broadcast texts — is sealed to
// post-quantum keys only (the bot's own key is post-quantum too), opens for
// its readers, and a classic bot key pinned by mistake is refused, naming
// the setting.
func TestPostQuantumDeployment(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "staff-pq.key")
	pub, _, code := vigil(t, nil, "", "keygen", "--pq", "-o", key)
	recipientsFile := filepath.Join(dir, "recipients.txt")
	if err := os.WriteFile(recipientsFile, []byte(pub), 0o600); code != 0 || err != nil {
		t.Fatalf("keygen --pq: exit %d, %v", code, err)
	}
	en := filepath.Join(dir, "en.html")
	if err := os.WriteFile(en, []byte("<b>MARK-pq</b> change your passwords"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := consoleVars(env)
	vars["VIGIL_RECIPIENTS_FILE"], vars["VIGIL_IDENTITY"] = recipientsFile, key
	vars["VIGIL_STAFF"], vars["VIGIL_SIGNING_KEY"] = "anna", env.SigningKeyFile("anna") // staff and coordinator
	ok := func(vars map[string]string, want string, args ...string) string {
		t.Helper()
		out, stderr, code := vigil(t, vars, "", args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vigil %v: exit %d, want %q in\n%s%s", args, code, want, out, stderr)
		}
		return out
	}
	postQuantum := func(what string, sealed []byte, stanzas int) {
		t.Helper()
		types := stanzaTypes(t, sealed)
		if len(types) != stanzas || strings.Count(strings.Join(types, " "), "mlkem768x25519") != stanzas {
			t.Errorf("%s sealed to %v, want %d post-quantum key(s) only", what, types, stanzas)
		}
	}

	// The bot's core starts with these keys (the console runs it).
	if out, stderr, code := vigil(t, vars, "", "console"); code != 0 {
		t.Fatalf("console with post-quantum staff keys: exit %d\n%s\n%s", code, out, stderr)
	}

	var err error
	if env.Recipients, err = seal.LoadRecipients(recipientsFile); err != nil {
		t.Fatal(err)
	}
	const ref = "PQKY-0001"
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Language: "en", Answers: map[string]any{"country": "UA", "what": []any{"raid"}, "description": "They took the laptops.", "contact": "yes"}})
	ok(vars, "They took the laptops.", "triage", "show", ref)
	ok(vars, "note added", "triage", "note", ref, "called", "the", "lawyer")
	ok(vars, "queued", "triage", "reply", ref, "Are you safe now?")
	events, err := env.Store.Events(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	sealed := 0
	for _, e := range events {
		if len(e.Sealed) > 0 {
			postQuantum("the case's "+e.Type, e.Sealed, 1)
			sealed++
		}
	}
	if sealed != 2 {
		t.Errorf("%d sealed entries in the case's history, want the note and the reply", sealed)
	}
	outs, err := env.Store.NextReplies(ctx, "test", time.Minute, -1)
	if err != nil || len(outs) != 1 {
		t.Fatalf("outbox: %v %v", outs, err)
	}
	postQuantum("the reply for the bot", outs[0].Sealed, 1)
	if text, err := seal.Open(outs[0].Sealed, env.BotID); err != nil || string(text) != "Are you safe now?" {
		t.Fatalf("the bot opens the reply: %q %v", text, err)
	}

	out := ok(vars, "queued", "broadcast", "create", "--country", "UA", "--text-file", en)
	id := strings.Fields(out)[0]
	p, err := env.Store.GetPublication(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	postQuantum("the broadcast text", p.Texts["en"], 2)
	if text, err := broadcast.Opener(env.BotID)(p.Texts["en"]); err != nil || !strings.Contains(string(text), "MARK-pq") {
		t.Fatalf("the bot opens the broadcast text: %q %v", text, err)
	}
	ok(vars, "MARK-pq", "broadcast", "show", id)

	classicBot, err := env.Store.BotRecipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{"VIGIL_BOT_RECIPIENT": classicBot}
	for k, v := range vars {
		pinned[k] = v
	}
	for _, args := range [][]string{
		{"broadcast", "create", "--country", "UA", "--text-file", en},
		{"triage", "reply", ref, "Hello again"},
	} {
		_, stderr, code := vigil(t, pinned, "", args...)
		if code == 0 || !strings.Contains(stderr, "VIGIL_BOT_RECIPIENT") || !strings.Contains(stderr, "is classic and the recipients are post-quantum") {
			t.Errorf("vigil %v with a classic bot key pinned: exit %d, %q", args, code, stderr)
		}
	}
}
