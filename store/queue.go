package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// urgentBand lifts urgent cases above all others in the list order: a case's
// score is its received time in milliseconds, plus urgentBand if urgent.
const urgentBand = 1e13

func score(receivedAt time.Time, urgent bool) float64 {
	s := float64(receivedAt.UnixMilli())
	if urgent {
		s += urgentBand
	}
	return s
}

// Submission is a confirmed report, sealed to the staff.
type Submission struct {
	DraftID    string // the draft's random id: submitting it again is a no-op
	Ref        string
	Sealed     []byte // age file
	SealedTo   []string
	ReceivedAt time.Time
	Urgent     bool
	Route      []byte // bot-sealed: where staff replies go; nil for none
	// Uploads are the draft's evidence files (UploadKey), in order; they
	// become the case's files 0, 1, …
	Uploads []string
}

// enqueue queues a report once per draft id. It returns {1, ref} for a new
// report, {0, ref} for a draft already submitted (ref is the earlier one),
// and {-1, ""} when the reference is taken. The new stream entry is at once
// delivered to the staff group and held by the "queue" consumer until a
// staff member claims it.
var enqueue = redis.NewScript(`
local prior = redis.call('GET', KEYS[1])
if prior then return {0, prior} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, ''} end
local id = redis.call('XADD', KEYS[3], '*', 'ref', ARGV[1], 'received_at', ARGV[3], 'urgent', ARGV[4])
redis.call('XREADGROUP', 'GROUP', ARGV[9], ARGV[10], 'COUNT', 1000, 'STREAMS', KEYS[3], '>')
redis.call('HSET', KEYS[2], 'sealed', ARGV[2], 'received_at', ARGV[3], 'urgent', ARGV[4], 'status', 'new',
  'entry', id, 'sealed_to', ARGV[7], 'score', ARGV[6], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[1])
if ARGV[8] ~= '' then redis.call('SET', KEYS[6], ARGV[8]) end
local files = tonumber(ARGV[11])
local missing = 0
for i = 1, files do
  local from, to = KEYS[6 + i], KEYS[6 + files + i]
  if redis.call('EXISTS', from) == 1 then
    redis.call('RENAME', from, to)
    redis.call('PERSIST', to)
  else
    missing = missing + 1
  end
end
if files > 0 then redis.call('HSET', KEYS[2], 'files', files, 'missing_files', missing) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
return {1, ARGV[1]}
`)

