package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Allowance is how much of a budget all chats together may spend in one
// fixed window (an hour, a day: buckets of Unix time, so days start at
// midnight UTC).
type Allowance struct {
	Window time.Duration // whole seconds
	Limit  int64
}

// Spending is a budget's counters in one window.
type Spending struct {
	Used    int64 // spent in the window so far
	Refused int64 // takes refused in the window
}

// spend adds ARGV[1] to the counters KEYS[1..w] unless that takes one past
// its limit (ARGV[1+i]); then it adds nothing and counts a refusal in the
// windows that refused (KEYS[w+i]). ARGV[1+w+i] are the windows in ms, the
// lifetime of the keys. Returns 1 when spent, 0 when refused.
var spend = redis.NewScript(`
local n, w = tonumber(ARGV[1]), #KEYS / 2
local over = false
for i = 1, w do
  if tonumber(redis.call('GET', KEYS[i]) or '0') + n > tonumber(ARGV[1+i]) then
    over = true
    if redis.call('INCR', KEYS[w+i]) == 1 then redis.call('PEXPIRE', KEYS[w+i], ARGV[1+w+i]) end
  end
end
if over then return 0 end
for i = 1, w do
  if redis.call('INCRBY', KEYS[i], n) == n then redis.call('PEXPIRE', KEYS[i], ARGV[1+w+i]) end
end
return 1
`)

// adjustSpent adds ARGV[1] (negative to give back) to the counters that
// still exist: a bucket that has expired is not brought back.
var adjustSpent = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[1]) end
end
return 1
`)

// Spend adds n to budget kind in now's bucket of each allowance, all or
// nothing: when that would take one of them past its limit, nothing is
// added, the refusal is counted in the windows that refused, and ok is
// false. Every bot process shares the counters.
func (s *Store) Spend(ctx context.Context, kind string, n int64, allow []Allowance, now time.Time) (ok bool, err error) {
	keys := make([]string, 2*len(allow))
	args := make([]any, 1+2*len(allow))
	args[0] = n
	for i, a := range allow {
		keys[i], keys[len(allow)+i] = budgetKey(kind, a.Window, now), budgetRefusedKey(kind, a.Window, now)
		args[1+i], args[1+len(allow)+i] = a.Limit, a.Window.Milliseconds()
	}
	got, err := spend.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("store: spend budget: %w", err)
	}
	return got == 1, nil
}

// AdjustSpent adds delta (negative to give back) to budget kind in the
// buckets of at, for a spend that turned out other than taken. Buckets
// that have expired meanwhile are left alone.
func (s *Store) AdjustSpent(ctx context.Context, kind string, delta int64, windows []time.Duration, at time.Time) error {
	if delta == 0 || len(windows) == 0 {
		return nil
	}
	keys := make([]string, len(windows))
	for i, w := range windows {
		keys[i] = budgetKey(kind, w, at)
	}
	if err := adjustSpent.Run(ctx, s.rdb, keys, delta).Err(); err != nil {
		return fmt.Errorf("store: adjust budget: %w", err)
	}
	return nil
}

// Spent returns budget kind's counters in now's bucket of each window.
func (s *Store) Spent(ctx context.Context, kind string, windows []time.Duration, now time.Time) ([]Spending, error) {
	used := make([]*redis.StringCmd, len(windows))
	refused := make([]*redis.StringCmd, len(windows))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range windows {
			used[i] = p.Get(ctx, budgetKey(kind, w, now))
			refused[i] = p.Get(ctx, budgetRefusedKey(kind, w, now))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: read budget: %w", err)
	}
	out := make([]Spending, len(windows))
	for i := range windows {
		out[i].Used, _ = used[i].Int64()
		out[i].Refused, _ = refused[i].Int64()
	}
	return out, nil
}

// AlertOnce marks an alert of budget kind at level (a percentage) as sent
// and reports whether this call marked it: of now's bucket of window, or,
// with window 0, of kind alone until ClearAlert or a day. Of several bot
// processes asking, one is told true.
func (s *Store) AlertOnce(ctx context.Context, kind string, window time.Duration, now time.Time, level int) (bool, error) {
	ttl := window
	if ttl <= 0 {
		ttl = memoryAlertTTL
	}
	ok, err := s.rdb.SetNX(ctx, budgetAlertKey(kind, window, now, level), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("store: mark alert: %w", err)
	}
	return ok, nil
}

// ClearAlert forgets an alert of kind alone (window 0) at level, so that
// the next crossing is alerted again.
func (s *Store) ClearAlert(ctx context.Context, kind string, level int) error {
	if err := s.rdb.Del(ctx, budgetAlertKey(kind, 0, time.Time{}, level)).Err(); err != nil {
		return fmt.Errorf("store: clear alert: %w", err)
	}
	return nil
}

// Memory is Redis's memory as INFO reports it.
type Memory struct {
	Used int64 // used_memory
	Max  int64 // maxmemory; 0 when Redis has no limit
}

// Percent is Used as a percentage of Max; 0 without a limit.
func (m Memory) Percent() float64 {
	if m.Max <= 0 {
		return 0
	}
	return 100 * float64(m.Used) / float64(m.Max)
}

// Memory returns the memory of the Redis master, or on a Cluster of the
// fullest master (the one nearest its maxmemory).
func (s *Store) Memory(ctx context.Context) (Memory, error) {
	c, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		m, err := memoryOf(ctx, s.rdb)
		if err != nil {
			return Memory{}, fmt.Errorf("store: read memory: %w", err)
		}
		return m, nil
	}
	var mu sync.Mutex
	var fullest Memory
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		m, err := memoryOf(ctx, node)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if fullest == (Memory{}) || m.Percent() > fullest.Percent() {
			fullest = m
		}
		return nil
	})
	if err != nil {
		return Memory{}, fmt.Errorf("store: read memory: %w", err)
	}
	return fullest, nil
}

func memoryOf(ctx context.Context, c redis.Cmdable) (Memory, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	var found int
	for _, line := range strings.Split(info, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		var dest *int64
		switch name {
		case "used_memory":
			dest = &m.Used
		case "maxmemory":
			dest = &m.Max
		default:
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("INFO memory: %s is not a number", name)
		}
		*dest = n
		found++
	}
	if found != 2 {
		return Memory{}, errors.New("INFO memory: no used_memory or maxmemory")
	}
	return m, nil
}
