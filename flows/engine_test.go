package flows_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/locales"
)

// convo drives the engine as a defender would, one event at a time.
type convo struct {
	t     testing.TB
	e     *flows.Engine
	s     flows.State
	last  flows.Result
	shown []flows.Message // every message shown, in order
	ids   int
}

// catalog is loaded once: the fuzzer builds a conversation per input.
var catalog = sync.OnceValues(func() (*locales.Catalog, error) { return locales.Load("en") })

func newConvo(t testing.TB) *convo {
	t.Helper()
	tr, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	c := &convo{t: t}
	c.e = flows.New(tr, flows.Config{
		Countries: []string{"UA", "GE"},
		Emergency: map[string]string{"": "Duty officer +00 1", "UA": "112"},
		NewID:     func() string { c.ids++; return fmt.Sprintf("draft-%d", c.ids) },
		Now:       func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) },
		Checkin:   flows.CheckinConfig{DefaultOffset: 180, MAC: testMAC},
	})
	return c
}

// testMAC stands for the bot's keyed MAC of a duress word.
func testMAC(w string) []byte { return []byte("mac:" + w) }

func (c *convo) do(ev flows.Event) flows.Result {
	c.t.Helper()
	c.s, c.last = c.e.Handle(c.s, ev)
	c.shown = append(c.shown, c.last.Messages...)
	for _, m := range c.last.Messages {
		for _, row := range m.Buttons {
			for _, b := range row {
				if len(b.Data) > flows.MaxButtonData {
					c.t.Fatalf("button %q carries %d bytes of data", b.Label, len(b.Data))
				}
			}
		}
	}
	return c.last
}

func (c *convo) cmd(name string) flows.Result {
	return c.do(flows.Event{Kind: flows.EventCommand, Command: name})
}
func (c *convo) text(s string) flows.Result { return c.do(flows.Event{Kind: flows.EventText, Text: s}) }

// keyboard returns the buttons of the newest message that has any.
func (c *convo) keyboard() []flows.Button {
	for i := len(c.shown) - 1; i >= 0; i-- {
		if len(c.shown[i].Buttons) > 0 {
			return slices.Concat(c.shown[i].Buttons...)
		}
	}
	return nil
}

// press presses the button whose label contains label.
func (c *convo) press(label string) flows.Result {
	c.t.Helper()
	for _, b := range c.keyboard() {
		if strings.Contains(b.Label, label) {
			return c.do(flows.Event{Kind: flows.EventButton, Data: b.Data})
		}
	}
	c.t.Fatalf("no button %q on screen; have %v", label, labels(c.keyboard()))
	return flows.Result{}
}

func labels(bs []flows.Button) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Label)
	}
	return out
}

func (c *convo) step() string {
	if c.s.Draft == nil {
		return ""
	}
	return c.s.Draft.Step
}

func (c *convo) wantStep(want string) {
	c.t.Helper()
	if got := c.step(); got != want {
		c.t.Fatalf("at step %q, want %q", got, want)
	}
}

// walk answers every question with the given script.
func (c *convo) walk() {
	c.t.Helper()
	c.cmd("start")
	c.wantStep(flows.QLanguage)
	c.press("English")
	c.wantStep(flows.QNotice)
	c.press("continue")
	c.press("No")
	c.press("Another defender")
	c.press("Threats")
	c.press("Surveillance")
	c.press("Done")
	c.press("Earlier")
	c.wantStep("when_detail")
	c.text("Last March")
	c.press("Ukraine")
	c.text("Kharkiv")
	c.press("Police")
	c.press("Done")
	c.text("They followed me home.")
	c.text("Then they came back at night.")
	c.press("Done")
	c.wantStep(flows.QEvidence)
	c.press("Skip")
	c.press("Legal")
	c.press("Done")
	c.press("Contact me first")
	c.press("Yes, you may reply")
	c.text("Evenings after 8pm")
	c.wantStep(flows.QReview)
}

