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

// The inbox holds updates from Telegram, sealed by the bot, from the moment
// they arrive until a worker has handled them. It is split into partitions
// by chat, so that one worker at a time, holding the partition's lease,
// handles a chat's updates in the order they came, whichever bot process
// received them.

const inboxGroup = "workers"

// InitInbox creates the partitions' streams and consumer groups.
func (s *Store) InitInbox(ctx context.Context, partitions int) error {
	for p := 0; p < partitions; p++ {
		err := s.rdb.XGroupCreateMkStream(ctx, inboxKey(p), inboxGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("store: create inbox: %w", err)
		}
	}
	return nil
}

var accept = redis.NewScript(`
local n = redis.call('INCR', KEYS[3])
if n == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
if n > tonumber(ARGV[4]) then return -1 end
if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'update', ARGV[2], 'sealed', ARGV[3])
  return 1
end
return 0
`)

// Accept stores an update in its partition once: an update id seen within
// ttl is not stored again ("duplicate"), nor an update from a chat (handle)
// that sent more than perMinute in the current minute ("flood"). When
// Accept returns without error the update is in Redis, or deliberately
// dropped, and may be acknowledged to Telegram. See AcceptMany.
func (s *Store) Accept(ctx context.Context, partition int, updateID int64, handle string, perMinute int, sealed []byte, ttl time.Duration) (dropped string, err error) {
	d, err := s.AcceptMany(ctx, []Incoming{{Partition: partition, UpdateID: updateID, Handle: handle, Sealed: sealed}}, perMinute, ttl)
	if err != nil {
		return "", err
	}
	return d[0], nil
}

// Incoming is one update to accept (see Accept).
type Incoming struct {
	Partition int
	UpdateID  int64
	Handle    string
	Sealed    []byte
}

// AcceptMany stores several updates (see Accept) in one round trip;
// dropped[i] says what became of in[i]. On error none may be acknowledged.
//
// With Options.WaitReplicas, the updates count as stored only once that
// many replicas have them (ErrNotReplicated otherwise), so that none
// acknowledged to Telegram is lost when a replica takes over.
func (s *Store) AcceptMany(ctx context.Context, in []Incoming, perMinute int, ttl time.Duration) (dropped []string, err error) {
	window := strconv.FormatInt(time.Now().UnixMilli()/inboxRateTTL.Milliseconds(), 10)
	if len(in) == 0 {
		return []string{}, nil
	}
	cmds := make([]*redis.Cmd, len(in))
	for _, idx := range s.byMaster(ctx, in) {
		// With WaitReplicas on a Cluster, each master's updates go to it
		// with a WAIT of their own (writeThrough).
		err := s.writeThrough(ctx, inboxKey(in[idx[0]].Partition), func(p redis.Pipeliner, full bool) {
			for _, i := range idx {
				u := in[i]
				keys := []string{inboxSeenKey(u.Partition, u.UpdateID), inboxKey(u.Partition), inboxRateKey(u.Partition, u.Handle, window)}
				cmds[i] = queueScript(ctx, p, accept, full, keys, ttl.Milliseconds(), u.UpdateID, u.Sealed, perMinute, inboxRateTTL.Milliseconds())
			}
		})
		if err != nil {
			return nil, fmt.Errorf("store: accept updates: %w", err)
		}
	}
	dropped = make([]string, len(in))
	for i, c := range cmds {
		switch n, _ := c.Int(); n {
		case 1:
		case 0:
			dropped[i] = "duplicate"
		default:
			dropped[i] = "flood"
		}
	}
	return dropped, nil
}

