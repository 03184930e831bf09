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
	"github.com/redis/go-redis/v9/maintnotifications"
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
	// WaitReplicas, when above zero, makes a report, and an update from
	// Telegram, count as stored only once that many replicas have it
	// (Redis WAIT, up to WaitTimeout, default 2s): a failover then cannot
	// lose a report whose receipt was sent, nor an update acknowledged to
	// Telegram. With a single master, Sentinel or Cluster; on a Cluster
	// they are replicas of the master that owns the keys (the queue's,
	// hash tag {q}; an inbox partition's, {in:P}).
	WaitReplicas int
	WaitTimeout  time.Duration
}

// ErrNotReplicated means a report or an update is stored on the master but
// not yet on the replicas asked for: no receipt may be sent, nor the update
// acknowledged. Submitting the same draft again returns the same reference
// once they have it; an update delivered again is stored once.
var ErrNotReplicated = errors.New("store: not on enough replicas yet")

// DefaultOptions are the lifetimes used when none are configured.
var DefaultOptions = Options{DraftTTL: 24 * time.Hour, ProfileTTL: 400 * 24 * time.Hour, SubmissionTTL: 72 * time.Hour}

// Store is Vigil's Redis state. It is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// Connect opens a client for a redis://, rediss:// or unix:// URL and
// checks that the server answers (see ConnectTo).
func Connect(ctx context.Context, url string) (redis.UniversalClient, error) {
	return ConnectTo(ctx, Target{URL: url})
}

// Target says which Redis deployment to use: one server (URL), or a Redis
// Cluster (Addrs, several seed nodes), or Redis Sentinel (Addrs of the
// sentinels and the MasterName). Every key the project uses together shares
// a hash tag, so a Cluster keeps them in one slot.
type Target struct {
	URL        string
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	// PoolSize is the least number of connections to keep (at least 64);
	// a bot process needs more than the inbox partitions it may hold.
	PoolSize int
}

// ConnectTo opens a go-redis UniversalClient for t and checks that it
// answers. A URL it cannot use is a *URLError, which never shows the
// password; other errors name the address, never the password.
//
// A new connection sends only what deploy/redis/users.acl grants (HELLO
// or AUTH, which every user may send, then the commands Vigil issues):
// go-redis would also send CLIENT SETINFO, which Redis 7.0 does not know
// and the ACL refuses from 7.2 on (each refusal logged in ACL LOG), and
// CLIENT MAINT_NOTIFICATIONS, a managed-service feature. Leaving them
// out, rather than granting client|setinfo, works on every Redis version:
// an ACL file naming a subcommand Redis does not know fails to load.
func ConnectTo(ctx context.Context, t Target) (redis.UniversalClient, error) {
	var c redis.UniversalClient
	where := strings.Join(t.Addrs, ",")
	// Each inbox partition a bot process holds keeps one connection in a
	// blocking read: the pool must be larger than the partitions, or every
	// other command waits for a read to time out.
	pool := max(t.PoolSize, 64)
	switch {
	case len(t.Addrs) > 0 && t.MasterName != "":
		c = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: t.MasterName, SentinelAddrs: t.Addrs,
			Username: t.Username, Password: t.Password, PoolSize: pool, DisableIdentity: true})
	case len(t.Addrs) > 0:
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: t.Addrs, Username: t.Username, Password: t.Password, PoolSize: pool,
			DisableIdentity: true, MaintNotificationsConfig: noMaintNotifications()})
	default:
		opt, err := parseURL(t.URL)
		if err != nil {
			return nil, err
		}
		opt.PoolSize = max(opt.PoolSize, pool)
		opt.DisableIdentity, opt.MaintNotificationsConfig = true, noMaintNotifications()
		c, where = redis.NewClient(opt), opt.Addr
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: connect to redis at %s: %w", where, err)
	}
	return c, nil
}

