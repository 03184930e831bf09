// Package metrictest reads Prometheus series back from a registry, for
// tests that check what a component counted. It only reads.
package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Sample is one series of a metric: its labels and its value (a counter's
// or a gauge's).
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Samples gathers g and returns the series of the metric name, in the
// order the registry gives them; none when it has none.
func Samples(t testing.TB, g prometheus.Gatherer, name string) []Sample {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []Sample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.Value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.Value = m.GetGauge().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// Value returns the value of the series of name whose labels include
// every pair in match; 0 when there is none.
func Value(t testing.TB, g prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	for _, s := range Samples(t, g, name) {
		if includes(s.Labels, match) {
			return s.Value
		}
	}
	return 0
}

func includes(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
