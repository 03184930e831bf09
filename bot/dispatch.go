package bot

import (
	"context"
	"sync"
)

// Dispatcher runs work for many chats: one chat's jobs strictly one after
// another in the order they were given, different chats in parallel (at most
// workers at once). A chat with nothing pending holds no goroutine.
type Dispatcher struct {
	mu    sync.Mutex
	chats map[int64]*chatQueue
	slots chan struct{}
	wg    sync.WaitGroup
}

type chatQueue struct {
	pending []func(context.Context)
}

// NewDispatcher returns a dispatcher running at most workers jobs at once.
func NewDispatcher(workers int) *Dispatcher {
	if workers < 1 {
		workers = 1
	}
	return &Dispatcher{chats: map[int64]*chatQueue{}, slots: make(chan struct{}, workers)}
}

// Do queues job for chat. It never blocks on the job itself.
func (d *Dispatcher) Do(ctx context.Context, chat int64, job func(context.Context)) {
	d.mu.Lock()
	if q, ok := d.chats[chat]; ok {
		q.pending = append(q.pending, job)
		d.mu.Unlock()
		return
	}
	q := &chatQueue{pending: []func(context.Context){job}}
	d.chats[chat] = q
	d.wg.Add(1)
	d.mu.Unlock()
	go d.run(ctx, chat, q)
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
