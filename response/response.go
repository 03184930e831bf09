// Package response is the mission's promise of response times, as pure
// logic: how long a case may wait to be claimed and to get its first reply
// to the defender (Targets), where a case stands against them now (Clock),
// and how fast staff were, month by month (Monthly).
//
// It knows nothing of Redis, Telegram or age and reads no clock of its own:
// every function that needs the time takes now. Nothing here ever sees a
// report's content: a case is its reference, its urgency and its times.
//
// The two deadlines of a case both run from its reception:
//   - claim: a staff member first claims the case (or it is assigned);
//   - reply: the first reply to the defender is accepted for delivery.
//
// A deadline is met once its event happened, however late; it is overdue
// when now is after it (a case exactly at its deadline is still on time).
// A closed case has no clock.
package response

import (
	"fmt"
	"time"
)

// The deadlines, as labels and Clock.Next name them.
const (
	Claim = "claim"
	Reply = "reply"
)

// Targets are the response times the mission promises, by urgency.
type Targets struct {
	UrgentClaim, UrgentReply time.Duration
	Claim, Reply             time.Duration // cases not marked urgent
}

// DefaultTargets: an urgent case claimed within 1 hour and answered within
// 4; any other claimed within 2 days and answered within 5.
var DefaultTargets = Targets{
	UrgentClaim: time.Hour, UrgentReply: 4 * time.Hour,
	Claim: 48 * time.Hour, Reply: 120 * time.Hour,
}

// SettingError is a target that cannot be used; Name is the setting as the
// configuration file spells it (urgent_claim, urgent_reply, claim, reply).
type SettingError struct {
	Name    string
	Problem string
}

func (e *SettingError) Error() string { return "response." + e.Name + ": " + e.Problem }

// Parse reads targets as the configuration file writes them (Go durations
// such as "1h", "90m", "120h"); an empty value keeps the default. It
// refuses, with a *SettingError naming the setting, a value that is not a
// duration, not above zero, or a reply target shorter than the claim
// target of the same urgency.
func Parse(urgentClaim, urgentReply, claim, reply string) (Targets, error) {
	t := DefaultTargets
	for _, s := range []struct {
		name, value string
		dest        *time.Duration
	}{
		{"urgent_claim", urgentClaim, &t.UrgentClaim},
		{"urgent_reply", urgentReply, &t.UrgentReply},
		{"claim", claim, &t.Claim},
		{"reply", reply, &t.Reply},
	} {
		if s.value == "" {
			continue
		}
		d, err := time.ParseDuration(s.value)
		if err != nil || d <= 0 {
			return Targets{}, &SettingError{s.name, fmt.Sprintf("want a duration above 0 such as \"1h\" or \"120h\", not %q", s.value)}
		}
		*s.dest = d
	}
	return t, t.Check()
}

// Check refuses targets that are not above zero, or a reply target
// shorter than the claim target of the same urgency.
func (t Targets) Check() error {
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"urgent_claim", t.UrgentClaim}, {"urgent_reply", t.UrgentReply}, {"claim", t.Claim}, {"reply", t.Reply}} {
		if s.d <= 0 {
			return &SettingError{s.name, "want a duration above 0"}
		}
	}
	if t.UrgentReply < t.UrgentClaim {
		return &SettingError{"urgent_reply", fmt.Sprintf("must be at least urgent_claim (%s)", t.UrgentClaim)}
	}
	if t.Reply < t.Claim {
		return &SettingError{"reply", fmt.Sprintf("must be at least claim (%s)", t.Claim)}
	}
	return nil
}

// OrDefault returns t, or DefaultTargets when t is the zero Targets (a
// configuration that set none).
func (t Targets) OrDefault() Targets {
	if t == (Targets{}) {
		return DefaultTargets
	}
	return t
}

// For returns the claim and reply targets of a case of this urgency.
func (t Targets) For(urgent bool) (claim, reply time.Duration) {
	if urgent {
		return t.UrgentClaim, t.UrgentReply
	}
	return t.Claim, t.Reply
}

