package flows_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
)

// TestDuressInAnyState: the duress word, however typed, is a check-in in
// every state, before the draft or any other conversation sees it, and
// changes no state; without a running check-in it is an ordinary text.
func TestDuressInAnyState(t *testing.T) {
	running := &flows.Checkin{Deadline: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Interval: 24 * time.Hour, Duress: []byte("mac:sunflower")}
	for _, tc := range []struct {
		name  string
		setup func(c *convo)
		typed string
	}{
		{"no draft", func(c *convo) {}, "sunflower"},
		{"at a free-text question", func(c *convo) { toStep(c, "when_detail") }, "Sunflower"},
		{"at the description", func(c *convo) { toStep(c, flows.QDescription) }, "  SUNFLOWER\n"},
		{"answering the mission", func(c *convo) { c.s.Thread = "ABCD-EF12" }, "sunflower"},
		{"setting up a check-in's note", func(c *convo) {
			c.s.Setup = &flows.CheckinSetup{Rev: 4, Step: "note"}
		}, "sunflower"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConvo(t)
			tc.setup(c)
			c.s.Checkin = running
			before := c.s
			r := c.text(tc.typed)
			if r.Effect != flows.EffectCheckinNow || !slices.Equal(r.Args, []string{"duress"}) || len(r.Messages) != 0 {
				t.Fatalf("duress word: %+v, want EffectCheckinNow [duress] and no message", r)
			}
			if !reflect.DeepEqual(c.s, before) {
				t.Fatalf("the duress word changed the state:\n%+v\nwant\n%+v", c.s, before)
			}
			c.s.Checkin = nil
			if r := c.text(tc.typed); r.Effect == flows.EffectCheckinNow {
				t.Fatal("without a running check-in the word is a check-in")
			}
		})
	}
	c := newConvo(t)
	c.s.Checkin = running
	if r := c.text("sunflowers"); r.Effect == flows.EffectCheckinNow {
		t.Fatal("another word is taken as the duress word")
	}
}

// toStep puts a draft at question step.
func toStep(c *convo, step string) {
	c.s.Draft = &flows.Draft{ID: "d", Rev: 3, Step: step, Answers: map[string]flows.Answer{}}
}

func TestNormalizeDuress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" Sunflower ", "sunflower"},
		{"CAFE\u0301", "café"}, // decomposed é → NFC
		{"Straße", "strasse"},  // full case folding
		{"\t\n", ""},
	} {
		if got := flows.NormalizeDuress(tc.in); got != tc.want {
			t.Errorf("NormalizeDuress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"+3", 180, true}, {"-3", -180, true}, {"+5:30", 330, true}, {"UTC+5:45", 345, true},
		{"utc", 0, true}, {"0", 0, true}, {"−4", -240, true}, {"14", 840, true},
		{"", 0, false}, {"+25", 0, false}, {"+5:20", 0, false}, {"5.5", 0, false}, {"-13", 0, false},
		{"hello", 0, false}, {"+", 0, false}, {"+3:3", 0, false}, {"+123", 0, false},
	} {
		got, ok := flows.ParseOffset(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseOffset(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCheckinSetupKeepsNoWord: the duress word typed at setup leaves only
// its MAC, and the note only what the caller sealed.
func TestCheckinSetupKeepsNoWord(t *testing.T) {
	c := newConvo(t)
	c.cmd("checkin")
	c.do(flows.Event{Kind: flows.EventButton, Data: c.keyboard()[2].Data}) // 24 h
	c.text("+3")
	c.do(flows.Event{Kind: flows.EventButton, Data: c.keyboard()[0].Data}) // first country
	if r := c.text("my note"); r.Effect != flows.EffectCheckinNote {
		t.Fatalf("note: %+v", r)
	}
	c.s, _ = c.e.CheckinNoted(c.s, []byte("sealed-note"))
	r := c.text(" Sunflower ")
	if r.Effect != flows.EffectCheckinStart || r.Checkin == nil {
		t.Fatalf("duress word at setup: %+v", r)
	}
	want := flows.CheckinPlan{Interval: 24 * time.Hour, Offset: 180, Country: "UA", Note: []byte("sealed-note"), Duress: []byte("mac:sunflower")}
	if !reflect.DeepEqual(*r.Checkin, want) {
		t.Fatalf("plan %+v, want %+v", *r.Checkin, want)
	}
	if c.s.Setup != nil {
		t.Fatalf("setup left in the state: %+v", c.s.Setup)
	}
}
