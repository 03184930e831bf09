package response

import (
	"slices"
	"time"
)

// DefaultK is the smallest number of cases a month's times are shown for:
// below it, one case's times could be read from a median.
const DefaultK = 5

// Month is how fast staff were with the cases received in one month (UTC).
type Month struct {
	Month string // "2026-01"
	Cases int    // received that month
	// Suppressed is true when the month holds fewer than K cases: its
	// times, and its counts, are not given (they are zero here; the staff
	// tools print "<K").
	Suppressed bool
	// Claimed and Replied count the cases of the month claimed and
	// answered (at any time since); each time below is over those.
	Claimed, Replied int
	// The median and 90th percentile of the time from reception to the
	// first claim and to the first reply, by the nearest-rank method: the
	// smallest time that at least half (nine in ten) of those cases met.
	// A measure over fewer than K cases is zero, with its Has… false.
	ClaimMedian, ClaimP90 time.Duration
	ReplyMedian, ReplyP90 time.Duration
	HasClaim, HasReply    bool
}

// Monthly returns, month by month (oldest first, only months with cases),
// the number of cases received and the median and 90th percentile of the
// times to claim and to first reply. k is the suppression threshold
// (DefaultK when k < 1): a month with fewer than k cases has Suppressed
// set and no times, and a measure over fewer than k cases is left out, so
// that no single case's times can be read.
func Monthly(cases []Times, k int) []Month {
	if k < 1 {
		k = DefaultK
	}
	type acc struct {
		n             int
		claim, replyT []time.Duration
	}
	by := map[string]*acc{}
	for _, c := range cases {
		key := c.ReceivedAt.UTC().Format("2006-01")
		a := by[key]
		if a == nil {
			a = &acc{}
			by[key] = a
		}
		a.n++
		if !c.ClaimedAt.IsZero() {
			a.claim = append(a.claim, max(c.ClaimedAt.Sub(c.ReceivedAt), 0))
		}
		if !c.RepliedAt.IsZero() {
			a.replyT = append(a.replyT, max(c.RepliedAt.Sub(c.ReceivedAt), 0))
		}
	}
	keys := make([]string, 0, len(by))
	for key := range by {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	out := make([]Month, 0, len(keys))
	for _, key := range keys {
		a := by[key]
		m := Month{Month: key, Cases: a.n, Claimed: len(a.claim), Replied: len(a.replyT)}
		if a.n < k {
			m = Month{Month: key, Suppressed: true} // not even the count
			out = append(out, m)
			continue
		}
		if len(a.claim) >= k {
			m.HasClaim, m.ClaimMedian, m.ClaimP90 = true, Percentile(a.claim, 50), Percentile(a.claim, 90)
		}
		if len(a.replyT) >= k {
			m.HasReply, m.ReplyMedian, m.ReplyP90 = true, Percentile(a.replyT, 50), Percentile(a.replyT, 90)
		}
		out = append(out, m)
	}
	return out
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest value with at least p % of ds at or
// below it. It sorts ds in place; an empty ds gives 0.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 × n), from 1
	return ds[min(max(rank, 1), len(ds))-1]
}
