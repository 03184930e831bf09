package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/metrictest"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// overdueGauge reads vigil_cases_overdue from reg, by "urgency/deadline".
func overdueGauge(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range metrictest.Samples(t, reg, "vigil_cases_overdue") {
		if len(s.Labels) != 2 {
			t.Fatalf("vigil_cases_overdue has labels %v, want urgency and deadline only", s.Labels)
		}
		out[s.Labels["urgency"]+"/"+s.Labels["deadline"]] = s.Value
	}
	return out
}

// TestOverdueUrgentCaseIsEscalatedOnce: five hours after an urgent report
// (by the alert loop's clock) its claim and first-reply targets have
// passed; staff are told once for each, with the reference and
// "overdue" and nothing of the report, and the gauge counts it.
func TestOverdueUrgentCaseIsEscalatedOnce(t *testing.T) {
	h := startWith(t, nil, func(env *testenv.Env, cfg *bot.Config) {
		cfg.Alerts.Escalations = env.Store
		cfg.Alerts.Now = func() time.Time { return time.Now().Add(5 * time.Hour) }
	})
	d := h.defender(8181, "en")
	ref := d.report("OVERDUE-MARKER", "English")
	overdue := func() []string {
		var out []string
		for _, a := range h.api.Sent(staffChat.ID) {
			if strings.Contains(a.Text, "OVERDUE") {
				out = append(out, a.Text)
			}
		}
		return out
	}
	if err := h.api.WaitFor(fakeapi.Patience, func() bool { return len(overdue()) >= 2 }); err != nil {
		t.Fatalf("no overdue alerts: %v; staff chat: %+v", err, h.api.Sent(staffChat.ID))
	}
	got := overdue()
	if !strings.Contains(got[0], ref) || !strings.Contains(got[0], "not claimed") ||
		!strings.Contains(got[1], ref) || !strings.Contains(got[1], "no reply") {
		t.Fatalf("overdue alerts: %q", got)
	}
	for _, text := range got {
		for _, leak := range []string{"OVERDUE-MARKER", "Ukraine", "UA ", "Kyiv", "Defender", "part 0"} {
			if strings.Contains(text, leak) {
				t.Errorf("the overdue alert leaks %q: %q", leak, text)
			}
		}
	}
	if g := overdueGauge(t, h.reg); g["urgent/claim"] != 1 || g["urgent/reply"] != 1 || g["other/claim"] != 0 || g["other/reply"] != 0 {
		t.Fatalf("vigil_cases_overdue %v", g)
	}
	// The loop goes on (the unclaimed-case reminders show it turn): no
	// deadline is announced twice.
	n := len(h.api.Sent(staffChat.ID))
	if _, err := h.api.WaitSent(staffChat.ID, n+2, fakeapi.Patience); err != nil {
		t.Fatal(err)
	}
	if again := overdue(); len(again) != 2 {
		t.Fatalf("overdue alerts repeated: %q", again)
	}
}
