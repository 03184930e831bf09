package flows

import (
	"slices"
	"strings"
)

// Subscriptions and guidance, for defenders. Subscribing is separate from
// reporting: nothing here touches a draft, and a report never subscribes
// anyone.

// Pick is a choice of countries in progress (/subscribe).
type Pick struct {
	Rev    int      `json:"rev"`
	Chosen []string `json:"chosen,omitempty"`
}

// GuidanceTopics are the topics a guidance page can be about, in the order
// /guidance lists them.
var GuidanceTopics = []string{"digital", "detention", "emergency", "general"}

// button actions of subscriptions and guidance.
const (
	actSubToggle = "u" // arg: country
	actSubDone   = "U"
	actGuideLand = "g" // arg: country
	actGuidePage = "G" // arg: country "." topic
)

// ReadsSubscription tells whether handling ev needs State.Subscribed.
func ReadsSubscription(ev Event) bool {
	switch ev.Kind {
	case EventCommand:
		return ev.Command == "subscribe" || ev.Command == "unsubscribe" || ev.Command == "guidance"
	case EventButton:
		_, act, _, ok := parseData(ev.Data)
		return ok && act == actSubDone
	}
	return false
}

func pickData(p *Pick, act, arg string) string { return buttonData(p.Rev, act, arg) }

func (e *Engine) subscribeCommand(s State, lang string) (State, Result) {
	if len(e.cfg.Countries) == 0 {
		return s, e.say(lang, "msg.subscribe_unavailable")
	}
	rev := 1
	if s.Pick != nil {
		rev = s.Pick.Rev + 1
	}
	s.Pick = &Pick{Rev: rev, Chosen: slices.Clone(s.Subscribed)}
	return s, Result{Messages: []Message{e.pickMessage(s.Pick, lang)}}
}

func (e *Engine) pickMessage(p *Pick, lang string) Message {
	return Message{Text: e.tr.T(lang, "msg.subscribe_pick", nil),
		Buttons: e.countryToggles(lang, p.Chosen, func(code string) string { return pickData(p, actSubToggle, code) }, pickData(p, actSubDone, ""))}
}

// countryToggles is a keyboard of the countries, those chosen ticked, each
// toggled by the data toggle gives it, and a Done button with done.
func (e *Engine) countryToggles(lang string, chosen []string, toggle func(code string) string, done string) [][]Button {
	rows := e.countryButtons(lang, func(code string) (string, string) {
		label := e.tr.Region(lang, code)
		if slices.Contains(chosen, code) {
			label = "✅ " + label
		}
		return label, toggle(code)
	})
	return append(rows, []Button{{Label: e.tr.T(lang, "btn.done", nil), Data: done}})
}

// countryButtons lays the deployment's countries out two to a row.
func (e *Engine) countryButtons(lang string, button func(code string) (label, data string)) [][]Button {
	var rows [][]Button
	var row []Button
	for _, code := range e.cfg.Countries {
		label, d := button(code)
		row = append(row, Button{Label: label, Data: d})
		if len(row) == 2 {
			rows = append(rows, row)
			row = nil
		}
	}
	if row != nil {
		rows = append(rows, row)
	}
	return rows
}

func (e *Engine) pickButton(s State, lang string, rev int, act, arg string) (State, Result) {
	p := s.Pick
	if p == nil || rev != p.Rev {
		return e.stale(s, lang)
	}
	switch act {
	case actSubToggle:
		if !slices.Contains(e.cfg.Countries, arg) {
			return e.stale(s, lang)
		}
		next := &Pick{Rev: p.Rev + 1, Chosen: slices.Clone(p.Chosen)}
		if i := slices.Index(next.Chosen, arg); i >= 0 {
			next.Chosen = slices.Delete(next.Chosen, i, i+1)
		} else {
			next.Chosen = append(next.Chosen, arg)
		}
		s.Pick = next
		m := e.pickMessage(next, lang)
		m.Replace = true
		return s, Result{Messages: []Message{m}}
	default: // actSubDone
		chosen := e.ordered(p.Chosen)
		s.Pick = nil
		if len(chosen) == 0 {
			if len(s.Subscribed) == 0 {
				return s, e.say(lang, "msg.subscribe_none")
			}
			s.Subscribed = nil
			return s, Result{Effect: EffectUnsubscribe, Messages: []Message{{Text: e.tr.T(lang, "msg.unsubscribed", nil)}}}
		}
		s.Subscribed = chosen
		return s, Result{Effect: EffectSubscribe, Messages: []Message{e.Subscribed(s, lang)}}
	}
}

