package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscriptions, broadcasts and guidance pages share the hash tag {b}: an
// unsubscribe, the snapshot of a broadcast's audience and every recorded
// send touch them together, atomically, in one slot.

// Publication kinds.
const (
	KindBroadcast = "broadcast" // sent once to the subscribers of its countries
	KindGuidance  = "guidance"  // shown by /guidance for its countries until replaced or withdrawn
)

// Publication statuses. A broadcast goes queued → approved → sending →
// done; a guidance page goes queued → published → (replaced | withdrawn).
// Either may be cancelled before it is done, and is invalid when Telegram
// refused its preview.
const (
	PubQueued    = "queued"
	PubApproved  = "approved"
	PubSending   = "sending"
	PubDone      = "done"
	PubPublished = "published"
	PubReplaced  = "replaced"
	PubWithdrawn = "withdrawn"
	PubCancelled = "cancelled"
	PubInvalid   = "invalid"
)

// Errors of publications.
var (
	ErrNoPublication = errors.New("store: no such broadcast or guidance page")
	ErrOwnApproval   = errors.New("store: the coordinator who created it cannot approve it")
	ErrApprovedTwice = errors.New("store: already approved by this coordinator")
	ErrNotPreviewed  = errors.New("store: the preview has not been sent yet")
	// ErrNotReached: the preview was sent, but Telegram did not deliver
	// it to this coordinator (no preview:NAME record), who may therefore
	// not approve.
	ErrNotReached = errors.New("store: the preview did not reach this coordinator (blocked bot, or no chat with it), who may not approve what they have not seen")
)

// StateError says a publication is not in a state that allows the action.
type StateError struct{ Status string }

func (e *StateError) Error() string { return "store: the publication is " + e.Status }

// Publication is a broadcast or a guidance page. Its texts are sealed by
// the caller (to the bot and the staff); its counts are plain numbers.
type Publication struct {
	ID        string
	Kind      string
	Status    string
	Topic     string   // guidance pages only
	Countries []string // ISO 3166-1 alpha-2
	Texts     map[string][]byte
	Creator   string
	Approvers []string
	// Proofs that coordinators said so, opaque to the store (package
	// broadcast writes and checks them): the creator's, each approver's
	// by name, and the preview the bot sent each coordinator, by name.
	CreatorProof []byte
	Approvals    map[string][]byte
	Previews     map[string][]byte
	StopProof    []byte
	Problem      string // why it is invalid (no content)
	Previewed    bool
	CreatedAt    time.Time
	// Set as it moves on.
	ApprovedAt, StartedAt, FinishedAt time.Time
	CancelledBy                       string
	// Delivery counts of a broadcast: its audience when sending started,
	// messages Telegram accepted, refused for good, refused because the
	// subscriber blocked the bot (they are unsubscribed), and subscribers
	// who left before their turn.
	Total, Sent, Failed, Blocked, Skipped int64
	// Left to send and handed to a sender, read with the publication.
	Remaining, InFlight int64
}

// Langs lists the languages the publication has a text in, sorted.
func (p Publication) Langs() []string {
	var l []string
	for k := range p.Texts {
		l = append(l, k)
	}
	slices.Sort(l)
	return l
}