// Enqueue stores a sealed report and queues it for staff, atomically. For a
// draft id already submitted it stores nothing and returns the earlier
// reference with fresh false. ErrRefTaken asks for another reference.
// With Options.WaitReplicas, ErrNotReplicated means the replicas do not
// have the report yet: no receipt may be sent, and the same draft
// submitted again returns the same reference once they have it.
func (s *Store) Enqueue(ctx context.Context, sub Submission) (ref string, fresh bool, err error) {
	urgent := "0"
	if sub.Urgent {
		urgent = "1"
	}
	keys := []string{submissionKey(sub.DraftID), reportKey(sub.Ref), queueKey, openKey, statusKey("new"), routeKey(sub.Ref)}
	keys = append(keys, sub.Uploads...)
	for i := range sub.Uploads {
		keys = append(keys, fileKey(sub.Ref, i))
	}
	args := []any{sub.Ref, sub.Sealed, formatTime(sub.ReceivedAt), urgent, s.opts.SubmissionTTL.Milliseconds(),
		score(sub.ReceivedAt, sub.Urgent), strings.Join(sub.SealedTo, ","), sub.Route, staffGroup, unclaimedTag,
		len(sub.Uploads)}
	var run *redis.Cmd
	err = s.writeThrough(ctx, queueKey, func(p redis.Pipeliner, full bool) {
		run = queueScript(ctx, p, enqueue, full, keys, args...)
	})
	if errors.Is(err, ErrNotReplicated) {
		return "", false, err
	}
	var res []any
	if err == nil {
		res, err = run.Slice()
	}
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

// Case is a queued report with its plain metadata.
type Case struct {
	Ref        string
	ReceivedAt time.Time
	Urgent     bool
	Status     string
	Assignee   string
	ClaimedAt  time.Time // the current holder's claim; zero when nobody holds it
	// FirstClaimedAt is when the case was first claimed or assigned, and
	// FirstReplyAt when its first reply to the defender was accepted for
	// delivery; each is set once and kept (zero: not yet). Cases from
	// before they were recorded have neither.
	FirstClaimedAt time.Time
	FirstReplyAt   time.Time
	UpdatedAt      time.Time
	ClosedAt       time.Time
	SealedTo       []string // fingerprints of the keys the report was sealed to
	Entry          string   // the queue stream entry id
	Sealed         []byte   // age file
	Files          int      // evidence files stored with the case
	Missing        int      // evidence files that had expired before the report was sent
}

// Report returns one case by reference, or ErrNotFound.
func (s *Store) Report(ctx context.Context, ref string) (Case, error) {
	m, err := s.rdb.HGetAll(ctx, reportKey(ref)).Result()
	if err != nil {
		return Case{}, fmt.Errorf("store: read case: %w", err)
	}
	if len(m) == 0 {
		return Case{}, ErrNotFound
	}
	return toCase(ref, m), nil
}

func toCase(ref string, m map[string]string) Case {
	c := Case{
		Ref: ref, Urgent: m["urgent"] == "1", Status: m["status"], Assignee: m["assignee"],
		ReceivedAt: parseTime(m["received_at"]), ClaimedAt: parseTime(m["claimed_at"]),
		UpdatedAt: parseTime(m["updated_at"]), ClosedAt: parseTime(m["closed_at"]),
		FirstClaimedAt: parseTime(m["first_claimed_at"]), FirstReplyAt: parseTime(m["first_reply_at"]),
		Entry: m["entry"], Sealed: []byte(m["sealed"]),
	}
	c.Files, _ = strconv.Atoi(m["files"])
	c.Missing, _ = strconv.Atoi(m["missing_files"])
	if m["sealed_to"] != "" {
		c.SealedTo = strings.Split(m["sealed_to"], ",")
	}
	return c
}

// Selection names a set of cases to page through.
type Selection string

const (
	SelectOpen Selection = ""    // every case not closed
	SelectAll  Selection = "all" // every case
)

// SelectStatus selects the cases in one status.
func SelectStatus(status string) Selection { return Selection(status) }

// Cases returns up to count cases of sel from offset on, urgent first, then
// newest first, and how many sel holds in all.
func (s *Store) Cases(ctx context.Context, sel Selection, offset, count int64) ([]Case, int64, error) {
	var refs []string
	var total int64
	var err error
	switch sel {
	case SelectOpen:
		refs, total, err = s.page(ctx, openKey, offset, count)
	case SelectAll:
		refs, total, err = s.pageAll(ctx, offset, count)
	default:
		refs, total, err = s.page(ctx, statusKey(string(sel)), offset, count)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: list cases: %w", err)
	}
	cases, err := s.cases(ctx, refs)
	return cases, total, err
}

// page reads one page of an index of cases, highest score first, and the
// index's size.
func (s *Store) page(ctx context.Context, key string, offset, count int64) ([]string, int64, error) {
	var zr *redis.StringSliceCmd
	var total *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		zr = p.ZRevRange(ctx, key, offset, offset+count-1)
		total = p.ZCard(ctx, key)
		return nil
	})
	return zr.Val(), total.Val(), err
}

