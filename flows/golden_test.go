package flows_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/locales"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden"

// TestGoldenScreens renders every screen of the report flow in every
// language of the catalog into testdata/golden/<lang>.txt, for a reviewer
// to read: a translation's change shows there as defenders will see it.
// go test ./flows/ -update rewrites the files; without -update a rendering
// that differs fails with a diff.
func TestGoldenScreens(t *testing.T) {
	tr, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range tr.Languages() {
		want = append(want, l.Code+".txt")
		t.Run(l.Code, func(t *testing.T) {
			got := renderScreens(t, tr, l)
			path := filepath.Join(goldenDir, l.Code+".txt")
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			old, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				t.Fatalf("no golden file %s for %s: run go test ./flows/ -update, then review and commit it", path, l.Name)
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(old) != got {
				t.Errorf("%s is not what the flow renders now (if the change is intended: go test ./flows/ -update, and review the diff):\n%s", path, lineDiff(string(old), got))
			}
		})
	}
	// A golden file of a language that is gone is stale.
	entries, _ := os.ReadDir(goldenDir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".txt") || slices.Contains(want, e.Name()) {
			continue
		}
		if *update {
			os.Remove(filepath.Join(goldenDir, e.Name()))
			continue
		}
		t.Errorf("%s: no such language in the catalog; go test ./flows/ -update removes it", filepath.Join(goldenDir, e.Name()))
	}
}

// screens writes a conversation for a reviewer: each heading says what the
// defender did, then what the bot showed.
type screens struct {
	t    *testing.T
	b    strings.Builder
	n    int
	c    *convo
	lang string
	seen map[string]int // a message already written → its heading number
}

func (g *screens) heading(what string) {
	g.n++
	fmt.Fprintf(&g.b, "\n== %d. %s ==\n", g.n, what)
}

var effects = map[flows.Effect]string{
	flows.EffectSubmit: "the report is stored, then the receipt below is sent",
	flows.EffectStatus: "the chat's cases are looked up; the answer is below",
	flows.EffectAnswer: "the text is sealed and added to the case",
	flows.EffectWipe:   "the conversation's messages are deleted from the chat",
	flows.EffectForget: "what the bot keeps about the chat is deleted",
	flows.EffectFile:   "the file is fetched, sealed and stored",

	flows.EffectSubscribe:         "the subscription is stored",
	flows.EffectUnsubscribe:       "the subscription is deleted",
	flows.EffectGuidance:          "the guidance published for the country is looked up; the list is below",
	flows.EffectGuidancePage:      "the page is sent as its coordinators wrote it",
	flows.EffectCreatePublication: "the broadcast is stored and a preview goes to every coordinator",
	flows.EffectApprove:           "the approval is recorded",
	flows.EffectCancelPublication: "the broadcast is stopped",
	flows.EffectPublicationStatus: "the broadcasts are looked up; the answer is below",

	flows.EffectCheckinNote:     "the note is sealed to the staff at once, and kept only so",
	flows.EffectCheckinStart:    "the check-in is stored; the confirmation is below",
	flows.EffectCheckinNow:      "the next deadline is set; the answer is below",
	flows.EffectCheckinInterval: "the interval is changed from now; the answer is below",
	flows.EffectCheckinStop:     "the check-in is deleted",
}

func (g *screens) messages(msgs []flows.Message) {
	for i, m := range msgs {
		if i > 0 {
			g.b.WriteString("--\n")
		}
		if m.Replace {
			g.b.WriteString("(replaces the message whose button was pressed)\n")
		}
		var w strings.Builder
		w.WriteString(m.Text + "\n")
		for _, row := range m.Buttons {
			var cells []string
			for _, b := range row {
				cells = append(cells, "["+b.Label+"]")
			}
			w.WriteString(strings.Join(cells, " ") + "\n")
		}
		// A screen shown again is named, not repeated.
		if n, ok := g.seen[w.String()]; ok && strings.Count(w.String(), "\n") > 2 {
			first, _, _ := strings.Cut(m.Text, "\n")
			if r := []rune(first); len(r) > 60 {
				first = string(r[:60]) + "…"
			}
			fmt.Fprintf(&g.b, "(the screen of %d again: %s)\n", n, first)
			continue
		}
		if g.seen == nil {
			g.seen = map[string]int{}
		}
		if _, ok := g.seen[w.String()]; !ok {
			g.seen[w.String()] = g.n
		}
		g.b.WriteString(w.String())
	}
}

