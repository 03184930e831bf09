package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

func seedCase(t *testing.T, env *testenv.Env, ref string, at time.Time, urgent bool) {
	t.Helper()
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: at, Urgent: urgent, Language: "en",
		Answers: map[string]any{"country": "UA", "description": "CLOCK-CONTENT-MARKER"}})
}

// TestTriageListShowsClocks: `vigil triage list` shows each open case's
// next deadline and time left, sorts by it with --sort due, and gives the
// deadlines in --json; a closed case has no clock. The targets come from
// the [response] section of VIGIL_CONFIG, as the bot reads them.
func TestTriageListShowsClocks(t *testing.T) {
	env := testenv.New(t)
	now := time.Now()
	// Half a minute inside each minute, so that the printed minutes hold
	// however slowly the test runs (up to 30 s).
	seedCase(t, env, "TMER-0001", now.Add(-95*time.Minute-30*time.Second), true) // claim overdue 35m
	seedCase(t, env, "TMER-0002", now.Add(-49*time.Minute-30*time.Second), true) // claim in 10m
	seedCase(t, env, "TMER-0003", now.Add(-90*time.Minute), false)               // claim in 1d 22h
	seedCase(t, env, "TMER-0004", now.Add(-5*time.Hour), true)                   // closed
	vars := staffVars(env, "ana")
	ok := func(want string, args ...string) string {
		t.Helper()
		out, stderr, code := vigil(t, vars, "", append([]string{"triage"}, args...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vigil triage %v: exit %d, want %q in\n%s%s", args, code, want, out, stderr)
		}
		return out
	}
	ok("is now closed", "status", "TMER-0004", "closed")

	out := ok("CLOCK", "list")
	for ref, want := range map[string]string{"TMER-0001": "claim: overdue 35m", "TMER-0002": "claim: 10m left", "TMER-0003": "claim: 1d 22h left"} {
		if line := lineOf(out, ref); !strings.Contains(line, want) {
			t.Errorf("%s: %q, want %q", ref, line, want)
		}
	}
	out = ok("TMER-0004", "list", "--status", "all")
	if line := lineOf(out, "TMER-0004"); strings.Contains(line, "left") || strings.Contains(line, "overdue") {
		t.Errorf("a closed case shows a clock: %q", line)
	}
	out = ok("TMER-0003", "list", "--sort", "due")
	if !(strings.Index(out, "TMER-0001") < strings.Index(out, "TMER-0002") && strings.Index(out, "TMER-0002") < strings.Index(out, "TMER-0003")) {
		t.Errorf("--sort due: want the overdue case first, then by time left:\n%s", out)
	}
	if _, stderr, code := vigil(t, vars, "", "triage", "list", "--sort", "soon"); code == 0 || !strings.Contains(stderr, "--sort") {
		t.Errorf("--sort soon: exit %d, %q", code, stderr)
	}

	var listed struct {
		Cases []map[string]any `json:"cases"`
	}
	if err := json.Unmarshal([]byte(ok(`"overdue"`, "list", "--status", "all", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	for _, c := range listed.Cases {
		ref := c["ref"].(string)
		switch ref {
		case "TMER-0004":
			if _, has := c["claim_due"]; has || c["overdue"] != false {
				t.Errorf("closed case with a clock: %v", c)
			}
		default:
			claim, err1 := time.Parse(time.RFC3339, c["claim_due"].(string))
			_, err2 := time.Parse(time.RFC3339, c["reply_due"].(string))
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: deadlines not RFC 3339: %v", ref, c)
			}
			if overdue := c["overdue"].(bool); overdue != (ref == "TMER-0001") || (ref == "TMER-0001") != claim.Before(now) {
				t.Errorf("%s: overdue %v, claim due %v", ref, overdue, claim)
			}
		}
	}

	// Targets from VIGIL_CONFIG: a 2-hour urgent claim target puts the
	// first case on time; a bad one is refused, naming it.
	cfg := filepath.Join(t.TempDir(), "vigil.toml")
	os.WriteFile(cfg, []byte("[response]\nurgent_claim = \"2h\"\n"), 0o600)
	vars["VIGIL_CONFIG"] = cfg
	if line := lineOf(ok("TMER-0001", "list"), "TMER-0001"); !strings.Contains(line, "claim: 24m left") {
		t.Errorf("with urgent_claim = 2h: %q", line)
	}
	os.WriteFile(cfg, []byte("[response]\nurgent_claim = \"an hour\"\n"), 0o600)
	if _, stderr, code := vigil(t, vars, "", "triage", "list"); code == 0 || !strings.Contains(stderr, "VIGIL_CONFIG: response.urgent_claim") {
		t.Errorf("bad target: exit %d, %q", code, stderr)
	}
}

func lineOf(out, ref string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, ref) {
			return l
		}
	}
	return ""
}

// TestTriageStatsResponse: `vigil triage stats --response` gives per month
// the cases and the median and 90th percentile times to first claim and to
// first reply, as a table, CSV and JSON; a month with fewer than 5 cases
// shows <5 in place of its numbers.
func TestTriageStatsResponse(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	jan := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		ref := "JAN0-000" + string(rune('0'+i))
		seedCase(t, env, ref, jan, i == 1)
		if _, err := env.Store.Hold(ctx, store.Holding{Ref: ref, Staff: "ana", Mode: "claim", At: jan.Add(time.Duration(i) * 10 * time.Minute), Lease: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := env.Store.AddEntry(ctx, store.Entry{Ref: ref, Staff: "ana", Kind: "reply", At: jan.Add(time.Duration(i) * time.Hour),
			Sealed: []byte("s"), ForBot: []byte("b")}); err != nil {
			t.Fatal(err)
		}
	}
	feb := time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC)
	seedCase(t, env, "FEBR-0001", feb, false)
	seedCase(t, env, "FEBR-0002", feb, false)
	vars := staffVars(env, "ana")
	run := func(args ...string) string {
		t.Helper()
		out, stderr, code := vigil(t, vars, "", append([]string{"triage", "stats", "--response"}, args...)...)
		if code != 0 {
			t.Fatalf("stats --response %v: exit %d\n%s%s", args, code, out, stderr)
		}
		return out
	}
	table := run()
	for _, want := range []string{
		"MONTH    CASES  CLAIMED  CLAIM MEDIAN  CLAIM P90  REPLIED  REPLY MEDIAN  REPLY P90",
		"2026-01  5      5        30m           50m        5        3h 0m         5h 0m",
		"2026-02  <5     <5       <5            <5         <5       <5            <5",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	csv := run("--csv")
	for _, want := range []string{
		"month,cases,claimed,claim_median_seconds,claim_p90_seconds,replied,reply_median_seconds,reply_p90_seconds",
		"2026-01,5,5,1800,3000,5,10800,18000",
		"2026-02,<5,<5,<5,<5,<5,<5,<5",
	} {
		if !strings.Contains(csv, want) {
			t.Errorf("csv lacks %q:\n%s", want, csv)
		}
	}
	var got struct {
		K      int `json:"k"`
		Months []struct {
			Month       string   `json:"month"`
			Suppressed  bool     `json:"suppressed"`
			Cases       *int     `json:"cases"`
			ClaimMedian *float64 `json:"claim_median_seconds"`
			ReplyP90    *float64 `json:"reply_p90_seconds"`
		} `json:"months"`
	}
	if err := json.Unmarshal([]byte(run("--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.K != 5 || len(got.Months) != 2 {
		t.Fatalf("json: %+v", got)
	}
	if m := got.Months[0]; m.Suppressed || m.Cases == nil || *m.Cases != 5 || *m.ClaimMedian != 1800 || *m.ReplyP90 != 18000 {
		t.Errorf("january: %+v", m)
	}
	if m := got.Months[1]; !m.Suppressed || m.Cases != nil || m.ClaimMedian != nil {
		t.Errorf("february is not suppressed: %+v", m)
	}
	if _, stderr, code := vigil(t, vars, "", "triage", "stats", "--response", "--chart", filepath.Join(t.TempDir(), "x.svg")); code == 0 || !strings.Contains(stderr, "--chart") {
		t.Errorf("--chart with --response: exit %d, %q", code, stderr)
	}
	// The statistics' threshold applies: with --min-count 2 February's two
	// cases show; with 6 January's five are hidden too; --unsuppressed
	// shows every month, with the warning, and is audited.
	if csv := run("--csv", "--min-count", "2"); !strings.Contains(csv, "2026-02,2,0,") {
		t.Errorf("--min-count 2 still hides February:\n%s", csv)
	}
	if csv := run("--csv", "--min-count", "6"); !strings.Contains(csv, "2026-01,<6,") {
		t.Errorf("--min-count 6 shows January's five:\n%s", csv)
	}
	unsuppressed := func() (n int) {
		log, err := env.Store.AuditLog(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range log {
			if e.What == "stats-unsuppressed" && strings.Contains(e.Detail, "--response") {
				n++
			}
		}
		return n
	}
	out, stderr, code := vigil(t, vars, "", "triage", "stats", "--response", "--csv", "--unsuppressed")
	if code != 0 || !strings.Contains(out, "2026-02,2,0,") || !strings.Contains(stderr, "WARNING") {
		t.Errorf("--unsuppressed: exit %d\n%s%s", code, out, stderr)
	}
	if n := unsuppressed(); n != 1 {
		t.Errorf("--unsuppressed --response was audited %d times, want once", n)
	}
}
