// Package testenv builds a real Vigil core for tests: a private
// redis-server, a staff identity, the bot's secret, the locales and the
// intake service, all in the test's temporary directory.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// Env is a wired core over a private Redis.
type Env struct {
	Redis   *redistest.Server  // nil on a cluster; the first master under Sentinel
	Cluster *redistest.Cluster // nil on a single server
	// Sentinel, with NewSentinel, watches Redis under the name "vigil";
	// Replicas replicate it.
	Sentinel     *redistest.Server
	Replicas     []*redistest.Server
	RDB          redis.UniversalClient
	Store        *store.Store
	Text         *locales.Catalog
	Engine       *flows.Engine
	Keys         *seal.Keys
	Recipients   *seal.Recipients
	IdentityFile string
	Identities   []seal.Identity
	// KeyringFile is the staff keyring (see Staff), Trust the bot's hold on
	// it; SigningKeyFile and Signer give each member's signing key.
	KeyringFile string
	Trust       *sign.Trust
	Service     *intake.Service
	// Budget is the budget all chats share, nil until UseBudget.
	Budget *budget.Budget
	// service is how Service was made, to make it again (UseBudget).
	service intake.Config
	// Broadcasts is the coordinators' service, under Policy; BotID is
	// the bot's age identity (it opens publications' texts).
	Broadcasts *broadcast.Service
	Policy     store.Policy
	BotID      seal.Identity
	sealer     func([]byte) ([]byte, error)
	Logs       *SafeBuffer // everything logged, at debug level
	// Fetch is how the service opens a defender's file; set it to the
	// front end under test (bot.Bot.Fetch).
	Fetch func(ctx context.Context, id string) (io.ReadCloser, error)
	Log   *slog.Logger
	Dir   string
	// entries numbers Defenders' events as inbox entries.
	entries atomic.Int64
}

// Countries is the deployment the tests play.
var Countries = []string{"UA", "GE", "BY"}

// New builds an Env. Extra lines go to redis-server's configuration.
func New(tb testing.TB, redisConfig ...string) *Env {
	tb.Helper()
	e := &Env{Dir: tb.TempDir(), Logs: &SafeBuffer{}}
	e.Redis = redistest.Start(tb, redisConfig...)
	e.RDB = e.Redis.Client(tb)
	return e.wire(tb)
}

// NewCluster builds an Env over a three-master Redis Cluster.
func NewCluster(tb testing.TB) *Env {
	tb.Helper()
	return NewClusterReplicas(tb, 0)
}

// NewClusterReplicas builds an Env over a three-master Redis Cluster with
// replicasPerMaster replicas for each master.
func NewClusterReplicas(tb testing.TB, replicasPerMaster int) *Env {
	tb.Helper()
	e := &Env{Dir: tb.TempDir(), Logs: &SafeBuffer{}}
	e.Cluster = redistest.StartClusterReplicas(tb, 3, replicasPerMaster)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: e.Cluster.Addrs()})
	tb.Cleanup(func() { c.Close() })
	e.RDB = c
	return e.wire(tb)
}

// NewSentinel builds an Env through Redis Sentinel: a master with AOF
// (appendfsync always), two replicas, and one Sentinel quick to fail over
// (see redistest.StartSentinel). Two replicas, so that after a failover
// the new master still has one.
func NewSentinel(tb testing.TB) *Env {
	tb.Helper()
	aof := []string{"appendonly yes", "appendfsync always"}
	e := &Env{Dir: tb.TempDir(), Logs: &SafeBuffer{}}
	e.Redis = redistest.Start(tb, aof...)
	e.Replicas = []*redistest.Server{redistest.StartReplica(tb, e.Redis, aof...), redistest.StartReplica(tb, e.Redis, aof...)}
	e.Sentinel = redistest.StartSentinel(tb, "vigil", e.Redis)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "vigil", SentinelAddrs: []string{e.Sentinel.Addr}})
	tb.Cleanup(func() { c.Close() })
	e.RDB = c
	return e.wire(tb)
}