func (g *screens) result(r flows.Result) {
	if r.Toast != "" {
		g.b.WriteString("(pop-up) " + r.Toast + "\n")
	}
	if r.Effect != flows.EffectNone {
		g.b.WriteString("(" + effects[r.Effect] + ")\n")
	}
	g.messages(r.Messages)
}

// show does ev and writes what it showed under the heading what.
func (g *screens) show(what string, ev flows.Event) flows.Result {
	g.t.Helper()
	g.heading(what)
	r := g.do(ev)
	g.result(r)
	return r
}

func (g *screens) do(ev flows.Event) flows.Result {
	g.t.Helper()
	ev.LanguageHint = g.lang
	return g.c.do(ev)
}

func (g *screens) cmd(name string) flows.Event {
	return flows.Event{Kind: flows.EventCommand, Command: name}
}

func text(s string) flows.Event { return flows.Event{Kind: flows.EventText, Text: s} }

// button finds the button on screen whose data does act with arg (the
// engine's "rev|act|arg"), whatever its label in this language.
func (g *screens) button(act, arg string) flows.Event {
	g.t.Helper()
	for _, b := range g.c.keyboard() {
		if strings.HasSuffix(b.Data, "|"+act+"|"+arg) {
			return flows.Event{Kind: flows.EventButton, Data: b.Data}
		}
	}
	g.t.Fatalf("no button %s|%s on screen at step %q: %v", act, arg, g.c.step(), labels(g.c.keyboard()))
	return flows.Event{}
}

func (g *screens) file(kind string, size int64) flows.Event {
	return flows.Event{Kind: flows.EventFile, File: &flows.File{ID: "file", Kind: kind, Size: size}}
}

// added stores a file as the caller would after EffectFile.
func (g *screens) added(kind string, size int64) []flows.Message {
	var msgs []flows.Message
	g.c.s, msgs = g.c.e.FileAdded(g.c.s, flows.Evidence{Kind: kind, Size: size, SHA256: "00",
		ReceivedAt: time.Date(2026, 11, 27, 9, 5, 0, 0, time.UTC)})
	g.c.shown = append(g.c.shown, msgs...)
	return msgs
}

// Button actions, as in the engine's button data.
const (
	actOption, actToggle, actDone, actSkip, actBack = "o", "t", "d", "s", "b"
	actContinue, actEdit, actSend, actLanguage      = "c", "e", "x", "l"
)