// Times are what a clock is computed from: a case's plain metadata.
type Times struct {
	ReceivedAt time.Time
	Urgent     bool
	Closed     bool
	ClaimedAt  time.Time // the first claim; zero while never claimed
	RepliedAt  time.Time // the first reply accepted for delivery; zero for none
}

// Clock is where a case stands against its targets at one moment.
type Clock struct {
	// Running is false for a closed case, and for one whose deadlines are
	// both met: it then has nothing left to be late for.
	Running            bool
	ClaimDue, ReplyDue time.Time // the deadlines; set for every case received
	ClaimMet, ReplyMet bool
	// Next is the earliest deadline not yet met (Claim or Reply; "" when
	// none), and Left the time until it: negative when overdue.
	Next    string
	Left    time.Duration
	Overdue bool // some deadline not met is past
}

// Clock returns the clock of c at now.
func (t Targets) Clock(c Times, now time.Time) Clock {
	claim, reply := t.For(c.Urgent)
	k := Clock{ClaimDue: c.ReceivedAt.Add(claim), ReplyDue: c.ReceivedAt.Add(reply),
		ClaimMet: !c.ClaimedAt.IsZero(), ReplyMet: !c.RepliedAt.IsZero()}
	if c.Closed {
		return k
	}
	var due time.Time
	switch {
	case !k.ClaimMet: // Check keeps the claim due no later than the reply
		k.Next, due = Claim, k.ClaimDue
	case !k.ReplyMet:
		k.Next, due = Reply, k.ReplyDue
	default:
		return k
	}
	k.Running = true
	k.Left = due.Sub(now)
	k.Overdue = now.After(due) // exactly at the deadline is on time
	return k
}

// OverdueDeadlines returns the deadlines of c not met and past at now,
// earliest first.
func (t Targets) OverdueDeadlines(c Times, now time.Time) []string {
	k := t.Clock(c, now)
	if c.Closed {
		return nil
	}
	var out []string
	if !k.ClaimMet && now.After(k.ClaimDue) {
		out = append(out, Claim)
	}
	if !k.ReplyMet && now.After(k.ReplyDue) {
		out = append(out, Reply)
	}
	return out
}

// Describe writes Left for people, in English: "2h 10m left" or "overdue
// 35m" (under a minute: "<1m"). The staff tools print it beside the
// deadline's name so that it reads without colour.
func Describe(k Clock) string {
	if !k.Running {
		return ""
	}
	if k.Overdue {
		return "overdue " + Span(-k.Left)
	}
	return Span(k.Left) + " left"
}

// Span writes a non-negative duration in at most two units: "3d 4h",
// "2h 10m", "35m", or "<1m".
func Span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// Escalation is one overdue deadline of an urgent case, to announce once
// to staff. It carries the reference and times, never content.
type Escalation struct {
	Ref      string
	Deadline string // Claim or Reply
	Due      time.Time
}

// Counts is how many open cases are overdue, by urgency ("urgent",
// "other") and deadline (Claim, Reply). A case overdue on both deadlines
// counts in both.
type Counts map[[2]string]int

// Urgency names a case's urgency as the metric labels it.
func Urgency(urgent bool) string {
	if urgent {
		return "urgent"
	}
	return "other"
}

// Tally counts the overdue deadlines of cases at now. Every label pair is
// present, zero or not, so that a gauge falls back to 0.
func (t Targets) Tally(cases []Times, now time.Time) Counts {
	out := Counts{}
	for _, u := range []string{"urgent", "other"} {
		for _, d := range []string{Claim, Reply} {
			out[[2]string{u, d}] = 0
		}
	}
	for _, c := range cases {
		for _, d := range t.OverdueDeadlines(c, now) {
			out[[2]string{Urgency(c.Urgent), d}]++
		}
	}
	return out
}
