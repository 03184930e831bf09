package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// ErrUndeliverable is what a send function returns (wrapped) when Telegram
// refuses a message for good (the defender blocked the bot, the chat is
// gone): the reply is recorded as undeliverable instead of being retried.
var ErrUndeliverable = errors.New("intake: the message cannot be delivered")

// The names the bot's reply identities are sealed under (seal.Keys).
const (
	botIdentityName   = "bot-identity"
	botIdentityPQName = "bot-identity-pq"
)

// EnsureBotIdentity returns the bot's age identity, which staff tools seal
// replies and publications to: two keys as one, a classic one for staff
// with classic keys and a post-quantum one for staff with post-quantum keys
// (age will not seal to both kinds at once, so the bot's key must be of the
// staff's kind). The first bot process to start creates each and publishes
// its public key; they are stored sealed with the bot's secret, so every
// process sharing the secret reads the same ones. Holding both, the bot
// still opens what was sealed before the staff changed kind.
func EnsureBotIdentity(ctx context.Context, st *store.Store, keys *seal.Keys) (seal.Identity, error) {
	classic, err := ensureBotIdentity(ctx, keys, botIdentityName, seal.NewIdentity, st.BotIdentity)
	if err != nil {
		return nil, err
	}
	pq, err := ensureBotIdentity(ctx, keys, botIdentityPQName, seal.NewPostQuantumIdentity, st.BotIdentityPQ)
	if err != nil {
		return nil, err
	}
	return seal.Either(classic, pq), nil
}

func ensureBotIdentity(ctx context.Context, keys *seal.Keys, name string,
	generate func() (string, string, error), stored func(context.Context, []byte, string) ([]byte, error)) (seal.Identity, error) {
	text, recipient, err := generate()
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	sealed, err := stored(ctx, keys.Seal(name, []byte(text)), recipient)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	raw, err := keys.Open(name, sealed)
	if err != nil {
		return nil, fmt.Errorf("intake: the bot's reply key in Redis was made with another bot secret (VIGIL_SECRET_FILE): %w", err)
	}
	id, err := seal.ParseIdentity(string(raw))
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return id, nil
}

// BotRecipient returns the bot's public key of the staff's kind, which
// texts for the bot are sealed to (with or beside the staff's keys), or
// store.ErrNotFound when no bot has published one yet.
func BotRecipient(ctx context.Context, st *store.Store, staff *seal.Recipients) (string, error) {
	if staff.PostQuantum() {
		return st.BotRecipientPQ(ctx)
	}
	return st.BotRecipient(ctx)
}

// Delivery is a staff reply on its way to a defender.
type Delivery struct {
	Chat    int64  // 0 when the reply cannot be routed (Problem says why)
	Problem string // reason without content, for the case history
	// Refused, when set, is why the reply's signature did not hold (one of
	// the Refused… kinds); Problem is set too, and Chat is 0.
	Refused string
	out     store.Outgoing
	text    string
}

