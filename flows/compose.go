package flows

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Coordinators compose broadcasts and guidance pages in the bot. Only an
// event whose Coordinator is set may; anyone else gets the reply for an
// unknown command and the result is marked Refused, for the caller to log
// (without content).

// Compose is a broadcast or guidance page being written by a coordinator.
type Compose struct {
	Rev       int               `json:"rev"`
	Kind      string            `json:"kind"` // "broadcast" or "guidance"
	Step      string            `json:"step"` // topic, countries, text, review
	Topic     string            `json:"topic,omitempty"`
	Countries []string          `json:"countries,omitempty"`
	Texts     map[string]string `json:"texts,omitempty"` // language → Telegram HTML
	Lang      string            `json:"lang,omitempty"`  // the language of the text awaited
}

// Publication is what a coordinator composed, for the caller to store.
type Publication struct {
	Kind      string
	Topic     string
	Countries []string
	Texts     map[string]string
}

// MaxPublicationText bounds one language's text, in characters: Telegram's
// limit on a message.
const MaxPublicationText = 4096

// Compose steps and publication kinds.
const (
	stepTopic     = "topic"
	stepCountries = "countries"
	stepText      = "text"
	stepReview    = "review"

	KindBroadcast = "broadcast"
	KindGuidance  = "guidance"
)

// button actions of composing.
const (
	actComposeTopic   = "p" // arg: topic
	actComposeCountry = "k" // arg: country
	actComposeNext    = "K"
	actComposeAddLang = "a"
	actComposeLang    = "L" // arg: language
	actComposeCreate  = "C"
	actComposeDrop    = "Z"
)

// coordinatorCommands are refused to everyone but coordinators.
var coordinatorCommands = []string{"broadcast", "publish", "approve", "broadcasts", "stop"}

// IsCoordinatorCommand tells whether a command is a coordinator's.
func IsCoordinatorCommand(name string) bool { return slices.Contains(coordinatorCommands, name) }

func composeData(c *Compose, act, arg string) string { return buttonData(c.Rev, act, arg) }

func (e *Engine) coordinatorCommand(s State, lang string, ev Event) (State, Result) {
	if ev.Coordinator == "" {
		r := e.say(lang, "msg.help")
		r.Refused = true
		return s, r
	}
	arg := strings.TrimSpace(ev.Args)
	switch ev.Command {
	case "broadcast", "publish":
		c := &Compose{Rev: 1, Kind: KindBroadcast, Step: stepCountries, Texts: map[string]string{}}
		if s.Compose != nil {
			c.Rev = s.Compose.Rev + 1
		}
		if ev.Command == "publish" {
			c.Kind, c.Step = KindGuidance, stepTopic
		}
		s.Compose = c
		return s, Result{Messages: []Message{e.composeMessage(c, lang)}}
	case "broadcasts":
		if arg != "" {
			return s, Result{Effect: EffectPublicationStatus, Args: []string{strings.ToUpper(arg)}}
		}
		return s, Result{Effect: EffectPublicationStatus}
	default: // approve, stop
		if arg == "" {
			return s, e.say(lang, "compose.need_id")
		}
		effect := EffectApprove
		if ev.Command == "stop" {
			effect = EffectCancelPublication
		}
		return s, Result{Effect: effect, Args: []string{strings.ToUpper(arg)}}
	}
}

func (e *Engine) composeMessage(c *Compose, lang string) Message {
	drop := Button{Label: e.tr.T(lang, "btn.cancel", nil), Data: composeData(c, actComposeDrop, "")}
	var m Message
	switch c.Step {
	case stepTopic:
		m.Text = e.tr.T(lang, "compose.topic", nil)
		for _, t := range GuidanceTopics {
			m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "guidance.topic."+t, nil), Data: composeData(c, actComposeTopic, t)}})
		}
	case stepCountries:
		m.Text = e.tr.T(lang, "compose.countries", nil)
		m.Buttons = e.countryToggles(lang, c.Countries, func(code string) string { return composeData(c, actComposeCountry, code) },
			composeData(c, actComposeNext, ""))
	case stepText:
		m.Text = e.tr.T(lang, "compose.text", map[string]any{"Language": e.languageName(c.Lang)})
	default: // review
		m.Text = e.composeSummary(c, lang)
		m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.add_language", nil), Data: composeData(c, actComposeAddLang, "")}},
			[]Button{{Label: e.tr.T(lang, "btn.create", nil), Data: composeData(c, actComposeCreate, "")}})
	}
	m.Buttons = append(m.Buttons, []Button{drop})
	return m
}

