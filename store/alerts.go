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
local h = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'claimed_ms', 'alerted_ms', 'received_at')
if h[1] ~= 'new' then return -1 end
local now, interval, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if h[2] and h[2] ~= '' and now - tonumber(h[3] or '0') < lease then return -1 end
if now - tonumber(h[4] or '0') < interval then return -1 end
redis.call('HSET', KEYS[1], 'alerted_ms', ARGV[1])
return {redis.call('HINCRBY', KEYS[1], 'alerts', 1) - 1, h[5]}
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
		res, err := markAlerted.Run(ctx, s.rdb, []string{reportKey(ref)},
			now.UnixMilli(), interval.Milliseconds(), lease.Milliseconds()).Result()
		if err != nil {
			return nil, fmt.Errorf("store: mark alert: %w", err)
		}
		due, ok := res.([]any) // -1 when the case is not due
		if !ok || len(due) != 2 {
			continue
		}
		n, _ := due[0].(int64)
		at, _ := due[1].(string)
		out = append(out, Alert{Ref: ref, ReceivedAt: parseTime(at), Repeat: int(n)})
	}
	return out, nil
}
