package triage_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/triage"
)

// queue10k is one Redis holding 10,000 sealed reports, shared by the
// benchmarks (sealing them takes a few seconds).
var (
	queueOnce sync.Once
	queueEnv  *testenv.Env
)

func queue10k(b *testing.B) *testenv.Env {
	queueOnce.Do(func() {
		env := testenv.New(&keepAlive{b})
		countries := []string{"UA", "GE", "BY", "other"}
		what := []string{"threats", "detention", "surveillance", "online", "raid"}
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 10000; i++ {
			env.Seed(b, report(fmt.Sprintf("%04d-%04d", i/10000, i%10000), start.Add(time.Duration(i)*time.Hour),
				i%50 == 0, countries[i%len(countries)], what[i%len(what)], what[(i/5)%len(what)]))
		}
		queueEnv = env
	})
	return queueEnv
}

// keepAlive lets the shared Redis outlive the first benchmark that starts
// it: its cleanups run in TestMain, after every test and benchmark.
type keepAlive struct{ testing.TB }

var (
	atExitMu sync.Mutex
	atExit   []func()
)

func (k *keepAlive) Cleanup(f func()) {
	atExitMu.Lock()
	defer atExitMu.Unlock()
	atExit = append(atExit, f)
}

func (k *keepAlive) TempDir() string {
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		k.TB.Fatal(err)
	}
	k.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(atExit) - 1; i >= 0; i-- {
		atExit[i]()
	}
	os.Exit(code)
}

// BenchmarkListFirstPage lists the first 50 open cases of 10,000.
func BenchmarkListFirstPage(b *testing.B) {
	env := queue10k(b)
	s := staff(b, env, "bench", nil)
	b.ResetTimer()
	for b.Loop() {
		cases, _, err := s.List(context.Background(), triage.Filter{}, 0, 50)
		if err != nil || len(cases) != 50 {
			b.Fatal(err, len(cases))
		}
	}
}

// BenchmarkListByCountry lists the first 50 cases from Belarus: the filter
// is inside the sealed reports, so cases are opened until 50 match.
func BenchmarkListByCountry(b *testing.B) {
	env := queue10k(b)
	s := staff(b, env, "bench", nil)
	b.ResetTimer()
	for b.Loop() {
		cases, _, err := s.List(context.Background(), triage.Filter{Country: "BY"}, 0, 50)
		if err != nil || len(cases) != 50 {
			b.Fatal(err, len(cases))
		}
	}
}

// BenchmarkStatsByCountry counts all 10,000 reports by country.
func BenchmarkStatsByCountry(b *testing.B) {
	env := queue10k(b)
	s := staff(b, env, "bench", nil)
	b.ResetTimer()
	for b.Loop() {
		st, err := s.Count(context.Background(), "country", time.Time{}, time.Time{}, nil)
		if err != nil || st.Cases != 10000 {
			b.Fatal(err, st.Cases)
		}
	}
}