func (e *Engine) composeSummary(c *Compose, lang string) string {
	countries := make([]string, len(c.Countries))
	for i, code := range c.Countries {
		countries[i] = e.tr.Region(lang, code)
	}
	var langs []string
	for _, l := range e.tr.Languages() {
		if _, ok := c.Texts[l.Code]; ok {
			langs = append(langs, l.Name)
		}
	}
	sep := e.tr.T(lang, "review.separator", nil)
	key := "compose.review_broadcast"
	topic := ""
	if c.Kind == KindGuidance {
		key = "compose.review_guidance"
		topic = e.tr.T(lang, "guidance.topic."+c.Topic, nil)
	}
	return e.tr.T(lang, key, map[string]any{"Countries": strings.Join(countries, sep), "Languages": strings.Join(langs, sep), "Topic": topic})
}

func (e *Engine) languageName(code string) string {
	for _, l := range e.tr.Languages() {
		if l.Code == code {
			return l.Name
		}
	}
	return code
}

func (e *Engine) composeButton(s State, lang string, ev Event, rev int, act, arg string) (State, Result) {
	c := s.Compose
	if ev.Coordinator == "" || c == nil || rev != c.Rev {
		return e.stale(s, lang)
	}
	next := *c
	next.Countries = slices.Clone(c.Countries)
	next.Texts = make(map[string]string, len(c.Texts))
	for k, v := range c.Texts {
		next.Texts[k] = v
	}
	next.Rev++
	replace := false
	switch {
	case act == actComposeDrop:
		s.Compose = nil
		return s, e.say(lang, "compose.dropped")
	case act == actComposeTopic && c.Step == stepTopic && slices.Contains(GuidanceTopics, arg):
		next.Topic, next.Step = arg, stepCountries
	case act == actComposeCountry && c.Step == stepCountries && slices.Contains(e.cfg.Countries, arg):
		if i := slices.Index(next.Countries, arg); i >= 0 {
			next.Countries = slices.Delete(next.Countries, i, i+1)
		} else {
			next.Countries = append(next.Countries, arg)
		}
		replace = true
	case act == actComposeNext && c.Step == stepCountries:
		if len(c.Countries) == 0 {
			return s, Result{Toast: e.tr.T(lang, "msg.need_answer", nil)}
		}
		next.Countries = e.ordered(next.Countries)
		next.Step, next.Lang = stepText, e.tr.Match("")
	case act == actComposeAddLang && c.Step == stepReview:
		m := Message{Text: e.tr.T(lang, "compose.pick_language", nil)}
		for _, l := range e.tr.Languages() {
			if _, ok := c.Texts[l.Code]; !ok {
				m.Buttons = append(m.Buttons, []Button{{Label: l.Name, Data: composeData(c, actComposeLang, l.Code)}})
			}
		}
		if m.Buttons == nil {
			return s, Result{Toast: e.tr.T(lang, "compose.all_languages", nil)}
		}
		return s, Result{Messages: []Message{m}}
	case act == actComposeLang && c.Step == stepReview && e.languageName(arg) != arg:
		next.Step, next.Lang = stepText, arg
	case act == actComposeCreate && c.Step == stepReview:
		s.Compose = nil
		return s, Result{Effect: EffectCreatePublication, Publication: &Publication{Kind: c.Kind, Topic: c.Topic,
			Countries: slices.Clone(c.Countries), Texts: next.Texts}}
	default:
		return e.stale(s, lang)
	}
	s.Compose = &next
	m := e.composeMessage(&next, lang)
	m.Replace = replace
	return s, Result{Messages: []Message{m}}
}

// composeText takes the text of one language. The text is the message as
// Telegram HTML (Event.HTML), so formatting is kept.
func (e *Engine) composeText(s State, lang string, ev Event) (State, Result) {
	c := s.Compose
	if c.Step != stepText {
		return s, e.say(lang, "compose.use_buttons", e.composeMessage(c, lang))
	}
	html := ev.HTML
	if html == "" {
		html = EscapeHTML(ev.Text)
	}
	if utf8.RuneCountInString(ev.Text) > MaxPublicationText || utf8.RuneCountInString(html) > 3*MaxPublicationText {
		return s, e.sayN(lang, "msg.too_long", MaxPublicationText, e.composeMessage(c, lang))
	}
	next := *c
	next.Texts = make(map[string]string, len(c.Texts)+1)
	for k, v := range c.Texts {
		next.Texts[k] = v
	}
	next.Texts[c.Lang] = html
	next.Step, next.Lang = stepReview, ""
	next.Rev++
	s.Compose = &next
	return s, Result{Messages: []Message{e.composeMessage(&next, lang)}}
}

