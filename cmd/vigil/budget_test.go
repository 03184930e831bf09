package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// TestBudgetMetrics: /metrics shows how much of each shared budget is
// spent, how full Redis is, and what this process refused.
func TestBudgetMetrics(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, "maxmemory 64mb")
	now := time.Date(2026, 11, 26, 9, 10, 0, 0, time.UTC)
	b := env.UseBudget(budget.Limits{EvidenceBytesPerHour: 100, EvidenceBytesPerDay: 400, ReportsPerHour: 10, ReportsPerDay: 20},
		func() time.Time { return now })
	if _, err := b.TakeFile(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeFile(ctx, 60); !errors.Is(err, budget.ErrFilesPaused) {
		t.Fatalf("a file past the budget: %v", err)
	}
	if _, err := b.TakeReport(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(budgetCollector{b})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"vigil_budget_used_ratio/evidence-hour": 0.5,
		"vigil_budget_used_ratio/evidence-day":  0.125,
		"vigil_budget_used_ratio/reports-hour":  0.1,
		"vigil_budget_used_ratio/reports-day":   0.05,
		"vigil_budget_refused_total/file":       1,
		"vigil_budget_refused_total/report":     0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", name, v, ok, want)
		}
	}
	if m := got["vigil_redis_memory_used_ratio"]; m <= 0 || m >= 0.5 {
		t.Errorf("vigil_redis_memory_used_ratio = %v, want a small part of 64 MiB", m)
	}
}
