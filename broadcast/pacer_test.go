package broadcast

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The pacer's promises, checked on the moments it hands permits out: never
// more than the rate within a window, and none during a pause.
func TestPacerKeepsTheWindowAndThePause(t *testing.T) {
	const rate = 200
	p := newPacer(rate)
	var mu sync.Mutex
	var grants []time.Time
	p.granted = func(at time.Time) { mu.Lock(); grants = append(grants, at); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)

	var pausedFrom, pausedTo time.Time
	var wg sync.WaitGroup
	var sends []time.Time // when senders got their permit
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if err := p.wait(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sends = append(sends, time.Now())
				mu.Unlock()
				if w == 0 && i == 20 {
					mu.Lock()
					pausedFrom = time.Now()
					pausedTo = pausedFrom.Add(300 * time.Millisecond)
					mu.Unlock()
					p.pause(300 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	// The pacer notes a permit just after a sender took it: let it note the
	// last one.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(grants)
		mu.Unlock()
		if n >= 16*40 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(grants) < 16*40 {
		t.Fatalf("%d permits for %d sends", len(grants), 16*40)
	}
	for i := rate; i < len(grants); i++ {
		if d := grants[i].Sub(grants[i-rate]); d < time.Second {
			t.Fatalf("permits %d and %d only %s apart: more than %d in a second", i-rate, i, d, rate)
		}
	}
	// (A permit handed out as the pause began is given up by its sender,
	// so the pause is checked on what senders got; a sender that got its
	// permit just before may note it a little late: 20 ms of slack in a
	// 300 ms pause.)
	for _, at := range sends {
		if at.After(pausedFrom.Add(20*time.Millisecond)) && at.Before(pausedTo) {
			t.Fatalf("a send %s into a pause of 300ms", at.Sub(pausedFrom))
		}
	}
}