// EscapeHTML escapes text for Telegram's HTML parse mode, which knows
// only these four entities.
func EscapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// PublicationView is what a coordinator sees of a broadcast or page.
type PublicationView struct {
	ID, Kind, Status, Topic string
	Countries, Languages    []string
	Creator                 string
	Approvers               []string
	Needed                  int // approvals still needed
	Total, Sent, Failed     int64
	Blocked, Skipped        int64
	Remaining               int64
	Left                    time.Duration // estimated time to finish sending
	Problem                 string
}

// PublicationStatus describes one publication.
func (e *Engine) PublicationStatus(lang string, p PublicationView) []Message {
	return []Message{{Text: e.publicationLine(lang, p, true)}}
}

// PublicationList lists publications, newest first.
func (e *Engine) PublicationList(lang string, ps []PublicationView) []Message {
	if len(ps) == 0 {
		return []Message{{Text: e.tr.T(lang, "compose.none", nil)}}
	}
	lines := []string{e.tr.T(lang, "compose.list", nil)}
	for _, p := range ps {
		lines = append(lines, e.publicationLine(lang, p, false))
	}
	return []Message{{Text: strings.Join(lines, "\n\n")}}
}

func (e *Engine) publicationLine(lang string, p PublicationView, detail bool) string {
	countries := make([]string, len(p.Countries))
	for i, c := range p.Countries {
		countries[i] = e.tr.Region(lang, c)
	}
	sep := e.tr.T(lang, "review.separator", nil)
	kind := e.tr.T(lang, "compose.kind_"+p.Kind, nil)
	if p.Kind == KindGuidance {
		kind += " · " + e.tr.T(lang, "guidance.topic."+p.Topic, nil)
	}
	lines := []string{e.tr.T(lang, "compose.line", map[string]any{"ID": p.ID, "Kind": kind,
		"Status": e.tr.T(lang, "pub."+p.Status, nil), "Countries": strings.Join(countries, sep)})}
	if p.Status == "queued" && p.Needed > 0 {
		lines = append(lines, e.tr.N(lang, "compose.needs", p.Needed, map[string]any{"ID": p.ID}))
	}
	if p.Status == "sending" || p.Status == "done" || p.Status == "cancelled" && p.Total > 0 {
		lines = append(lines, e.tr.T(lang, "compose.progress", map[string]any{"Sent": p.Sent, "Failed": p.Failed + p.Blocked,
			"Remaining": p.Remaining, "Total": p.Total}))
	}
	if p.Status == "sending" {
		lines = append(lines, e.tr.T(lang, "compose.eta", map[string]any{"Minutes": int((p.Left + time.Minute - 1) / time.Minute)}))
	}
	if detail {
		lines = append(lines, e.tr.T(lang, "compose.detail", map[string]any{"Creator": p.Creator,
			"Approvers": strings.Join(p.Approvers, sep), "Languages": strings.Join(p.Languages, sep)}))
		if p.Problem != "" {
			lines = append(lines, e.tr.T(lang, "compose.problem", map[string]any{"Problem": p.Problem}))
		}
	}
	return strings.Join(lines, "\n")
}

// Created confirms that a publication was stored and says what follows.
func (e *Engine) Created(lang, id string, needed int) []Message {
	if needed <= 0 {
		return []Message{{Text: e.tr.T(lang, "compose.created_self", map[string]any{"ID": id})}}
	}
	return []Message{{Text: e.tr.N(lang, "compose.created", needed, map[string]any{"ID": id})}}
}

// Approved confirms an approval; status is what the publication became.
func (e *Engine) Approved(lang, id, status string, needed int) []Message {
	if status == "queued" {
		return []Message{{Text: e.tr.N(lang, "compose.approved_more", needed, map[string]any{"ID": id})}}
	}
	return []Message{{Text: e.tr.T(lang, "compose.approved_"+status, map[string]any{"ID": id})}}
}

// Cancelled confirms /stop; status is what the publication became.
func (e *Engine) Cancelled(lang, id, status string) []Message {
	return []Message{{Text: e.tr.T(lang, "compose.stopped_"+status, map[string]any{"ID": id})}}
}

// Refusal explains why a coordinator's action was refused; reason is one
// of: unknown, own, twice, not_previewed, not_reached (the preview did not
// reach this coordinator), state, no_policy.
func (e *Engine) Refusal(lang, id, reason, status string) []Message {
	return []Message{{Text: e.tr.T(lang, "compose.refused_"+reason, map[string]any{"ID": id, "Status": e.tr.T(lang, "pub."+status, nil)})}}
}
