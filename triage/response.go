package triage

import (
	"context"
	"time"

	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/store"
)

// ResponseStats is how fast staff were, month by month, with the cases
// received in [Since, Until).
type ResponseStats struct {
	Since  time.Time        `json:"since,omitzero"`
	Until  time.Time        `json:"until,omitzero"`
	K      int              `json:"k"` // months with fewer cases show no times
	Months []response.Month `json:"-"`
}

// ResponseTimes reports, per month of reception (UTC), the number of cases
// and the median and 90th percentile of the time to first claim and to
// first reply, over the cases received in [since, until) (zero times are
// open ends). A month with fewer than k cases (response.DefaultK when k <
// 1) is suppressed (see response.Monthly). It reads only plain metadata,
// decrypts nothing, and is audited as "stats" first.
func (s *Service) ResponseTimes(ctx context.Context, since, until time.Time, k int) (ResponseStats, error) {
	if k < 1 {
		k = response.DefaultK
	}
	if err := s.audit(ctx, "stats", "", "response"); err != nil {
		return ResponseStats{}, err
	}
	const chunk = 1000
	var times []response.Times
	for from := int64(0); ; from += chunk {
		page, total, err := s.cfg.Store.Cases(ctx, store.SelectAll, from, chunk)
		if err != nil {
			return ResponseStats{}, err
		}
		for _, c := range page {
			if (since.IsZero() || !c.ReceivedAt.Before(since)) && (until.IsZero() || c.ReceivedAt.Before(until)) {
				times = append(times, c.Times())
			}
		}
		if from+chunk >= total {
			break
		}
	}
	return ResponseStats{Since: since, Until: until, K: k, Months: response.Monthly(times, k)}, nil
}
