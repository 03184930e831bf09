package intake

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/vigil-hrd/vigil/store"
)

// Partition returns the inbox partition of a chat, out of n: always the same
// for one chat, spread evenly over chats.
func (s *Service) Partition(chat int64, n int) int {
	return partitionOf(s.keys.Hash("chat", chat), n)
}

// partitionOf spreads chat handles over n partitions.
func partitionOf(handle string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(handle))
	return int(h.Sum32() % uint32(n))
}

func updateName(p int) string { return "update:" + strconv.Itoa(p) }

// Accept stores an update from Telegram durably, sealed with the bot's key,
// in its chat's partition of the inbox: when Accept returns nil the update
// may be acknowledged to Telegram. An update id already accepted is not
// stored again; nor is an update from a chat flooding the bot far beyond its
// rate limit (dropped reports why, without content).
func (s *Service) Accept(ctx context.Context, partitions int, updateID, chat int64, raw []byte) (dropped string, err error) {
	d, err := s.AcceptMany(ctx, partitions, []Update{{ID: updateID, Chat: chat, Raw: raw}})
	if err != nil {
		return "", err
	}
	return d[0], nil
}

// Update is one update from Telegram to accept.
type Update struct {
	ID   int64
	Chat int64
	Raw  []byte
}

// AcceptMany is Accept for the updates of one getUpdates answer, in one round
// trip to Redis; dropped[i] says what became of us[i] ("" when stored).
func (s *Service) AcceptMany(ctx context.Context, partitions int, us []Update) (dropped []string, err error) {
	in := make([]store.Incoming, len(us))
	for i, u := range us {
		handle := s.keys.Hash("chat", u.Chat)
		p := partitionOf(handle, partitions)
		in[i] = store.Incoming{Partition: p, UpdateID: u.ID, Handle: handle, Sealed: s.keys.Seal(updateName(p), u.Raw)}
	}
	dropped, err = s.store.AcceptMany(ctx, in, 5*s.limits.MessagesPerMinute, store.UpdateSeenTTL)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return dropped, nil
}

// OpenEntry unseals an update taken from partition p of the inbox.
func (s *Service) OpenEntry(p int, e store.InboxEntry) ([]byte, error) {
	raw, err := s.keys.Open(updateName(p), e.Sealed)
	if err != nil {
		return nil, fmt.Errorf("intake: open update: %w", err)
	}
	return raw, nil
}

// InboxEntry is an update waiting in the inbox, or a staff reply forwarded
// there (Kind EntryReply).
type InboxEntry = store.InboxEntry

// EntryReply is the Kind of an inbox entry that carries a staff reply.
const EntryReply = store.EntryReply

// InboxRead says what NextInbox reads besides new entries (see store).
type InboxRead = store.InboxRead

const (
	ReadNew     = store.ReadNew
	ReadOrphans = store.ReadOrphans
	ReadReclaim = store.ReadReclaim
)

// Lease takes or renews a partition's lease (see store.Lease).
func (s *Service) Lease(ctx context.Context, p int, owner string, ttl time.Duration) (bool, error) {
	return s.store.Lease(ctx, p, owner, ttl)
}

// LeaseNamed takes or renews the lease of a role such as the poller.
func (s *Service) LeaseNamed(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return s.store.LeaseNamed(ctx, name, owner, ttl)
}

// Release gives up a partition's lease.
func (s *Service) Release(ctx context.Context, p int, owner string) error {
	return s.store.Release(ctx, p, owner)
}

// Done is a handled update: its inbox entry, and the chat (0 for none) and
// ids of the messages it involved, for /wipe.
type Done struct {
	ID         string
	Chat       int64
	MessageIDs []int
}

func (s *Service) done(done []Done) []store.Done {
	out := make([]store.Done, len(done))
	for i, d := range done {
		out[i] = store.Done{ID: d.ID, MessageIDs: d.MessageIDs}
		if d.Chat != 0 {
			out[i].Handle = s.keys.Hash("chat", d.Chat)
		}
	}
	return out
}

// NextInbox returns the next updates of a partition, finishing those
// handled since the last call in the same round trip (see store.NextInbox).
func (s *Service) NextInbox(ctx context.Context, p int, consumer string, block time.Duration, read InboxRead, done ...Done) ([]InboxEntry, error) {
	return s.store.NextInbox(ctx, p, consumer, block, read, s.done(done)...)
}

// DoneMany finishes handled updates (see store.DoneMany) in one round trip.
func (s *Service) DoneMany(ctx context.Context, p int, done []Done) error {
	return s.store.DoneMany(ctx, p, s.done(done))
}

// Heartbeat records that bot process owner is alive and returns how many are.
func (s *Service) Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error) {
	return s.store.Heartbeat(ctx, owner, s.now(), ttl)
}

// InitInbox creates the inbox's partitions.
func (s *Service) InitInbox(ctx context.Context, partitions int) error {
	return s.store.InitInbox(ctx, partitions)
}

// InboxDepth returns how many updates wait, and the age of the oldest.
func (s *Service) InboxDepth(ctx context.Context, partitions int) (int64, time.Duration, error) {
	return s.store.InboxDepth(ctx, partitions, s.now())
}