// pageAll reads one page of every case: the open ones and the closed ones,
// which are two indexes with the same scores, merged here in the order
// ZREVRANGE gives (score, then reference, highest first). The merge is
// done by the client, not by ZUNIONSTORE on the server: the staff's Redis
// user may not run ZUNIONSTORE, which would let it copy sets it may not
// read (a broadcast's recipients) into one it may.
func (s *Store) pageAll(ctx context.Context, offset, count int64) ([]string, int64, error) {
	var open, closed *redis.ZSliceCmd
	var nOpen, nClosed *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		open = p.ZRevRangeWithScores(ctx, openKey, 0, offset+count-1)
		closed = p.ZRevRangeWithScores(ctx, statusKey("closed"), 0, offset+count-1)
		nOpen = p.ZCard(ctx, openKey)
		nClosed = p.ZCard(ctx, statusKey("closed"))
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	a, b := open.Val(), closed.Val()
	refs := make([]string, 0, min(int64(len(a)+len(b)), offset+count))
	for int64(len(refs)) < offset+count && (len(a) > 0 || len(b) > 0) {
		var z redis.Z
		if len(b) == 0 || len(a) > 0 && before(a[0], b[0]) {
			z, a = a[0], a[1:]
		} else {
			z, b = b[0], b[1:]
		}
		refs = append(refs, z.Member.(string))
	}
	if int64(len(refs)) <= offset {
		return nil, nOpen.Val() + nClosed.Val(), nil
	}
	return refs[offset:], nOpen.Val() + nClosed.Val(), nil
}

// before reports whether x comes before y in ZREVRANGE's order.
func before(x, y redis.Z) bool {
	if x.Score != y.Score {
		return x.Score > y.Score
	}
	return x.Member.(string) > y.Member.(string)
}

func (s *Store) cases(ctx context.Context, refs []string) ([]Case, error) {
	cmds := make([]*redis.MapStringStringCmd, len(refs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HGetAll(ctx, reportKey(ref))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read cases: %w", err)
	}
	out := make([]Case, 0, len(refs))
	for i, ref := range refs {
		if m := cmds[i].Val(); len(m) > 0 {
			out = append(out, toCase(ref, m))
		}
	}
	return out, nil
}

// Queue lists queued cases in the order they arrived, at most limit of them
// (0: all).
func (s *Store) Queue(ctx context.Context, limit int64) ([]Case, error) {
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
	refs := make([]string, len(entries))
	for i, e := range entries {
		refs[i], _ = e.Values["ref"].(string)
	}
	return s.cases(ctx, refs)
}

// Statuses returns the metadata (no sealed body) of each reference that
// exists, in order.
func (s *Store) Statuses(ctx context.Context, refs []string) ([]Case, error) {
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
	var out []Case
	for i, ref := range refs {
		v := cmds[i].Val()
		if len(v) != 3 || v[2] == nil {
			continue
		}
		at, _ := v[0].(string)
		urgent, _ := v[1].(string)
		status, _ := v[2].(string)
		out = append(out, Case{Ref: ref, ReceivedAt: parseTime(at), Urgent: urgent == "1", Status: status})
	}
	return out, nil
}

// QueueMark returns a short string that changes whenever a report is
// queued or purged, or a case is closed or reopened: the length of the
// queue stream, its newest entry and the number of open cases. It reads
// no report, so a page can poll it to learn when to list again.
func (s *Store) QueueMark(ctx context.Context) (string, error) {
	var n, open *redis.IntCmd
	var last *redis.XMessageSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = p.XLen(ctx, queueKey)
		last = p.XRevRangeN(ctx, queueKey, "+", "-", 1)
		open = p.ZCard(ctx, openKey)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: queue mark: %w", err)
	}
	newest := "0-0"
	if l := last.Val(); len(l) > 0 {
		newest = l[0].ID
	}
	return itoa(n.Val()) + "/" + newest + "/" + itoa(open.Val()), nil
}

// QueueLength returns the number of entries in the queue stream.
func (s *Store) QueueLength(ctx context.Context) (int64, error) {
	n, err := s.rdb.XLen(ctx, queueKey).Result()
	if err != nil {
		return 0, fmt.Errorf("store: queue length: %w", err)
	}
	return n, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// The errors of staff actions.
var (
	// ErrConflict means the case changed while the action was prepared
	// (another staff member acted first); read it again and retry.
	ErrConflict = errors.New("store: the case changed meanwhile")
)

// HeldError means another staff member holds the case.
type HeldError struct{ By string }

func (e *HeldError) Error() string { return "store: case is held by " + e.By }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