// noMaintNotifications keeps go-redis from sending CLIENT
// MAINT_NOTIFICATIONS (see ConnectTo). (Its failover client never sends
// it.)
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// masterFor returns the client whose connections reach the master that
// owns key: rdb itself, except on a Cluster, where a keyless command such
// as WAIT goes to any node. There it is the owner's own client, which
// follows no redirection: a MOVED or ASK (the slot has moved) is an error.
func (s *Store) masterFor(ctx context.Context, key string) (redis.Cmdable, error) {
	c, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.rdb, nil
	}
	return c.MasterForKey(ctx, key)
}

// masterFailed is told that a command through masterFor failed. On a
// Cluster the likeliest cause is a failover or a moved slot that the
// client has not seen: it reloads the map of slots (in the background), so
// that the next try goes to the new owner.
func (s *Store) masterFailed(ctx context.Context) {
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		c.ReloadState(ctx)
	}
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
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 2 * time.Second
	}
	return &Store{rdb: rdb, opts: opts}
}

// Init creates the queue with its staff consumer group, and the outbox with
// the bot's, if they do not exist.
func (s *Store) Init(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, queueKey, staffGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("store: create queue: %w", err)
	}
	return s.InitOutbox(ctx)
}

// Chat is what is stored of one chat, sealed by the caller.
type Chat struct {
	Draft   []byte // nil when there is no draft
	Profile []byte // nil when nothing is remembered
	Applied string // the last inbox entry applied; "" when none
}

// LoadChat reads a chat's draft and profile in one round trip and renews the
// profile's lifetime.
func (s *Store) LoadChat(ctx context.Context, handle string) (Chat, error) {
	c, _, err := s.loadChat(ctx, handle, "", 0, time.Time{})
	return c, err
}

// LoadChatCounting is LoadChat that also adds one to the chat's counter of
// kind in the current window (see Count), in the same round trip.
func (s *Store) LoadChatCounting(ctx context.Context, handle, kind string, window time.Duration, now time.Time) (Chat, int64, error) {
	return s.loadChat(ctx, handle, kind, window, now)
}

func (s *Store) loadChat(ctx context.Context, handle, kind string, window time.Duration, now time.Time) (Chat, int64, error) {
	var draft, profile, applied *redis.StringCmd
	var n *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		draft = p.Get(ctx, draftKey(handle))
		profile = p.GetEx(ctx, profileKey(handle), s.opts.ProfileTTL)
		applied = p.Get(ctx, appliedKey(handle))
		if kind != "" {
			n = Counter{Kind: kind, Window: window, Now: now}.queue(ctx, p, handle)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Chat{}, 0, fmt.Errorf("store: load chat: %w", err)
	}
	var c Chat
	if b, err := draft.Bytes(); err == nil {
		c.Draft = b
	}
	if b, err := profile.Bytes(); err == nil {
		c.Profile = b
	}
	c.Applied = applied.Val()
	var count int64
	if n != nil {
		count = n.Val()
	}
	return c, count, nil
}

// ChatUpdate is a change to a chat's stored state. Nil fields are left as
// they are.
type ChatUpdate struct {
	Draft       []byte // new sealed draft
	DeleteDraft bool
	Profile     []byte // new sealed profile
	Applied     string // the inbox entry this change applies; "" for none
	// Reply is the sealed reply to Applied, kept (as long as a draft) to
	// be sent again if the process dies before sending it; with Applied
	// only.
	Reply []byte
	// Count, when set, adds one to a counter of the chat as Count does,
	// in the same round trip.
	Count *Counter
}

// Apply returns the state c becomes once u is saved over it.
func (u ChatUpdate) Apply(c Chat) Chat {
	switch {
	case u.Draft != nil:
		c.Draft = u.Draft
	case u.DeleteDraft:
		c.Draft = nil
	}
	if u.Profile != nil {
		c.Profile = u.Profile
	}
	if u.Applied != "" {
		c.Applied = u.Applied
	}
	return c
}

// Counter names a chat's counter: of kind, in the window of now (see
// Count).
type Counter struct {
	Kind   string
	Window time.Duration
	Now    time.Time
}

