package bot

import (
	"context"
	"sync"
)

// Dispatcher runs work for many chats: one chat's jobs strictly one after
// another in the order they were given, different chats in parallel (at most
// workers at once). A chat with nothing pending holds no goroutine.
type Dispatcher struct {
	mu      sync.Mutex
	chats   map[int64]*chatQueue
	slots   chan struct{}
	wg      sync.WaitGroup
	limit   int // jobs one chat may have waiting
	dropped int
}

// MaxPerChat bounds the jobs queued for one chat: a chat that floods the
// bot cannot grow its memory without bound, and loses what is beyond.
const MaxPerChat = 200

type chatQueue struct {
	pending []func(context.Context)
}

// NewDispatcher returns a dispatcher running at most workers jobs at once.
func NewDispatcher(workers int) *Dispatcher {
	if workers < 1 {
		workers = 1
	}
	return &Dispatcher{chats: map[int64]*chatQueue{}, slots: make(chan struct{}, workers), limit: MaxPerChat}
}

// Do queues job for chat. It never blocks on the job itself. It reports
// false, dropping the job, when the chat already has MaxPerChat waiting.
func (d *Dispatcher) Do(ctx context.Context, chat int64, job func(context.Context)) bool {
	d.mu.Lock()
	if q, ok := d.chats[chat]; ok {
		if len(q.pending) >= d.limit {
			d.dropped++
			d.mu.Unlock()
			return false
		}
		q.pending = append(q.pending, job)
		d.mu.Unlock()
		return true
	}
	q := &chatQueue{pending: []func(context.Context){job}}
	d.chats[chat] = q
	d.wg.Add(1)
	d.mu.Unlock()
	go d.run(ctx, chat, q)
	return true
}

// Dropped returns how many jobs were dropped because a chat had too many
// waiting.
func (d *Dispatcher) Dropped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

func (d *Dispatcher) run(ctx context.Context, chat int64, q *chatQueue) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		if len(q.pending) == 0 {
			delete(d.chats, chat)
			d.mu.Unlock()
			return
		}
		job := q.pending[0]
		q.pending[0] = nil
		q.pending = q.pending[1:]
		d.mu.Unlock()

		d.slots <- struct{}{}
		job(ctx)
		<-d.slots
	}
}

// Wait blocks until every queued job has run.
func (d *Dispatcher) Wait() { d.wg.Wait() }

// Pending returns the number of chats with work queued or running.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.chats)
}
