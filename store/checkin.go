package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Safety check-ins. A running check-in is one hash (checkinKey) and one
// member of the schedule (checkinDueKey), both under the hash tag {ck} so
// that every script below touches them atomically, on a Redis Cluster too.
//
// The hash holds the record sealed with the bot's key ("sealed"), the
// defender's note sealed to the staff ("note", which the bot cannot read),
// and plain scheduling fields only: deadline_ms, stage and version. The
// schedule's score is the time of the next thing to do, in milliseconds:
// the reminder while the stage is armed, the deadline plus the grace once
// reminded, a lease's end while a process works on it.
//
// Stages: armed (waiting for the reminder), reminded (waiting for the
// deadline plus grace), missing (a process is making the missed case),
// missed (the case is made; nothing more is scheduled). Every change bumps
// version, and a process that acts on what it claimed names the version it
// saw: if the defender checked in meanwhile, its change is refused.

// Check-in stages.
const (
	StageArmed    = "armed"
	StageReminded = "reminded"
	StageMissing  = "missing"
	StageMissed   = "missed"
)

// ErrNoCheckin means the chat runs no check-in.
var ErrNoCheckin = errors.New("store: no check-in running")

// ErrCheckinChanged means the check-in changed since it was claimed (the
// defender checked in, changed it or stopped it): the claimer's action is
// void.
var ErrCheckinChanged = errors.New("store: the check-in changed meanwhile")

// Checkin is a running check-in as stored.
type Checkin struct {
	Handle   string
	Sealed   []byte // the record, sealed with the bot's key
	Note     []byte // the defender's note, sealed to the staff; nil for none
	Deadline time.Time
	Stage    string
	Version  int64
}

// CheckinSchedule is what a new deadline sets: the record, the deadline,
// when to remind, and how long the record lives if nothing touches it.
type CheckinSchedule struct {
	Sealed   []byte
	Deadline time.Time
	Remind   time.Time // the reminder's time; the schedule's next score
	TTL      time.Duration
}

func ms(t time.Time) int64 { return t.UnixMilli() }

var startCheckin = redis.NewScript(`
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'deadline_ms', ARGV[3], 'stage', 'armed')
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'note', ARGV[5])
elseif ARGV[6] == '0' then
  redis.call('HDEL', KEYS[1], 'note')
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
return v
`)

// StartCheckin starts (or replaces) a chat's check-in, with its note sealed
// to the staff (nil: none).
func (s *Store) StartCheckin(ctx context.Context, handle string, sc CheckinSchedule, note []byte) error {
	keep := "0"
	if note != nil {
		keep = "1"
	}
	err := startCheckin.Run(ctx, s.rdb, []string{checkinKey(handle), checkinDueKey},
		handle, sc.Sealed, ms(sc.Deadline), sc.TTL.Milliseconds(), note, keep, ms(sc.Remind)).Err()
	if err != nil {
		return fmt.Errorf("store: start check-in: %w", err)
	}
	return nil
}

