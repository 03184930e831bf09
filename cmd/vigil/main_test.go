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
	"time"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/seal"
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
	_, pqKey, _ := seal.NewPostQuantumIdentity()
	_, classicKey, _ := seal.NewIdentity()
	mixed := write("mixed.txt", pqKey+"\n"+classicKey+"\n")
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
		// A secret file in the test's directory and a Redis nobody listens
		// on: were the file taken, the bot would fail there instead, and
		// never write to the source tree or reach a real Redis.
		{"mixed recipients", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_RECIPIENTS_FILE": mixed,
			"VIGIL_SECRET_FILE": filepath.Join(dir, "bot.secret"), "REDIS_URL": "redis://" + freeAddr(t)},
			"VIGIL_RECIPIENTS_FILE: seal: parse recipients: line 1 is a post-quantum key (age1pq1…) and line 2 a classic one: age will not seal to both"},
		{"bad country", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c1.toml", `countries = ["XX"]`)}, `countries: "XX"`},
		{"unknown setting", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c2.toml", `colour = "red"`)}, `unknown setting "colour"`},
		{"emergency for other country", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c3.toml", "countries = [\"UA\"]\n[emergency]\nFR = \"x\"")}, "emergency.FR"},
		{"bad wait", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_REDIS_WAIT_REPLICAS": "-1"}, "VIGIL_REDIS_WAIT_REPLICAS"},
		{"bad coordinators", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_COORDINATORS": "anna:123"}, "VIGIL_COORDINATORS"},
		{"coordinator named twice", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_COORDINATORS": "anna=1,anna=2"}, `"anna" is given twice`},
		{"rate over the free limit", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_BROADCAST_RATE": "100"}, "at most 30"},
		{"paid rate over 1000", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_BROADCAST_RATE": "5000", "VIGIL_BROADCAST_PAID": "1"}, "at most 1000"},
		{"no approvals", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c5.toml", "[broadcast]\napprovals = -1")}, "approvals"},
		{"bad coordinator id", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c6.toml", "[coordinators]\nanna = -5")}, "coordinators.anna"},
		{"bad evidence budget", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_EVIDENCE_BYTES_PER_HOUR": "lots"}, "VIGIL_EVIDENCE_BYTES_PER_HOUR: want a size"},
		{"evidence day below the hour", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_EVIDENCE_BYTES_PER_DAY": "100mb"}, "VIGIL_EVIDENCE_BYTES_PER_DAY: must be at least VIGIL_EVIDENCE_BYTES_PER_HOUR"},
		{"evidence hour below a file", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_EVIDENCE_BYTES_PER_HOUR": "10mb"}, "VIGIL_EVIDENCE_BYTES_PER_HOUR: must be at least files.max_file_mb (20 MB)"},
		{"no reports", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_REPORTS_PER_HOUR": "0"}, "VIGIL_REPORTS_PER_HOUR: want a number"},
		{"reports day below the hour", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_REPORTS_PER_HOUR": "5000"}, "VIGIL_REPORTS_PER_DAY: must be at least VIGIL_REPORTS_PER_HOUR (5000)"},
		{"bad response target", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c7.toml", "[response]\nurgent_claim = \"soon\"")}, "VIGIL_CONFIG: response.urgent_claim: want a duration"},
		{"reply target before claim", map[string]string{"TELEGRAM_BOT_TOKEN": goodToken, "VIGIL_CONFIG": write("c8.toml", "[response]\nclaim = \"72h\"\nreply = \"48h\"")}, "VIGIL_CONFIG: response.reply: must be at least claim"},
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

// TestConfigWaitReplicasEverywhere: VIGIL_REDIS_WAIT_REPLICAS is taken
// with one server, Sentinel and Cluster alike.
func TestConfigWaitReplicasEverywhere(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"one server", map[string]string{}},
		{"sentinel", map[string]string{"REDIS_ADDRS": "127.0.0.1:26379", "REDIS_MASTER_NAME": "vigil"}},
		{"cluster", map[string]string{"REDIS_ADDRS": "127.0.0.1:7000,127.0.0.1:7001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["VIGIL_REDIS_WAIT_REPLICAS"] = "1"
			c, err := loadConfig(func(k string) string { return tc.env[k] }, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.WaitReplicas != 1 {
				t.Fatalf("WaitReplicas %d, want 1", c.WaitReplicas)
			}
		})
	}
}

// TestConfigResponseTargets: the [response] section of VIGIL_CONFIG sets
// the response-time targets for the bot and, read alone, for the staff
// tools; what it leaves out keeps its default.
func TestConfigResponseTargets(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		want       response.Targets
	}{
		{"no file", "", response.DefaultTargets},
		{"no section", "draft_ttl = \"24h\"\n", response.DefaultTargets},
		{"helpline hours", "[response]\nurgent_claim = \"30m\"\nurgent_reply = \"2h\"\nreply = \"72h\"\n",
			response.Targets{UrgentClaim: 30 * time.Minute, UrgentReply: 2 * time.Hour, Claim: 48 * time.Hour, Reply: 72 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.file != "" {
				env["VIGIL_CONFIG"] = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
				if err := os.WriteFile(env["VIGIL_CONFIG"], []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			getenv := func(k string) string { return env[k] }
			c, err := loadConfig(getenv, false)
			if err != nil || c.Response != tc.want {
				t.Fatalf("bot: %+v, %v; want %+v", c.Response, err, tc.want)
			}
			staff, err := responseTargets(getenv)
			if err != nil || staff != tc.want {
				t.Fatalf("staff tools: %+v, %v; want %+v", staff, err, tc.want)
			}
		})
	}
}

// TestConfigBudget: the budget all chats share is read from the
// environment, sizes as redis.conf writes them, and defaults to
// budget.DefaultLimits.
func TestConfigBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want budget.Limits
	}{
		{"defaults", map[string]string{}, budget.DefaultLimits},
		{"units", map[string]string{"VIGIL_EVIDENCE_BYTES_PER_HOUR": "512MB", "VIGIL_EVIDENCE_BYTES_PER_DAY": "2gb",
			"VIGIL_REPORTS_PER_HOUR": "50", "VIGIL_REPORTS_PER_DAY": "300"},
			budget.Limits{EvidenceBytesPerHour: 512 << 20, EvidenceBytesPerDay: 2 << 30, ReportsPerHour: 50, ReportsPerDay: 300}},
		{"bytes and powers of ten", map[string]string{"VIGIL_EVIDENCE_BYTES_PER_HOUR": "30000000", "VIGIL_EVIDENCE_BYTES_PER_DAY": "3g"},
			budget.Limits{EvidenceBytesPerHour: 30e6, EvidenceBytesPerDay: 3e9, ReportsPerHour: budget.DefaultLimits.ReportsPerHour,
				ReportsPerDay: budget.DefaultLimits.ReportsPerDay}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(func(k string) string { return tc.env[k] }, false)
			if err != nil {
				t.Fatal(err)
			}
			if c.Budget != tc.want {
				t.Fatalf("budget %+v, want %+v", c.Budget, tc.want)
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
	vars := consoleVars(env)
	out, stderr, code := vigil(t, vars, consoleReport("Odesa", "They searched the office."), "console")
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
		Case struct {
			Report flows.Report `json:"report"`
		} `json:"case"`
	}
	if err := json.Unmarshal([]byte(js), &o); err != nil || o.Case.Report.Answers["place"] != "Odesa" {
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
	if _, stderr, code := vigil(t, vars, "", "triage", "show", "ZZZZ-ZZZZ"); code != 1 || !strings.Contains(stderr, "no case ZZZZ-ZZZZ") {
		t.Fatalf("unknown ref: %d %q", code, stderr)
	}

	// Staff reply; the console shows it as the bot would, and the answer
	// goes back to the case.
	if out, stderr, code := vigil(t, vars, "", "triage", "reply", ref, "Are you safe now?"); code != 0 {
		t.Fatalf("reply: %d %s %s", code, out, stderr)
	}
	out, _, code = vigil(t, vars, "\nYes, thank you.\n", "console")
	for _, want := range []string{"Message from the mission about case " + ref, "Are you safe now?", "Your message has been sent to the mission (case " + ref + ")"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("console after a reply lacks %q:\n%s", want, out)
		}
	}
	show, _, _ = vigil(t, vars, "", "triage", "show", ref)
	if !strings.Contains(show, "answer") || !strings.Contains(show, "Yes, thank you.") || !strings.Contains(show, "delivered") {
		t.Fatalf("thread not in show:\n%s", show)
	}
}

// staffVars is the environment of a staff member named name working on env.
func staffVars(env *testenv.Env, name string) map[string]string {
	return map[string]string{
		"REDIS_URL": env.Redis.URL(), "VIGIL_IDENTITY": env.IdentityFile, "VIGIL_STAFF": name,
		"VIGIL_RECIPIENTS_FILE": filepath.Join(env.Dir, "recipients.txt"),
		"VIGIL_SIGNING_KEY":     env.SigningKeyFile(name), "VIGIL_KNOWN_BOT": env.KnownBotFile(),
		"VIGIL_STAFF_KEYRING": env.KeyringFile,
	}
}

// consoleVars is the environment of the console and of a staff member,
// ana, on env: countries UA and GE, a duty officer for all.
func consoleVars(env *testenv.Env) map[string]string {
	cfg := filepath.Join(env.Dir, "vigil.toml")
	os.WriteFile(cfg, []byte("countries = [\"UA\", \"GE\"]\n[emergency]\nall = \"Duty officer 24/7\"\n"), 0o600)
	return map[string]string{
		"REDIS_URL":             env.Redis.URL(),
		"VIGIL_RECIPIENTS_FILE": filepath.Join(env.Dir, "recipients.txt"),
		"VIGIL_SECRET_FILE":     filepath.Join(env.Dir, "bot.secret"),
		"VIGIL_CONFIG":          cfg,
		"VIGIL_IDENTITY":        env.IdentityFile,
		"VIGIL_STAFF":           "ana",
		"VIGIL_STAFF_KEYRING":   env.KeyringFile,
		"VIGIL_SIGNING_KEY":     env.SigningKeyFile("ana"),
		"VIGIL_KNOWN_BOT":       env.KnownBotFile(),
	}
}

// consoleReport is what a person types in the console to send a report
// with place and description, buttons by number: English, continue, Yes
// (danger), Me, Threats + Done, Today, Ukraine, place, Skip perpetrator,
// description + Done, Skip help, Skip consent, Yes contact, Skip detail, Send.
func consoleReport(place, description string) string {
	return strings.Join([]string{
		"/start", "1", "1", "1", "1", "1", "14", "1", "1", place, "11",
		description, "1", "2", "11", "5", "1", "2", "12",
	}, "\n") + "\n"
}

// TestTriageCommands walks a case through the staff commands as a person
// would type them.
func TestTriageCommands(t *testing.T) {
	env := testenv.New(t)
	ref := env.Defender(t, 5).Submit("CLI", true)
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: "ZZZZ-0001", ReceivedAt: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		Language: "fr", Answers: map[string]any{"country": "UA", "what": []any{"raid"}, "contact": "no"}})
	vars, ben := staffVars(env, "ana"), staffVars(env, "ben")
	ok := func(env map[string]string, want string, args ...string) string {
		t.Helper()
		out, stderr, code := vigil(t, env, "", append([]string{"triage"}, args...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vigil triage %v: exit %d, want %q in\n%s%s", args, code, want, out, stderr)
		}
		return out
	}
	fails := func(env map[string]string, want string, args ...string) {
		t.Helper()
		_, stderr, code := vigil(t, env, "", append([]string{"triage"}, args...)...)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("vigil triage %v: exit %d, want failure with %q, got %q", args, code, want, stderr)
		}
	}
	ok(vars, "claimed case "+ref, "claim", ref)
	fails(ben, "held by ana", "claim", ref)
	fails(vars, "from new it can become: triaged, in-progress, closed", "status", ref, "waiting-defender")
	ok(vars, "is now triaged", "status", ref, "triaged", "--reason", "credible")
	ok(vars, "note added", "note", ref, "called", "the", "lawyer")
	fails(vars, "asked not to be contacted", "reply", "ZZZZ-0001", "hello")
	ok(vars, "assigned case "+ref+" to ben", "assign", ref, "ben")
	ok(ben, "released case "+ref, "release", ref)

	out := ok(vars, "ZZZZ-0001", "list", "--status", "all")
	if strings.Index(out, ref) > strings.Index(out, "ZZZZ-0001") {
		t.Errorf("the urgent case should come first:\n%s", out)
	}
	ok(vars, "No cases match", "list", "--country", "BY")
	out = ok(vars, `"more": true`, "list", "--limit", "1", "--json")
	show := ok(vars, "called the lawyer", "show", ref)
	for _, want := range []string{"status: new -> triaged", "credible", "assign: ana -> ben", "release: ben -> -"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}

	csvFile := filepath.Join(t.TempDir(), "cases.csv")
	_, stderr, code := vigil(t, vars, "", "triage", "export", "--format", "csv", "-o", csvFile)
	if code != 0 || !strings.Contains(stderr, "plain text") {
		t.Fatalf("export: %d %s", code, stderr)
	}
	if fi, _ := os.Stat(csvFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("export mode %v", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(csvFile)
	if !strings.Contains(string(data), "event_id,received_at") || !strings.Contains(string(data), "description CLI") {
		t.Fatalf("csv export:\n%s", data)
	}

	chartFile := filepath.Join(t.TempDir(), "by-country.svg")
	out = ok(vars, "Georgia (GE)", "stats", "--by", "country", "--chart", chartFile)
	if !strings.Contains(out, "Ukraine (UA)") {
		t.Errorf("stats:\n%s", out)
	}
	if svg, err := os.ReadFile(chartFile); err != nil || !strings.Contains(string(svg), "Georgia (GE)") {
		t.Errorf("chart: %v", err)
	}
	ok(vars, "country,label,count", "stats", "--csv")
	ok(vars, "2026-01", "stats", "--by", "month")

	ok(vars, "is now closed", "status", "ZZZZ-0001", "closed")
	// Purge asks first, naming how many; a wrong answer deletes nothing.
	purgeOut, _, code := vigil(t, vars, "no\n", "triage", "purge", "--closed-before", "2099-01-01")
	if code == 0 || !strings.Contains(purgeOut, "1 closed cases will be deleted") || !strings.Contains(purgeOut, "Nothing was deleted") {
		t.Fatalf("purge without confirmation: %d\n%s", code, purgeOut)
	}
	purgeOut, _, code = vigil(t, vars, "delete 1\n", "triage", "purge", "--closed-before", "2099-01-01")
	if code != 0 || !strings.Contains(purgeOut, "Deleted 1 closed cases") {
		t.Fatalf("purge: %d\n%s", code, purgeOut)
	}
	audit := ok(vars, "purge", "audit")
	for _, want := range []string{"claim", "status", "note", "assign", "release", "export", "stats", "show", "list"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	ok(vars, "WHEN", "audit", "--ref", ref)
}