// PendingReplies waits up to block for staff replies to deliver, for the
// bot process named consumer. Each must then go to DeliverReply, inside
// the chat's serial slot, or, in a bot whose chats are handled through the
// inbox, to ForwardReply (those without a chat straight to DeliverReply).
//
// A reply is routed to its chat only when its signature holds (see
// checkReply): one that does not is not even opened, and comes back with
// Refused set, for DeliverReply to record the refusal.
func (s *Service) PendingReplies(ctx context.Context, consumer string, block time.Duration) ([]Delivery, error) {
	if s.botID == nil {
		return nil, errors.New("intake: reply delivery needs the bot identity")
	}
	if s.trust == nil {
		return nil, errors.New("intake: reply delivery needs the staff keyring")
	}
	outs, err := s.store.NextReplies(ctx, consumer, time.Minute, block)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	ds := make([]Delivery, 0, len(outs))
	for _, o := range outs {
		d := Delivery{out: o}
		refused, err := s.checkReply(ctx, o)
		if err != nil {
			s.log.Warn("staff reply not checked yet; it will be tried again", "err", err)
			continue
		}
		if refused != "" {
			d.Refused, d.Problem = refused, refusalNote+" ("+refused+")"
			ds = append(ds, d)
			continue
		}
		text, err := seal.Open(o.Sealed, s.botID)
		if err != nil {
			d.Problem = "the reply does not open with the bot's key"
			ds = append(ds, d)
			continue
		}
		d.text = string(text)
		sealedRoute, err := s.store.Route(ctx, o.Ref)
		if err != nil {
			d.Problem = "no route to the defender"
			ds = append(ds, d)
			continue
		}
		var rt route
		raw, err := s.keys.Open(routeName(o.Ref), sealedRoute)
		if err == nil {
			err = json.Unmarshal(raw, &rt)
		}
		switch {
		case err != nil:
			d.Problem = "the route does not open with the bot's key"
		case !rt.Contact:
			d.Problem = "the defender asked not to be contacted here"
		default:
			d.Chat = rt.Chat
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// forwarded is a staff reply in its chat's partition of the inbox.
type forwarded struct {
	Chat  int64  `json:"chat"`
	ID    string `json:"id"` // outbox entry
	Ref   string `json:"ref"`
	Event string `json:"event"`
	Text  string `json:"text"`
}

func replyEntryName(p int) string { return "reply-entry:" + strconv.Itoa(p) }

// ForwardReply puts a reply for a chat (d.Chat != 0) into the chat's
// partition of the inbox, sealed with the bot's key, so that whichever
// process holds the partition delivers it in order with the chat's
// updates: a reply and the defender's next message never race over the
// chat's state, however many bot processes run. The reply stays pending
// in the outbox until it is delivered; one not delivered is handed out
// again by PendingReplies once stale.
func (s *Service) ForwardReply(ctx context.Context, partitions int, d Delivery) error {
	if d.Chat == 0 {
		return errors.New("intake: a reply without a chat cannot be forwarded")
	}
	p := partitionOf(s.keys.Hash("chat", d.Chat), partitions)
	raw, err := json.Marshal(forwarded{Chat: d.Chat, ID: d.out.ID, Ref: d.out.Ref, Event: d.out.Event, Text: d.text})
	if err != nil {
		return fmt.Errorf("intake: encode reply: %w", err)
	}
	if err := s.store.ForwardReply(ctx, p, s.keys.Seal(replyEntryName(p), raw)); err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	return nil
}

// OpenReply unseals a staff reply forwarded to partition p of the inbox
// (an entry of Kind store.EntryReply), for DeliverReply.
func (s *Service) OpenReply(p int, e InboxEntry) (Delivery, error) {
	raw, err := s.keys.Open(replyEntryName(p), e.Sealed)
	if err != nil {
		return Delivery{}, fmt.Errorf("intake: open forwarded reply: %w", err)
	}
	var f forwarded
	if err := json.Unmarshal(raw, &f); err != nil || f.Chat == 0 || f.ID == "" {
		return Delivery{}, errors.New("intake: a forwarded reply is malformed")
	}
	return Delivery{Chat: f.Chat, out: store.Outgoing{ID: f.ID, Ref: f.Ref, Event: f.Event}, text: f.Text}, nil
}

// DeliverReply frames a reply in the defender's language, sends it with
// send, makes the defender's next text an answer to the case, and records
// the outcome in the case history. Call it in the chat's serial slot. An
// error other than ErrUndeliverable from send leaves the reply pending, to
// be tried again.
func (s *Service) DeliverReply(ctx context.Context, d Delivery, send func([]flows.Message) error) error {
	if d.Refused != "" {
		s.log.Warn("staff reply refused: not signed by a trusted staff key", "reason", d.Refused)
		return s.store.ReplyDone(ctx, d.out, "refused", d.Problem, s.now())
	}
	if d.Problem != "" {
		s.log.Warn("staff reply undeliverable", "reason", d.Problem)
		return s.store.ReplyDone(ctx, d.out, "undeliverable", d.Problem, s.now())
	}
	// A reply forwarded twice (it went stale in the outbox while waiting
	// in a busy partition) is delivered once.
	if pending, err := s.store.Outstanding(ctx, d.out); err != nil {
		return fmt.Errorf("intake: %w", err)
	} else if !pending {
		s.log.Info("staff reply already delivered; not sent again")
		return nil
	}
	handle := s.keys.Hash("chat", d.Chat)
	stored, err := s.store.LoadChat(ctx, handle)
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	prof, draft := s.open(handle, stored)
	st, msgs := s.engine.StaffReply(prof.state(draft), d.out.Ref, d.text)
	if _, err := s.save(ctx, handle, prof.with(st), st, true, false, "", Reply{}, nil); err != nil {
		return err
	}
	if err := send(msgs); err != nil {
		if errors.Is(err, ErrUndeliverable) {
			s.log.Warn("staff reply undeliverable", "reason", "telegram refused it")
			return s.store.ReplyDone(ctx, d.out, "undeliverable", "Telegram refused the message (blocked or chat gone)", s.now())
		}
		return fmt.Errorf("intake: deliver reply: %w", err)
	}
	s.log.Info("staff reply delivered")
	return s.store.ReplyDone(ctx, d.out, "delivered", "", s.now())
}

// Alert is an urgent case nobody has claimed, due for an alert to staff.
type Alert = store.Alert

// DueAlerts returns the urgent cases to alert staff about now, marking them
// alerted; see store.DueAlerts. Alerts carry the reference and times only.
func (s *Service) DueAlerts(ctx context.Context, interval, lease time.Duration) ([]Alert, error) {
	a, err := s.store.DueAlerts(ctx, s.now(), interval, lease)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return a, nil
}