func renderScreens(t *testing.T, tr *locales.Catalog, l flows.Language) string {
	g := &screens{t: t, c: newConvo(t), lang: l.Code}
	e := g.c.e
	lang := l.Code
	dir := "left to right"
	if tr.RTL(lang) {
		dir = "right to left"
	}
	fmt.Fprintf(&g.b, "# Every screen of the Vigil report flow in %s (%s, %s).\n", l.Name, lang, dir)
	g.b.WriteString("# Written by go test ./flows/ -update from locales/" + lang + ".toml: review it as a defender\n")
	g.b.WriteString("# would read it. Buttons are [label], one row a line. Countries offered: UA, GE.\n")
	g.b.WriteString("# The defender's own words are wrapped in U+2068 … U+2069 (invisible isolates)\n")
	g.b.WriteString("# so that they keep their direction inside a sentence.\n")

	g.show("/help, before anything else", g.cmd("help"))
	g.show("/start: the language menu (the phone's language first)", g.cmd("start"))
	stale := g.c.keyboard()[0].Data
	g.show("Presses "+l.Name+": the safety notice", g.button(actLanguage, lang))
	g.show("Presses Continue: first question", g.button(actContinue, ""))
	g.show("Presses Yes: the emergency contacts at once, then the next question", g.button(actOption, "yes"))
	g.show("Types text where buttons are expected", text("hello"))
	g.show("Presses the second option", g.button(actOption, "defender"))
	g.show("Presses Done with nothing chosen", g.button(actDone, ""))
	g.show("Chooses an option of a multiple choice", g.button(actToggle, "threats"))
	g.do(g.button(actToggle, "surveillance"))
	g.show("Chooses a second option too, then presses Done", g.button(actDone, ""))
	g.show("Presses Earlier", g.button(actOption, "earlier"))
	g.show("Types 301 characters (the limit is 300)", text(strings.Repeat("x", 301)))
	g.show("Types a date", text("Last March"))
	g.show("Presses the first country", g.button(actOption, "UA"))
	g.show("Types a place", text("Kharkiv"))
	g.do(g.button(actToggle, "police"))
	g.show("Chooses the police, then presses Done", g.button(actDone, ""))
	g.show("Writes a first message", text("They followed me home."))
	g.show("Writes a second message", text("Then they came back at night."))
	g.show("Sends a document at the description", g.file("document", 1000))
	g.show("Presses Done", g.button(actDone, ""))
	g.show("Types text at the evidence question", text("here"))
	g.show("Sends a photo of 20 MB", g.file("photo", 20<<20))
	g.heading("The photo is stored")
	g.messages(g.added("photo", 20<<20))
	g.do(g.file("document", 20<<20))
	g.heading("A second file of 20 MB is stored")
	g.messages(g.added("document", 20<<20))
	g.show("Sends a file of 25 MB (the limit is 20 MB a file)", g.file("video", 25<<20))
	g.show("Sends a file of 15 MB (the limit is 50 MB a report)", g.file("video", 15<<20))
	for range 8 {
		g.do(g.file("photo", 1000))
		g.added("photo", 1000)
	}
	g.show("Sends an 11th file (the limit is 10)", g.file("photo", 1000))
	g.show("Presses Done", g.button(actDone, ""))
	g.do(g.button(actToggle, "legal"))
	g.show("Chooses legal support, then presses Done", g.button(actDone, ""))
	g.show("Presses Contact me first", g.button(actOption, "contact_first"))
	g.show("Presses Yes", g.button(actOption, "yes"))
	g.show("Types a safe time: the review of every answer", text("Evenings after 8pm"))
	g.show("Presses Change on the date", g.button(actEdit, "when"))
	g.do(g.button(actBack, ""))
	g.show("Presses an old button", flows.Event{Kind: flows.EventButton, Data: stale})
	g.show("Sends a sticker", flows.Event{Kind: flows.EventOther})
	g.show("Edits a message sent earlier", flows.Event{Kind: flows.EventEdited})
	g.show("/start while a report is in progress", g.cmd("start"))
	g.show("/language while a report is in progress", g.cmd("language"))
	g.do(g.button(actLanguage, lang))
	g.show("Presses Send", g.button(actSend, ""))
	g.heading("The receipt")
	g.messages(e.Receipt(lang, "ABCD-EF12"))
	g.c.s = e.Submitted(g.c.s)

	g.show("/status", g.cmd("status"))
	day := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	g.heading("/status, from a chat that sent nothing")
	g.messages(e.Status(lang, nil))
	g.heading("/status, one report")
	g.messages(e.Status(lang, []flows.CaseStatus{{Ref: "ABCD-EF12", ReceivedAt: day, Status: "new"}}))
	g.heading("/status, five reports, one in each state")
	var cases []flows.CaseStatus
	for i, st := range []string{"new", "triaged", "in-progress", "waiting-defender", "closed"} {
		cases = append(cases, flows.CaseStatus{Ref: fmt.Sprintf("ABCD-EF1%d", i), ReceivedAt: day.AddDate(0, 0, -i), Status: st})
	}
	g.messages(e.Status(lang, cases))

	g.heading("The mission replies (vigil triage reply)")
	var msgs []flows.Message
	g.c.s, msgs = e.StaffReply(g.c.s, "ABCD-EF12", "We have received your report. Can we call you tomorrow?")
	g.messages(msgs)
	g.show("Answers the mission", text("Yes, after 6pm."))
	g.heading("The answer reached the case")
	g.messages(e.AnswerSent(lang, "ABCD-EF12"))
	g.heading("The answer, when the case is no longer open")
	g.c.s, msgs = e.CaseGone(g.c.s, lang)
	g.messages(msgs)

	g.show("Types text with no report in progress", text("hello"))
	g.show("/cancel with no report in progress", g.cmd("cancel"))
	g.show("/language with no report in progress", g.cmd("language"))
	g.show("Presses "+l.Name, g.button(actLanguage, lang))
	g.show("/wipe (or the button under the receipt)", g.cmd("wipe"))
	g.show("/forget", g.cmd("forget"))
	g.heading("/forget done, the chat sent 3 reports")
	g.messages(e.Forgotten(lang, 3))

	// A second report: the description as a voice note, most questions
	// skipped.
	g.do(g.cmd("start"))
	g.do(g.button(actLanguage, lang))
	g.do(g.button(actContinue, ""))
	g.do(g.button(actSkip, ""))
	g.do(g.button(actSkip, ""))
	g.do(g.button(actToggle, "other"))
	g.do(g.button(actDone, ""))
	for g.c.step() != flows.QDescription {
		g.do(g.button(actSkip, ""))
	}
	g.show("A new report, at the description: a message over 20,000 characters", text(strings.Repeat("x", 20001)))
	g.do(g.file("voice", 1000))
	g.heading("Sends a voice note as the description")
	g.messages(g.added("voice", 1000))
	g.do(g.button(actDone, ""))
	g.do(g.button(actSkip, ""))
	for g.c.step() != flows.QReview {
		g.do(g.button(actSkip, ""))
	}
	g.heading("Skips the rest: the review with skipped answers and a voice note")
	g.messages(g.c.shown[len(g.c.shown)-1:])
	g.show("/cancel", g.cmd("cancel"))

	// Emergency without configured contacts.
	g.c = newConvo(t)
	g.c.e = flows.New(tr, flows.Config{Countries: []string{"UA"}, NewID: func() string { return "draft-x" },
		Now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }})
	g.do(g.cmd("start"))
	g.do(g.button(actLanguage, lang))
	g.do(g.button(actContinue, ""))
	g.heading("Presses Yes (immediate danger) where the mission configured no emergency contacts")
	g.messages(g.do(g.button(actOption, "yes")).Messages[:1])

	// Subscriptions and guidance.
	g.c = newConvo(t)
	g.show("/subscribe", g.cmd("subscribe"))
	g.show("Chooses Ukraine", g.button("u", "UA"))
	g.show("Chooses Georgia", g.button("u", "GE"))
	g.show("Presses Done", g.button("U", ""))
	g.show("/guidance, subscribed to two countries", g.cmd("guidance"))
	g.show("Chooses Ukraine", g.button("g", "UA"))
	g.heading("The guidance published for Ukraine (two topics)")
	g.messages(e.GuidanceList(lang, "UA", []string{"emergency", "digital"}))
	g.heading("Nothing published for Georgia yet")
	g.messages(e.GuidanceList(lang, "GE", nil))
	g.heading("Presses a topic whose page was withdrawn")
	g.messages(e.GuidanceGone(lang))
	g.show("/unsubscribe", g.cmd("unsubscribe"))
	g.show("/unsubscribe again", g.cmd("unsubscribe"))
	g.show("/subscribe, then Done with no country", g.cmd("subscribe"))
	g.result(g.do(g.button("U", "")))

	// A coordinator composes a guidance page.
	g.c = newConvo(t)
	coord := func(ev flows.Event) flows.Event { ev.Coordinator = "anna"; return ev }
	g.show("A coordinator sends /publish", coord(g.cmd("publish")))
	g.show("Chooses the topic 'if you are detained'", coord(g.button("p", "detention")))
	g.show("Chooses Ukraine", coord(g.button("k", "UA")))
	g.show("Presses Done", coord(g.button("K", "")))
	g.show("Sends the English text", coord(flows.Event{Kind: flows.EventText, Text: "Stay calm.", HTML: "<b>Stay calm.</b>"}))
	g.show("Presses Add a language", coord(g.button("a", "")))
	g.show("Chooses French", coord(g.button("L", "fr")))
	g.show("Sends the French text", coord(text("Restez calme.")))
	g.show("Presses Create", coord(g.button("C", "")))
	g.heading("The bot confirms (one more approval needed; or none, when one coordinator is enough)")
	g.messages(e.Created(lang, "G-7K2QX", 1))
	g.messages(e.Created(lang, "G-7K2QX", 0))
	g.heading("Approvals")
	g.messages(e.Approved(lang, "G-7K2QX", "queued", 1))
	g.messages(e.Approved(lang, "B-7K2QX", "approved", 0))
	g.messages(e.Approved(lang, "G-7K2QX", "published", 0))
	g.heading("Stopped and withdrawn")
	g.messages(e.Cancelled(lang, "B-7K2QX", "cancelled"))
	g.messages(e.Cancelled(lang, "G-7K2QX", "withdrawn"))
	g.heading("/broadcasts: the list, then one broadcast being sent")
	sending := flows.PublicationView{ID: "B-7K2QX", Kind: flows.KindBroadcast, Status: "sending", Countries: []string{"UA", "GE"},
		Languages: []string{"en", "fr"}, Creator: "anna", Approvers: []string{"ben"}, Total: 10000, Sent: 6200, Failed: 3,
		Blocked: 12, Remaining: 3785, Left: 151 * time.Second}
	queued := flows.PublicationView{ID: "G-7K2QX", Kind: flows.KindGuidance, Topic: "detention", Status: "queued",
		Countries: []string{"UA"}, Languages: []string{"en"}, Creator: "anna", Needed: 1}
	g.messages(e.PublicationList(lang, []flows.PublicationView{sending, queued}))
	g.messages(e.PublicationStatus(lang, sending))
	g.heading("Refusals")
	for _, r := range []string{"unknown", "own", "twice", "not_previewed", "not_reached", "state", "no_policy"} {
		g.messages(e.Refusal(lang, "B-7K2QX", r, "done"))
	}
	g.show("Someone who is not a coordinator sends /broadcast", g.cmd("broadcast"))

	// Safety check-ins.
	g.c = newConvo(t)
	g.show("/checkin: the interval", g.cmd("checkin"))
	g.show("Presses 24 h: the time zone", g.button("ki", "86400"))
	g.show("Types a time zone that does not exist", text("+25"))
	g.show("Types +5:30: the country", text("+5:30"))
	g.show("Presses Ukraine: the note", g.button("kc", "UA"))
	g.show("Types a note", text("Hearing at the district court"))
	var noted []flows.Message
	g.c.s, noted = e.CheckinNoted(g.c.s, []byte("age-file"))
	g.heading("The note is sealed: the duress word")
	g.messages(noted)
	g.show("Types a duress word", text("Sunflower"))
	ck := flows.Checkin{Deadline: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Offset: 330, Interval: 24 * time.Hour, Duress: []byte("mac:sunflower")}
	g.heading("The check-in is stored")
	g.messages(e.CheckinSet(lang, ck))
	g.c.s.Checkin = &ck
	g.show("/checkin while it runs", g.cmd("checkin"))
	g.heading("The reminder")
	g.messages([]flows.Message{e.CheckinReminder(lang, ck)})
	g.show("Presses I am safe", g.button("kn", ""))
	g.heading("Checked in")
	g.messages(e.CheckedIn(lang, ck))
	g.show("Types the duress word, in capitals: the same answer follows", text(" SUNFLOWER "))
	g.show("Presses Change interval", g.button("kv", ""))
	g.show("Presses 12 h", g.button("ki", "43200"))
	g.do(g.cmd("checkin"))
	g.show("/checkin, then presses Stop", g.button("kx", ""))
	g.show("Confirms", g.button("ky", ""))
	g.heading("/status and /wipe while a check-in runs")
	g.messages(e.CheckinStatus(lang, &ck))
	g.result(g.do(g.cmd("wipe")))
	g.c.s.Checkin = nil
	g.show("Presses I am safe with no check-in running", flows.Event{Kind: flows.EventButton, Data: "0|kn|"})

	g.heading("Sent by the bot itself, outside the flow")
	for _, k := range []string{"msg.slow_down", "msg.too_many_reports", "msg.file_failed", "msg.file_failed_size", "msg.files_paused", "msg.reports_paused", "msg.group_only", "msg.internal_error"} {
		fmt.Fprintf(&g.b, "%s:\n%s\n", k, e.Text(lang, k))
	}
	g.heading("Telegram's command menu")
	for _, c := range []string{"start", "status", "checkin", "subscribe", "guidance", "unsubscribe", "language", "cancel", "wipe", "forget", "help"} {
		fmt.Fprintf(&g.b, "/%s — %s\n", c, tr.T(lang, "cmd."+c, nil))
	}
	g.heading("Every counted text, for 0, 1, 2, 3, 5, 11, 21 and 100")
	for _, k := range tr.Keys() {
		key, ok := strings.CutPrefix(k, "plural.")
		if !ok {
			continue
		}
		fmt.Fprintf(&g.b, "%s:\n", key)
		for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 100} {
			lines := strings.Split(tr.N(lang, key, n, map[string]any{"ID": "B-7K2QX"}), "\n")
			for i, line := range lines[1:] {
				if line != "" {
					lines[i+1] = "     " + line
				}
			}
			fmt.Fprintf(&g.b, "  %d: %s\n", n, strings.Join(lines, "\n"))
		}
	}
	return g.b.String()
}

// lineDiff shows the lines that differ between want and got, with a line
// of context, from a longest common subsequence of lines.
func lineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		mark byte
		text string
		n    int
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i], i + 1})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			lines = append(lines, line{'+', b[j], i + 1})
			j++
		default:
			lines = append(lines, line{'-', a[i], i + 1})
			i++
		}
	}
	var out strings.Builder
	shown, last := 0, -2
	for k, l := range lines {
		near := l.mark != ' ' || (k > 0 && lines[k-1].mark != ' ') || (k+1 < len(lines) && lines[k+1].mark != ' ')
		if !near {
			continue
		}
		if shown > 200 {
			out.WriteString("…\n")
			break
		}
		if k != last+1 {
			fmt.Fprintf(&out, "@@ line %d\n", l.n)
		}
		fmt.Fprintf(&out, "%c %s\n", l.mark, l.text)
		shown, last = shown+1, k
	}
	return out.String()
}