var subscribe = redis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  for c in string.gmatch(old, '[^,]+') do redis.call('SREM', KEYS[3] .. c, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for c in string.gmatch(ARGV[3], '[^,]+') do redis.call('SADD', KEYS[3] .. c, ARGV[1]) end
return 1
`)

// unsubscribeLua removes subscriber ARGV[1]; KEYS[1] subs, KEYS[2] their
// countries, KEYS[3] the country key prefix. Shared by Unsubscribe and the
// recording of a blocked send.
const unsubscribeLua = `
local function unsubscribe(subs, countries, cprefix, h)
  local old = redis.call('HGET', countries, h)
  if old then
    for c in string.gmatch(old, '[^,]+') do redis.call('SREM', cprefix .. c, h) end
  end
  redis.call('HDEL', countries, h)
  return redis.call('HDEL', subs, h)
end
`

var unsubscribe = redis.NewScript(unsubscribeLua + `return unsubscribe(KEYS[1], KEYS[2], KEYS[3], ARGV[1])`)

// Subscribe records (or replaces) a subscription: sealed holds the chat to
// send to and its language, sealed by the caller with the bot's key.
// The country key prefix is passed as a key so that the script declares
// the slot it works in; country keys share it.
func (s *Store) Subscribe(ctx context.Context, handle string, sealed []byte, countries []string) error {
	if len(countries) == 0 {
		return s.Unsubscribe(ctx, handle)
	}
	err := subscribe.Run(ctx, s.rdb, []string{subsKey(), subCountriesKey(), countryKey("")}, handle, sealed, strings.Join(countries, ",")).Err()
	if err != nil {
		return fmt.Errorf("store: subscribe: %w", err)
	}
	return nil
}

// Unsubscribe deletes a subscription at once: a broadcast being sent skips
// the subscriber from the next message on.
func (s *Store) Unsubscribe(ctx context.Context, handle string) error {
	if err := unsubscribe.Run(ctx, s.rdb, []string{subsKey(), subCountriesKey(), countryKey("")}, handle).Err(); err != nil {
		return fmt.Errorf("store: unsubscribe: %w", err)
	}
	return nil
}

// Subscription returns a subscriber's sealed record and countries; nil
// and no countries when they are not subscribed.
func (s *Store) Subscription(ctx context.Context, handle string) ([]byte, []string, error) {
	var sealed, countries *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		sealed = p.HGet(ctx, subsKey(), handle)
		countries = p.HGet(ctx, subCountriesKey(), handle)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: read subscription: %w", err)
	}
	return []byte(sealed.Val()), splitList(countries.Val()), nil
}

// Subscribers counts the subscribers of any of countries.
func (s *Store) Subscribers(ctx context.Context, countries []string) (int64, error) {
	if len(countries) == 0 {
		return s.rdb.HLen(ctx, subsKey()).Result()
	}
	members, err := s.rdb.SUnion(ctx, countryKeys(countries)...).Result()
	if err != nil {
		return 0, fmt.Errorf("store: count subscribers: %w", err)
	}
	return int64(len(members)), nil
}

// CreatePublication stores a new publication, queued for its preview and
// approval. Its ID must be new.
func (s *Store) CreatePublication(ctx context.Context, p Publication) error {
	fields := []any{"kind", p.Kind, "status", PubQueued, "topic", p.Topic, "countries", strings.Join(p.Countries, ","),
		"creator", p.Creator, "created_at", formatTime(p.CreatedAt), "creator_proof", p.CreatorProof}
	for lang, text := range p.Texts {
		fields = append(fields, "text:"+lang, text)
	}
	ok, err := s.rdb.HSetNX(ctx, pubKey(p.ID), "id", p.ID).Result()
	if err != nil {
		return fmt.Errorf("store: create publication: %w", err)
	}
	if !ok {
		return ErrRefTaken
	}
	_, err = s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HSet(ctx, pubKey(p.ID), fields...)
		tx.ZAdd(ctx, pubsKey(), redis.Z{Score: float64(p.CreatedAt.UnixMilli()), Member: p.ID})
		tx.SAdd(ctx, previewsKey(), p.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create publication: %w", err)
	}
	return nil
}

// GetPublication reads one publication with its texts and progress.
func (s *Store) GetPublication(ctx context.Context, id string) (Publication, error) {
	ps, err := s.publications(ctx, []string{id})
	if err != nil {
		return Publication{}, err
	}
	if len(ps) == 0 {
		return Publication{}, ErrNoPublication
	}
	return ps[0], nil
}

// Publications lists the latest publications, newest first.
func (s *Store) Publications(ctx context.Context, limit int) ([]Publication, error) {
	ids, err := s.rdb.ZRevRange(ctx, pubsKey(), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list publications: %w", err)
	}
	return s.publications(ctx, ids)
}

// PendingPreviews lists publications whose preview is still to be sent.
func (s *Store) PendingPreviews(ctx context.Context) ([]Publication, error) {
	ids, err := s.rdb.SMembers(ctx, previewsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list previews: %w", err)
	}
	slices.Sort(ids)
	return s.publications(ctx, ids)
}

func (s *Store) publications(ctx context.Context, ids []string) ([]Publication, error) {
	hashes := make([]*redis.MapStringStringCmd, len(ids))
	todo := make([]*redis.IntCmd, len(ids))
	inflight := make([]*redis.IntCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			hashes[i] = p.HGetAll(ctx, pubKey(id))
			todo[i] = p.SCard(ctx, todoKey(id))
			inflight[i] = p.SCard(ctx, inflightKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read publications: %w", err)
	}
	var out []Publication
	for i := range ids {
		h := hashes[i].Val()
		if h["kind"] == "" {
			continue
		}
		p := Publication{ID: h["id"], Kind: h["kind"], Status: h["status"], Topic: h["topic"],
			Countries: splitList(h["countries"]), Creator: h["creator"], Approvers: splitList(h["approvers"]),
			Problem: h["problem"], Previewed: h["previewed"] == "1", CancelledBy: h["cancelled_by"],
			CreatedAt: parseTime(h["created_at"]), ApprovedAt: parseTime(h["approved_at"]),
			StartedAt: parseTime(h["started_at"]), FinishedAt: parseTime(h["finished_at"]),
			Total: atoi(h["total"]), Sent: atoi(h["sent"]), Failed: atoi(h["failed"]), Blocked: atoi(h["blocked"]),
			Skipped: atoi(h["skipped"]), Remaining: todo[i].Val(), InFlight: inflight[i].Val(), Texts: map[string][]byte{},
			Approvals: map[string][]byte{}, Previews: map[string][]byte{}}
		if v := h["creator_proof"]; v != "" {
			p.CreatorProof = []byte(v)
		}
		if v := h["stop_proof"]; v != "" {
			p.StopProof = []byte(v)
		}
		for k, v := range h {
			if lang, ok := strings.CutPrefix(k, "text:"); ok {
				p.Texts[lang] = []byte(v)
			} else if name, ok := strings.CutPrefix(k, "approval:"); ok {
				p.Approvals[name] = []byte(v)
			} else if name, ok := strings.CutPrefix(k, "preview:"); ok {
				p.Previews[name] = []byte(v)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// MarkPreviewed records that the preview was sent; a non-empty problem
// (Telegram refused a text, or the preview reached nobody) makes the
// publication invalid. records, when given, are what the bot previewed to
// each coordinator Telegram delivered all of it to, by name (opaque to the
// store: package broadcast writes and checks them); they are kept as
// preview:NAME, and only those coordinators may approve.
func (s *Store) MarkPreviewed(ctx context.Context, id, problem string, records ...map[string][]byte) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HSet(ctx, pubKey(id), "previewed", "1")
		for _, m := range records {
			for name, rec := range m {
				tx.HSet(ctx, pubKey(id), "preview:"+name, rec)
			}
		}
		if problem != "" {
			tx.HSet(ctx, pubKey(id), "status", PubInvalid, "problem", problem)
		}
		tx.SRem(ctx, previewsKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark preview: %w", err)
	}
	return nil
}

// Invalidate gives up a broadcast that can never be sent (the bot cannot
// open its texts): it becomes invalid, with problem, and leaves the line.
// What was not sent stays counted as remaining.
func (s *Store) Invalidate(ctx context.Context, id, problem string) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HSet(ctx, pubKey(id), "status", PubInvalid, "problem", problem)
		tx.LRem(ctx, readyKey(), 0, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: invalidate: %w", err)
	}
	return nil
}

// approve: KEYS[1] pub, KEYS[2] ready, KEYS[3] unused, KEYS[4..]
// guidance of each country. ARGV: who, approvals needed, now, proof.
var approve = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'creator', 'approvers', 'previewed', 'kind', 'topic', 'id')
if not h[1] then return {-1, ''} end
if h[1] ~= 'queued' then return {-2, h[1]} end
local who, need = ARGV[1], tonumber(ARGV[2])
if who == h[2] and need > 1 then return {-4, ''} end
if h[4] ~= '1' then return {-3, ''} end
if not redis.call('HGET', KEYS[1], 'preview:' .. who) then return {-6, ''} end
local approvers = h[3] or ''
for a in string.gmatch(approvers, '[^,]+') do if a == who then return {-5, ''} end end
if approvers == '' then approvers = who else approvers = approvers .. ',' .. who end
redis.call('HSET', KEYS[1], 'approvers', approvers, 'approval:' .. who, ARGV[4])
local n = 0
for _ in string.gmatch(approvers, '[^,]+') do n = n + 1 end
if n < math.max(1, need - 1) then return {1, 'queued'} end
redis.call('HSET', KEYS[1], 'approved_at', ARGV[3])
if h[5] == 'broadcast' then
  redis.call('HSET', KEYS[1], 'status', 'approved')
  redis.call('RPUSH', KEYS[2], h[7])
  return {1, 'approved'}
end
redis.call('HSET', KEYS[1], 'status', 'published')
local out = {1, 'published'}
for i = 4, #KEYS do
  local old = redis.call('HGET', KEYS[i], h[6])
  if old and old ~= h[7] then table.insert(out, old) end
  redis.call('HSET', KEYS[i], h[6], h[7])
end
return out
`)

