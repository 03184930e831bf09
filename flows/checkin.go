package flows

import (
	"crypto/subtle"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Safety check-ins (/checkin). A defender agrees an interval; if they do
// not check in before the deadline, the mission is alerted. The caller
// keeps the schedule and says what runs (State.Checkin); the engine holds
// the conversation that sets one up (State.Setup) and decides what an
// event means.
//
// A duress word, when set, is checked before anything else sees a text:
// typed in any state, it is a check-in with the usual answer
// (EffectCheckinNow with Args ["duress"]), and the caller raises an urgent
// case. The word is never kept: the engine keeps only Config.Checkin.MAC
// of its normalized form (NormalizeDuress), and compares in constant time.

// Checkin is the check-in that runs for a chat, as the caller read it.
type Checkin struct {
	Deadline time.Time
	Offset   int // the defender's time zone, in minutes east of UTC
	Interval time.Duration
	Duress   []byte // MAC of the duress word; nil for none
}

// CheckinConfig is the deployment's check-in settings.
type CheckinConfig struct {
	// Intervals offered (default DefaultCheckinIntervals).
	Intervals []time.Duration
	// RemindBefore is how long before the deadline the reminder goes
	// (default an hour).
	RemindBefore time.Duration
	// DefaultOffset is the time zone offered first, in minutes east of UTC.
	DefaultOffset int
	// MAC authenticates a normalized duress word under the bot's key;
	// nil offers no duress word.
	MAC func(word string) []byte
}

// DefaultCheckinIntervals are offered when the deployment lists none.
var DefaultCheckinIntervals = []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour}

// CheckinSetup is a /checkin conversation in progress.
type CheckinSetup struct {
	Rev      int           `json:"rev"`
	Step     string        `json:"step"`
	Change   bool          `json:"change,omitempty"` // only the interval of a running check-in changes
	Interval time.Duration `json:"interval,omitempty"`
	Offset   int           `json:"offset,omitempty"`
	Country  string        `json:"country,omitempty"`
	Note     []byte        `json:"note,omitempty"`   // sealed to the staff by the caller
	Duress   []byte        `json:"duress,omitempty"` // MAC of the word
}

// CheckinPlan is the check-in EffectCheckinStart asks the caller to start.
type CheckinPlan struct {
	Interval time.Duration
	Offset   int
	Country  string // ISO code, "other" or ""
	Note     []byte // sealed to the staff; nil for none
	Duress   []byte // MAC of the duress word; nil for none
}

// The steps of the setup.
const (
	ckInterval = "interval"
	ckZone     = "zone"
	ckCountry  = "country"
	ckNote     = "note"
	ckDuress   = "duress"
)

// MaxCheckinNote bounds the note, in characters.
const MaxCheckinNote = 1000

// button actions of check-ins.
const (
	actCkInterval = "ki" // arg: seconds
	actCkZone     = "kz" // arg: minutes east of UTC
	actCkCountry  = "kc" // arg: country code or "other"
	actCkSkip     = "ks"
	actCkNow      = "kn" // I am safe; valid whenever a check-in runs
	actCkChange   = "kv"
	actCkStop     = "kx"
	actCkStopYes  = "ky"
	actCkKeep     = "kw"
)

func isCheckinAct(act string) bool {
	switch act {
	case actCkInterval, actCkZone, actCkCountry, actCkSkip, actCkNow, actCkChange, actCkStop, actCkStopYes, actCkKeep:
		return true
	}
	return false
}

// ReadsCheckin tells whether handling ev needs State.Checkin: every text
// (it may be the duress word), /checkin, /status, /wipe and the check-in
// buttons.
func ReadsCheckin(ev Event) bool {
	switch ev.Kind {
	case EventText:
		return true
	case EventCommand:
		return ev.Command == "checkin" || ev.Command == "status" || ev.Command == "wipe"
	case EventButton:
		_, act, _, ok := parseData(ev.Data)
		return ok && (isCheckinAct(act) || act == actWipe)
	}
	return false
}

