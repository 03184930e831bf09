package triage_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage"
)

// clock is a settable time for leases.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func staff(t testing.TB, env *testenv.Env, name string, clk *clock) *triage.Service {
	t.Helper()
	now := time.Now
	if clk != nil {
		now = clk.now
	}
	cfg := triage.Config{Store: env.Store, Identities: env.Identities, Recipients: env.Recipients,
		Staff: name, Lease: time.Hour, Now: now, KnownBotFile: env.KnownBotFile()}
	for _, m := range testenv.Staff {
		if m.Name == name {
			cfg.Signer = env.Signer(t, name)
		}
	}
	s, err := triage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func report(ref string, at time.Time, urgent bool, country string, what ...string) flows.Report {
	w := make([]any, len(what))
	for i, x := range what {
		w[i] = x
	}
	return flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: at, Language: "en", Urgent: urgent,
		Answers: map[string]any{"country": country, "what": w, "description": "text of " + ref, "contact": "yes"}}
}

func TestLifeCycleClaimsAndAudit(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	clk := &clock{t: time.Now()}
	ana, ben := staff(t, env, "ana", clk), staff(t, env, "ben", clk)
	env.Seed(t, report("AAAA-0001", time.Now(), false, "UA", "threats"))

	if err := ana.Claim(ctx, "aaaa-0001"); err != nil {
		t.Fatal(err)
	}
	err := ben.Claim(ctx, "AAAA-0001")
	if err == nil || !strings.Contains(err.Error(), "held by ana") {
		t.Fatalf("second claim: %v", err)
	}
	if err := ben.SetStatus(ctx, "AAAA-0001", "triaged", ""); err == nil || !strings.Contains(err.Error(), "held by ana") {
		t.Fatalf("status by non-holder: %v", err)
	}
	// Ana's claim lapses: the case goes back to the queue and Ben may take it.
	clk.t = clk.t.Add(2 * time.Hour)
	list, _, err := ben.List(ctx, triage.Filter{}, 0, 10)
	if err != nil || len(list) != 1 || list[0].HeldBy() != "" || !list[0].Lapsed {
		t.Fatalf("lapsed claim not shown as free: %+v %v", list, err)
	}
	if err := ben.Claim(ctx, "AAAA-0001"); err != nil {
		t.Fatalf("claim after lapse: %v", err)
	}
	p, err := env.RDB.XPendingExt(ctx, xpending()).Result()
	if err != nil || len(p) != 1 || p[0].Consumer != "ben" {
		t.Fatalf("consumer group does not show ben holding it: %+v %v", p, err)
	}

	var te *triage.TransitionError
	if err := ben.SetStatus(ctx, "AAAA-0001", "waiting-defender", ""); !errors.As(err, &te) ||
		!strings.Contains(err.Error(), "triaged, in-progress, closed") {
		t.Fatalf("illegal transition: %v", err)
	}
	if err := ben.SetStatus(ctx, "AAAA-0001", "triaged", "looks credible"); err != nil {
		t.Fatal(err)
	}
	if p, _ := env.RDB.XPendingExt(ctx, xpending()).Result(); len(p) != 0 {
		t.Fatalf("stream entry not acknowledged by the first status: %+v", p)
	}
	if err := ben.SetStatus(ctx, "AAAA-0001", "closed", "resolved"); err != nil {
		t.Fatal(err)
	}
	if open, _, _ := ben.List(ctx, triage.Filter{}, 0, 10); len(open) != 0 {
		t.Fatalf("closed case still listed as open: %+v", open)
	}
	if all, _, _ := ben.List(ctx, triage.Filter{Status: "all"}, 0, 10); len(all) != 1 {
		t.Fatalf("status all: %d", len(all))
	}

	d, err := ben.Show(ctx, "AAAA-0001")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range d.History {
		kinds = append(kinds, s.Type)
		if s.Type == "status" && s.To == "triaged" && s.Text != "looks credible" {
			t.Errorf("reason not opened: %+v", s)
		}
	}
	if strings.Join(kinds, ",") != "claim,claim,status,status" {
		t.Errorf("history %v", kinds)
	}
	audit, err := ben.Audit(ctx, "AAAA-0001")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, a := range audit {
		steps = append(steps, a.Who+":"+a.What)
	}
	want := "ana:claim,ben:list,ben:claim,ben:status,ben:status,ben:list,ben:show"
	if strings.Join(steps, ",") != want {
		t.Errorf("audit\n got %s\nwant %s", strings.Join(steps, ","), want)
	}
}