func TestFullReport(t *testing.T) {
	c := newConvo(t)
	c.walk()
	review := c.shown[len(c.shown)-1].Text
	for _, want := range []string{"Another defender", "Threats or intimidation, Surveillance", "Last March", "Ukraine", "Kharkiv", "They followed me home."} {
		if !strings.Contains(review, want) {
			t.Errorf("review lacks %q:\n%s", want, review)
		}
	}
	res := c.press("Send")
	if res.Effect != flows.EffectSubmit {
		t.Fatalf("Send gave effect %v", res.Effect)
	}
	r := c.e.Report(c.s, "ABCD-EF12", time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC))
	want := map[string]any{
		"danger": "no", "affected": "defender", "what": []string{"threats", "surveillance"},
		"when": "earlier", "when_detail": "Last March", "country": "UA", "place": "Kharkiv",
		"perpetrator": []string{"police"}, "description": "They followed me home.\n\nThen they came back at night.",
		"help": []string{"legal"}, "consent": "contact_first", "contact": "yes", "contact_detail": "Evenings after 8pm",
	}
	if fmt.Sprint(r.Answers) != fmt.Sprint(want) {
		t.Errorf("answers\n got %v\nwant %v", r.Answers, want)
	}
	if r.Schema != flows.ReportSchema || r.Ref != "ABCD-EF12" || r.Language != "en" || r.Urgent {
		t.Errorf("report header: %+v", r)
	}
	c.s = c.e.Submitted(c.s)
	if c.s.Draft != nil || c.s.Lang != "en" {
		t.Fatalf("after submit: %+v", c.s)
	}
}

func TestUrgentShowsEmergencyContactsAtOnce(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	c.press("continue")
	res := c.press("Yes, immediate danger")
	if len(res.Messages) < 2 || !strings.Contains(res.Messages[0].Text, "Duty officer +00 1") || !strings.Contains(res.Messages[0].Text, "Ukraine: 112") {
		t.Fatalf("emergency contacts not shown first: %+v", res.Messages)
	}
	c.wantStep("affected")
	if !c.s.Draft.Urgent() {
		t.Fatal("draft not marked urgent")
	}
}

func TestSkipBackAndEditFromReview(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	c.press("continue")
	c.press("Skip")
	c.wantStep("affected")
	c.press("Back")
	c.wantStep("danger")
	c.press("No")
	c.press("Skip")
	c.wantStep("what")
	if slices.ContainsFunc(c.keyboard(), func(b flows.Button) bool { return strings.Contains(b.Label, "Skip") }) {
		t.Fatal("what happened can be skipped")
	}
	res := c.press("Done")
	if res.Toast == "" || c.step() != "what" {
		t.Fatalf("Done with nothing chosen: toast %q, step %q", res.Toast, c.step())
	}
	c.press("Killing")
	c.press("Done")
	c.press("Today")
	c.wantStep("country") // no date question unless "earlier"
	for c.step() != "description" {
		c.press("Skip")
	}
	if c.s.Draft.Answers["description"].Parts != nil {
		t.Fatal("description answered")
	}
	if !slices.ContainsFunc(c.keyboard(), func(b flows.Button) bool { return strings.Contains(b.Label, "Skip") }) {
		t.Fatal("the description cannot be skipped")
	}
	c.text("Words.")
	c.press("Done")
	for c.step() != flows.QReview {
		c.press("Skip")
	}
	// Change "when" to "earlier": the date question follows, then the review.
	c.press("Change: When")
	c.wantStep("when")
	c.press("Earlier")
	c.wantStep("when_detail")
	c.text("2019")
	c.wantStep(flows.QReview)
	if !strings.Contains(c.shown[len(c.shown)-1].Text, "2019") {
		t.Fatal("review does not show the edit")
	}
	// Back from an edited question returns to the review.
	c.press("Change: Country")
	c.press("Back")
	c.wantStep(flows.QReview)
	r := c.e.Report(c.s, "0000-0000", time.Now())
	if r.Answers["affected"] != nil || r.Answers["when"] != "earlier" || r.Answers["when_detail"] != "2019" {
		t.Fatalf("answers: %v", r.Answers)
	}
}

