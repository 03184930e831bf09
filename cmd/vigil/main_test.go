package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

func vigil(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	goodToken := "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
	empty := write("empty.txt", "# nobody yet\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no token", map[string]string{}, "TELEGRAM_BOT_TOKEN: not set"},
		{"bad token", map[string]string{"TELEGRAM_BOT_TOKEN": "hunter2-secret"}, "TELEGRAM_BOT_TOKEN: does not look like"},
		{"token twice", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "TELEGRAM_BOT_TOKEN_FILE": "x"}, "not both"},
		{"bad api url", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL"},
		{"bad log level", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_LOG_LEVEL": "loud"}, "VIGIL_LOG_LEVEL"},
		{"no recipients", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_RECIPIENTS_FILE": empty}, "VIGIL_RECIPIENTS_FILE: seal: parse recipients: no recipients"},
		{"missing recipients", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_RECIPIENTS_FILE": filepath.Join(dir, "nope")}, "VIGIL_RECIPIENTS_FILE"},
		{"bad country", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c1.toml", `countries = ["XX"]`)}, `countries: "XX"`},
		{"unknown setting", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c2.toml", `colour = "red"`)}, `unknown setting "colour"`},
		{"emergency for other country", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c3.toml", "countries = [\"UA\"]\n[emergency]\nFR = \"x\"")}, "emergency.FR"},
		{"unknown language", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_RECIPIENTS_FILE": empty, "VIGIL_CONFIG": write("c4.toml", `default_language = "tlh"`)}, "default_language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := vigil(t, tc.env, "", "bot")
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want it to contain %q", code, stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("want one line, got %q", stderr)
			}
			if strings.Contains(stderr, "hunter2") || strings.Contains(stderr, goodToken) {
				t.Errorf("a secret was printed: %q", stderr)
			}
		})
	}
}

func TestKeygenNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staff.key")
	pub, _, code := vigil(t, nil, "", "keygen", "-o", path)
	if code != 0 || !strings.HasPrefix(pub, "age1") {
		t.Fatalf("keygen: %d %q", code, pub)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if _, stderr, code := vigil(t, nil, "", "keygen", "-o", path); code == 0 || !strings.Contains(stderr, "never overwritten") {
		t.Fatalf("second keygen: %d %q", code, stderr)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("identity overwritten")
	}
}

// TestConsoleToTriage walks a report in the console, then reads it with the
// triage commands and with the stock age tool.
func TestConsoleToTriage(t *testing.T) {
	env := testenv.New(t)
	cfg := filepath.Join(env.Dir, "vigil.toml")
	os.WriteFile(cfg, []byte("countries = [\"UA\", \"GE\"]\n[emergency]\nall = \"Duty officer 24/7\"\n"), 0o600)
	vars := map[string]string{
		"REDIS_URL":             env.Redis.URL(),
		"VIGIL_RECIPIENTS_FILE": filepath.Join(env.Dir, "recipients.txt"),
		"VIGIL_SECRET_FILE":     filepath.Join(env.Dir, "console.secret"),
		"VIGIL_CONFIG":          cfg,
		"VIGIL_IDENTITY":        env.IdentityFile,
	}
	// Buttons by number, as a person types them: English, continue, Yes
	// (danger), Me, Threats + Done, Today, Ukraine, place, Skip perpetrator,
	// description + Done, Skip help, Skip consent, Yes contact, Skip detail, Send.
	script := strings.Join([]string{
		"1", "1", "1", "1", "1", "14", "1", "1", "Odesa", "11",
		"They searched the office.", "1", "11", "5", "1", "2", "11",
	}, "\n") + "\n"
	out, stderr, code := vigil(t, vars, script, "console")
	if code != 0 {
		t.Fatalf("console: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Duty officer 24/7", "Please check your report", "Your case reference is"} {
		if !strings.Contains(out, want) {
			t.Fatalf("console output lacks %q:\n%s", want, out)
		}
	}
	i := strings.Index(out, "Your case reference is ")
	ref, ok := flows.ParseRef(out[i+len("Your case reference is ") : i+len("Your case reference is ")+9])
	if !ok {
		t.Fatal("no reference in the receipt")
	}

	list, _, code := vigil(t, vars, "", "triage", "list")
	if code != 0 || !strings.Contains(list, ref) || !strings.Contains(list, "URGENT") || !strings.Contains(list, "UA") || !strings.Contains(list, "threats") {
		t.Fatalf("triage list (%d):\n%s", code, list)
	}
	show, _, code := vigil(t, vars, "", "triage", "show", strings.ToLower(ref))
	for _, want := range []string{"Case " + ref, "They searched the office.", "Ukraine (UA)", "Odesa", "Threats or intimidation", "Who was responsible: (skipped)"} {
		if code != 0 || !strings.Contains(show, want) {
			t.Fatalf("triage show lacks %q (%d):\n%s", want, code, show)
		}
	}
	js, _, _ := vigil(t, vars, "", "triage", "show", ref, "--json")
	var o struct {
		Report flows.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(js), &o); err != nil || o.Report.Answers["place"] != "Odesa" {
		t.Fatalf("show --json: %v %s", err, js)
	}

	raw, _, code := vigil(t, vars, "", "triage", "raw", ref)
	if code != 0 {
		t.Fatal("triage raw failed")
	}
	f := filepath.Join(t.TempDir(), "r.age")
	os.WriteFile(f, []byte(raw), 0o600)
	plain, err := exec.Command("age", "-d", "-i", env.IdentityFile, f).Output()
	if err != nil || !strings.Contains(string(plain), "They searched the office.") || !strings.Contains(string(plain), `"schema":"vigil.report.v1"`) {
		t.Fatalf("stock age on triage raw: %v %s", err, plain)
	}

	// Another staff member's identity cannot open it, and says so.
	other := filepath.Join(t.TempDir(), "other.key")
	vigil(t, nil, "", "keygen", "-o", other)
	list, _, _ = vigil(t, vars, "", "triage", "list", "-i", other)
	if !strings.Contains(list, "this identity cannot open report "+ref) {
		t.Fatalf("wrong identity:\n%s", list)
	}
	if _, stderr, code := vigil(t, vars, "", "triage", "show", "ZZZZ-ZZZZ"); code != 1 || !strings.Contains(stderr, "no report ZZZZ-ZZZZ") {
		t.Fatalf("unknown ref: %d %q", code, stderr)
	}
}