// byMaster groups the indexes of in for AcceptMany: all in one group,
// except that with WaitReplicas on a Cluster each master gets its own,
// since WAIT counts the replicas of the node its connection goes to.
func (s *Store) byMaster(ctx context.Context, in []Incoming) [][]int {
	cc, cluster := s.rdb.(*redis.ClusterClient)
	if !cluster || s.opts.WaitReplicas <= 0 {
		all := make([]int, len(in))
		for i := range in {
			all[i] = i
		}
		return [][]int{all}
	}
	var groups [][]int
	byAddr := map[string]int{}
	for i, u := range in {
		addr := ""
		if node, err := cc.MasterForKey(ctx, inboxKey(u.Partition)); err == nil {
			addr = node.Options().Addr
		} // an error comes back from writeThrough, which asks again
		g, seen := byAddr[addr]
		if !seen {
			g = len(groups)
			byAddr[addr] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// Lease takes or renews the lease on a partition for owner; it reports
// whether owner holds it now.
func (s *Store) Lease(ctx context.Context, partition int, owner string, ttl time.Duration) (bool, error) {
	n, err := lease.Run(ctx, s.rdb, []string{leaseKey(partition)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: lease partition: %w", err)
	}
	return n == 1, nil
}

var lease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

var unlease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release gives up owner's lease on a partition.
func (s *Store) Release(ctx context.Context, partition int, owner string) error {
	if err := unlease.Run(ctx, s.rdb, []string{leaseKey(partition)}, owner).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: release partition: %w", err)
	}
	return nil
}

// InboxEntry is an update waiting in the inbox, or a staff reply forwarded
// to its chat's partition (see ForwardReply).
type InboxEntry struct {
	ID       string // stream id: orders the entries of a partition
	Kind     string // "" for an update from Telegram, EntryReply for a staff reply
	UpdateID int64
	Sealed   []byte
}

// EntryReply is the Kind of an inbox entry that carries a staff reply.
const EntryReply = "reply"

// ForwardReply puts a staff reply, sealed by the caller, into its chat's
// partition of the inbox, so that the partition's holder delivers it in
// order with the chat's updates. The reply stays pending in the outbox
// until ReplyDone: if it is not delivered, NextReplies hands it out again
// once it is stale.
func (s *Store) ForwardReply(ctx context.Context, partition int, sealed []byte) error {
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: inboxKey(partition), Values: []any{"kind", EntryReply, "sealed", sealed}}).Err()
	if err != nil {
		return fmt.Errorf("store: forward reply: %w", err)
	}
	return nil
}

// InboxRead says what NextInbox reads besides new entries.
type InboxRead int

const (
	// ReadNew reads new entries only.
	ReadNew InboxRead = iota
	// ReadOrphans also takes back, first and in the same round trip,
	// entries of the partition left pending: after a failover to a
	// replica that saw an entry taken but not its acknowledgement. A
	// holder sweeps so now and then; each sweep costs a little.
	ReadOrphans
	// ReadReclaim reads every pending entry of the partition first,
	// without waiting: on taking a partition over.
	ReadReclaim
)

// NextInbox returns, for the holder of a partition's lease, the updates to
// handle next, oldest first: with ReadReclaim, first those another worker
// took and did not finish (it died or lost its lease; the new holder asks
// once, when it takes the partition), with ReadOrphans first those a
// failover left pending, then new ones, waiting up to block.
//
// Updates handled since the last call are passed as done: they are removed
// (see DoneMany) in the same round trip as the read, so that finishing an
// update costs no round trip of its own.
func (s *Store) NextInbox(ctx context.Context, partition int, consumer string, block time.Duration, read InboxRead, done ...Done) ([]InboxEntry, error) {
	reclaim := read == ReadReclaim
	key := inboxKey(partition)
	if len(done) > 0 && reclaim {
		if err := s.DoneMany(ctx, partition, done); err != nil {
			return nil, err
		}
		done = nil
	}
	var msgs []redis.XMessage
	for start := "0-0"; reclaim; {
		got, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: inboxGroup, Consumer: consumer, MinIdle: 0, Start: start, Count: 100,
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("store: reclaim updates: %w", err)
		}
		msgs = append(msgs, got...)
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	if len(msgs) == 0 {
		var fresh *redis.XStreamSliceCmd
		var orphans *redis.XAutoClaimCmd
		var finish []redis.Cmder
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			finish = s.doneIn(ctx, p, partition, done)
			if read == ReadOrphans {
				// Everything read before is finished above, and only the
				// lease holder reads: nothing should be pending.
				orphans = p.XAutoClaim(ctx, &redis.XAutoClaimArgs{
					Stream: key, Group: inboxGroup, Consumer: consumer, MinIdle: 0, Start: "0-0", Count: 50,
				})
			}
			fresh = p.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: inboxGroup, Consumer: consumer, Streams: []string{key, ">"}, Count: 50, Block: block,
			})
			return nil
		})
		for _, c := range finish {
			if err := c.Err(); err != nil {
				return nil, fmt.Errorf("store: finish updates: %w", err)
			}
		}
		if orphans != nil {
			got, _, err := orphans.Result()
			if err != nil {
				return nil, fmt.Errorf("store: reclaim updates: %w", err)
			}
			msgs = append(msgs, got...)
		}
		streams, err := fresh.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("store: read updates: %w", err)
		}
		for _, st := range streams {
			msgs = append(msgs, st.Messages...)
		}
	}
	out := make([]InboxEntry, 0, len(msgs))
	for _, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		var id int64
		fmt.Sscan(v("update"), &id)
		out = append(out, InboxEntry{ID: m.ID, Kind: v("kind"), UpdateID: id, Sealed: []byte(v("sealed"))})
	}
	return out, nil
}