func TestStaleAndForgedButtonsChangeNothing(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	old := c.keyboard()[0].Data // "continue" on the notice
	c.press("continue")
	before := *c.s.Draft
	for _, data := range []string{
		old,                                   // stale: the draft moved on
		"",                                    // empty
		"garbage",                             // no structure
		"999|o|yes",                           // wrong revision
		fmt.Sprintf("%d|o|maybe", before.Rev), // not an option
		fmt.Sprintf("%d|t|yes", before.Rev),   // toggle on a single choice
		fmt.Sprintf("%d|x|", before.Rev),      // send outside the review
		fmt.Sprintf("%d|e|when", before.Rev),  // edit outside the review
		fmt.Sprintf("%d|l|xx", before.Rev),    // unknown language
		strings.Repeat("9", 200),              // over Telegram's size
		"-1|b|",                               // negative revision
	} {
		res := c.do(flows.Event{Kind: flows.EventButton, Data: data})
		if res.Toast == "" || len(res.Messages) != 0 || res.Effect != flows.EffectNone {
			t.Errorf("%q: got %+v, want a polite toast only", data, res)
		}
		if c.s.Draft.Rev != before.Rev || c.s.Draft.Step != before.Step {
			t.Fatalf("%q changed the draft", data)
		}
	}
	c.cmd("cancel")
	if res := c.do(flows.Event{Kind: flows.EventButton, Data: old}); res.Toast == "" {
		t.Error("button without a draft gave no reply")
	}
}

func TestBadInputKeepsTheDraft(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	c.press("continue")
	c.press("No")
	rev := c.s.Draft.Rev
	res := c.text("I typed instead of pressing")
	if len(res.Messages) != 2 || c.s.Draft.Rev != rev {
		t.Fatalf("text on a button question: %+v", res)
	}
	res = c.do(flows.Event{Kind: flows.EventOther})
	if len(res.Messages) != 2 || !strings.Contains(res.Messages[0].Text, "cannot take") || c.s.Draft.Rev != rev {
		t.Fatalf("sticker: %+v", res)
	}
	c.press("Me")
	c.press("Physical attack")
	c.press("Done")
	c.press("Earlier")
	res = c.text(strings.Repeat("x", 301))
	if c.step() != "when_detail" || !strings.Contains(res.Messages[0].Text, "300 characters") {
		t.Fatalf("too long: step %s, %+v", c.step(), res.Messages)
	}
	res = c.cmd("frobnicate")
	if !strings.Contains(res.Messages[0].Text, "/start") || c.step() != "when_detail" {
		t.Fatalf("unknown command: %+v", res)
	}
}

func TestDescriptionHasALimit(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	c.press("continue")
	c.press("Skip")
	c.press("Skip")
	c.press("Other")
	c.press("Done")
	for c.step() != "description" {
		c.press("Skip")
	}
	chunk := strings.Repeat("a", 4000)
	for i := 0; i < 5; i++ {
		c.text(chunk)
	}
	parts := len(c.s.Draft.Answers["description"].Parts)
	res := c.text(chunk)
	if len(c.s.Draft.Answers["description"].Parts) != parts || !strings.Contains(res.Messages[0].Text, "20000") {
		t.Fatalf("description over the limit accepted: %d parts, %q", parts, res.Messages[0].Text)
	}
	if !slices.ContainsFunc(c.keyboard(), func(b flows.Button) bool { return strings.Contains(b.Label, "Done") }) {
		t.Fatal("no Done button after the limit")
	}
}

func TestLanguageCanChangeMidDraft(t *testing.T) {
	c := newConvo(t)
	c.do(flows.Event{Kind: flows.EventCommand, Command: "start", LanguageHint: "fr-CA"})
	if kb := c.keyboard(); kb[0].Label != "Français" {
		t.Fatalf("best match not offered first: %v", labels(kb))
	}
	c.press("English")
	c.press("continue")
	c.press("No")
	step := c.step()
	c.cmd("language")
	res := c.press("العربية")
	if c.s.Lang != "ar" || c.step() != step || len(res.Messages) != 1 {
		t.Fatalf("language change: lang %s step %s", c.s.Lang, c.step())
	}
	if res.Messages[0].Text == c.e.Questions()[3].ID {
		t.Fatal("no Arabic text")
	}
}