// queue adds one to the chat's counter c on p (the counter lives as long
// as its window) and returns its new value.
func (c Counter) queue(ctx context.Context, p redis.Pipeliner, handle string) *redis.IntCmd {
	key := rateKey(handle, c.Kind, c.Window, c.Now)
	n := p.Incr(ctx, key)
	p.Expire(ctx, key, c.Window)
	return n
}

// saveChat applies a ChatUpdate atomically. KEYS: profile, applied,
// reply, draft. ARGV: profile ("" keeps it), applied ("" keeps it and the
// reply), reply ("" deletes it), draft ("" keeps it), "1" to delete the
// draft, then the profile, draft and applied lifetimes in ms.
var saveChat = redis.NewScript(`
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6]) end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[8])
  if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[7]) else redis.call('DEL', KEYS[3]) end
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[7])
elseif ARGV[5] == '1' then redis.call('DEL', KEYS[4]) end
return 1
`)

// SaveChat applies a change to a chat in one round trip. With
// Options.WaitReplicas it counts as saved only once the replicas have it
// (ErrNotReplicated otherwise): after a failover the chat's state is never
// behind a reply the defender has seen.
func (s *Store) SaveChat(ctx context.Context, handle string, u ChatUpdate) error {
	if u.Draft == nil && !u.DeleteDraft && u.Profile == nil && u.Applied == "" && u.Count == nil {
		return nil
	}
	del := "0"
	if u.DeleteDraft {
		del = "1"
	}
	keys := []string{profileKey(handle), appliedKey(handle), replyKey(handle), draftKey(handle)}
	args := []any{u.Profile, u.Applied, u.Reply, u.Draft, del, s.opts.ProfileTTL.Milliseconds(), s.opts.DraftTTL.Milliseconds(), appliedTTL.Milliseconds()}
	err := s.writeThrough(ctx, draftKey(handle), func(p redis.Pipeliner, full bool) {
		queueScript(ctx, p, saveChat, full, keys, args...)
		if u.Count != nil {
			u.Count.queue(ctx, p, handle)
		}
	})
	if err != nil {
		return fmt.Errorf("store: save chat: %w", err)
	}
	return nil
}

// writeThrough sends the commands queue adds down one connection to the
// master that owns key and, with WaitReplicas, WAIT after them on the same
// connection (WAIT counts the replicas that have that connection's
// writes): ErrNotReplicated when fewer acknowledge within WaitTimeout.
// queue is called with full set when the first send met a script Redis
// had not seen (NOSCRIPT: none ran), to send scripts whole this once; see
// queueScript. On a Cluster, an error makes the client reload its map of
// slots (masterFailed).
func (s *Store) writeThrough(ctx context.Context, key string, queue func(p redis.Pipeliner, full bool)) error {
	n := s.opts.WaitReplicas
	var c redis.Cmdable = s.rdb
	if n > 0 {
		master, err := s.masterFor(ctx, key)
		if err != nil {
			return err
		}
		c = master
	}
	send := func(full bool) (acked *redis.Cmd, err error) {
		_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			queue(p, full)
			if n > 0 {
				acked = p.Do(ctx, "WAIT", n, s.opts.WaitTimeout.Milliseconds())
			}
			return nil
		})
		return acked, err
	}
	acked, err := send(false)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		acked, err = send(true)
	}
	if err != nil {
		if n > 0 {
			s.masterFailed(ctx)
		}
		return err
	}
	if acked != nil {
		if got, _ := acked.Int(); got < n {
			return fmt.Errorf("%w: %d of %d replicas have it", ErrNotReplicated, got, n)
		}
	}
	return nil
}

// queueScript queues script on p: by its hash, or whole when full.
func queueScript(ctx context.Context, p redis.Pipeliner, script *redis.Script, full bool, keys []string, args ...any) *redis.Cmd {
	if full {
		return script.Eval(ctx, p, keys, args...)
	}
	return script.EvalSha(ctx, p, keys, args...)
}

// LoadReply returns the sealed reply stored with the chat's last applied
// inbox entry (see ChatUpdate.Reply), nil when there is none.
func (s *Store) LoadReply(ctx context.Context, handle string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, replyKey(handle)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: load reply: %w", err)
	}
	return b, nil
}