var fold = cases.Fold()

// NormalizeDuress is the form of a duress word that is authenticated:
// trimmed, case-folded, Unicode NFC.
func NormalizeDuress(s string) string {
	return norm.NFC.String(fold.String(norm.NFC.String(strings.TrimSpace(s))))
}

// isDuress reports whether text is the running check-in's duress word.
func (e *Engine) isDuress(s State, text string) bool {
	c := s.Checkin
	if c == nil || len(c.Duress) == 0 || e.cfg.Checkin.MAC == nil {
		return false
	}
	w := NormalizeDuress(text)
	return w != "" && subtle.ConstantTimeCompare(e.cfg.Checkin.MAC(w), c.Duress) == 1
}

func (e *Engine) intervals() []time.Duration {
	if len(e.cfg.Checkin.Intervals) > 0 {
		return e.cfg.Checkin.Intervals
	}
	return DefaultCheckinIntervals
}

// RemindBefore is how long before a deadline the reminder goes.
func (e *Engine) RemindBefore() time.Duration {
	if e.cfg.Checkin.RemindBefore > 0 {
		return e.cfg.Checkin.RemindBefore
	}
	return time.Hour
}

func ckData(c *CheckinSetup, act, arg string) string {
	rev := 0
	if c != nil {
		rev = c.Rev
	}
	return buttonData(rev, act, arg)
}

func (e *Engine) checkinCommand(s State, lang string) (State, Result) {
	if s.Checkin != nil {
		s.Setup = nil
		return s, Result{Messages: []Message{e.checkinMenu(lang, s.Checkin)}}
	}
	rev := 1
	if s.Setup != nil {
		rev = s.Setup.Rev + 1
	}
	s.Setup = &CheckinSetup{Rev: rev, Step: ckInterval, Offset: e.cfg.Checkin.DefaultOffset}
	return s, Result{Messages: []Message{e.setupMessage(s.Setup, lang)}}
}

func (e *Engine) checkinMenu(lang string, c *Checkin) Message {
	return Message{Text: e.tr.T(lang, "msg.checkin_running", e.due(c)), Buttons: [][]Button{
		{{Label: e.tr.T(lang, "btn.checkin_now", nil), Data: buttonData(0, actCkNow, "")}},
		{{Label: e.tr.T(lang, "btn.checkin_change", nil), Data: buttonData(0, actCkChange, "")},
			{Label: e.tr.T(lang, "btn.checkin_stop", nil), Data: buttonData(0, actCkStop, "")}},
	}}
}

// due is the placeholders of a deadline: Due (date and time) and Zone, in
// the defender's time zone.
func (e *Engine) due(c *Checkin) map[string]any {
	z := time.FixedZone("", c.Offset*60)
	return map[string]any{"Due": c.Deadline.In(z).Format("2006-01-02 15:04"), "Zone": Zone(c.Offset), "Time": c.Deadline.In(z).Format("15:04")}
}

// Zone writes an offset in minutes east of UTC as "UTC+3", "UTC+5:30",
// "UTC-3" or "UTC".
func Zone(offset int) string {
	if offset == 0 {
		return "UTC"
	}
	sign := "+"
	if offset < 0 {
		sign, offset = "-", -offset
	}
	z := "UTC" + sign + strconv.Itoa(offset/60)
	if m := offset % 60; m != 0 {
		z += ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
	}
	return z
}

