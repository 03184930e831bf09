package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every staff action below is one Lua script that appends to the audit
// stream first and changes the case after; if the audit entry cannot be
// written the script stops there and the case is left as it was.

// Transition moves a case from one status to another on behalf of staff.
type Transition struct {
	Ref, Staff string
	From, To   string // From is the status the caller saw; ErrConflict if it moved
	At         time.Time
	Reason     []byte // sealed to the staff; may be nil
}

var transition = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'score', 'entry')
if not h[1] then return {-1, ''} end
if h[1] ~= ARGV[3] then return {0, h[1]} end
if h[2] and h[2] ~= '' and h[2] ~= ARGV[2] then return {-2, h[2]} end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[5], 'who', ARGV[2], 'what', 'status', 'ref', ARGV[1], 'detail', ARGV[3] .. ' -> ' .. ARGV[4])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[6], h[3], ARGV[1])
if ARGV[4] == 'closed' then
  redis.call('ZREM', KEYS[7], ARGV[1])
  redis.call('HSET', KEYS[1], 'closed_at', ARGV[5])
else
  redis.call('ZADD', KEYS[7], h[3], ARGV[1])
  redis.call('HDEL', KEYS[1], 'closed_at')
end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'updated_at', ARGV[5])
if ARGV[3] == 'new' then redis.call('XACK', KEYS[4], ARGV[7], h[4]) end
redis.call('XADD', KEYS[3], '*', 'type', 'status', 'by', ARGV[2], 'at', ARGV[5], 'from', ARGV[3], 'to', ARGV[4], 'sealed', ARGV[6])
return {1, ''}
`)

// SetStatus records a status change. The stream entry of a new case is
// acknowledged by its first recorded status, never before. It fails with
// ErrNotFound, ErrConflict, or a *HeldError when someone else holds the case.
func (s *Store) SetStatus(ctx context.Context, t Transition) error {
	res, err := transition.Run(ctx, s.rdb,
		[]string{reportKey(t.Ref), auditKey, eventsKey(t.Ref), queueKey, statusKey(t.From), statusKey(t.To), openKey},
		t.Ref, t.Staff, t.From, t.To, formatTime(t.At), t.Reason, staffGroup).Slice()
	if err != nil {
		return fmt.Errorf("store: set status: %w", err)
	}
	return scriptResult(res)
}

func scriptResult(res []any) error {
	code, _ := res[0].(int64)
	detail, _ := res[1].(string)
	switch code {
	case 1:
		return nil
	case 0:
		return ErrConflict
	case -1:
		return ErrNotFound
	default:
		return &HeldError{By: detail}
	}
}

// Holding is a change of who works on a case.
type Holding struct {
	Ref, Staff string
	Mode       string // "claim", "assign" (to Target) or "release"
	Target     string
	At         time.Time
	Lease      time.Duration // a claim on a new case lapses after this
}

var holding = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'entry', 'claimed_ms')
if not h[1] then return {-1, ''} end
local status, holder, entry = h[1], h[2] or '', h[3]
local lapsed = status == 'new' and holder ~= '' and tonumber(ARGV[9]) - tonumber(h[4] or '0') >= tonumber(ARGV[4])
local mode, staff = ARGV[6], ARGV[2]
local new = staff
if mode == 'claim' then
  if holder ~= '' and holder ~= staff and not lapsed then return {-2, holder} end
elseif mode == 'assign' then
  new = ARGV[7]
else
  if holder ~= '' and holder ~= staff and not lapsed then return {-2, holder} end
  new = ''
end
local detail = holder .. ' -> ' .. new
redis.call('XADD', KEYS[2], '*', 'at', ARGV[3], 'who', staff, 'what', mode, 'ref', ARGV[1], 'detail', detail)
if status == 'new' then
  local to = new
  if to == '' then to = ARGV[8] end
  redis.call('XCLAIM', KEYS[4], ARGV[5], to, 0, entry)
end
if new == '' then
  redis.call('HDEL', KEYS[1], 'assignee', 'claimed_at', 'claimed_ms')
else
  redis.call('HSET', KEYS[1], 'assignee', new, 'claimed_at', ARGV[3], 'claimed_ms', ARGV[9])
  redis.call('HSETNX', KEYS[1], 'first_claimed_at', ARGV[3])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('XADD', KEYS[3], '*', 'type', mode, 'by', staff, 'at', ARGV[3], 'from', holder, 'to', new)
return {1, holder}
`)

