package response_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/response"
)

var t0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// TestClockAtTheBoundaries: a deadline reached exactly is on time, one
// millisecond later is overdue; urgent cases run on their own targets; a
// met deadline stops counting and a closed case has no clock.
func TestClockAtTheBoundaries(t *testing.T) {
	tg := response.DefaultTargets
	ms := time.Millisecond
	for _, c := range []struct {
		name    string
		times   response.Times
		at      time.Duration // after reception
		running bool
		next    string
		overdue bool
		text    string
	}{
		{"urgent, just in", response.Times{Urgent: true}, 0, true, "claim", false, "1h 0m left"},
		{"urgent, claim exactly due", response.Times{Urgent: true}, time.Hour, true, "claim", false, "<1m left"},
		{"urgent, claim 1ms overdue", response.Times{Urgent: true}, time.Hour + ms, true, "claim", true, "overdue <1m"},
		{"urgent, claim overdue 35m", response.Times{Urgent: true}, time.Hour + 35*time.Minute, true, "claim", true, "overdue 35m"},
		{"urgent, claimed: reply next", response.Times{Urgent: true, ClaimedAt: t0.Add(time.Minute)}, 110 * time.Minute, true, "reply", false, "2h 10m left"},
		{"urgent, reply exactly due", response.Times{Urgent: true, ClaimedAt: t0}, 4 * time.Hour, true, "reply", false, "<1m left"},
		{"urgent, reply 1ms overdue", response.Times{Urgent: true, ClaimedAt: t0}, 4*time.Hour + ms, true, "reply", true, "overdue <1m"},
		{"urgent, replied unclaimed: claim still next", response.Times{Urgent: true, RepliedAt: t0}, 30 * time.Minute, true, "claim", false, "30m left"},
		{"urgent, both met", response.Times{Urgent: true, ClaimedAt: t0, RepliedAt: t0}, 10 * time.Hour, false, "", false, ""},
		{"other, 1h in: not urgent targets", response.Times{}, time.Hour + ms, true, "claim", false, "1d 22h left"},
		{"other, claim exactly due", response.Times{}, 48 * time.Hour, true, "claim", false, "<1m left"},
		{"other, claim 1ms overdue", response.Times{}, 48*time.Hour + ms, true, "claim", true, "overdue <1m"},
		{"other, reply overdue 2d", response.Times{ClaimedAt: t0}, 7 * 24 * time.Hour, true, "reply", true, "overdue 2d 0h"},
		{"closed overdue case: no clock", response.Times{Urgent: true, Closed: true}, 30 * time.Hour, false, "", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.times.ReceivedAt = t0
			k := tg.Clock(c.times, t0.Add(c.at))
			if k.Running != c.running || k.Next != c.next || k.Overdue != c.overdue || response.Describe(k) != c.text {
				t.Fatalf("clock %+v (%q), want running=%v next=%q overdue=%v %q", k, response.Describe(k), c.running, c.next, c.overdue, c.text)
			}
		})
	}
}

