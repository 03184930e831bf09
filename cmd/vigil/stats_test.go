package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// seedCountries seeds reports by country: UA 6, GE 5, BY 2. With the
// default threshold, Belarus's 2 is hidden, and so is Georgia's 5: were it
// shown, 13 - 6 - 5 would give the 2 back.
func seedCountries(t *testing.T, env *testenv.Env) {
	t.Helper()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	n := 0
	for _, c := range []struct {
		country string
		count   int
	}{{"UA", 6}, {"GE", 5}, {"BY", 2}} {
		for range c.count {
			n++
			env.Seed(t, flows.Report{Schema: flows.ReportSchema, Ref: fmt.Sprintf("SSSS-%04d", n), ReceivedAt: at, Language: "en",
				Answers: map[string]any{"country": c.country, "what": []any{"threats"}, "contact": "no"}})
		}
	}
}

// TestStatisticsSuppressedAlikeEverywhere: one count, and every output
// made of it (the CLI's table, CSV, JSON and SVG chart, the console's
// table, chart and CSV) hides the same cells, with the default threshold,
// VIGIL_STATS_MIN_COUNT and --min-count.
func TestStatisticsSuppressedAlikeEverywhere(t *testing.T) {
	env := testenv.New(t)
	seedCountries(t, env)
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		flags []string
		want  map[string]string
	}{
		{"default", nil, nil, map[string]string{"Ukraine (UA)": "6", "Georgia (GE)": "<5", "Belarus (BY)": "<5"}},
		{"VIGIL_STATS_MIN_COUNT=7", map[string]string{"VIGIL_STATS_MIN_COUNT": "7"}, nil,
			map[string]string{"Ukraine (UA)": "<7", "Georgia (GE)": "<7", "Belarus (BY)": "<7"}},
		{"--min-count 2 over the setting", map[string]string{"VIGIL_STATS_MIN_COUNT": "7"}, []string{"--min-count", "2"},
			map[string]string{"Ukraine (UA)": "6", "Georgia (GE)": "5", "Belarus (BY)": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := staffVars(env, "ana")
			maps.Copy(vars, tc.vars)
			stats := func(args ...string) string {
				t.Helper()
				return staffRun(t, vars, append(append([]string{"triage", "stats", "--by", "country"}, tc.flags...), args...)...)
			}
			agree := func(what string, got map[string]string) {
				t.Helper()
				if !maps.Equal(got, tc.want) {
					t.Errorf("%s shows %v, want %v", what, got, tc.want)
				}
			}

			table := map[string]string{}
			out := stats()
			for label := range tc.want {
				for _, line := range strings.Split(out, "\n") {
					if f := strings.Fields(line); strings.Contains(line, label) && len(f) > 0 {
						table[label] = f[len(f)-1]
					}
				}
			}
			agree("the table", table)
			if !strings.Contains(out, "13 reports") {
				t.Errorf("the table does not show the total:\n%s", out)
			}

			fromCSV := map[string]string{}
			for _, r := range readCSV(t, stats("--csv"))[1:] {
				fromCSV[r[1]] = r[2]
			}
			agree("the CSV", fromCSV)

			js := stats("--json")
			var v struct {
				Cases struct{ Count *int }
				Rows  []struct {
					Label      string
					Count      *int
					Suppressed bool
					Display    string
				}
			}
			if err := json.Unmarshal([]byte(js), &v); err != nil || v.Cases.Count == nil || *v.Cases.Count != 13 {
				t.Fatalf("JSON: %v\n%s", err, js)
			}
			fromJSON := map[string]string{}
			for _, r := range v.Rows {
				fromJSON[r.Label] = r.Display
				if r.Suppressed != (r.Count == nil) || (r.Count != nil && fmt.Sprint(*r.Count) != r.Display) {
					t.Errorf("JSON row %+v: a suppressed row has a null count, a shown one its count", r)
				}
			}
			agree("the JSON", fromJSON)

			dir := t.TempDir()
			stats("--chart", filepath.Join(dir, "c.svg"))
			svg, err := os.ReadFile(filepath.Join(dir, "c.svg"))
			if err != nil {
				t.Fatal(err)
			}
			agree("the SVG chart", chartCounts(t, svg))
			stats("--chart", filepath.Join(dir, "c.png"))
			if f, err := os.Open(filepath.Join(dir, "c.png")); err != nil {
				t.Fatal(err)
			} else if _, err := png.Decode(f); err != nil {
				t.Errorf("PNG chart: %v", err)
			}

			page, csvText := consoleStats(t, vars, tc.flags...)
			section := regexp.MustCompile(`(?s)<section[^>]*id="stat-country">.*?</section>`).FindString(page)
			fromPage := map[string]string{}
			for _, m := range regexp.MustCompile(`<tr><td dir="auto">([^<]*)</td><td class="num[^"]*">([^<]*)</td></tr>`).FindAllStringSubmatch(section, -1) {
				fromPage[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
			}
			agree("the console's table", fromPage)
			m := regexp.MustCompile(`src="data:image/svg&#43;xml;base64,([^"]+)"`).FindStringSubmatch(section)
			if m == nil {
				t.Fatalf("no chart on the console's page")
			}
			consoleSVG, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			agree("the console's chart", chartCounts(t, consoleSVG))
			fromConsoleCSV := map[string]string{}
			for _, r := range readCSV(t, csvText)[1:] {
				fromConsoleCSV[r[2]] = r[3]
			}
			agree("the console's CSV", fromConsoleCSV)
		})
	}
}

