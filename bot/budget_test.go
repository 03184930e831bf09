package bot_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/metrictest"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// budgetAlerts reads vigil_budget_alerts_total{budget=name} from reg, by
// level.
func budgetAlerts(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range metrictest.Samples(t, reg, "vigil_budget_alerts_total") {
		if s.Labels["budget"] == name {
			out[s.Labels["level"]] += s.Value
		}
	}
	return out
}

// toEvidence walks a defender's report to the evidence question.
func (d *defender) toEvidence(menuLabel string) {
	d.h.t.Helper()
	d.send("/start", 1)
	d.press("lang:"+menuLabel, 1)
	d.press("btn.continue", 1)
	d.press("btn.skip", 1) // danger
	d.press("btn.skip", 1) // affected
	d.press("opt.what.raid", 1)
	d.press("btn.done", 1)
	for i := 0; i < 5; i++ {
		d.press("btn.skip", 1) // when, country, place, perpetrator, description
	}
}

// TestAFloodOfFilesFromManyChatsLeavesTextFlowing: many chats send large
// files at once, past the evidence budget all chats share (tiny here). The
// files within the budget are taken; every other is refused before it is
// downloaded, with the kind message in the defender's language; staff get
// one alert in their chat and the metric moves, not one per file; and
// every defender can still send their report as text.
func TestAFloodOfFilesFromManyChatsLeavesTextFlowing(t *testing.T) {
	const fileSize = 12 << 10
	limits := budget.Limits{EvidenceBytesPerHour: 64 << 10, EvidenceBytesPerDay: 1 << 20, ReportsPerHour: 100, ReportsPerDay: 100}
	const fit = 5 // files of fileSize within EvidenceBytesPerHour
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC) // the same hour however long the test takes
	h := startWith(t, nil, func(env *testenv.Env, cfg *bot.Config) {
		cfg.Metrics = reg
		cfg.Alerts.Budget = env.UseBudget(limits, func() time.Time { return now })
	})
	type chat struct {
		d      *defender
		before int
		taken  int // of its files
	}
	var chats []chat
	for i, lang := range []struct{ code, menu string }{{"en", "English"}, {"fr", "Français"}, {"ru", "Русский"}, {"en", "English"}} {
		d := h.defender(int64(7100+i), lang.code)
		d.toEvidence(lang.menu)
		chats = append(chats, chat{d: d, before: len(h.api.Sent(d.chat.ID))})
	}
	// The flood: three files from each chat, all at once.
	for n := 0; n < 3; n++ {
		for i, c := range chats {
			data := bytes.Repeat([]byte(fmt.Sprintf("FLOOD-FILE-%d-%d ", i, n)), fileSize)[:fileSize]
			h.api.SendDocument(c.d.chat, c.d.user, fmt.Sprintf("flood-%d-%d.pdf", i, n), "application/pdf", data, "")
		}
	}
	taken, refused := 0, 0
	for i := range chats {
		c := &chats[i]
		paused := c.d.label("msg.files_paused")
		for _, a := range c.d.expect(c.before, 3) {
			switch {
			case a.Text == paused:
				refused++
			case strings.Contains(a.Text, c.d.label("msg.file_failed")):
				t.Fatalf("a file failed instead of being refused or taken: %q", a.Text)
			default:
				taken++
				c.taken++
			}
		}
	}
	if taken != fit || refused != 3*len(chats)-fit {
		t.Fatalf("%d files taken and %d refused, want %d and %d", taken, refused, fit, 3*len(chats)-fit)
	}
	if n := h.api.Downloads(); n != fit {
		t.Fatalf("%d files downloaded, want only the %d taken", n, fit)
	}
	// Staff are told, in their chat and the metrics.
	spent := "The evidence budget of this hour is spent"
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		for _, a := range h.api.Sent(staffChat.ID) {
			if strings.Contains(a.Text, spent) {
				return budgetAlerts(t, reg, budget.EvidenceHour)["100"] == 1
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no alert that the evidence budget is spent: %v; staff chat: %+v", err, h.api.Sent(staffChat.ID))
	}

	// Text keeps flowing: every defender sends their report, going on as
	// the message says (Done when a file was taken, else Skip).
	for _, c := range chats {
		if c.taken > 0 {
			c.d.press("btn.done", 1)
		} else {
			c.d.press("btn.skip", 1)
		}
		for i := 0; i < 4; i++ {
			c.d.press("btn.skip", 1) // help, consent, contact, detail
		}
		c.d.press("btn.send", 1)
	}
	if q := h.env.Queue(t); len(q) != len(chats) {
		t.Fatalf("%d reports queued, want %d", len(q), len(chats))
	}
	// Once per crossing, not once per refused file: by now the alert loop
	// has run many times over.
	alerts := 0
	for _, a := range h.api.Sent(staffChat.ID) {
		if strings.Contains(a.Text, "evidence budget") {
			alerts++
		}
	}
	if m := budgetAlerts(t, reg, budget.EvidenceHour); alerts < 1 || alerts > 2 || m["100"] != 1 || m["80"] > 1 {
		t.Fatalf("%d evidence alerts in the staff chat, metric %v; want one or two (80%%, spent), each once", alerts, m)
	}
	for _, leak := range []string{"FLOOD-FILE", "flood-"} {
		if bytes.Contains(h.env.Logs.Bytes(), []byte(leak)) {
			t.Errorf("%q logged", leak)
		}
	}
}