// ordered returns codes in the deployment's order of countries.
func (e *Engine) ordered(codes []string) []string {
	var out []string
	for _, c := range e.cfg.Countries {
		if slices.Contains(codes, c) {
			out = append(out, c)
		}
	}
	return out
}

// Subscribed confirms a subscription: its countries and language.
func (e *Engine) Subscribed(s State, lang string) Message {
	names := make([]string, len(s.Subscribed))
	for i, c := range s.Subscribed {
		names[i] = e.tr.Region(lang, c)
	}
	language := lang
	for _, l := range e.tr.Languages() {
		if l.Code == lang {
			language = l.Name
		}
	}
	return Message{Text: e.tr.T(lang, "msg.subscribed", map[string]any{
		"Countries": strings.Join(names, e.tr.T(lang, "review.separator", nil)), "Language": language})}
}

func (e *Engine) unsubscribeCommand(s State, lang string) (State, Result) {
	s.Pick = nil
	if len(s.Subscribed) == 0 {
		return s, e.say(lang, "msg.not_subscribed")
	}
	s.Subscribed = nil
	return s, Result{Effect: EffectUnsubscribe, Messages: []Message{{Text: e.tr.T(lang, "msg.unsubscribed", nil)}}}
}

// guidanceCommand shows the guidance of the one country the defender
// follows, or asks which country.
func (e *Engine) guidanceCommand(s State, lang string) (State, Result) {
	if len(s.Subscribed) == 1 {
		return s, Result{Effect: EffectGuidance, Args: []string{s.Subscribed[0]}}
	}
	if len(e.cfg.Countries) == 0 {
		return s, e.say(lang, "msg.guidance_none")
	}
	m := Message{Text: e.tr.T(lang, "msg.guidance_pick", nil)}
	m.Buttons = e.countryButtons(lang, func(code string) (string, string) {
		return e.tr.Region(lang, code), buttonData(0, actGuideLand, code)
	})
	return s, Result{Messages: []Message{m}}
}

func (e *Engine) guidanceButton(s State, lang, act, arg string) (State, Result) {
	if act == actGuideLand {
		if !slices.Contains(e.cfg.Countries, arg) {
			return e.stale(s, lang)
		}
		return s, Result{Effect: EffectGuidance, Args: []string{arg}}
	}
	country, topic, ok := strings.Cut(arg, ".")
	if !ok || !slices.Contains(e.cfg.Countries, country) || !slices.Contains(GuidanceTopics, topic) {
		return e.stale(s, lang)
	}
	return s, Result{Effect: EffectGuidancePage, Args: []string{country, topic}}
}

// GuidanceList lists the topics published for a country, as buttons; topics
// holds those that have a page, in any order.
func (e *Engine) GuidanceList(lang, country string, topics []string) []Message {
	if len(topics) == 0 {
		return []Message{{Text: e.tr.T(lang, "msg.guidance_empty", map[string]any{"Country": e.tr.Region(lang, country)})},
			e.emergency(lang)}
	}
	m := Message{Text: e.tr.T(lang, "msg.guidance_list", map[string]any{"Country": e.tr.Region(lang, country)})}
	for _, t := range GuidanceTopics {
		if slices.Contains(topics, t) {
			m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "guidance.topic."+t, nil), Data: buttonData(0, actGuidePage, country+"."+t)}})
		}
	}
	return []Message{m}
}

// GuidanceGone says a page is no longer published.
func (e *Engine) GuidanceGone(lang string) []Message {
	return []Message{{Text: e.tr.T(lang, "msg.guidance_gone", nil)}}
}
