package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/response"
)

// Times returns the response clock's inputs of c (see package response):
// its first claim (or, for a case from before first claims were recorded,
// its current one) and its first reply.
func (c Case) Times() response.Times {
	claimed := c.FirstClaimedAt
	if claimed.IsZero() {
		claimed = c.ClaimedAt
	}
	return response.Times{ReceivedAt: c.ReceivedAt, Urgent: c.Urgent, Closed: c.Status == "closed",
		ClaimedAt: claimed, RepliedAt: c.FirstReplyAt}
}

// escalatedField is the case hash field that records when an urgent
// case's overdue deadline (claim or reply) was announced.
func escalatedField(deadline string) string { return "escalated_" + deadline }

// markEscalated records, once, that an urgent case's overdue deadline is
// announced: 1 for the one caller that gets to announce it, 0 for every
// other, and for a case closed, gone, or whose deadline was met meanwhile.
var markEscalated = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', ARGV[1], 'first_claimed_at', 'claimed_at', 'first_reply_at')
if not h[1] or h[1] == 'closed' or h[2] then return 0 end
if ARGV[2] == 'claim' and (h[3] or h[4]) then return 0 end
if ARGV[2] == 'reply' and h[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

// DueEscalations reads every open case's clock at now against targets. It
// returns the overdue deadlines of urgent cases not announced yet, each
// marked announced at once (several bot processes may call it: each
// deadline of each case is handed to exactly one of them, once), and how
// many open cases are overdue, by urgency and deadline. Zero targets are
// response.DefaultTargets. It reads no report, only plain metadata.
func (s *Store) DueEscalations(ctx context.Context, now time.Time, targets response.Targets) ([]response.Escalation, response.Counts, error) {
	targets = targets.OrDefault()
	refs, err := s.rdb.ZRangeByScore(ctx, openKey, &redis.ZRangeBy{Min: "-inf", Max: "+inf"}).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("store: list open cases: %w", err)
	}
	fields := []string{"status", "urgent", "received_at", "claimed_at", "first_claimed_at", "first_reply_at",
		escalatedField(response.Claim), escalatedField(response.Reply)}
	cmds := make([]*redis.SliceCmd, len(refs))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HMGet(ctx, reportKey(ref), fields...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: read open cases: %w", err)
	}
	var all []response.Times
	var due []response.Escalation
	for i, ref := range refs {
		v := cmds[i].Val()
		get := func(j int) string { s, _ := v[j].(string); return s }
		if len(v) != len(fields) || v[0] == nil {
			continue // purged meanwhile
		}
		c := Case{Ref: ref, Status: get(0), Urgent: get(1) == "1", ReceivedAt: parseTime(get(2)),
			ClaimedAt: parseTime(get(3)), FirstClaimedAt: parseTime(get(4)), FirstReplyAt: parseTime(get(5))}
		times := c.Times()
		all = append(all, times)
		if !c.Urgent {
			continue
		}
		for _, d := range targets.OverdueDeadlines(times, now) {
			if (d == response.Claim && get(6) != "") || (d == response.Reply && get(7) != "") {
				continue // announced before
			}
			won, err := markEscalated.Run(ctx, s.rdb, []string{reportKey(ref)}, escalatedField(d), d, formatTime(now)).Int()
			if err != nil {
				return nil, nil, fmt.Errorf("store: mark escalation: %w", err)
			}
			if won == 1 {
				k := targets.Clock(times, now)
				at := k.ClaimDue
				if d == response.Reply {
					at = k.ReplyDue
				}
				due = append(due, response.Escalation{Ref: ref, Deadline: d, Due: at})
			}
		}
	}
	return due, targets.Tally(all, now), nil
}
