package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Alert is an urgent case nobody has claimed, due for an alert to staff.
type Alert struct {
	Ref        string
	ReceivedAt time.Time
	Repeat     int // alerts sent before this one
}

var markAlerted = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'claimed_ms', 'alerted_ms', 'alerts')
if h[1] ~= 'new' then return -1 end
local now, interval, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if h[2] and h[2] ~= '' and now - tonumber(h[3] or '0') < lease then return -1 end
if now - tonumber(h[4] or '0') < interval then return -1 end
redis.call('HSET', KEYS[1], 'alerted_ms', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'alerts', 1) - 1
`)

// DueAlerts returns the urgent new cases that nobody holds (or whose claim
// has lapsed after lease) and that were not alerted within interval, and
// marks them alerted at now. Several bot processes may call it: each case
// is handed to one of them per interval.
func (s *Store) DueAlerts(ctx context.Context, now time.Time, interval, lease time.Duration) ([]Alert, error) {
	refs, err := s.rdb.ZRangeByScore(ctx, statusKey("new"), &redis.ZRangeBy{
		Min: strconv.FormatFloat(urgentBand, 'f', 0, 64), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list urgent cases: %w", err)
	}
	var out []Alert
	for _, ref := range refs {
		n, err := markAlerted.Run(ctx, s.rdb, []string{reportKey(ref)},
			now.UnixMilli(), interval.Milliseconds(), lease.Milliseconds()).Int()
		if err != nil {
			return nil, fmt.Errorf("store: mark alert: %w", err)
		}
		if n < 0 {
			continue
		}
		at, _ := s.rdb.HGet(ctx, reportKey(ref), "received_at").Result()
		out = append(out, Alert{Ref: ref, ReceivedAt: parseTime(at), Repeat: n})
	}
	return out, nil
}