func TestCancelDeletesTheDraft(t *testing.T) {
	c := newConvo(t)
	c.cmd("start")
	c.press("English")
	c.cmd("cancel")
	if c.s.Draft != nil {
		t.Fatal("draft survived /cancel")
	}
	if res := c.text("hello"); !strings.Contains(res.Messages[0].Text, "/start") {
		t.Fatalf("text without draft: %+v", res)
	}
	if res := c.cmd("start"); c.step() != flows.QLanguage || c.s.Draft.ID != "draft-2" || len(res.Messages) != 1 {
		t.Fatal("restart did not begin a new draft")
	}
	if res := c.cmd("start"); !strings.Contains(res.Messages[0].Text, "in progress") {
		t.Fatal("second /start did not resume")
	}
}

func TestStatus(t *testing.T) {
	c := newConvo(t)
	if res := c.cmd("status"); res.Effect != flows.EffectStatus {
		t.Fatal("no status effect")
	}
	msgs := c.e.Status("en", []flows.CaseStatus{{Ref: "AAAA-BBBB", ReceivedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Status: "new"}})
	if !strings.Contains(msgs[0].Text, "AAAA-BBBB") || !strings.Contains(msgs[0].Text, "2026-01-02") || !strings.Contains(msgs[0].Text, "1 report ") {
		t.Fatalf("status: %q", msgs[0].Text)
	}
	if msgs := c.e.Status("en", nil); !strings.Contains(msgs[0].Text, "not sent") {
		t.Fatalf("no cases: %q", msgs[0].Text)
	}
}

func TestRefs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		ref, err := flows.NewRef(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ref) != 9 || ref[4] != '-' || seen[ref] {
			t.Fatalf("bad or repeated ref %q", ref)
		}
		seen[ref] = true
		if got, ok := flows.ParseRef(strings.ToLower(strings.ReplaceAll(ref, "-", ""))); !ok || got != ref {
			t.Fatalf("ParseRef(%q) = %q %v", ref, got, ok)
		}
	}
	for in, want := range map[string]string{"abcd-ef12": "ABCD-EF12", "ABCD EFIO": "ABCD-EF10", "oooo-llll": "0000-1111"} {
		if got, ok := flows.ParseRef(in); !ok || got != want {
			t.Errorf("ParseRef(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFU1", "ABCD/EFGH"} {
		if _, ok := flows.ParseRef(bad); ok {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

// FuzzHandle feeds arbitrary events to the engine: it must never panic, and
// every button it shows must fit Telegram's limit.
func FuzzHandle(f *testing.F) {
	f.Add("start", "", "0|l|en", uint8(0))
	f.Add("", "hello", "3|o|yes", uint8(1))
	f.Add("cancel", "\x00\xff", "1|t|threats", uint8(2))
	f.Add("subscribe", "", "1|u|UA", uint8(3))
	f.Add("guidance", "", "0|G|UA.detention", uint8(4))
	f.Add("publish", "<b>x</b>", "1|p|detention", uint8(0x85))
	f.Add("broadcast", "text", "2|K|", uint8(0x86))
	f.Add("approve", "B-7K2QX", "3|L|fr", uint8(0x87))
	f.Fuzz(func(t *testing.T, cmd, text, data string, kind uint8) {
		c := newConvo(t)
		c.walk()
		coordinator := ""
		if kind&0x80 != 0 { // the high bit plays a coordinator
			coordinator = "anna"
		}
		events := []flows.Event{
			{Kind: flows.EventCommand, Command: cmd, Args: text, Coordinator: coordinator},
			{Kind: flows.EventText, Text: text, HTML: text, Coordinator: coordinator},
			{Kind: flows.EventButton, Data: data, Coordinator: coordinator},
			{Kind: flows.EventOther},
		}
		for i := 0; i < 4; i++ {
			c.do(events[(int(kind)+i)%4])
			if kb := c.keyboard(); len(kb) > 0 {
				c.do(flows.Event{Kind: flows.EventButton, Data: kb[int(kind)%len(kb)].Data, Coordinator: coordinator})
			}
		}
	})
}

func BenchmarkStep(b *testing.B) {
	c := newConvo(b)
	c.cmd("start")
	c.press("English")
	c.press("continue")
	c.press("No")
	c.press("Me")
	b.ReportAllocs()
	for b.Loop() {
		// Toggle an option on and off: a full render each time.
		c.press("Threats")
	}
}