// Done is a handled update: its inbox entry, and the chat (handle, "" for
// none) whose message ids it involved (see RememberMessages).
type Done struct {
	ID         string
	Handle     string
	MessageIDs []int
}

// DoneMany removes handled updates from their partition and, for each
// with a handle, records the chat's message ids (see RememberMessages), in
// one round trip.
func (s *Store) DoneMany(ctx context.Context, partition int, done []Done) error {
	if len(done) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.doneIn(ctx, p, partition, done)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish updates: %w", err)
	}
	return nil
}

// doneIn queues the commands that finish done in p, and returns them.
func (s *Store) doneIn(ctx context.Context, p redis.Pipeliner, partition int, done []Done) []redis.Cmder {
	if len(done) == 0 {
		return nil
	}
	ids := make([]string, len(done))
	for i, d := range done {
		if d.Handle != "" && len(d.MessageIDs) > 0 {
			s.rememberIn(ctx, p, d.Handle, d.MessageIDs)
		}
		ids[i] = d.ID
	}
	return []redis.Cmder{p.XAck(ctx, inboxKey(partition), inboxGroup, ids...), p.XDel(ctx, inboxKey(partition), ids...)}
}

// InboxDepth returns how many updates wait in all partitions, and the age of
// the oldest, in one round trip.
func (s *Store) InboxDepth(ctx context.Context, partitions int, now time.Time) (int64, time.Duration, error) {
	lens := make([]*redis.IntCmd, partitions)
	firsts := make([]*redis.XMessageSliceCmd, partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range partitions {
			lens[i] = p.XLen(ctx, inboxKey(i))
			firsts[i] = p.XRangeN(ctx, inboxKey(i), "-", "+", 1)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: inbox depth: %w", err)
	}
	var total int64
	var oldest time.Duration
	for i := range partitions {
		total += lens[i].Val()
		if first := firsts[i].Val(); len(first) == 1 {
			var ms int64
			fmt.Sscanf(first[0].ID, "%d-", &ms)
			oldest = max(oldest, now.Sub(time.UnixMilli(ms)))
		}
	}
	return total, oldest, nil
}

// streamIDLess orders stream ids ("ms-seq").
func streamIDLess(a, b string) bool {
	var am, as, bm, bs int64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || am == bm && as < bs
}

// Applied reports whether the chat's state already includes inbox entry id
// (the chat's state records the last entry it applied).
func Applied(last, id string) bool { return last != "" && !streamIDLess(last, id) }

// LeaseNamed is Lease for a named role (such as the one poller of all the
// bot processes).
func (s *Store) LeaseNamed(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := lease.Run(ctx, s.rdb, []string{namedLeaseKey(name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Heartbeat records that bot process owner is alive for ttl and returns how
// many are alive.
func (s *Store) Heartbeat(ctx context.Context, owner string, now time.Time, ttl time.Duration) (int, error) {
	var card *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, replicasKey, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: owner})
		p.ZRemRangeByScore(ctx, replicasKey, "-inf", fmt.Sprint(now.UnixMilli()))
		card = p.ZCard(ctx, replicasKey)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: heartbeat: %w", err)
	}
	return int(card.Val()), nil
}