// ParseOffset reads an offset from UTC typed by a defender: "+3", "-3",
// "+5:30", "5.5" is not taken; "UTC+3" and "GMT+3" are. It returns minutes
// east of UTC, between -12:00 and +14:00.
func ParseOffset(s string) (int, bool) {
	s = strings.TrimSpace(strings.ToUpper(s))
	if s == "" {
		return 0, false
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "UTC"), "GMT")
	s = strings.ReplaceAll(s, "−", "-") // U+2212, which phones type
	if s == "" {
		return 0, true // "UTC" alone
	}
	sign := 1
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		sign, s = -1, s[1:]
	}
	h, m, hasM := strings.Cut(s, ":")
	hours, err := strconv.Atoi(h)
	if err != nil || len(h) == 0 || len(h) > 2 || hours < 0 {
		return 0, false
	}
	mins := 0
	if hasM {
		mins, err = strconv.Atoi(m)
		if err != nil || len(m) != 2 || (mins != 0 && mins != 30 && mins != 45) {
			return 0, false
		}
	}
	off := sign * (hours*60 + mins)
	if off < -12*60 || off > 14*60 {
		return 0, false
	}
	return off, true
}

// commonOffsets are offered after the deployment's default.
var commonOffsets = []int{0, 60, 120, 180, 240, 300, 330, -300}

func (e *Engine) setupMessage(c *CheckinSetup, lang string) Message {
	var m Message
	switch c.Step {
	case ckInterval:
		m.Text = e.tr.T(lang, "msg.checkin_interval", nil)
		var row []Button
		for _, d := range e.intervals() {
			row = append(row, Button{Label: e.Duration(lang, d), Data: ckData(c, actCkInterval, strconv.FormatInt(int64(d/time.Second), 10))})
			if len(row) == 3 {
				m.Buttons, row = append(m.Buttons, row), nil
			}
		}
		if row != nil {
			m.Buttons = append(m.Buttons, row)
		}
	case ckZone:
		m.Text = e.tr.T(lang, "msg.checkin_zone", nil)
		def := e.cfg.Checkin.DefaultOffset
		m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.checkin_zone_default", map[string]any{"Zone": Zone(def)}), Data: ckData(c, actCkZone, strconv.Itoa(def))}})
		var row []Button
		for _, o := range commonOffsets {
			if o == def {
				continue
			}
			row = append(row, Button{Label: Zone(o), Data: ckData(c, actCkZone, strconv.Itoa(o))})
			if len(row) == 4 {
				m.Buttons, row = append(m.Buttons, row), nil
			}
		}
		if row != nil {
			m.Buttons = append(m.Buttons, row)
		}
	case ckCountry:
		m.Text = e.tr.T(lang, "msg.checkin_country", nil)
		m.Buttons = e.countryButtons(lang, func(code string) (string, string) {
			return e.tr.Region(lang, code), ckData(c, actCkCountry, code)
		})
		m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "opt.country.other", nil), Data: ckData(c, actCkCountry, "other")},
			{Label: e.tr.T(lang, "btn.skip", nil), Data: ckData(c, actCkSkip, "")}})
	case ckNote:
		m.Text = e.tr.T(lang, "msg.checkin_note", nil)
		m.Buttons = [][]Button{{{Label: e.tr.T(lang, "btn.skip", nil), Data: ckData(c, actCkSkip, "")}}}
	case ckDuress:
		m.Text = e.tr.T(lang, "msg.checkin_duress", nil)
		m.Buttons = [][]Button{{{Label: e.tr.T(lang, "btn.skip", nil), Data: ckData(c, actCkSkip, "")}}}
	}
	return m
}

// Duration writes an interval for a button: whole hours, else minutes,
// else seconds (short intervals are for tests).
func (e *Engine) Duration(lang string, d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return e.tr.T(lang, "btn.checkin_hours", map[string]any{"N": int64(d / time.Hour)})
	case d >= time.Minute && d%time.Minute == 0:
		return e.tr.T(lang, "btn.checkin_minutes", map[string]any{"N": int64(d / time.Minute)})
	}
	return e.tr.T(lang, "btn.checkin_seconds", map[string]any{"N": int64(d / time.Second)})
}