// Approve records who approves a queued publication, after its preview
// reached them (ErrNotReached without their preview:WHO record). need is
// how many coordinators must agree, the creator included: with
// need > 1 the creator cannot approve, and need-1 others must; with 1 the
// creator's own approval is enough. It returns the status that follows:
// still queued, approved (a broadcast, now waiting to be sent) or
// published (a guidance page, now shown by /guidance in its countries,
// replacing the page it had on the same topic). proof (the approver's
// signed statement, see package broadcast) is stored as approval:WHO;
// the bot checks it before it sends.
func (s *Store) Approve(ctx context.Context, id, who string, need int, now time.Time, proof []byte) (string, error) {
	kind, countries, err := s.shape(ctx, id)
	if err != nil {
		return "", err
	}
	keys := []string{pubKey(id), readyKey(), pubKey("")}
	if kind == KindGuidance {
		for _, c := range countries {
			keys = append(keys, guidanceKey(c))
		}
	}
	res, err := approve.Run(ctx, s.rdb, keys, who, need, formatTime(now), proof).Slice()
	if err != nil {
		return "", fmt.Errorf("store: approve: %w", err)
	}
	code, _ := res[0].(int64)
	detail, _ := res[1].(string)
	switch code {
	case 1:
		for _, old := range res[2:] {
			if id, _ := old.(string); id != "" {
				s.retire(ctx, id, now)
			}
		}
		return detail, nil
	case -1:
		return "", ErrNoPublication
	case -2:
		return "", &StateError{Status: detail}
	case -3:
		return "", ErrNotPreviewed
	case -4:
		return "", ErrOwnApproval
	case -6:
		return "", ErrNotReached
	default:
		return "", ErrApprovedTwice
	}
}

