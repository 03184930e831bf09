package bot

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDispatcherKeepsEachChatInOrderAndAlone(t *testing.T) {
	d := NewDispatcher(8)
	const chats, perChat = 50, 200
	var mu sync.Mutex
	seen := map[int64][]int{}
	running := make([]atomic.Int32, chats)
	var overlap atomic.Bool
	var parallel atomic.Int32
	var maxParallel atomic.Int32
	for i := 0; i < perChat; i++ {
		for c := int64(0); c < chats; c++ {
			d.Do(context.Background(), c, func(context.Context) {
				if running[c].Add(1) > 1 {
					overlap.Store(true)
				}
				n := parallel.Add(1)
				for {
					m := maxParallel.Load()
					if n <= m || maxParallel.CompareAndSwap(m, n) {
						break
					}
				}
				mu.Lock()
				seen[c] = append(seen[c], i)
				mu.Unlock()
				parallel.Add(-1)
				running[c].Add(-1)
			})
		}
	}
	d.Wait()
	if overlap.Load() {
		t.Fatal("two jobs of one chat ran at the same time")
	}
	if maxParallel.Load() > 8 {
		t.Fatalf("%d jobs ran at once, limit 8", maxParallel.Load())
	}
	for c := int64(0); c < chats; c++ {
		if len(seen[c]) != perChat {
			t.Fatalf("chat %d ran %d jobs, want %d", c, len(seen[c]), perChat)
		}
		for i, v := range seen[c] {
			if v != i {
				t.Fatalf("chat %d: job %d ran in place %d", c, v, i)
			}
		}
	}
	if d.Pending() != 0 {
		t.Fatalf("%d chats still pending", d.Pending())
	}
}

func TestDispatcherBoundsAFloodingChat(t *testing.T) {
	d := NewDispatcher(2)
	release := make(chan struct{})
	var ran atomic.Int32
	accepted := 0
	for i := 0; i < 10000; i++ {
		if d.Do(context.Background(), 1, func(context.Context) { <-release; ran.Add(1) }) {
			accepted++
		}
	}
	// Another chat is not held up by the flood.
	other := make(chan struct{})
	d.Do(context.Background(), 2, func(context.Context) { close(other) })
	<-other
	close(release)
	d.Wait()
	// Depending on whether the first job had started, MaxPerChat or one more.
	if (accepted != MaxPerChat && accepted != MaxPerChat+1) || int(ran.Load()) != accepted || d.Dropped() != 10000-accepted {
		t.Fatalf("accepted %d, ran %d, dropped %d; want about %d accepted", accepted, ran.Load(), d.Dropped(), MaxPerChat)
	}
}

// TestRunKeepsOrderWithQueuedJobs: Run on a busy chat queues behind the
// chat's earlier jobs and returns once its own has run after them; on an
// idle chat it runs at once.
func TestRunKeepsOrderWithQueuedJobs(t *testing.T) {
	d := NewDispatcher(4)
	var mu sync.Mutex
	var order []int
	add := func(i int) func(context.Context) {
		return func(context.Context) { mu.Lock(); order = append(order, i); mu.Unlock() }
	}
	release := make(chan struct{})
	d.Do(context.Background(), 1, func(context.Context) { <-release; add(0)(nil) })
	d.Do(context.Background(), 1, add(1))
	done := make(chan struct{})
	go func() { d.Run(context.Background(), 1, add(2)); close(done) }()
	// Run has queued its job behind job 1 while job 0 still runs: it
	// must not have run it in its own goroutine, and must not return.
	for deadline := time.Now().Add(10 * time.Second); d.waiting(1) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Run's job never queued behind the busy chat (%d waiting)", d.waiting(1))
		}
	}
	select {
	case <-done:
		t.Fatal("Run returned while the chat's earlier jobs were still waiting")
	default:
	}
	mu.Lock()
	if len(order) != 0 {
		t.Fatalf("ran %v while job 0 was still running", order)
	}
	mu.Unlock()
	close(release)
	<-done
	d.Run(context.Background(), 1, add(3)) // idle chat: runs here
	d.Wait()
	if fmt.Sprint(order) != "[0 1 2 3]" {
		t.Fatalf("order %v", order)
	}
}