// next moves the setup to step and shows it.
func (e *Engine) next(s State, lang string, c *CheckinSetup, step string) (State, Result) {
	c.Rev++
	c.Step = step
	s.Setup = c
	return s, Result{Messages: []Message{e.setupMessage(c, lang)}}
}

// finish ends the setup: the caller starts the check-in.
func (e *Engine) finish(s State, c *CheckinSetup) (State, Result) {
	s.Setup = nil
	return s, Result{Effect: EffectCheckinStart, Checkin: &CheckinPlan{Interval: c.Interval, Offset: c.Offset,
		Country: c.Country, Note: c.Note, Duress: c.Duress}}
}

func (e *Engine) checkinButton(s State, lang string, rev int, act, arg string) (State, Result) {
	switch act {
	case actCkNow:
		if s.Checkin == nil {
			return s, e.say(lang, "msg.checkin_none")
		}
		return s, Result{Effect: EffectCheckinNow}
	case actCkChange:
		if s.Checkin == nil {
			return s, e.say(lang, "msg.checkin_none")
		}
		rev := 1
		if s.Setup != nil {
			rev = s.Setup.Rev + 1
		}
		s.Setup = &CheckinSetup{Rev: rev, Step: ckInterval, Change: true}
		return s, Result{Messages: []Message{e.setupMessage(s.Setup, lang)}}
	case actCkStop:
		if s.Checkin == nil {
			return s, e.say(lang, "msg.checkin_none")
		}
		return s, Result{Messages: []Message{{Text: e.tr.T(lang, "msg.checkin_stop_confirm", nil), Buttons: [][]Button{{
			{Label: e.tr.T(lang, "btn.checkin_stop_yes", nil), Data: buttonData(0, actCkStopYes, "")},
			{Label: e.tr.T(lang, "btn.checkin_keep", nil), Data: buttonData(0, actCkKeep, "")}}}}}}
	case actCkStopYes:
		if s.Checkin == nil {
			return s, e.say(lang, "msg.checkin_none")
		}
		s.Setup = nil
		return s, Result{Effect: EffectCheckinStop, Messages: []Message{{Text: e.tr.T(lang, "msg.checkin_stopped", nil)}}}
	case actCkKeep:
		return s, e.say(lang, "msg.checkin_kept")
	}
	c := s.Setup
	if c == nil || rev != c.Rev {
		return e.stale(s, lang)
	}
	next := *c
	switch {
	case act == actCkInterval && c.Step == ckInterval:
		secs, err := strconv.ParseInt(arg, 10, 64)
		d := time.Duration(secs) * time.Second
		if err != nil || !slices.Contains(e.intervals(), d) {
			return e.stale(s, lang)
		}
		next.Interval = d
		if c.Change {
			if s.Checkin == nil {
				s.Setup = nil
				return s, e.say(lang, "msg.checkin_none")
			}
			s.Setup = nil
			return s, Result{Effect: EffectCheckinInterval, Args: []string{arg}}
		}
		return e.next(s, lang, &next, ckZone)
	case act == actCkZone && c.Step == ckZone:
		off, err := strconv.Atoi(arg)
		if err != nil || Zone(off) == "" {
			return e.stale(s, lang)
		}
		if _, ok := ParseOffset(Zone(off)); !ok {
			return e.stale(s, lang)
		}
		next.Offset = off
		return e.next(s, lang, &next, ckCountry)
	case act == actCkCountry && c.Step == ckCountry && (arg == "other" || slices.Contains(e.cfg.Countries, arg)):
		next.Country = arg
		return e.next(s, lang, &next, ckNote)
	case act == actCkSkip && c.Step == ckCountry:
		return e.next(s, lang, &next, ckNote)
	case act == actCkSkip && c.Step == ckNote:
		if e.cfg.Checkin.MAC == nil {
			return e.finish(s, &next)
		}
		return e.next(s, lang, &next, ckDuress)
	case act == actCkSkip && c.Step == ckDuress:
		return e.finish(s, &next)
	}
	return e.stale(s, lang)
}

