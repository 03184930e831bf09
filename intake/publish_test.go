package intake_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/store"
)

func allText(msgs []flows.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Text + "\n")
	}
	return b.String()
}

func subscription(t *testing.T, env *testenv.Env, chat int64) (broadcast.Subscriber, []string) {
	t.Helper()
	h := env.Keys.Hash("chat", chat)
	sealed, countries, err := env.Store.Subscription(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if sealed == nil {
		return broadcast.Subscriber{}, nil
	}
	sub, err := broadcast.OpenSubscriber(env.Keys, h, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return sub, countries
}

func TestSubscribeFollowsLanguageAndStops(t *testing.T) {
	env := testenv.New(t)
	d := env.Defender(t, 4242)
	d.Hint = "fr-FR"

	// Subscribing is separate from reporting: no draft, no report.
	d.Cmd("subscribe")
	d.Press(env.Text.Region("fr", "UA"))
	d.Press(env.Text.Region("fr", "GE"))
	d.Press(env.Text.Region("fr", "GE")) // off again
	r := d.Press("✓")
	if !strings.Contains(allText(r.Messages), env.Text.Region("fr", "UA")) {
		t.Fatalf("confirmation: %q", allText(r.Messages))
	}
	sub, countries := subscription(t, env, 4242)
	if sub.Chat != 4242 || sub.Lang != "fr" || !slices.Equal(countries, []string{"UA"}) {
		t.Fatalf("subscription %+v %v", sub, countries)
	}
	if q := env.Queue(t); len(q) != 0 {
		t.Fatalf("subscribing queued %v", q)
	}

	// A new language carries over to the subscription.
	d.Cmd("language")
	d.Press("Українська")
	if sub, _ := subscription(t, env, 4242); sub.Lang != "uk" {
		t.Fatalf("after /language: %+v", sub)
	}

	// A report never subscribes anyone, and does not unsubscribe either.
	other := env.Defender(t, 5151)
	other.Submit("MARKER-report", true)
	if _, c := subscription(t, env, 5151); c != nil {
		t.Fatal("a report subscribed its chat")
	}

	d.Cmd("unsubscribe")
	if _, c := subscription(t, env, 4242); c != nil {
		t.Fatal("still subscribed after /unsubscribe")
	}
	if r := d.Cmd("unsubscribe"); !strings.Contains(allText(r.Messages), "/subscribe") {
		t.Fatalf("unsubscribing twice: %q", allText(r.Messages))
	}

	// /forget takes the subscription with it.
	d.Cmd("subscribe")
	d.Press(env.Text.Region("uk", "BY"))
	d.Press("✓")
	if _, c := subscription(t, env, 4242); c == nil {
		t.Fatal("not subscribed again")
	}
	d.Cmd("forget")
	if _, c := subscription(t, env, 4242); c != nil {
		t.Fatal("/forget left the subscription")
	}
}

func TestCoordinatorComposesAndAnotherApproves(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()

	// Someone who is not a coordinator gets the help text, and a log line
	// without content.
	stranger := env.Defender(t, 700)
	r := stranger.Do(flows.Event{Kind: flows.EventCommand, Command: "broadcast"})
	if !strings.Contains(allText(r.Messages), "/start") {
		t.Fatalf("stranger: %q", allText(r.Messages))
	}
	stranger.Do(flows.Event{Kind: flows.EventCommand, Command: "approve", Args: "B-AAAAAA"})
	if !strings.Contains(string(env.Logs.Bytes()), "refused to someone who is not a coordinator") {
		t.Fatal("the refusal was not logged")
	}

	anna := env.Defender(t, 801)
	anna.Coordinator = "anna"
	anna.Do(flows.Event{Kind: flows.EventCommand, Command: "publish"})
	anna.Press("If you are detained")
	anna.Press(env.Text.Region("en", "UA"))
	anna.Press("✓")
	anna.Do(flows.Event{Kind: flows.EventText, Text: "Stay calm. Ask for a lawyer.", HTML: "<b>Stay calm.</b> Ask for a lawyer."})
	anna.Press("Add a language")
	anna.Press("Français")
	anna.Do(flows.Event{Kind: flows.EventText, Text: "Restez calme."})
	r = anna.Press("Create")
	ref := ""
	for _, w := range strings.Fields(allText(r.Messages)) {
		if strings.HasPrefix(w, "G-") {
			ref = strings.TrimRight(w, ".:")
			break
		}
	}
	if ref == "" {
		t.Fatalf("no reference in %q", allText(r.Messages))
	}
	p, err := env.Broadcasts.Get(ctx, ref)
	if err != nil || p.Creator != "anna" || p.Topic != "detention" || !slices.Equal(p.Langs(), []string{"en", "fr"}) {
		t.Fatalf("stored %+v %v", p, err)
	}
	if html, _, _ := env.Broadcasts.Text(p, "en", "en"); html != "<b>Stay calm.</b> Ask for a lawyer." {
		t.Fatalf("en text %q", html)
	}

	// Not before the preview; never by its creator.
	if r := anna.Do(flows.Event{Kind: flows.EventCommand, Command: "approve", Args: ref}); !strings.Contains(allText(r.Messages), "another coordinator") {
		t.Fatalf("own approval: %q", allText(r.Messages))
	}
	ben := env.Defender(t, 802)
	ben.Coordinator = "ben"
	if r := ben.Do(flows.Event{Kind: flows.EventCommand, Command: "approve", Args: ref}); !strings.Contains(allText(r.Messages), "preview") {
		t.Fatalf("approval before the preview: %q", allText(r.Messages))
	}
	// The bot's record that ben saw the preview, as the deliverer keeps it.
	texts, err := env.Broadcasts.Texts(p, "en")
	if err != nil {
		t.Fatal(err)
	}
	seen, err := broadcast.PreviewRecord(env.Keys, "ben", 802, p, texts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.MarkPreviewed(ctx, ref, "", map[string][]byte{"ben": seen}); err != nil {
		t.Fatal(err)
	}
	if r := ben.Do(flows.Event{Kind: flows.EventCommand, Command: "approve", Args: strings.ToLower(ref)}); !strings.Contains(allText(r.Messages), "published") {
		t.Fatalf("approval: %q", allText(r.Messages))
	}

	// A defender reads it in their language, or in the default one.
	for _, c := range []struct {
		hint, want string
	}{{"fr", "Restez calme."}, {"es", "<b>Stay calm.</b> Ask for a lawyer."}} {
		d := env.Defender(t, 900)
		d.Hint = c.hint
		d.Cmd("guidance")
		d.Press(env.Text.Region(env.Text.Match(c.hint), "UA"))
		r := d.Press(env.Text.T(env.Text.Match(c.hint), "guidance.topic.detention", nil))
		if len(r.Messages) != 1 || r.Messages[0].Text != c.want || !r.Messages[0].HTML {
			t.Fatalf("%s reader: %+v", c.hint, r.Messages)
		}
	}
	// Withdrawn: the old button says so.
	d := env.Defender(t, 901)
	d.Cmd("guidance")
	d.Press(env.Text.Region("en", "UA"))
	ben.Do(flows.Event{Kind: flows.EventCommand, Command: "stop", Args: ref})
	if r := d.Press("If you are detained"); !strings.Contains(allText(r.Messages), "no longer published") {
		t.Fatalf("withdrawn page: %+v", r.Messages)
	}

	// Status in the bot.
	if r := ben.Do(flows.Event{Kind: flows.EventCommand, Command: "broadcasts"}); !strings.Contains(allText(r.Messages), ref) {
		t.Fatalf("list: %q", allText(r.Messages))
	}
	if r := ben.Do(flows.Event{Kind: flows.EventCommand, Command: "broadcasts", Args: ref}); !strings.Contains(allText(r.Messages), "withdrawn") {
		t.Fatalf("status: %q", allText(r.Messages))
	}
	if p, _ := env.Store.GetPublication(ctx, ref); p.Status != store.PubWithdrawn || p.CancelledBy != "ben" {
		t.Fatalf("after stop: %+v", p)
	}
}

// TestReHandledUpdateIsAnsweredAsBeforeEvenAtTheLimit: an inbox entry
// handled again after a crash gets its first reply again, not "slow down",
// although it is counted a second time.
func TestReHandledUpdateIsAnsweredAsBeforeEvenAtTheLimit(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	var last string
	var first intake.Reply
	for i := 1; i <= 60; i++ {
		last = fmt.Sprintf("1700000000000-%d", i)
		var err error
		if first, err = env.Service.HandleEntry(ctx, 31337, flows.Event{Kind: flows.EventText, Text: "hello"}, last); err != nil {
			t.Fatal(err)
		}
	}
	r, err := env.Service.HandleEntry(ctx, 31337, flows.Event{Kind: flows.EventText, Text: "hello"}, last)
	if err != nil || !r.Resent || !reflect.DeepEqual(r.Messages, first.Messages) {
		t.Fatalf("the 60th update again: %+v %v, want its first reply, resent", r, err)
	}
}

// TestSubscriptionEndedByABroadcastShowsInTheChat: a subscription ended
// where it is kept (a 403 during a broadcast unsubscribes) is what the chat
// sees next: /unsubscribe says so, /subscribe offers nothing ticked, and a
// change of language does not bring it back.
func TestSubscriptionEndedByABroadcastShowsInTheChat(t *testing.T) {
	env := testenv.New(t)
	d := env.Defender(t, 6060)
	d.Cmd("subscribe")
	d.Press(env.Text.Region("en", "UA"))
	d.Press("✓")
	if _, c := subscription(t, env, 6060); c == nil {
		t.Fatal("not subscribed")
	}
	if err := env.Store.Unsubscribe(context.Background(), env.Keys.Hash("chat", 6060)); err != nil {
		t.Fatal(err)
	}
	d.Cmd("language")
	d.Press("Français")
	if _, c := subscription(t, env, 6060); c != nil {
		t.Fatal("a change of language subscribed the chat again")
	}
	r := d.Cmd("subscribe")
	if strings.Contains(allText(r.Messages), "✅") || slices.ContainsFunc(d.KB, func(b flows.Button) bool { return strings.Contains(b.Label, "✅") }) {
		t.Fatalf("/subscribe shows a country ticked: %+v", d.KB)
	}
	d.Cmd("cancel")
	if r := d.Cmd("unsubscribe"); !strings.Contains(allText(r.Messages), "/subscribe") {
		t.Fatalf("/unsubscribe: %q", allText(r.Messages))
	}
}
