package intake

import (
	"context"
	"sync"
	"time"

	"github.com/vigil-hrd/vigil/store"
)

// ChatCache keeps, between the updates of a chat, the chat's state as the
// last update left it in Redis, so that the next update need not read it
// again: a round trip to Redis, about a seventh of the bot's CPU per update
// under load.
//
// It is correct only while one worker alone writes the chats' state: the
// holder of their inbox partition, for as long as it holds it. A worker
// makes a new ChatCache whenever it takes a partition (over), and whenever
// its lease may have lapsed, and passes it to HandleEntry with
// WithChatCache. Every other write of a chat's state drops the chat's
// entry. An entry is used within the minute it was counted in (the
// message rate) and for at most cacheFor after the state was read from
// Redis; draft lifetimes are far longer. It holds sealed state only.
type ChatCache struct {
	mu      sync.Mutex
	entries map[string]cachedChat
}

// cacheFor bounds how long a chat's state is used without reading it.
const cacheFor = 30 * time.Second

// cacheMax bounds the chats a ChatCache holds (one partition's, active in
// the last cacheFor): the bot's memory stays flat in the number of chats.
const cacheMax = 64

type cachedChat struct {
	chat   store.Chat
	count  int64 // of the chat's messages in window
	window int64 // the minute counted in
	read   time.Time
}

// NewChatCache returns an empty cache.
func NewChatCache() *ChatCache { return &ChatCache{entries: map[string]cachedChat{}} }

type chatCacheKey struct{}

// WithChatCache returns ctx carrying c, for HandleEntry.
func WithChatCache(ctx context.Context, c *ChatCache) context.Context {
	return context.WithValue(ctx, chatCacheKey{}, c)
}

func chatCacheFrom(ctx context.Context) *ChatCache {
	c, _ := ctx.Value(chatCacheKey{}).(*ChatCache)
	return c
}

// take removes and returns the chat's entry, if it may still be used.
func (c *ChatCache) take(handle string, now time.Time) (cachedChat, bool) {
	if c == nil {
		return cachedChat{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[handle]
	delete(c.entries, handle)
	return e, ok && e.window == minute(now) && now.Sub(e.read) < cacheFor
}

// put records the chat's state as just written.
func (c *ChatCache) put(handle string, e cachedChat, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheMax {
		for h, old := range c.entries {
			if now.Sub(old.read) >= cacheFor || old.window != minute(now) {
				delete(c.entries, h)
			}
		}
	}
	if len(c.entries) >= cacheMax {
		return // busy chats enough: this one reads its state next time
	}
	c.entries[handle] = e
}

// drop forgets the chat's entry: its state is being written otherwise.
func (c *ChatCache) drop(handle string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, handle)
	c.mu.Unlock()
}

func minute(t time.Time) int64 { return t.Unix() / 60 }
