package intake_test

import (
	"context"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// stateReads returns how many times Redis has read a chat's settings (each
// read of a chat's state renews them with GETEX).
func stateReads(t *testing.T, env *testenv.Env) int {
	t.Helper()
	info, err := env.RDB.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_getex:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestChatCacheReadsAChatOnceAndMakesTheSameReport: with the partition
// holder's ChatCache, a whole conversation reads the chat's state from Redis
// about once, not on every update, and ends in the same report as without.
func TestChatCacheReadsAChatOnceAndMakesTheSameReport(t *testing.T) {
	env := testenv.New(t)
	cached := env.Defender(t, 5001)
	cached.Cache = intake.NewChatCache()
	plain := env.Defender(t, 5002)

	before := stateReads(t, env)
	refCached := cached.Submit("CACHED", true)
	cachedReads := stateReads(t, env) - before
	before = stateReads(t, env)
	refPlain := plain.Submit("PLAIN", true)
	plainReads := stateReads(t, env) - before

	// The updates of one minute share a counter window: a conversation
	// that crosses a minute reads its state again then.
	if cachedReads > 2 || plainReads < 20 {
		t.Errorf("the chat's state was read %d times with the cache, %d without (want at most 2, and one per update)", cachedReads, plainReads)
	}
	a, b := env.OpenReport(t, refCached), env.OpenReport(t, refPlain)
	if len(a.Answers) != len(b.Answers) {
		t.Fatalf("answers: %v, want as %v", a.Answers, b.Answers)
	}
	for id, want := range b.Answers {
		got := a.Answers[id]
		if s, ok := got.(string); ok {
			got = strings.ReplaceAll(s, "CACHED", "PLAIN")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v with the cache, %v without", id, a.Answers[id], want)
		}
	}
}

// TestChatCacheGivesWayToAStaffReply: a staff reply delivered between two
// updates writes the chat's state otherwise; the chat's next text, handled
// with the same cache, is the answer to it.
func TestChatCacheGivesWayToAStaffReply(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	const chatID = int64(5003)
	c := env.Defender(t, chatID)
	c.Cache = intake.NewChatCache()
	ref := c.Submit("GIVE-WAY", true)
	c.Cmd("status") // the chat's state is in the cache again

	d := staffReply(t, env, chatID, ref, "please call us")
	// Delivered by the partition's holder, with its cache.
	err := env.Service.DeliverReply(intake.WithChatCache(ctx, c.Cache), d, func([]flows.Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Text("my answer"); len(r.Messages) == 0 || !strings.Contains(r.Messages[0].Text, ref) {
		t.Fatalf("the next text is not an answer to %s: %+v", ref, r.Messages)
	}
}