// Hold claims, assigns or releases a case. Claiming a case someone else
// holds fails with a *HeldError naming them, unless their claim on a new
// case has lapsed (Lease passed, by the caller's clock, without a recorded
// status); assigning always
// succeeds and is audited. The first claim or assignment sets the case's
// FirstClaimedAt, once. A new case's stream entry moves to the consumer
// of whoever holds it ("queue" when nobody does), so the consumer group
// shows who has what.
func (s *Store) Hold(ctx context.Context, h Holding) (previous string, err error) {
	if h.Mode != "claim" && h.Mode != "assign" && h.Mode != "release" {
		return "", fmt.Errorf("store: unknown holding mode %q", h.Mode)
	}
	res, err := holding.Run(ctx, s.rdb,
		[]string{reportKey(h.Ref), auditKey, eventsKey(h.Ref), queueKey},
		h.Ref, h.Staff, formatTime(h.At), h.Lease.Milliseconds(), staffGroup, h.Mode, h.Target, unclaimedTag, h.At.UnixMilli()).Slice()
	if err != nil {
		return "", fmt.Errorf("store: %s case: %w", h.Mode, err)
	}
	prev, _ := res[1].(string)
	return prev, scriptResult(res)
}

// Entry is a text added to a case: a note, a reply or the defender's answer.
type Entry struct {
	Ref, Staff string // Staff is "" for the defender
	Kind       string // "note", "reply" or "answer"
	At         time.Time
	Sealed     []byte // the text, sealed to the staff
	ForBot     []byte // a reply only: the text sealed to the bot, for delivery
	// Statement and Signature, for a reply, are the staff member's signed
	// sign.Statement over ForBot (its canonical bytes and the armored
	// SSHSIG signature); they go with the reply to the bot, which delivers
	// nothing without them, and into the audit trail, where `vigil triage
	// audit --verify` checks them later.
	Statement, Signature []byte
	// Once, when set, names the entry (an answer: the inbox entry that
	// carried it): an entry of the same name is added once, however often
	// it is added within a week, as a handler that died after adding it
	// and before saving the chat's state would add it again.
	Once string
}

var addEntry = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'assignee')
if not h[1] then return {-1, ''} end
if ARGV[3] == 'reply' and h[2] and h[2] ~= '' and h[2] ~= ARGV[2] then return {-2, h[2]} end
if KEYS[5] and not redis.call('SET', KEYS[5], 1, 'NX', 'PX', ARGV[7]) then return {1, ''} end
if ARGV[2] ~= '' then
  if ARGV[8] ~= '' then
    redis.call('XADD', KEYS[2], '*', 'at', ARGV[4], 'who', ARGV[2], 'what', ARGV[3], 'ref', ARGV[1], 'detail', '', 'statement', ARGV[8], 'signature', ARGV[9])
  else
    redis.call('XADD', KEYS[2], '*', 'at', ARGV[4], 'who', ARGV[2], 'what', ARGV[3], 'ref', ARGV[1], 'detail', '')
  end
end
local id = redis.call('XADD', KEYS[3], '*', 'type', ARGV[3], 'by', ARGV[2], 'at', ARGV[4], 'sealed', ARGV[5])
if ARGV[3] == 'reply' then
  redis.call('XADD', KEYS[4], '*', 'ref', ARGV[1], 'event', id, 'sealed', ARGV[6], 'statement', ARGV[8], 'signature', ARGV[9])
  redis.call('HSETNX', KEYS[1], 'first_reply_at', ARGV[4])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
