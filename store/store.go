// Package store keeps Vigil's state in Redis: chats' sealed drafts and
// settings, and the queue of sealed reports for mission staff.
//
// It is the only package that imports go-redis. It stores bytes it is given
// and never sees plain text: callers seal everything first (package seal).
// Every key name is built in keys.go, which also says what each key may hold.
//
// The queue is a Redis Stream with a consumer group for staff tools; a
// report's sealed body sits in a hash beside it with the little metadata
// routing needs. Enqueue is one Lua script, so a report is either queued
// whole or not at all, and a draft submitted twice is queued once.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound means there is no report with that reference.
var ErrNotFound = errors.New("store: no such report")

// ErrRefTaken means the reference chosen for a new report is already used;
// the caller picks another and tries again.
var ErrRefTaken = errors.New("store: reference already in use")

// Options are the store's lifetimes.
type Options struct {
	DraftTTL      time.Duration // abandoned drafts disappear after this
	ProfileTTL    time.Duration // a chat's settings, renewed on each use
	SubmissionTTL time.Duration // how long a submitted draft's id is remembered
}

// DefaultOptions are the lifetimes used when none are configured.
var DefaultOptions = Options{DraftTTL: 24 * time.Hour, ProfileTTL: 400 * 24 * time.Hour, SubmissionTTL: 72 * time.Hour}

// Store is Vigil's Redis state. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// Connect opens a client for a redis:// or unix:// URL and checks that the
// server answers.
func Connect(ctx context.Context, url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store: REDIS_URL: %w", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: connect to redis at %s: %w", opt.Addr, err)
	}
	return c, nil
}

// New returns a store over rdb. Zero lifetimes in opts take their defaults.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.DraftTTL <= 0 {
		opts.DraftTTL = DefaultOptions.DraftTTL
	}
	if opts.ProfileTTL <= 0 {
		opts.ProfileTTL = DefaultOptions.ProfileTTL
	}
	if opts.SubmissionTTL <= 0 {
		opts.SubmissionTTL = DefaultOptions.SubmissionTTL
	}
	return &Store{rdb: rdb, opts: opts}
}

// Init creates the queue and its staff consumer group if they do not exist.
func (s *Store) Init(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, queueKey, staffGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("store: create queue: %w", err)
	}
	return nil
}

// Chat is what is stored of one chat, sealed by the caller.
type Chat struct {
	Draft   []byte // nil when there is no draft
	Profile []byte // nil when nothing is remembered
}

// LoadChat reads a chat's draft and profile in one round trip and renews the
// profile's lifetime.
func (s *Store) LoadChat(ctx context.Context, handle string) (Chat, error) {
	var draft, profile *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		draft = p.Get(ctx, draftKey(handle))
		profile = p.GetEx(ctx, profileKey(handle), s.opts.ProfileTTL)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Chat{}, fmt.Errorf("store: load chat: %w", err)
	}
	var c Chat
	if b, err := draft.Bytes(); err == nil {
		c.Draft = b
	}
	if b, err := profile.Bytes(); err == nil {
		c.Profile = b
	}
	return c, nil
}

// ChatUpdate is a change to a chat's stored state. Nil fields are left as
// they are.
type ChatUpdate struct {
	Draft       []byte // new sealed draft
	DeleteDraft bool
	Profile     []byte // new sealed profile
}