// PublicationStatus reads only a publication's status ("" when there is no
// such publication): the delivery worker asks twice a second.
func (s *Store) PublicationStatus(ctx context.Context, id string) (string, error) {
	st, err := s.rdb.HGet(ctx, pubKey(id), "status").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read publication status: %w", err)
	}
	return st, nil
}

// shape reads what a script on a publication must know beforehand: its
// kind and countries (the keys it will touch), not its texts.
func (s *Store) shape(ctx context.Context, id string) (kind string, countries []string, err error) {
	v, err := s.rdb.HMGet(ctx, pubKey(id), "kind", "countries").Result()
	if err != nil {
		return "", nil, fmt.Errorf("store: read publication: %w", err)
	}
	kind, _ = v[0].(string)
	if kind == "" {
		return "", nil, ErrNoPublication
	}
	c, _ := v[1].(string)
	return kind, splitList(c), nil
}

// retire marks a guidance page replaced once no country shows it any more.
// It only changes the label staff see, so it need not be atomic.
func (s *Store) retire(ctx context.Context, id string, now time.Time) {
	p, err := s.GetPublication(ctx, id)
	if err != nil || p.Status != PubPublished {
		return
	}
	for _, c := range p.Countries {
		if shown, _ := s.rdb.HGet(ctx, guidanceKey(c), p.Topic).Result(); shown == id {
			return
		}
	}
	s.rdb.HSet(ctx, pubKey(id), "status", PubReplaced, "finished_at", formatTime(now))
}

// cancel: KEYS[1] pub, KEYS[2] ready, KEYS[3] previews, KEYS[4..]
// guidance of each country. ARGV: who, now, proof, the todo key.
//
// The todo set (the broadcast's recipients) is named in ARGV, not KEYS:
// Redis lets a script's caller pass a key in KEYS only if it may read it,
// and the staff user, which cancels too, must never read recipients; it
// may only delete them. The todo key shares the publication's hash tag
// ({b}), so the script still works in one slot of a Cluster.
var cancel = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'topic', 'id')
if not h[1] then return {-1, ''} end
local st = h[1]
if st == 'queued' or st == 'approved' or st == 'sending' or st == 'invalid' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_by', ARGV[1], 'finished_at', ARGV[2], 'stop_proof', ARGV[3])
  redis.call('LREM', KEYS[2], 0, h[3])
  redis.call('SREM', KEYS[3], h[3])
  redis.call('DEL', ARGV[4])
  return {1, 'cancelled'}
