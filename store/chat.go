package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxRemembered bounds the message ids kept per chat.
const maxRemembered = 1000

// Count adds one to a chat's counter of kind in the current fixed window
// and returns the new count.
func (s *Store) Count(ctx context.Context, handle, kind string, window time.Duration, now time.Time) (int64, error) {
	var n *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = Counter{Kind: kind, Window: window, Now: now}.queue(ctx, p, handle)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n.Val(), nil
}

// Counted returns a chat's counter of kind in the current window without
// changing it.
func (s *Store) Counted(ctx context.Context, handle, kind string, window time.Duration, now time.Time) (int64, error) {
	n, err := s.rdb.Get(ctx, rateKey(handle, kind, window, now)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read count: %w", err)
	}
	return n, nil
}

// RememberMessages records message ids of a chat, so that /wipe can delete
// them later. Only the newest maxRemembered are kept, for 48 hours.
func (s *Store) RememberMessages(ctx context.Context, handle string, ids []int) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.rememberIn(ctx, p, handle, ids)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: remember messages: %w", err)
	}
	return nil
}

func (s *Store) rememberIn(ctx context.Context, p redis.Pipeliner, handle string, ids []int) {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	key := msgsKey(handle)
	p.RPush(ctx, key, vals...)
	p.LTrim(ctx, key, -maxRemembered, -1)
	p.Expire(ctx, key, messageTTL)
}

// TakeMessages returns and forgets the message ids recorded for a chat.
func (s *Store) TakeMessages(ctx context.Context, handle string) ([]int, error) {
	var lr *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		lr = p.LRange(ctx, msgsKey(handle), 0, -1)
		p.Del(ctx, msgsKey(handle))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take messages: %w", err)
	}
	ids := make([]int, 0, len(lr.Val()))
	for _, v := range lr.Val() {
		if id, err := strconv.Atoi(v); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Forget deletes what is kept about a chat outside its submitted reports:
// draft, settings, message ids, the last reply, and the reply routes of its reports (after
// which staff can no longer write to the chat). Counters expire on their own.
func (s *Store) Forget(ctx context.Context, handle string, refs []string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, draftKey(handle), profileKey(handle), msgsKey(handle), appliedKey(handle), replyKey(handle))
		for _, ref := range refs {
			p.Del(ctx, routeKey(ref))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: forget chat: %w", err)
	}
	return nil
}