func xpending() *redis.XPendingExtArgs {
	return &redis.XPendingExtArgs{Stream: "vigil:{q}:reports", Group: "staff", Start: "-", End: "+", Count: 10}
}

func TestNotesAreSealedAndOpenWithStockAge(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	ana := staff(t, env, "ana", nil)
	env.Seed(t, report("AAAA-0002", time.Now(), true, "GE", "raid"))
	if err := ana.Note(ctx, "AAAA-0002", "NOTE-MARKER called the lawyer"); err != nil {
		t.Fatal(err)
	}
	events, _ := env.Store.Events(ctx, "AAAA-0002")
	if len(events) != 1 || bytes.Contains(events[0].Sealed, []byte("NOTE-MARKER")) {
		t.Fatalf("note not sealed: %+v", events)
	}
	f := filepath.Join(t.TempDir(), "note.age")
	os.WriteFile(f, events[0].Sealed, 0o600)
	out, err := exec.Command("age", "-d", "-i", env.IdentityFile, f).Output()
	if err != nil || string(out) != "NOTE-MARKER called the lawyer" {
		t.Fatalf("stock age on a note: %q %v", out, err)
	}
	if bytes.Contains(env.Everything(t), []byte("NOTE-MARKER")) {
		t.Fatal("note in plain text in Redis")
	}
}