end
if st == 'published' then
  for i = 4, #KEYS do
    if redis.call('HGET', KEYS[i], h[2]) == h[3] then redis.call('HDEL', KEYS[i], h[2]) end
  end
  redis.call('HSET', KEYS[1], 'status', 'withdrawn', 'cancelled_by', ARGV[1], 'finished_at', ARGV[2], 'stop_proof', ARGV[3])
  return {1, 'withdrawn'}
end
return {-2, st}
`)

// Cancel stops a publication: a broadcast not yet done sends nothing more
// (messages in flight finish), a guidance page is withdrawn from
// /guidance. It returns the status that follows. proof (the stop's signed
// statement, see package broadcast) is kept as stop_proof, for the record.
func (s *Store) Cancel(ctx context.Context, id, who string, now time.Time, proof []byte) (string, error) {
	kind, countries, err := s.shape(ctx, id)
	if err != nil {
		return "", err
	}
	keys := []string{pubKey(id), readyKey(), previewsKey()}
	if kind == KindGuidance {
		for _, c := range countries {
			keys = append(keys, guidanceKey(c))
		}
	}
	res, err := cancel.Run(ctx, s.rdb, keys, who, formatTime(now), proof, todoKey(id)).Slice()
	if err != nil {
		return "", fmt.Errorf("store: cancel: %w", err)
	}
	code, _ := res[0].(int64)
	detail, _ := res[1].(string)
	switch code {
	case 1:
		return detail, nil
	case -1:
		return "", ErrNoPublication
	default:
		return "", &StateError{Status: detail}
	}
}

// Guidance returns the guidance pages published for a country: topic →
// publication id.
func (s *Store) Guidance(ctx context.Context, country string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, guidanceKey(country)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read guidance: %w", err)
	}
	return m, nil
}

// NextBroadcast returns the oldest broadcast approved and not yet done, or
// "" when there is none.
func (s *Store) NextBroadcast(ctx context.Context) (string, error) {
	id, err := s.rdb.LIndex(ctx, readyKey(), 0).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: next broadcast: %w", err)
	}
	return id, nil
}

// start: KEYS[1] pub, KEYS[2] todo, KEYS[3] inflight, KEYS[4..] countries.
// ARGV: now.
var start = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'approved' then
  local n = 0
  if #KEYS > 3 then
    n = redis.call('SUNIONSTORE', KEYS[2], unpack(KEYS, 4))
  end
  redis.call('HSET', KEYS[1], 'status', 'sending', 'started_at', ARGV[1], 'total', n)
  return {1, n}
end
if st == 'sending' then
  local back = redis.call('SCARD', KEYS[3])
  if back > 0 then
    redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[3])
    redis.call('DEL', KEYS[3])
  end
  return {2, back}
end
return {-2, st or ''}
`)

// StartDelivery begins sending an approved broadcast: its audience is the
// subscribers of its countries at this moment, each once. On a broadcast
// already sending (a worker stopped or died) it resumes: recipients that
// were in flight go back to be sent again, and their number is returned as
// resent — the only messages that may reach a subscriber twice.
func (s *Store) StartDelivery(ctx context.Context, id string, now time.Time) (resent int64, err error) {
	_, countries, err := s.shape(ctx, id)
	if err != nil {
		return 0, err
	}
	keys := append([]string{pubKey(id), todoKey(id), inflightKey(id)}, countryKeys(countries)...)
	res, err := start.Run(ctx, s.rdb, keys, formatTime(now)).Slice()
	if err != nil {
		return 0, fmt.Errorf("store: start delivery: %w", err)
	}
	code, _ := res[0].(int64)
	switch code {
	case 1:
		return 0, nil
	case 2:
		n, _ := res[1].(int64)
		return n, nil
	default:
		st, _ := res[1].(string)
		s.rdb.LRem(ctx, readyKey(), 0, id)
		return 0, &StateError{Status: st}
	}
}

// Recipient is a subscriber handed to a sender.
type Recipient struct {
	Handle string
	Sealed []byte // as given to Subscribe
}

// take: KEYS[1] pub, KEYS[2] todo, KEYS[3] inflight, KEYS[4] subs,
// KEYS[5] ready. ARGV: n, now.
var take = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'sending' then return {st or ''} end
local out = {'sending'}
local hs = redis.call('SPOP', KEYS[2], tonumber(ARGV[1]))
local skipped = 0
for _, h in ipairs(hs) do
  local v = redis.call('HGET', KEYS[4], h)
  if v then
    redis.call('SADD', KEYS[3], h)
    table.insert(out, h)
    table.insert(out, v)
  else
    skipped = skipped + 1
  end
