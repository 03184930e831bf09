package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outgoing is a staff reply waiting for the bot to deliver it.
type Outgoing struct {
	ID     string // outbox stream entry id
	Ref    string
	Event  string // the reply's id in the case history
	Sealed []byte // sealed to the bot's age key
	// Statement and Signature are what the staff member signed (see
	// Entry); empty on an entry nobody signed. The bot checks them; the
	// store does not.
	Statement, Signature []byte
}

// InitOutbox creates the outbox and the bot's consumer group.
func (s *Store) InitOutbox(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, outboxKey, botGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("store: create outbox: %w", err)
	}
	return nil
}

// NextReplies returns replies to deliver, for the bot process named
// consumer: first any another process took and left unfinished for longer
// than stale, then new ones, waiting up to block for one to arrive (a
// negative block does not wait).
func (s *Store) NextReplies(ctx context.Context, consumer string, stale, block time.Duration) ([]Outgoing, error) {
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: outboxKey, Group: botGroup, Consumer: consumer, MinIdle: stale, Start: "0-0", Count: 10,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("store: reclaim replies: %w", err)
	}
	if len(msgs) == 0 {
		streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: botGroup, Consumer: consumer, Streams: []string{outboxKey, ">"}, Count: 10, Block: block,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("store: read replies: %w", err)
		}
		for _, st := range streams {
			msgs = append(msgs, st.Messages...)
		}
	}
	out := make([]Outgoing, 0, len(msgs))
	for _, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		out = append(out, Outgoing{ID: m.ID, Ref: v("ref"), Event: v("event"), Sealed: []byte(v("sealed")),
			Statement: []byte(v("statement")), Signature: []byte(v("signature"))})
	}
	return out, nil
}

// ReplyDone records how a reply's delivery ended ("delivered",
// "undeliverable" or "refused", with a reason without content) in the case
// history and takes it off the outbox. A refused reply (its signature did
// not hold) is also written to the audit trail, by "bot".
func (s *Store) ReplyDone(ctx context.Context, o Outgoing, outcome, reason string, at time.Time) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: eventsKey(o.Ref), Values: []any{
			"type", outcome, "by", "", "at", formatTime(at), "detail", reason, "to", o.Event}})
		if outcome == "refused" {
			p.XAdd(ctx, &redis.XAddArgs{Stream: auditKey, Values: []any{
				"at", formatTime(at), "who", "bot", "what", "refuse-reply", "ref", o.Ref, "detail", reason}})
		}
		p.XAck(ctx, outboxKey, botGroup, o.ID)
		p.XDel(ctx, outboxKey, o.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record delivery: %w", err)
	}
	return nil
}

var claimSignature = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then return 1 end
return 0
`)

// UseSignature records that the signature whose SHA-256 is sigHash (hex)
// is used by outbox entry o, for ttl, and reports whether o may use it: true
// the first time, and again for the same entry (a reply handed out twice),
// false when another entry of the case used it (a replay).
func (s *Store) UseSignature(ctx context.Context, o Outgoing, sigHash string, ttl time.Duration) (bool, error) {
	n, err := claimSignature.Run(ctx, s.rdb, []string{signatureKey(o.Ref, sigHash)}, o.ID, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: record a used signature: %w", err)
	}
	return n == 1, nil
}

// Outstanding reports whether a reply is still in the outbox, not yet
// recorded delivered or undeliverable.
func (s *Store) Outstanding(ctx context.Context, o Outgoing) (bool, error) {
	msgs, err := s.rdb.XRangeN(ctx, outboxKey, o.ID, o.ID, 1).Result()
	if err != nil {
		return false, fmt.Errorf("store: look up reply: %w", err)
	}
	return len(msgs) == 1, nil
}

// Route returns the bot-sealed route of a case, or ErrNotFound.
func (s *Store) Route(ctx context.Context, ref string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, routeKey(ref)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read route: %w", err)
	}
	return b, nil
}

// BotIdentity returns the bot's sealed age identity, storing sealed (with
// its public recipient) first if there is none yet; every bot process
// sharing the secret ends up with the same identity.
func (s *Store) BotIdentity(ctx context.Context, sealed []byte, recipient string) ([]byte, error) {
	return s.botIdentity(ctx, botIDKey, botRecipKey, sealed, recipient)
}

// BotIdentityPQ is BotIdentity for the bot's post-quantum identity, which
// staff with post-quantum keys seal replies and publications to.
func (s *Store) BotIdentityPQ(ctx context.Context, sealed []byte, recipient string) ([]byte, error) {
	return s.botIdentity(ctx, botIDPQKey, botRecipPQKey, sealed, recipient)
}

func (s *Store) botIdentity(ctx context.Context, idKey, recipKey string, sealed []byte, recipient string) ([]byte, error) {
	ok, err := s.rdb.SetNX(ctx, idKey, sealed, 0).Result()
	if err != nil {
		return nil, fmt.Errorf("store: store bot identity: %w", err)
	}
	if ok {
		if err := s.rdb.Set(ctx, recipKey, recipient, 0).Err(); err != nil {
			return nil, fmt.Errorf("store: publish bot recipient: %w", err)
		}
		return sealed, nil
	}
	b, err := s.rdb.Get(ctx, idKey).Bytes()
	if err != nil {
		return nil, fmt.Errorf("store: read bot identity: %w", err)
	}
	return b, nil
}

// BotRecipient returns the bot's public age key, which staff tools seal
// replies to, or ErrNotFound when no bot has started yet.
func (s *Store) BotRecipient(ctx context.Context) (string, error) {
	return s.botRecipient(ctx, botRecipKey)
}

// BotRecipientPQ is BotRecipient for the bot's post-quantum key; it is
// ErrNotFound too until a bot that makes one (any since post-quantum keys
// came) has started.
func (s *Store) BotRecipientPQ(ctx context.Context) (string, error) {
	return s.botRecipient(ctx, botRecipPQKey)
}

func (s *Store) botRecipient(ctx context.Context, key string) (string, error) {
	r, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: read bot recipient: %w", err)
	}
	return r, nil
}