func (e *Env) wire(tb testing.TB) *Env {
	tb.Helper()
	e.Log = slog.New(slog.NewTextHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if e.Text, err = locales.Load("en"); err != nil {
		tb.Fatal(err)
	}
	file, pub, err := seal.NewIdentity()
	if err != nil {
		tb.Fatal(err)
	}
	e.IdentityFile = filepath.Join(e.Dir, "staff.key")
	if err := seal.WriteNewFile(e.IdentityFile, []byte(file)); err != nil {
		tb.Fatal(err)
	}
	if e.Identities, err = seal.LoadIdentities(e.IdentityFile, nil); err != nil {
		tb.Fatal(err)
	}
	if e.Recipients, err = seal.ParseRecipients(strings.NewReader(pub + "\n")); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "recipients.txt"), []byte(pub+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if e.Keys, _, err = seal.LoadOrCreateKeys(filepath.Join(e.Dir, "bot.secret")); err != nil {
		tb.Fatal(err)
	}
	e.KeyringFile = staffKeys(tb, e.Dir)
	if e.Trust, err = sign.LoadTrust(e.KeyringFile); err != nil {
		tb.Fatal(err)
	}
	e.Store = store.New(e.RDB, store.Options{})
	if err := e.Store.Init(context.Background()); err != nil {
		tb.Fatal(err)
	}
	e.Engine = flows.New(e.Text, flows.Config{
		Countries: Countries,
		Emergency: map[string]string{"": "Duty officer +00 000", "UA": "112"},
		NewID:     intake.NewDraftID,
		Checkin:   flows.CheckinConfig{MAC: intake.DuressMAC(e.Keys)},
	})
	botID, err := intake.EnsureBotIdentity(context.Background(), e.Store, e.Keys)
	if err != nil {
		tb.Fatal(err)
	}
	e.BotID = botID
	botKey, err := e.Store.BotRecipient(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := broadcast.SealFor(e.Recipients, botKey)
	if err != nil {
		tb.Fatal(err)
	}
	e.Policy = store.Policy{Approvals: 2, Coordinators: []string{"anna", "ben"}, DefaultLang: "en", Rate: 25}
	if err := e.Store.SetPolicy(context.Background(), e.Policy); err != nil {
		tb.Fatal(err)
	}
	e.sealer = sealer
	e.Broadcasts = broadcast.New(broadcast.Config{Store: e.Store, Seal: sealer, Open: broadcast.Opener(botID), Bot: e.Keys, Trust: e.Trust})
	e.service = intake.Config{Engine: e.Engine, Store: e.Store, Keys: e.Keys, Recipients: e.Recipients, BotIdentity: botID, Trust: e.Trust, Log: e.Log,
		Broadcasts: e.Broadcasts, Rate: 25,
		Fetch: func(ctx context.Context, id string) (io.ReadCloser, error) {
			if e.Fetch == nil {
				return nil, errors.New("testenv: no Fetch set")
			}
			return e.Fetch(ctx, id)
		}}
	e.Service = intake.New(e.service)
	return e
}

// UseCheckins gives the engine and the service the clock now and the
// check-in settings ck and times (the duress MAC is the bot's). It
// replaces Engine and Service: call it before handing them on.
func (e *Env) UseCheckins(now func() time.Time, ck flows.CheckinConfig, times intake.CheckinTimes) {
	ck.MAC = intake.DuressMAC(e.Keys)
	e.Engine = flows.New(e.Text, flows.Config{Countries: Countries,
		Emergency: map[string]string{"": "Duty officer +00 000", "UA": "112"},
		NewID:     intake.NewDraftID, Now: now, Checkin: ck})
	e.service.Engine, e.service.Now, e.service.Checkin = e.Engine, now, times
	e.Service = intake.New(e.service)
}

// UseBudget gives the service a budget shared by all chats, with limits
// and the clock now (nil: time.Now), and returns it. It replaces Service:
// call it before handing Service to a front end or a Defender.
func (e *Env) UseBudget(limits budget.Limits, now func() time.Time) *budget.Budget {
	e.Budget = budget.New(budget.Config{Store: e.Store, Limits: limits, Now: now, Log: e.Log})
	c := e.service
	c.Budget = e.Budget
	e.Service = intake.New(c)
	return e.Budget
}

// OpenReport decrypts the queued report ref with the staff identity.
func (e *Env) OpenReport(tb testing.TB, ref string) flows.Report {
	tb.Helper()
	r, err := e.Store.Report(context.Background(), ref)
	if err != nil {
		tb.Fatalf("report %s: %v", ref, err)
	}
	raw, err := seal.Open(r.Sealed, e.Identities...)
	if err != nil {
		tb.Fatalf("open report %s: %v", ref, err)
	}
	var rep flows.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		tb.Fatalf("decode report %s: %v", ref, err)
	}
	return rep
}

// OpenNotes decrypts the note entries of case ref with the staff
// identity, oldest first.
func (e *Env) OpenNotes(tb testing.TB, ref string) []string {
	tb.Helper()
	evs, err := e.Store.Events(context.Background(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type != "note" {
			continue
		}
		raw, err := seal.Open(ev.Sealed, e.Identities...)
		if err != nil {
			tb.Fatalf("open a note of %s: %v", ref, err)
		}
		out = append(out, string(raw))
	}
	return out
}

// Queue returns the refs in the queue, oldest first.
func (e *Env) Queue(tb testing.TB) []string {
	tb.Helper()
	q, err := e.Store.Queue(context.Background(), 0)
	if err != nil {
		tb.Fatal(err)
	}
	var refs []string
	for _, r := range q {
		refs = append(refs, r.Ref)
	}
	return refs
}

// Everything returns every key and value in Redis (all types) and the bytes
// of an RDB snapshot, for tests that look for what must not be there. The
// server should run with "rdbcompression no" so that the snapshot holds
// values as they are. A key that expires between the listing and its read
// (a lease, a rate counter) is passed over: it holds nothing any more.
func (e *Env) Everything(tb testing.TB) []byte {
	tb.Helper()
	ctx := context.Background()
	var all bytes.Buffer
	keys, err := e.RDB.Keys(ctx, "*").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		typ, err := e.RDB.Type(ctx, k).Result()
		if err != nil {
			tb.Fatalf("type of %s: %v", k, err)
		}
		if typ == "none" {
			continue // expired since KEYS listed it
		}
		all.WriteString(k + "\n")
		switch typ {
		case "string":
			all.WriteString(e.RDB.Get(ctx, k).Val())
		case "hash":
			for f, v := range e.RDB.HGetAll(ctx, k).Val() {
				all.WriteString(f + "=" + v + "\n")
			}
		case "list":
			all.WriteString(strings.Join(e.RDB.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			all.WriteString(strings.Join(e.RDB.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			all.WriteString(strings.Join(e.RDB.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range e.RDB.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					all.WriteString(f + "=" + v.(string) + "\n")
				}
			}
		default:
			tb.Fatalf("key %s has type %s, which this check does not read", k, typ)
		}
		all.WriteString("\n")
	}
	if err := e.RDB.Save(ctx).Err(); err != nil {
		tb.Fatal(err)
	}
	rdb, err := os.ReadFile(filepath.Join(e.Redis.Dir, "dump.rdb"))
	if err != nil {
		tb.Fatal(err)
	}
	all.Write(rdb)
	return all.Bytes()
}

// SafeBuffer is a bytes.Buffer safe for concurrent writers (loggers).
type SafeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SafeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written.
func (b *SafeBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// SeedSubscribers subscribes n chats with ids from first to country, speaking
// langs in turn, as the bot would; it returns chat id → language.
func (e *Env) SeedSubscribers(tb testing.TB, first int64, n int, country string, langs ...string) map[int64]string {
	tb.Helper()
	ctx := context.Background()
	out := make(map[int64]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int64)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chat := range work {
				lang := langs[int(chat-first)%len(langs)]
				handle := e.Keys.Hash("chat", chat)
				sealed, err := broadcast.SealSubscriber(e.Keys, handle, broadcast.Subscriber{Chat: chat, Lang: lang})
				if err == nil {
					err = e.Store.Subscribe(ctx, handle, sealed, []string{country})
				}
				mu.Lock()
				if err != nil {
					tb.Error(err)
				}
				out[chat] = lang
				mu.Unlock()
			}
		}()
	}
	for i := range int64(n) {
		work <- first + i
	}
	close(work)
	wg.Wait()
	return out
}
