package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if want := "vigil: vigiltest plugin: touch your vigiltest key \uFFFD[31mnow\uFFFD[0m\n"; stderr != want {
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
