package bot

import (
	"context"
	"sync"
	"time"
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

// waiting returns how many jobs of chat are queued behind the one running.
func (d *Dispatcher) waiting(chat int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q, ok := d.chats[chat]; ok {
		return len(q.pending)
	}
	return 0
}

// Run runs job for chat in the calling goroutine, after any job of the chat
// queued or running before it, and returns when it is done. It saves the
// hand-over to another goroutine when the chat is idle, as it nearly always
// is for the one worker that holds the chat's inbox partition.
func (d *Dispatcher) Run(ctx context.Context, chat int64, job func(context.Context)) {
	d.mu.Lock()
	if _, busy := d.chats[chat]; busy {
		d.mu.Unlock()
		done := make(chan struct{})
		for !d.Do(ctx, chat, func(ctx context.Context) { defer close(done); job(ctx) }) {
			time.Sleep(10 * time.Millisecond) // the chat's queue is full: wait for room
		}
		<-done
		return
	}
	q := &chatQueue{}
	d.chats[chat] = q
	d.wg.Add(1)
	d.mu.Unlock()

	d.slots <- struct{}{}
	job(ctx)
	<-d.slots
	// Jobs queued for the chat meanwhile (staff replies) run on their own.
	d.run(ctx, chat, q)
}