// chartCounts returns what an SVG chart shows after each bar's label.
func chartCounts(t *testing.T, svg []byte) map[string]string {
	t.Helper()
	var doc struct {
		G []struct {
			Text []string `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || len(doc.G) != 3 || len(doc.G[1].Text) != len(doc.G[2].Text) {
		t.Fatalf("chart: %v\n%s", err, svg)
	}
	out := map[string]string{}
	for i, label := range doc.G[1].Text {
		out[label] = doc.G[2].Text[i]
	}
	return out
}

// consoleStats starts `vigil triage serve` with vars and flags, signs in
// and returns the statistics page and the CSV of the countries.
func consoleStats(t *testing.T, vars map[string]string, flags ...string) (page, countryCSV string) {
	t.Helper()
	login, _ := startServe(t, vars, append([]string{"--listen", "127.0.0.1:0"}, flags...)...)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	base := strings.Split(login, "/login")[0]
	get := func(u string) string {
		t.Helper()
		res, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", u, res.StatusCode, b)
		}
		return string(b)
	}
	get(login)
	return get(base + "/stats"), get(base + "/stats.csv?by=country")
}

// TestStatsMinCountBelowTwoRefused: a threshold below 2, by flag or
// setting, for the statistics or the console, is refused in one line that
// names where it came from; nothing is counted nor audited.
func TestStatsMinCountBelowTwoRefused(t *testing.T) {
	env := testenv.New(t)
	seedCountries(t, env)
	before, err := env.Store.AuditLog(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag 1", nil, []string{"stats", "--min-count", "1"}, "vigil: --min-count: want a whole number of at least 2"},
		{"flag 0", nil, []string{"stats", "--min-count", "0"}, "vigil: --min-count: want a whole number of at least 2"},
		{"flag -3", nil, []string{"stats", "--min-count=-3"}, "vigil: --min-count: want a whole number of at least 2"},
		{"setting 1", map[string]string{"VIGIL_STATS_MIN_COUNT": "1"}, []string{"stats"}, "vigil: VIGIL_STATS_MIN_COUNT: want a whole number of at least 2"},
		{"setting not a number", map[string]string{"VIGIL_STATS_MIN_COUNT": "few"}, []string{"stats", "--json"}, `vigil: VIGIL_STATS_MIN_COUNT: "few": want a whole number`},
		{"console, setting 1", map[string]string{"VIGIL_STATS_MIN_COUNT": "1"}, []string{"serve", "--listen", "127.0.0.1:0"}, "vigil: VIGIL_STATS_MIN_COUNT: want"},
		{"console, flag 1", nil, []string{"serve", "--listen", "127.0.0.1:0", "--min-count", "1"}, "vigil: --min-count: want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := staffVars(env, "ana")
			maps.Copy(vars, tc.env)
			// A console that wrongly starts is stopped after a while, and
			// that is a failure; a refusal comes at once.
			ctx, cancel := context.WithTimeout(context.Background(), fakeapi.Patience)
			defer cancel()
			var outb, errb bytes.Buffer
			code := run(ctx, append([]string{"triage"}, tc.args...), strings.NewReader(""), &outb, &errb, func(k string) string { return vars[k] })
			out, stderr := outb.String(), errb.String()
			if ctx.Err() != nil {
				t.Fatalf("not refused: it ran until stopped\n%s", stderr)
			}
			if code != 1 || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line starting %q", code, out, stderr, tc.want)
			}
		})
	}
	after, _ := env.Store.AuditLog(context.Background(), "")
	if len(after) != len(before) {
		t.Errorf("refused commands wrote %d audit entries", len(after)-len(before))
	}
}

// TestStatsUnsuppressedWarnsAndIsAudited: --unsuppressed shows the true
// counts to the staff member, with a one-line warning on standard error,
// and records who asked, when and the command in the audit trail, never
// a count.
func TestStatsUnsuppressedWarnsAndIsAudited(t *testing.T) {
	env := testenv.New(t)
	seedCountries(t, env)
	vars := staffVars(env, "ana")
	start := time.Now().Add(-time.Second)
	out, stderr, code := vigil(t, vars, "", "triage", "stats", "--by", "country", "--unsuppressed")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "WARNING: counts below 5 can identify people; do not share this output.\n" {
		t.Errorf("stderr %q, want the one-line warning", stderr)
	}
	for _, line := range []string{"Belarus (BY)", "Georgia (GE)"} {
		i := strings.Index(out, line)
		if i < 0 {
			t.Fatalf("no %s:\n%s", line, out)
		}
	}
	if !regexp.MustCompile(`Belarus \(BY\)\s+2\b`).MatchString(out) || !regexp.MustCompile(`Georgia \(GE\)\s+5\b`).MatchString(out) || strings.Contains(out, "<5") {
		t.Errorf("--unsuppressed does not show the true counts:\n%s", out)
	}
	js := staffRun(t, vars, "triage", "stats", "--by", "country", "--unsuppressed", "--json", "--min-count", "3")
	if !strings.Contains(js, `"count": 2,`) || strings.Contains(js, "null") {
		t.Errorf("--unsuppressed --json:\n%s", js)
	}

	entries, err := env.Store.AuditLog(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.What != "stats-unsuppressed" {
			continue
		}
		got = append(got, e.Detail)
		if e.Who != "ana" || e.At.Before(start) || e.At.After(time.Now()) {
			t.Errorf("audit entry %+v: want who (ana) and when", e)
		}
	}
	want := []string{"vigil triage stats --by country --unsuppressed", "vigil triage stats --by country --unsuppressed"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audited %q, want %q (the command, no count)", got, want)
	}
	// Without the flag nothing is recorded as unsuppressed.
	staffRun(t, vars, "triage", "stats", "--by", "country")
	entries, _ = env.Store.AuditLog(context.Background(), "")
	n := 0
	for _, e := range entries {
		if e.What == "stats-unsuppressed" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d unsuppressed entries after a suppressed run, want 2", n)
	}
}