end
if skipped > 0 then redis.call('HINCRBY', KEYS[1], 'skipped', skipped) end
if redis.call('SCARD', KEYS[2]) == 0 and redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[1], 'status', 'done', 'finished_at', ARGV[2])
  redis.call('LREM', KEYS[5], 0, redis.call('HGET', KEYS[1], 'id'))
  out[1] = 'done'
end
return out
`)

// Take hands up to n recipients of a sending broadcast to a sender, marking
// them in flight. Subscribers who left since the broadcast started are
// skipped. The status returned is "sending", or what the broadcast became
// ("done" once nobody is left, "cancelled"); nothing is handed out unless
// it is sending.
func (s *Store) Take(ctx context.Context, id string, n int, now time.Time) ([]Recipient, string, error) {
	res, err := take.Run(ctx, s.rdb, []string{pubKey(id), todoKey(id), inflightKey(id), subsKey(), readyKey()}, n, formatTime(now)).Slice()
	if err != nil {
		return nil, "", fmt.Errorf("store: take recipients: %w", err)
	}
	status, _ := res[0].(string)
	var out []Recipient
	for i := 1; i+1 < len(res); i += 2 {
		h, _ := res[i].(string)
		v, _ := res[i+1].(string)
		out = append(out, Recipient{Handle: h, Sealed: []byte(v)})
	}
	return out, status, nil
}

// Send outcomes recorded by Record.
const (
	OutcomeSent    = "sent"
	OutcomeFailed  = "failed"
	OutcomeBlocked = "blocked" // the subscriber blocked the bot or left Telegram: unsubscribed too
)

// record: KEYS[1] pub, KEYS[2] todo, KEYS[3] inflight, KEYS[4] subs,
// KEYS[5] subs' countries, KEYS[6] country prefix, KEYS[7] ready.
// ARGV: handle, outcome, now.
var record = redis.NewScript(unsubscribeLua + `
if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
if ARGV[2] == 'blocked' then unsubscribe(KEYS[4], KEYS[5], KEYS[6], ARGV[1]) end
if redis.call('HGET', KEYS[1], 'status') == 'sending' and redis.call('SCARD', KEYS[2]) == 0 and redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[1], 'status', 'done', 'finished_at', ARGV[3])
  redis.call('LREM', KEYS[7], 0, redis.call('HGET', KEYS[1], 'id'))
end
return 1
`)

// Record records the outcome of one send. A recipient not in flight (its
// outcome already recorded, or the broadcast resumed without it) changes
// nothing.
func (s *Store) Record(ctx context.Context, id, handle, outcome string, now time.Time) error {
	err := record.Run(ctx, s.rdb, []string{pubKey(id), todoKey(id), inflightKey(id), subsKey(), subCountriesKey(), countryKey(""), readyKey()},
		handle, outcome, formatTime(now)).Err()
	if err != nil {
		return fmt.Errorf("store: record send: %w", err)
	}
	return nil
}

// Policy is the broadcast policy the bot runs with, published in Redis so
// that staff tools apply the same rule. Only the bot writes it.
type Policy struct {
	Approvals    int      // coordinators who must agree, the creator included
	Coordinators []string // their names
	DefaultLang  string
	Rate         float64 // messages a second, for estimates
}

// SetPolicy publishes the bot's broadcast policy.
func (s *Store) SetPolicy(ctx context.Context, p Policy) error {
	err := s.rdb.HSet(ctx, policyKey(), "approvals", p.Approvals, "coordinators", strings.Join(p.Coordinators, ","), "default_lang", p.DefaultLang, "rate", p.Rate).Err()
	if err != nil {
		return fmt.Errorf("store: publish broadcast policy: %w", err)
	}
	return nil
}

// ErrNoPolicy means no bot has published a broadcast policy yet.
var ErrNoPolicy = errors.New("store: no broadcast policy: start the bot once with coordinators configured")

// GetPolicy reads the bot's broadcast policy.
func (s *Store) GetPolicy(ctx context.Context) (Policy, error) {
	h, err := s.rdb.HGetAll(ctx, policyKey()).Result()
	if err != nil {
		return Policy{}, fmt.Errorf("store: read broadcast policy: %w", err)
	}
	if h["approvals"] == "" {
		return Policy{}, ErrNoPolicy
	}
	return Policy{Approvals: int(atoi(h["approvals"])), Coordinators: splitList(h["coordinators"]), DefaultLang: h["default_lang"], Rate: parseFloat(h["rate"])}, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