// checkIn moves a running check-in to a new deadline, whatever its stage,
// and returns the stage and deadline it had, or an empty stage when none
// runs.
var checkIn = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'stage', 'deadline_ms')
if not h[1] then return {'', '0'} end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'deadline_ms', ARGV[3], 'stage', 'armed')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return {h[1], h[2]}
`)

// CheckIn records that the defender checked in: the check-in runs again
// with sc's deadline. It returns the stage and deadline it replaced; a
// stage of StageMissing or StageMissed means a missed case was (or is
// being) made for that deadline, which the caller corrects. ErrNoCheckin
// when none runs.
func (s *Store) CheckIn(ctx context.Context, handle string, sc CheckinSchedule) (stage string, deadline time.Time, err error) {
	res, err := checkIn.Run(ctx, s.rdb, []string{checkinKey(handle), checkinDueKey},
		handle, sc.Sealed, ms(sc.Deadline), sc.TTL.Milliseconds(), ms(sc.Remind)).StringSlice()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store: check in: %w", err)
	}
	if res[0] == "" {
		return "", time.Time{}, ErrNoCheckin
	}
	d, _ := strconv.ParseInt(res[1], 10, 64)
	return res[0], time.UnixMilli(d), nil
}

// LoadCheckin returns a chat's check-in, or ErrNoCheckin.
func (s *Store) LoadCheckin(ctx context.Context, handle string) (Checkin, error) {
	m, err := s.rdb.HGetAll(ctx, checkinKey(handle)).Result()
	if err != nil {
		return Checkin{}, fmt.Errorf("store: load check-in: %w", err)
	}
	if len(m) == 0 || m["stage"] == "" {
		return Checkin{}, ErrNoCheckin
	}
	return toCheckin(handle, m), nil
}

func toCheckin(handle string, m map[string]string) Checkin {
	c := Checkin{Handle: handle, Sealed: []byte(m["sealed"]), Stage: m["stage"]}
	if n, ok := m["note"]; ok {
		c.Note = []byte(n)
	}
	d, _ := strconv.ParseInt(m["deadline_ms"], 10, 64)
	c.Deadline = time.UnixMilli(d)
	c.Version, _ = strconv.ParseInt(m["version"], 10, 64)
	return c
}

// StopCheckin deletes a chat's check-in, record and schedule (Stop,
// /forget). Stopping none is no error.
func (s *Store) StopCheckin(ctx context.Context, handle string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, checkinKey(handle))
		p.ZRem(ctx, checkinDueKey, handle)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: stop check-in: %w", err)
	}
	return nil
}

// DueCheckins returns up to limit chats whose check-in has something due at
// now, earliest first. Claim each before acting on it.
func (s *Store) DueCheckins(ctx context.Context, now time.Time, limit int64) ([]string, error) {
	h, err := s.rdb.ZRangeByScore(ctx, checkinDueKey, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(ms(now), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list due check-ins: %w", err)
	}
	return h, nil
}

// claimCheckin takes a due check-in for one process: it checks the score
// is still due and pushes it to the lease's end, so that another process
// takes it over only if this one does not act in time. A member whose
// record is gone (it expired) is removed.
var claimCheckin = redis.NewScript(`
local sc = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not sc or tonumber(sc) > tonumber(ARGV[2]) then return false end
local h = redis.call('HMGET', KEYS[1], 'sealed', 'note', 'deadline_ms', 'stage', 'version')
if not h[4] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {h[1], h[2] or false, h[3], h[4], h[5]}
`)

// ClaimCheckin claims a due check-in at now for lease; ok is false when it
// is not due any more (another process claimed it, or the defender checked
// in) or is gone.
func (s *Store) ClaimCheckin(ctx context.Context, handle string, now time.Time, lease time.Duration) (c Checkin, ok bool, err error) {
	res, err := claimCheckin.Run(ctx, s.rdb, []string{checkinKey(handle), checkinDueKey},
		handle, ms(now), ms(now.Add(lease))).Slice()
	if errors.Is(err, redis.Nil) {
		return Checkin{}, false, nil
	}
	if err != nil {
		return Checkin{}, false, fmt.Errorf("store: claim check-in: %w", err)
	}
	m := map[string]string{}
	for i, f := range []string{"sealed", "note", "deadline_ms", "stage", "version"} {
		if v, ok := res[i].(string); ok {
			m[f] = v
		}
	}
	return toCheckin(handle, m), true, nil
}

var advanceCheckin = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'version')
if not v or v ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'stage', ARGV[3])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'sealed', ARGV[5]) end
return 1
`)

// AdvanceCheckin moves a claimed check-in of version to stage, next due
// at next (zero: nothing more is scheduled), and with sealed, when not
// nil, as its record. ErrCheckinChanged when the version moved on.
func (s *Store) AdvanceCheckin(ctx context.Context, handle string, version int64, stage string, next time.Time, sealed []byte) error {
	score := ""
	if !next.IsZero() {
		score = strconv.FormatInt(ms(next), 10)
	}
	n, err := advanceCheckin.Run(ctx, s.rdb, []string{checkinKey(handle), checkinDueKey},
		handle, version, stage, score, sealed).Int()
	if err != nil {
		return fmt.Errorf("store: advance check-in: %w", err)
	}
	if n == 0 {
		return ErrCheckinChanged
	}
	return nil
}

// CheckinCount returns how many check-ins are scheduled.
func (s *Store) CheckinCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, checkinDueKey).Result()
	if err != nil {
		return 0, fmt.Errorf("store: count check-ins: %w", err)
	}
	return n, nil
}

// EntryCheckin is the Kind of an inbox entry that carries a check-in's
// reminder to its chat's partition.
const EntryCheckin = "checkin"

// ForwardCheckin puts a check-in's reminder, sealed by the caller, into its
// chat's partition of the inbox, so that the partition's holder sends it in
// order with the chat's updates. It is sent once the check-in advances;
// until then its claim's lease ends and it is forwarded again.
func (s *Store) ForwardCheckin(ctx context.Context, partition int, sealed []byte) error {
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: inboxKey(partition), Values: []any{"kind", EntryCheckin, "sealed", sealed}}).Err()
	if err != nil {
		return fmt.Errorf("store: forward check-in: %w", err)
	}
	return nil
}

// Notice queues a case's reference for a "the defender checked in" line in
// the staff alert chat.
func (s *Store) Notice(ctx context.Context, ref string) error {
	if err := s.rdb.RPush(ctx, checkinNoticesKey, ref).Err(); err != nil {
		return fmt.Errorf("store: queue notice: %w", err)
	}
	return nil
}

var takeNotices = redis.NewScript(`
local l = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #l > 0 then redis.call('LTRIM', KEYS[1], #l, -1) end
return l
`)

// TakeNotices takes up to n queued notices, oldest first; each is handed
// to one caller.
func (s *Store) TakeNotices(ctx context.Context, n int) ([]string, error) {
	refs, err := takeNotices.Run(ctx, s.rdb, []string{checkinNoticesKey}, n).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: take notices: %w", err)
	}
	return refs, nil
}