func TestWrongIdentityTamperingAndRotation(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	env.Seed(t, report("AAAA-0003", time.Now().Add(-time.Hour), false, "UA", "threats"))

	// Rotation: a new key joins; later reports are sealed to both.
	newFile, newPub, _ := seal.NewIdentity()
	newID, _ := seal.ParseIdentity(newFile)
	both, _ := seal.ParseRecipients(strings.NewReader(env.Recipients.Keys()[0] + "\n" + newPub + "\n"))
	raw, _ := json.Marshal(report("AAAA-0004", time.Now(), false, "GE", "raid"))
	sealed, _ := both.Seal(raw)
	env.Store.Enqueue(ctx, store.Submission{DraftID: "x4", Ref: "AAAA-0004", Sealed: sealed, SealedTo: both.Fingerprints(), ReceivedAt: time.Now()})

	// Tampering: flip a byte of one stored report.
	env.Seed(t, report("AAAA-0005", time.Now().Add(-2*time.Hour), false, "BY", "other"))
	b, _ := env.RDB.HGet(ctx, "vigil:{q}:report:AAAA-0005", "sealed").Bytes()
	b[len(b)-3] ^= 1
	env.RDB.HSet(ctx, "vigil:{q}:report:AAAA-0005", "sealed", b)

	newOnly, _ := triage.New(triage.Config{Store: env.Store, Identities: []seal.Identity{newID}, Staff: "new"})
	list, _, err := newOnly.List(ctx, triage.Filter{}, 0, 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	byRef := map[string]triage.Case{}
	for _, c := range list {
		byRef[c.Ref] = c
	}
	if byRef["AAAA-0004"].Report == nil {
		t.Error("the new key cannot open a report sealed to it")
	}
	old := byRef["AAAA-0003"]
	if old.Report != nil || !strings.Contains(old.Problem, "this identity cannot open report AAAA-0003 (it was sealed to: "+seal.Fingerprint(env.Recipients.Keys()[0])) {
		t.Errorf("wrong identity: %q", old.Problem)
	}
	if p := byRef["AAAA-0005"].Problem; !strings.Contains(p, "cannot open report AAAA-0005") {
		t.Errorf("sealed to another key: %q", p)
	}
	if _, err := staff(t, env, "ana", nil).Show(ctx, "AAAA-0005"); err != nil {
		t.Fatal(err)
	}
	if d, _ := staff(t, env, "ana", nil).Show(ctx, "AAAA-0005"); d.Report != nil || !strings.Contains(d.Problem, "tampered") {
		t.Errorf("tampered: %q", d.Problem)
	}
	// The old identity still opens what was sealed before the rotation, and
	// show accepts several identities.
	bothIDs, _ := triage.New(triage.Config{Store: env.Store, Identities: append([]seal.Identity{newID}, env.Identities...), Staff: "x"})
	for _, ref := range []string{"AAAA-0003", "AAAA-0004"} {
		if d, err := bothIDs.Show(ctx, ref); err != nil || d.Report == nil {
			t.Errorf("%s with both identities: %v %s", ref, err, d.Problem)
		}
	}
}

func TestListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	base := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	for i, r := range []flows.Report{
		report("BBBB-0001", base, false, "UA", "threats"),
		report("BBBB-0002", base.Add(time.Hour), true, "GE", "raid", "threats"),
		report("BBBB-0003", base.Add(2*time.Hour), false, "UA", "detention"),
		report("BBBB-0004", base.Add(3*time.Hour), false, "BY", "threats"),
		report("BBBB-0005", base.Add(4*time.Hour), true, "UA", "killing"),
	} {
		_ = i
		env.Seed(t, r)
	}
	s := staff(t, env, "ana", nil)
	refs := func(f triage.Filter, off, lim int) string { return listed(t, s, f, off, lim) }
	for _, tc := range []struct {
		name string
		f    triage.Filter
		off  int
		want string
	}{
		{"urgent first, then newest", triage.Filter{}, 0, "0005,0002,0004,0003,0001"},
		{"urgent", triage.Filter{Urgent: true}, 0, "0005,0002"},
		{"country", triage.Filter{Country: "ua"}, 0, "0005,0003,0001"},
		{"category", triage.Filter{Category: "threats"}, 0, "0002,0004,0001"},
		{"since", triage.Filter{Since: base.Add(150 * time.Minute)}, 0, "0005,0004"},
		{"second page", triage.Filter{}, 2, "0004,0003"},
		{"status new", triage.Filter{Status: "new"}, 0, "0005,0002,0004,0003,0001"},
	} {
		lim := 10
		if tc.name == "second page" {
			lim = 2
		}
		if got := refs(tc.f, tc.off, lim); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	s.Claim(ctx, "BBBB-0003")
	if got := refs(triage.Filter{Assignee: "ana"}, 0, 10); got != "0003" {
		t.Errorf("assignee: %s", got)
	}
	if _, _, err := s.List(ctx, triage.Filter{Status: "bogus"}, 0, 10); err == nil {
		t.Error("bogus status accepted")
	}
}

func TestExportStatsAndPurge(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	jan := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC)
	env.Seed(t, report("CCCC-0001", jan, false, "UA", "threats", "surveillance"))
	env.Seed(t, report("CCCC-0002", feb, false, "UA", "threats"))
	env.Seed(t, report("CCCC-0003", feb, true, "GE", "raid"))
	s := staff(t, env, "ana", nil)

	st, err := s.Count(ctx, "category", time.Time{}, time.Time{}, func(_, k string) string { return "L:" + k })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range st.Rows {
		got[r.Key] = r.Count
	}
	if got["threats"] != 2 || got["surveillance"] != 1 || got["raid"] != 1 || st.Cases != 3 || st.Rows[0].Label != "L:threats" {
		t.Errorf("by category: %+v", st)
	}
	st, _ = s.Count(ctx, "month", time.Time{}, time.Time{}, nil)
	if len(st.Rows) != 2 || st.Rows[0].Key != "2026-01" || st.Rows[1].Count != 2 {
		t.Errorf("by month: %+v", st.Rows)
	}
	st, _ = s.Count(ctx, "country", feb, time.Time{}, nil)
	if st.Cases != 2 {
		t.Errorf("since feb: %+v", st)
	}
	if _, err := s.Count(ctx, "colour", time.Time{}, time.Time{}, nil); err == nil {
		t.Error("unknown dimension accepted")
	}

	cases, err := s.Export(ctx, time.Time{}, feb)
	if err != nil || len(cases) != 1 || cases[0].Ref != "CCCC-0001" {
		t.Fatalf("export until feb: %v %+v", err, cases)
	}
	var buf bytes.Buffer
	all, _ := s.Export(ctx, time.Time{}, time.Time{})
	if err := triage.WriteCSV(&buf, all); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "event_id" || rows[1][0] != "CCCC-0001" || rows[1][11] != "threats;surveillance" {
		t.Fatalf("csv: %v %v", err, rows)
	}
	buf.Reset()
	triage.WriteJSON(&buf, all)
	var recs []triage.Record
	if err := json.Unmarshal(buf.Bytes(), &recs); err != nil || len(recs) != 3 || recs[0].EventID != "CCCC-0001" ||
		recs[0].ActTypes[1] != "surveillance" || recs[0].Description != "text of CCCC-0001" {
		t.Fatalf("json: %v %+v", err, recs)
	}

	// Purge: only closed cases closed before the date go.
	s.SetStatus(ctx, "CCCC-0001", "closed", "")
	s.SetStatus(ctx, "CCCC-0002", "triaged", "")
	plan, _ := s.PurgePlan(ctx, time.Now().Add(time.Minute))
	if strings.Join(plan, ",") != "CCCC-0001" {
		t.Fatalf("purge plan %v", plan)
	}
	if plan, _ := s.PurgePlan(ctx, time.Now().Add(-time.Hour)); len(plan) != 0 {
		t.Fatalf("purge plan before the closing: %v", plan)
	}
	if n, err := s.Purge(ctx, plan); n != 1 || err != nil {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := env.Store.Report(ctx, "CCCC-0001"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("purged case still there")
	}
	// Only the submission marker stays (it expires within days and holds
	// nothing but the reference).
	keys := env.RDB.Keys(ctx, "*CCCC-0001*").Val()
	if len(keys) != 1 || !strings.Contains(keys[0], ":submission:") {
		t.Fatalf("purge left %v", keys)
	}
	if n, _ := env.RDB.XLen(ctx, "vigil:{q}:reports").Result(); n != 2 {
		t.Fatalf("stream holds %d entries after purge, want 2", n)
	}
	audit, _ := s.Audit(ctx, "CCCC-0001")
	if last := audit[len(audit)-1]; last.What != "purge" || last.Who != "ana" {
		t.Fatalf("purge not audited last: %+v", last)
	}
}

func TestReplyRefusedWithoutConsent(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	d := env.Defender(t, 77)
	ref := d.Submit("M", false)
	s := staff(t, env, "ana", nil)
	if err := s.Reply(ctx, ref, "hello"); !errors.Is(err, triage.ErrNoContact) {
		t.Fatalf("reply without consent: %v", err)
	}
	if n, _ := env.RDB.XLen(ctx, "vigil:{q}:outbox").Result(); n != 0 {
		t.Fatal("refused reply reached the outbox")
	}
}

func TestStaffNameIsRequired(t *testing.T) {
	if _, err := triage.New(triage.Config{}); err == nil || !strings.Contains(err.Error(), "VIGIL_STAFF") {
		t.Fatalf("no staff: %v", err)
	}
}

func TestListUntilAndSearch(t *testing.T) {
	env := testenv.New(t)
	base := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	env.Seed(t, report("DDDD-0001", base, false, "UA", "threats"))
	r := report("DDDD-0002", base.Add(time.Hour), false, "GE", "raid")
	r.Answers["description"] = "Они обыскали ОФИС в Тбилиси"
	env.Seed(t, r)
	env.Seed(t, report("DDDD-0003", base.Add(2*time.Hour), false, "UA", "detention"))
	s := staff(t, env, "ana", nil)
	refs := func(f triage.Filter) string { return listed(t, s, f, 0, 10) }
	for _, tc := range []struct {
		name string
		f    triage.Filter
		want string
	}{
		{"until is exclusive", triage.Filter{Until: base.Add(time.Hour)}, "0001"},
		{"since and until", triage.Filter{Since: base.Add(time.Hour), Until: base.Add(2 * time.Hour)}, "0002"},
		{"text, any case", triage.Filter{Text: "офис"}, "0002"},
		{"text in an option key", triage.Filter{Text: "DETENTION"}, "0003"},
		{"text in the reference", triage.Filter{Text: "dddd-0001"}, "0001"},
		{"text and country", triage.Filter{Text: "text of", Country: "UA"}, "0003,0001"},
		{"no match", triage.Filter{Text: "nowhere"}, ""},
	} {
		if got := refs(tc.f); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// The search text is not written anywhere, the audit trail included.
	if bytes.Contains(env.Everything(t), []byte("nowhere")) {
		t.Error("the search text reached Redis")
	}
}

func TestHeldErrorNamesTheHolder(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	env.Seed(t, report("EEEE-0001", time.Now(), false, "UA", "threats"))
	ana, ben := staff(t, env, "ana", nil), staff(t, env, "ben", nil)
	if err := ana.Claim(ctx, "EEEE-0001"); err != nil {
		t.Fatal(err)
	}
	var held *triage.HeldError
	for name, err := range map[string]error{
		"claim":  ben.Claim(ctx, "EEEE-0001"),
		"status": ben.SetStatus(ctx, "EEEE-0001", "triaged", ""),
		"reply":  ben.Reply(ctx, "EEEE-0001", "hello"),
	} {
		if !errors.As(err, &held) || held.By != "ana" || held.Ref != "EEEE-0001" ||
			!strings.Contains(err.Error(), "held by ana; ask them") {
			t.Errorf("%s by ben: %v", name, err)
		}
	}
}

func TestExportCaseCountsAndMark(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	s := staff(t, env, "ana", nil)
	mark0, err := s.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jan := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	env.Seed(t, report("FFFF-0001", jan, false, "UA", "threats", "surveillance"))
	env.Seed(t, report("FFFF-0002", jan.AddDate(0, 1, 0), false, "GE", "threats"))
	mark1, _ := s.Mark(ctx)
	if mark1 == mark0 {
		t.Fatalf("mark unchanged by new reports: %s", mark1)
	}

	c, err := s.ExportCase(ctx, "ffff-0001")
	if err != nil || c.Report == nil || c.Ref != "FFFF-0001" {
		t.Fatalf("export case: %v %+v", err, c)
	}
	all, err := s.Counts(ctx, []string{"country", "month"}, time.Time{}, time.Time{}, nil)
	if err != nil || len(all) != 2 || all[0].By != "country" || len(all[0].Rows) != 2 || all[1].Rows[0].Key != "2026-01" {
		t.Fatalf("counts: %v %+v", err, all)
	}
	if _, err := s.Counts(ctx, []string{"country", "colour"}, time.Time{}, time.Time{}, nil); err == nil {
		t.Error("unknown dimension accepted")
	}
	// Looking at the queue, claiming and reading change nothing the mark
	// follows; closing a case does.
	s.List(ctx, triage.Filter{}, 0, 10)
	s.Claim(ctx, "FFFF-0002")
	if m, _ := s.Mark(ctx); m != mark1 {
		t.Errorf("mark changed by a list and a claim: %s, was %s", m, mark1)
	}
	s.SetStatus(ctx, "FFFF-0002", "closed", "")
	if m, _ := s.Mark(ctx); m == mark1 {
		t.Error("mark unchanged by a closed case")
	}

	audit, _ := s.Audit(ctx, "")
	var steps []string
	for _, a := range audit {
		steps = append(steps, a.What+":"+a.Ref+":"+a.Detail)
	}
	got := strings.Join(steps, "|")
	for _, want := range []string{"export:FFFF-0001:", "stats::by=country,month FFFF-0001,FFFF-0002"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %q:\n%s", want, got)
		}
	}
}

func TestVerifyAndFileCheckEachHash(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	one, two := []byte("first FILE-MARKER bytes"), bytes.Repeat([]byte("x"), 300<<10)
	env.SeedFiles(t, report("GGGG-0001", time.Now(), false, "UA", "raid"), one, two)
	env.Seed(t, report("GGGG-0002", time.Now(), false, "UA", "raid"))
	s := staff(t, env, "ana", nil)

	res, err := s.Verify(ctx, "GGGG-0001")
	if err != nil || len(res) != 2 || !res[0].Verified() || !res[1].Verified() || res[1].Size != 300<<10 ||
		res[0].Name != "01-file1.bin" || res[0].Path != "" {
		t.Fatalf("verify: %v %+v", err, res)
	}
	got, data, err := s.File(ctx, "GGGG-0001", 0)
	if err != nil || !got.Verified() || !bytes.Equal(data, one) {
		t.Fatalf("file 1: %v %+v %q", err, got, data)
	}
	if _, _, err := s.File(ctx, "GGGG-0001", 2); err == nil || !strings.Contains(err.Error(), "no file 3") {
		t.Errorf("file 3 of 2: %v", err)
	}
	var none *triage.NoCaseError
	if _, err := s.Show(ctx, "ZZZZ-9999"); !errors.As(err, &none) || none.Ref != "ZZZZ-9999" || err.Error() != "no case ZZZZ-9999" {
		t.Errorf("show of no case: %v", err)
	}
	if _, err := s.Verify(ctx, "GGGG-0002"); err == nil || !strings.Contains(err.Error(), "no evidence files") {
		t.Errorf("verify without files: %v", err)
	}

	// A changed file is caught, and its bytes are not handed out.
	key := "vigil:{q}:file:GGGG-0001:0"
	raw, _ := env.RDB.Get(ctx, key).Bytes()
	raw[len(raw)-2] ^= 1
	env.RDB.Set(ctx, key, raw, 0)
	got, data, err = s.File(ctx, "GGGG-0001", 0)
	if err != nil || got.Verified() || got.Problem == "" || data != nil {
		t.Fatalf("tampered file: %v %+v %q", err, got, data)
	}
	if res, _ := s.Verify(ctx, "GGGG-0001"); res[0].Verified() || !res[1].Verified() {
		t.Fatalf("verify after tampering: %+v", res)
	}

	audit, _ := s.Audit(ctx, "GGGG-0001")
	var steps []string
	for _, a := range audit {
		steps = append(steps, a.Who+":"+a.What+":"+a.Detail)
	}
	want := "ana:files:verify,ana:files:file 1,ana:files:file 3,ana:files:file 1,ana:files:verify"
	if strings.Join(steps, ",") != want {
		t.Errorf("audit\n got %s\nwant %s", strings.Join(steps, ","), want)
	}
	if bytes.Contains(env.Everything(t), []byte("FILE-MARKER")) {
		t.Error("a file in plain text in Redis")
	}
}

// listed lists a page of cases and returns the second half of their
// references, comma-separated.
func listed(t *testing.T, s *triage.Service, f triage.Filter, off, lim int) string {
	t.Helper()
	cs, _, err := s.List(context.Background(), f, off, lim)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Ref[5:])
	}
	return strings.Join(out, ",")
}
