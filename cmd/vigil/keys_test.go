package main

import (
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