// SaveChat applies a change to a chat in one round trip.
func (s *Store) SaveChat(ctx context.Context, handle string, u ChatUpdate) error {
	if u.Draft == nil && !u.DeleteDraft && u.Profile == nil {
		return nil
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if u.Profile != nil {
			p.Set(ctx, profileKey(handle), u.Profile, s.opts.ProfileTTL)
		}
		switch {
		case u.Draft != nil:
			p.Set(ctx, draftKey(handle), u.Draft, s.opts.DraftTTL)
		case u.DeleteDraft:
			p.Del(ctx, draftKey(handle))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save chat: %w", err)
	}
	return nil
}

// Submission is a confirmed report, sealed to the staff.
type Submission struct {
	DraftID    string // the draft's random id: submitting it again is a no-op
	Ref        string
	Sealed     []byte // age file
	ReceivedAt time.Time
	Urgent     bool
}

// enqueue queues a report once per draft id. It returns {1, ref} for a new
// report, {0, ref} for a draft already submitted (ref is the earlier one),
// and {-1, ""} when the reference is taken.
var enqueue = redis.NewScript(`
local prior = redis.call('GET', KEYS[1])
if prior then return {0, prior} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, ''} end
redis.call('HSET', KEYS[2], 'sealed', ARGV[2], 'received_at', ARGV[3], 'urgent', ARGV[4], 'status', 'new')
redis.call('XADD', KEYS[3], '*', 'ref', ARGV[1], 'received_at', ARGV[3], 'urgent', ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
return {1, ARGV[1]}
`)

// Enqueue stores a sealed report and queues it for staff, atomically. For a
// draft id already submitted it stores nothing and returns the earlier
// reference with fresh false. ErrRefTaken asks for another reference.
func (s *Store) Enqueue(ctx context.Context, sub Submission) (ref string, fresh bool, err error) {
	urgent := "0"
	if sub.Urgent {
		urgent = "1"
	}
	res, err := enqueue.Run(ctx, s.rdb,
		[]string{submissionKey(sub.DraftID), reportKey(sub.Ref), queueKey},
		sub.Ref, sub.Sealed, sub.ReceivedAt.UTC().Format(time.RFC3339), urgent, s.opts.SubmissionTTL.Milliseconds(),
	).Slice()
	if err != nil {
		return "", false, fmt.Errorf("store: enqueue report: %w", err)
	}
	code, _ := res[0].(int64)
	got, _ := res[1].(string)
	switch code {
	case 1:
		return got, true, nil
	case 0:
		return got, false, nil
	default:
		return "", false, ErrRefTaken
	}
}

// Report is a queued report as stored.
type Report struct {
	Ref        string
	ReceivedAt time.Time
	Urgent     bool
	Status     string
	Sealed     []byte
}

// Report returns one report by reference, or ErrNotFound.
func (s *Store) Report(ctx context.Context, ref string) (Report, error) {
	m, err := s.rdb.HGetAll(ctx, reportKey(ref)).Result()
	if err != nil {
		return Report{}, fmt.Errorf("store: read report: %w", err)
	}
	if len(m) == 0 {
		return Report{}, ErrNotFound
	}
	return toReport(ref, m), nil
}

func toReport(ref string, m map[string]string) Report {
	t, _ := time.Parse(time.RFC3339, m["received_at"])
	return Report{Ref: ref, ReceivedAt: t, Urgent: m["urgent"] == "1", Status: m["status"], Sealed: []byte(m["sealed"])}
}

// Queue lists queued reports in the order they arrived, at most limit of
// them (0: all), with their sealed bodies.
func (s *Store) Queue(ctx context.Context, limit int64) ([]Report, error) {
	var entries []redis.XMessage
	var err error
	if limit > 0 {
		entries, err = s.rdb.XRangeN(ctx, queueKey, "-", "+", limit).Result()
	} else {
		entries, err = s.rdb.XRange(ctx, queueKey, "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("store: read queue: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(entries))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			ref, _ := e.Values["ref"].(string)
			cmds[i] = p.HGetAll(ctx, reportKey(ref))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read queued reports: %w", err)
	}
	out := make([]Report, 0, len(entries))
	for i, e := range entries {
		ref, _ := e.Values["ref"].(string)
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // purged
		}
		out = append(out, toReport(ref, m))
	}
	return out, nil
}

// Statuses returns the status of each reference that exists, in order.
func (s *Store) Statuses(ctx context.Context, refs []string) ([]Report, error) {
	cmds := make([]*redis.SliceCmd, len(refs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HMGet(ctx, reportKey(ref), "received_at", "urgent", "status")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read statuses: %w", err)
	}
	var out []Report
	for i, ref := range refs {
		v := cmds[i].Val()
		if len(v) != 3 || v[2] == nil {
			continue
		}
		at, _ := v[0].(string)
		urgent, _ := v[1].(string)
		status, _ := v[2].(string)
		t, _ := time.Parse(time.RFC3339, at)
		out = append(out, Report{Ref: ref, ReceivedAt: t, Urgent: urgent == "1", Status: status})
	}
	return out, nil
}

// QueueLength returns the number of entries in the queue.
func (s *Store) QueueLength(ctx context.Context) (int64, error) {
	n, err := s.rdb.XLen(ctx, queueKey).Result()
	if err != nil {
		return 0, fmt.Errorf("store: queue length: %w", err)
	}
	return n, nil
}