func TestOverdueDeadlinesAndTally(t *testing.T) {
	tg := response.DefaultTargets
	now := t0.Add(5 * time.Hour)
	cases := []response.Times{
		{ReceivedAt: t0, Urgent: true},                                           // claim and reply overdue
		{ReceivedAt: t0, Urgent: true, ClaimedAt: t0},                            // reply overdue
		{ReceivedAt: now.Add(-time.Hour), Urgent: true},                          // exactly due: on time
		{ReceivedAt: t0, Urgent: true, Closed: true},                             // closed
		{ReceivedAt: now.Add(-48*time.Hour - time.Millisecond)},                  // other: claim overdue
		{ReceivedAt: now.Add(-6 * 24 * time.Hour), ClaimedAt: t0},                // other: reply overdue
		{ReceivedAt: now.Add(-6 * 24 * time.Hour), ClaimedAt: t0, RepliedAt: t0}, // met
	}
	if got := tg.OverdueDeadlines(cases[0], now); len(got) != 2 || got[0] != "claim" || got[1] != "reply" {
		t.Fatalf("overdue deadlines: %v", got)
	}
	want := response.Counts{{"urgent", "claim"}: 1, {"urgent", "reply"}: 2, {"other", "claim"}: 1, {"other", "reply"}: 1}
	got := tg.Tally(cases, now)
	if len(got) != len(want) {
		t.Fatalf("tally %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tally %v, want %v", got, want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	for _, c := range []struct {
		name           string
		uc, ur, cl, re string
		want           response.Targets
		badSetting     string
	}{
		{name: "defaults", want: response.DefaultTargets},
		{name: "helpline: 2 hours around the clock", uc: "30m", ur: "2h", cl: "2h", re: "2h",
			want: response.Targets{UrgentClaim: 30 * time.Minute, UrgentReply: 2 * time.Hour, Claim: 2 * time.Hour, Reply: 2 * time.Hour}},
		{name: "not a duration", uc: "soon", badSetting: "urgent_claim"},
		{name: "days are not Go durations", re: "5d", badSetting: "reply"},
		{name: "zero", cl: "0s", badSetting: "claim"},
		{name: "negative", ur: "-1h", badSetting: "urgent_reply"},
		{name: "reply before claim", uc: "3h", ur: "2h", badSetting: "urgent_reply"},
		{name: "other reply before its claim", cl: "72h", re: "48h", badSetting: "reply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := response.Parse(c.uc, c.ur, c.cl, c.re)
			if c.badSetting == "" {
				if err != nil || got != c.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			var se *response.SettingError
			if !errors.As(err, &se) || se.Name != c.badSetting {
				t.Fatalf("error %v, want one naming %s", err, c.badSetting)
			}
		})
	}
}

// TestMonthlyPercentiles: medians and 90th percentiles per month by
// nearest rank; a month under k shows no times, nor does a measure over
// fewer than k cases.
func TestMonthlyPercentiles(t *testing.T) {
	jan := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2026, 2, 5, 0, 0, 0, 0, time.UTC)
	mar := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	var cases []response.Times
	// January: ten cases claimed after 1..10 minutes, replied after 1..10 hours.
	for i := 1; i <= 10; i++ {
		cases = append(cases, response.Times{ReceivedAt: jan, ClaimedAt: jan.Add(time.Duration(i) * time.Minute),
			RepliedAt: jan.Add(time.Duration(i) * time.Hour)})
	}
	// February: four cases only.
	for i := 1; i <= 4; i++ {
		cases = append(cases, response.Times{ReceivedAt: feb, ClaimedAt: feb.Add(time.Minute)})
	}
	// March: six cases, all claimed, two replied (too few to show).
	for i := 1; i <= 6; i++ {
		r := response.Times{ReceivedAt: mar, ClaimedAt: mar.Add(time.Duration(i) * time.Hour)}
		if i <= 2 {
			r.RepliedAt = mar.Add(24 * time.Hour)
		}
		cases = append(cases, r)
	}
	got := response.Monthly(cases, 0)
	want := []response.Month{
		{Month: "2026-01", Cases: 10, Claimed: 10, Replied: 10, HasClaim: true, HasReply: true,
			ClaimMedian: 5 * time.Minute, ClaimP90: 9 * time.Minute, ReplyMedian: 5 * time.Hour, ReplyP90: 9 * time.Hour},
		{Month: "2026-02", Suppressed: true},
		{Month: "2026-03", Cases: 6, Claimed: 6, Replied: 2, HasClaim: true, ClaimMedian: 3 * time.Hour, ClaimP90: 6 * time.Hour},
	}
	if len(got) != len(want) {
		t.Fatalf("months %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("month %d: %+v\nwant      %+v", i, got[i], want[i])
		}
	}
	// A threshold of 4 shows February.
	if m := response.Monthly(cases, 4)[1]; m.Suppressed || !m.HasClaim || m.ClaimMedian != time.Minute {
		t.Fatalf("february with k=4: %+v", m)
	}
}