// setupText takes a text typed during the setup: a time zone, the note or
// the duress word.
func (e *Engine) setupText(s State, lang string, text string) (State, Result) {
	c := s.Setup
	next := *c
	switch c.Step {
	case ckZone:
		off, ok := ParseOffset(text)
		if !ok {
			return s, e.say(lang, "msg.checkin_zone_bad", e.setupMessage(c, lang))
		}
		next.Offset = off
		return e.next(s, lang, &next, ckCountry)
	case ckNote:
		if n := utf8.RuneCountInString(text); n > MaxCheckinNote {
			return s, Result{Messages: []Message{{Text: e.tr.T(lang, "msg.checkin_note_long", map[string]any{"Max": MaxCheckinNote})},
				e.setupMessage(c, lang)}}
		}
		if strings.TrimSpace(text) == "" {
			return s, Result{Messages: []Message{e.setupMessage(c, lang)}}
		}
		return s, Result{Effect: EffectCheckinNote}
	case ckDuress:
		w := NormalizeDuress(text)
		if w == "" || e.cfg.Checkin.MAC == nil {
			return s, Result{Messages: []Message{e.setupMessage(c, lang)}}
		}
		next.Duress = e.cfg.Checkin.MAC(w)
		return e.finish(s, &next)
	}
	return s, e.say(lang, "msg.use_buttons", e.setupMessage(c, lang))
}

// CheckinNoted takes the note, sealed to the staff by the caller after
// EffectCheckinNote, and moves the setup on.
func (e *Engine) CheckinNoted(s State, sealed []byte) (State, []Message) {
	lang := e.Lang(s, "")
	next := *s.Setup
	next.Note = sealed
	var res Result
	if e.cfg.Checkin.MAC == nil {
		s, res = e.finish(s, &next)
		return s, res.Messages
	}
	s, res = e.next(s, lang, &next, ckDuress)
	return s, res.Messages
}

// CheckinSet confirms a check-in just started.
func (e *Engine) CheckinSet(lang string, c Checkin) []Message {
	data := e.due(&c)
	data["Before"] = e.Duration(lang, e.RemindBefore())
	return []Message{{Text: e.tr.T(lang, "msg.checkin_set", data)}}
}

// CheckedIn thanks the defender for checking in. A check-in made with the
// duress word gets exactly this answer too.
func (e *Engine) CheckedIn(lang string, c Checkin) []Message {
	return []Message{{Text: e.tr.T(lang, "msg.checkin_done", e.due(&c))}}
}

// CheckinReminder is the reminder sent before the deadline, with its one
// button.
func (e *Engine) CheckinReminder(lang string, c Checkin) Message {
	return Message{Text: e.tr.T(lang, "msg.checkin_reminder", e.due(&c)),
		Buttons: [][]Button{{{Label: e.tr.T(lang, "btn.checkin_safe", nil), Data: buttonData(0, actCkNow, "")}}}}
}

// CheckinStatus is the line /status adds while a check-in runs.
func (e *Engine) CheckinStatus(lang string, c *Checkin) []Message {
	if c == nil {
		return nil
	}
	return []Message{{Text: e.tr.T(lang, "msg.checkin_status", e.due(c))}}
}

// The categories of the cases a check-in raises, in Report.Answers under
// "category" (a report the defender wrote has none).
const (
	CategoryMissedCheckin = "missed check-in"
	CategoryDuressCheckin = "duress check-in"
)

// CheckinCategory returns the category of a case raised by a check-in, or
// "" for a report the defender wrote.
func CheckinCategory(r *Report) string {
	if r == nil {
		return ""
	}
	switch c, _ := r.Answers["category"].(string); c {
	case CategoryMissedCheckin, CategoryDuressCheckin:
		return c
	}
	return ""
}