return {1, id}
`)

// AddEntry appends a note, a reply or an answer to a case. A reply is also
// queued for the bot to deliver, and is refused with a *HeldError when
// someone else holds the case; the first reply queued sets the case's
// FirstReplyAt, once (the response clocks of package response). Staff entries are audited; the defender's
// answers are not staff actions and are not.
func (s *Store) AddEntry(ctx context.Context, e Entry) error {
	switch e.Kind {
	case "note", "answer":
	case "reply":
		if e.ForBot == nil {
			return errors.New("store: a reply needs its copy for the bot")
		}
	default:
		return fmt.Errorf("store: unknown entry kind %q", e.Kind)
	}
	keys := []string{reportKey(e.Ref), auditKey, eventsKey(e.Ref), outboxKey}
	if e.Once != "" {
		keys = append(keys, onceKey(e.Ref, e.Once))
	}
	res, err := addEntry.Run(ctx, s.rdb, keys,
		e.Ref, e.Staff, e.Kind, formatTime(e.At), e.Sealed, e.ForBot, onceTTL.Milliseconds(), e.Statement, e.Signature).Slice()
	if err != nil {
		return fmt.Errorf("store: add %s: %w", e.Kind, err)
	}
	return scriptResult(res)
}

// Event is one step in a case's history.
type Event struct {
	ID       string
	Type     string // status, claim, assign, release, note, reply, answer, delivered, undeliverable
	By       string // staff name; "" for the defender or the bot
	At       time.Time
	From, To string
	Sealed   []byte
	Detail   string
}

// Events returns a case's history, oldest first.
func (s *Store) Events(ctx context.Context, ref string) ([]Event, error) {
	msgs, err := s.rdb.XRange(ctx, eventsKey(ref), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("store: read case history: %w", err)
	}
	out := make([]Event, len(msgs))
	for i, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		out[i] = Event{ID: m.ID, Type: v("type"), By: v("by"), At: parseTime(v("at")), From: v("from"), To: v("to"), Detail: v("detail")}
		if sealed := v("sealed"); sealed != "" {
			out[i].Sealed = []byte(sealed)
		}
	}
	return out, nil
}

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID     string
	At     time.Time
	Who    string
	What   string
	Ref    string // "" for actions over many cases
	Detail string
	// Statement and Signature are set on a signed action (a reply): the
	// sign.Statement's canonical bytes and its armored signature, as the
	// staff member's tool made them.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// Audit appends an entry to the audit trail. Callers that decrypt, export or
// count write it first and do nothing if it fails.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: auditKey, Values: []any{
		"at", formatTime(e.At), "who", e.Who, "what", e.What, "ref", e.Ref, "detail", e.Detail}}).Err()
	if err != nil {
		return fmt.Errorf("store: write audit entry: %w", err)
	}
	return nil
}

// AuditLog returns the audit trail, oldest first, for one case (ref) or all.
func (s *Store) AuditLog(ctx context.Context, ref string) ([]AuditEntry, error) {
	msgs, err := s.rdb.XRange(ctx, auditKey, "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	var out []AuditEntry
	for _, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		e := AuditEntry{ID: m.ID, At: parseTime(v("at")), Who: v("who"), What: v("what"), Ref: v("ref"), Detail: v("detail"),
			Statement: v("statement"), Signature: v("signature")}
		if ref != "" && e.Ref != ref && !strings.Contains(","+e.Detail+",", ","+ref+",") {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

var purge = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'entry')
if not h[1] then return {-1, ''} end
if h[1] ~= 'closed' then return {0, h[1]} end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[3], 'who', ARGV[2], 'what', 'purge', 'ref', ARGV[1], 'detail', '')
for i = 8, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('XDEL', KEYS[7], h[2])
return {1, ''}
`)

// Purge deletes a closed case and everything about it: the sealed report,
// its evidence files, its history, its reply route, and its (acknowledged)
// stream entry.
func (s *Store) Purge(ctx context.Context, ref, staff string, at time.Time) error {
	keys := []string{reportKey(ref), auditKey, eventsKey(ref), routeKey(ref), statusKey("closed"), openKey, queueKey}
	files, _ := s.rdb.HGet(ctx, reportKey(ref), "files").Int()
	for i := 0; i < files; i++ {
		keys = append(keys, fileKey(ref, i))
	}
	res, err := purge.Run(ctx, s.rdb, keys, ref, staff, formatTime(at)).Slice()
	if err != nil {
		return fmt.Errorf("store: purge case: %w", err)
	}
	return scriptResult(res)
}

// ClosedBefore returns the closed cases whose closing time is before t.
func (s *Store) ClosedBefore(ctx context.Context, t time.Time) ([]string, error) {
	refs, err := s.rdb.ZRange(ctx, statusKey("closed"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list closed cases: %w", err)
	}
	cmds := make([]*redis.StringCmd, len(refs))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HGet(ctx, reportKey(ref), "closed_at")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: read closing times: %w", err)
	}
	var out []string
	for i, ref := range refs {
		if at := parseTime(cmds[i].Val()); !at.IsZero() && at.Before(t) {
			out = append(out, ref)
		}
	}
	return out, nil
}
