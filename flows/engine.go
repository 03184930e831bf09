package flows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxButtonData is Telegram's limit on callback data, in bytes.
const MaxButtonData = 64

// Translator renders the text a defender reads. locales.Catalog implements it.
type Translator interface {
	// T returns the text of key in lang with {{.Name}} placeholders filled
	// from data. A missing key falls back to the default language.
	T(lang, key string, data map[string]any) string
	// N is T for a text whose form depends on count (CLDR plural rules).
	N(lang, key string, count int, data map[string]any) string
	// Languages lists the languages offered, each named in itself.
	Languages() []Language
	// Match returns the best offered language for a BCP 47 hint such as
	// Telegram's language_code ("pt-BR"), or the default language.
	Match(hint string) string
	// Region names a country (ISO 3166-1 alpha-2 code) in lang.
	Region(lang, code string) string
}

// Language is one language a defender can choose.
type Language struct {
	Code string // BCP 47, e.g. "ar"
	Name string // the language's name in itself, e.g. "العربية"
}

// Config is what the engine needs from the deployment.
type Config struct {
	// Countries offered at the country question, as ISO 3166-1 alpha-2 codes.
	Countries []string
	// Files bounds the evidence of one report; zero fields take
	// DefaultFileLimits.
	Files FileLimits
	// Emergency holds emergency contacts shown to a defender in immediate
	// danger: by country code, and under "" for contacts that apply anywhere.
	Emergency map[string]string
	// NewID returns a fresh random draft id; it must not repeat.
	NewID func() string
	// Now returns the current time.
	Now func() time.Time
	// Checkin holds the settings of safety check-ins.
	Checkin CheckinConfig
}

// FileLimits bound the evidence of one report.
type FileLimits struct {
	MaxFiles    int   // files per report
	MaxFileSize int64 // bytes per file (Telegram's hosted Bot API serves 20 MB)
	MaxTotal    int64 // bytes per report
}

// DefaultFileLimits fit a Redis of a few GiB holding hundreds of reports.
var DefaultFileLimits = FileLimits{MaxFiles: 10, MaxFileSize: 20 << 20, MaxTotal: 50 << 20}

// File is a file the defender sent, before it is fetched.
type File struct {
	ID   string // the transport's handle to fetch it with
	Kind string // photo, document, voice, audio, video, video_note, animation
	Size int64  // as announced by the transport; 0 if unknown
	Name string // the file name, when the transport gives one
	MIME string
}

// Evidence is a file stored with a draft: what the chain of custody needs.
// It is sealed with the draft and then with the report.
type Evidence struct {
	Kind       string    `json:"kind"`
	Name       string    `json:"file_name,omitempty"`
	MIME       string    `json:"mime_type,omitempty"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"` // of the bytes exactly as received
	ReceivedAt time.Time `json:"received_at"`
	// AsDescription marks a voice note sent in place of a typed
	// description.
	AsDescription bool   `json:"as_description,omitempty"`
	Caption       string `json:"caption,omitempty"` // the text sent with the file
	// Key is where the sealed file waits until the report is sent; it is
	// not part of the report.
	Key string `json:"key,omitempty"`
}

// State is what the engine remembers of one chat between events.
type State struct {
	Lang  string `json:"lang,omitempty"` // chosen language; "" until chosen
	Draft *Draft `json:"draft,omitempty"`
	// Thread is the case whose mission last wrote to the defender: text
	// sent outside a draft is their answer to it.
	Thread string `json:"thread,omitempty"`
	// Subscribed lists the countries whose guidance the chat receives. It
	// is not kept with the state: the caller fills it from where
	// subscriptions live for the events ReadsSubscription names, and stores
	// what EffectSubscribe and EffectUnsubscribe leave in it.
	Subscribed []string `json:"-"`
	// Pick is a /subscribe choice in progress.
	Pick *Pick `json:"pick,omitempty"`
	// Compose is a coordinator's broadcast or guidance page in progress.
	Compose *Compose `json:"compose,omitempty"`
	// Checkin is the chat's running check-in, nil for none. It is not
	// kept with the state: the caller fills it for the events
	// ReadsCheckin names.
	Checkin *Checkin `json:"-"`
	// Setup is a /checkin conversation in progress.
	Setup *CheckinSetup `json:"setup,omitempty"`
}

// Draft is a report being written.
type Draft struct {
	ID      string            `json:"id"`
	Rev     int               `json:"rev"` // bumped on every change; buttons carry it
	Step    string            `json:"step"`
	History []string          `json:"hist,omitempty"` // steps to go Back to
	Editing string            `json:"edit,omitempty"` // review group being edited
	Answers map[string]Answer `json:"ans,omitempty"`
	Started time.Time         `json:"started"`
	Files   []Evidence        `json:"files,omitempty"`
}

// Uploads returns where the draft's files wait, in order.
func (d *Draft) Uploads() []string {
	keys := make([]string, len(d.Files))
	for i, f := range d.Files {
		keys[i] = f.Key
	}
	return keys
}

// Answer is the answer to one question.
type Answer struct {
	Values  []string `json:"v,omitempty"` // chosen option keys
	Text    string   `json:"t,omitempty"` // free text
	Parts   []string `json:"p,omitempty"` // free-text messages, in order
	Skipped bool     `json:"s,omitempty"`
}

// Chose reports whether opt is among the options chosen for question id.
func (d *Draft) Chose(id, opt string) bool {
	return slices.Contains(d.Answers[id].Values, opt)
}

// hasFiles reports whether the draft holds files answering question id.
func (d *Draft) hasFiles(id string) bool {
	for _, f := range d.Files {
		if id == QEvidence && !f.AsDescription || id == QDescription && f.AsDescription {
			return true
		}
	}
	return false
}

// Urgent reports whether the defender said someone is in immediate danger.
func (d *Draft) Urgent() bool { return d.Chose(QDanger, "yes") }

func (d *Draft) clone() *Draft {
	c := *d
	c.History = slices.Clone(d.History)
	c.Files = slices.Clone(d.Files)
	c.Answers = make(map[string]Answer, len(d.Answers))
	for k, a := range d.Answers {
		a.Values = slices.Clone(a.Values)
		a.Parts = slices.Clone(a.Parts)
		c.Answers[k] = a
	}
	return &c
}

// EventKind tells what the defender did.
type EventKind int

const (
	// EventCommand is a command such as /start; Event.Command holds "start".
	EventCommand EventKind = iota
	// EventText is a text message; Event.Text holds it.
	EventText
	// EventButton is a button press; Event.Data holds the button's data.
	EventButton
	// EventOther is anything the flow cannot take (a sticker, a location, a
	// file where text is expected); Event.Text is empty.
	EventOther
	// EventEdited is an edit of a message sent earlier; edits are not taken.
	EventEdited
	// EventFile is a file; Event.File describes it and Event.Text holds its
	// caption, if any.
	EventFile
)

// Event is one thing the defender did.
type Event struct {
	Kind    EventKind
	Command string
	Text    string
	Data    string
	// LanguageHint is the language of the defender's app (Telegram's
	// language_code), used until they choose one.
	LanguageHint string
	File         *File
	// Args is what follows a command ("/approve B-7K2QX" gives "B-7K2QX").
	Args string
	// Coordinator names the sender when they are one of the deployment's
	// coordinators; "" for everyone else.
	Coordinator string
	// HTML is Text with its formatting as Telegram HTML; the front end
	// fills it for coordinators, whose texts are published as written.
	HTML string
}

// Effect is work the caller does after Handle.
type Effect int

const (
	EffectNone Effect = iota
	// EffectSubmit: store Engine.Report, then send Engine.Receipt.
	EffectSubmit
	// EffectStatus: look up this chat's cases and send Engine.Status.
	EffectStatus
	// EffectAnswer: the event's text answers the mission about State.Thread;
	// seal it to the staff, add it to the case, then send Engine.AnswerSent.
	EffectAnswer
	// EffectWipe: delete the conversation's messages from the chat (the
	// draft is already gone from the state), then send Result.Messages, a
	// neutral line.
	EffectWipe
	// EffectForget: delete everything kept about the chat outside submitted
	// reports, then send Engine.Forgotten.
	EffectForget
	// EffectFile: fetch Event.File, seal it to the staff, store it, and
	// pass what was stored to Engine.FileAdded.
	EffectFile
	// EffectSubscribe: store the subscription to State.Subscribed in the
	// chat's language (Result.Messages confirms it).
	EffectSubscribe
	// EffectUnsubscribe: delete the chat's subscription.
	EffectUnsubscribe
	// EffectGuidance: list the guidance published for country Args[0]
	// with Engine.GuidanceList.
	EffectGuidance
	// EffectGuidancePage: send the page published for country Args[0] on
	// topic Args[1], in the chat's language or else the default.
	EffectGuidancePage
	// EffectCreatePublication: store Result.Publication, created by
	// Event.Coordinator, then confirm with Engine.Created.
	EffectCreatePublication
	// EffectApprove: approve publication Args[0] as Event.Coordinator.
	EffectApprove
	// EffectCancelPublication: stop publication Args[0].
	EffectCancelPublication
	// EffectPublicationStatus: describe publication Args[0], or list the
	// latest when Args is empty.
	EffectPublicationStatus
	// EffectCheckinNote: seal Event.Text (the note for the mission) to the
	// staff and pass it to Engine.CheckinNoted; keep the text nowhere.
	EffectCheckinNote
	// EffectCheckinStart: start Result.Checkin, then confirm with
	// Engine.CheckinSet.
	EffectCheckinStart
	// EffectCheckinNow: the defender checked in; set the next deadline
	// and answer Engine.CheckedIn. With Args ["duress"] it was the duress
	// word: the same answer, and an urgent case at once.
	EffectCheckinNow
	// EffectCheckinInterval: the running check-in's interval becomes
	// Args[0] seconds, from now; answer Engine.CheckedIn.
	EffectCheckinInterval
	// EffectCheckinStop: delete the chat's check-in (Result.Messages
	// confirms it).
	EffectCheckinStop
)

// Message is one message to the defender.
type Message struct {
	Text    string
	Buttons [][]Button
	// Replace asks for the message whose button was pressed to be edited
	// into this one instead of a new message being sent.
	Replace bool
	// HTML marks Text as Telegram HTML (a published broadcast or page);
	// other texts are plain.
	HTML bool
}

// Button is an inline button; Data comes back in an EventButton.
type Button struct {
	Label string
	Data  string
}

// Result is what Handle asks the caller to do.
type Result struct {
	Messages []Message
	// Toast is a short acknowledgement of a button press, shown briefly
	// (Telegram's answerCallbackQuery text); often empty.
	Toast  string
	Effect Effect
	// Args are the effect's arguments (see each Effect).
	Args []string
	// Publication is what EffectCreatePublication stores.
	Publication *Publication
	// Refused marks a coordinator's command tried by someone else, for the
	// caller to log without content.
	Refused bool
	// Checkin is what EffectCheckinStart starts.
	Checkin *CheckinPlan
}

// Engine runs the report flow. It is safe for concurrent use.
type Engine struct {
	tr        Translator
	cfg       Config
	questions []Question
	index     map[string]int
}

// New returns an engine for the deployment's configuration.
func New(tr Translator, cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{tr: tr, cfg: cfg, questions: questions(cfg.Countries), index: map[string]int{}}
	for i, q := range e.questions {
		e.index[q.ID] = i
	}
	return e
}

// Questions returns the report's questions in the order they are asked.
func (e *Engine) Questions() []Question { return slices.Clone(e.questions) }

func (e *Engine) question(id string) *Question {
	i, ok := e.index[id]
	if !ok {
		return nil
	}
	return &e.questions[i]
}

// Lang returns the language to speak in: the chosen one, else the best match
// for the hint.
func (e *Engine) Lang(s State, hint string) string {
	if s.Lang != "" {
		return s.Lang
	}
	return e.tr.Match(hint)
}

// Handle runs one event against a state. See the package documentation for
// its contract.
func (e *Engine) Handle(s State, ev Event) (State, Result) {
	lang := e.Lang(s, ev.LanguageHint)
	if ev.Kind == EventText && e.isDuress(s, ev.Text) {
		// Before anything else sees the text: it answers nothing else.
		return s, Result{Effect: EffectCheckinNow, Args: []string{"duress"}}
	}
	switch ev.Kind {
	case EventCommand:
		return e.command(s, lang, ev)
	case EventText:
		return e.text(s, lang, ev)
	case EventButton:
		return e.button(s, lang, ev)
	case EventFile:
		return e.file(s, lang, ev.File)
	default:
		key := "msg.unsupported"
		if ev.Kind == EventEdited {
			key = "msg.edited"
		}
		msgs := []Message{{Text: e.tr.T(lang, key, nil)}}
		if s.Draft != nil {
			msgs = append(msgs, e.render(s.Draft, lang))
		}
		return s, Result{Messages: msgs}
	}
}

func (e *Engine) command(s State, lang string, ev Event) (State, Result) {
	if IsCoordinatorCommand(ev.Command) {
		return e.coordinatorCommand(s, lang, ev)
	}
	switch ev.Command {
	case "start":
		if s.Draft != nil {
			return s, e.say(lang, "msg.resume", e.render(s.Draft, lang))
		}
		s.Draft = &Draft{ID: e.cfg.NewID(), Step: QLanguage, Started: e.cfg.Now().UTC(), Answers: map[string]Answer{}}
		return s, Result{Messages: []Message{e.render(s.Draft, lang)}}
	case "cancel":
		if s.Compose != nil || s.Pick != nil || s.Setup != nil {
			s.Compose, s.Pick, s.Setup = nil, nil, nil
			return s, e.say(lang, "msg.cancelled")
		}
		if s.Draft == nil {
			return s, e.say(lang, "msg.nothing_to_cancel")
		}
		s.Draft = nil
		return s, e.say(lang, "msg.cancelled")
	case "language":
		return s, Result{Messages: []Message{e.languageMenu(s, lang)}}
	case "status":
		return s, Result{Effect: EffectStatus}
	case "wipe":
		s.Draft = nil
		text := e.tr.T(lang, "msg.wiped", nil)
		if s.Checkin != nil {
			text += "\n" + e.tr.T(lang, "msg.checkin_wipe", nil)
		}
		return s, Result{Effect: EffectWipe, Messages: []Message{{Text: text}}}
	case "forget":
		s.Draft, s.Thread, s.Lang, s.Subscribed, s.Pick, s.Compose, s.Setup = nil, "", "", nil, nil, nil, nil
		return s, Result{Effect: EffectForget}
	case "checkin":
		return e.checkinCommand(s, lang)
	case "subscribe":
		return e.subscribeCommand(s, lang)
	case "unsubscribe":
		return e.unsubscribeCommand(s, lang)
	case "guidance":
		return e.guidanceCommand(s, lang)
	default:
		return s, e.say(lang, "msg.help")
	}
}

func (e *Engine) text(s State, lang string, ev Event) (State, Result) {
	text := ev.Text
	if s.Compose != nil && ev.Coordinator != "" {
		return e.composeText(s, lang, ev)
	}
	if s.Setup != nil && !s.Setup.Change {
		return e.setupText(s, lang, text)
	}
	if s.Draft == nil {
		if s.Thread != "" {
			return s, Result{Effect: EffectAnswer}
		}
		return s, e.say(lang, "msg.no_draft")
	}
	q := e.question(s.Draft.Step)
	switch q.Kind {
	case KindText:
		if n := utf8.RuneCountInString(text); n > q.MaxLen {
			return s, e.sayN(lang, "msg.too_long", q.MaxLen, e.render(s.Draft, lang))
		}
		d := s.Draft.clone()
		d.Answers[q.ID] = Answer{Text: text}
		s.Draft = d
		e.advance(d)
		return s, Result{Messages: []Message{e.render(d, lang)}}
	case KindLongText:
		a := s.Draft.Answers[q.ID]
		total := utf8.RuneCountInString(text)
		for _, p := range a.Parts {
			total += utf8.RuneCountInString(p)
		}
		if total > q.MaxLen {
			m := e.doneKeyboard(s.Draft, lang)
			m.Text = e.tr.N(lang, "msg.description_full", q.MaxLen, nil)
			return s, Result{Messages: []Message{m}}
		}
		d := s.Draft.clone()
		a = d.Answers[q.ID]
		a.Parts = append(a.Parts, text)
		a.Skipped = false
		d.Answers[q.ID] = a
		d.Rev++
		s.Draft = d
		m := e.doneKeyboard(d, lang)
		m.Text = e.tr.N(lang, "msg.description_added", len(a.Parts), nil)
		return s, Result{Messages: []Message{m}}
	case KindFiles:
		return s, e.say(lang, "msg.send_files", e.render(s.Draft, lang))
	default:
		return s, e.say(lang, "msg.use_buttons", e.render(s.Draft, lang))
	}
}

// file decides whether a file can be taken here: at the evidence question,
// and a voice note at the description.
func (e *Engine) file(s State, lang string, f *File) (State, Result) {
	if s.Draft == nil {
		return s, e.say(lang, "msg.no_draft")
	}
	if f == nil {
		return s, e.say(lang, "msg.unsupported", e.render(s.Draft, lang))
	}
	q := e.question(s.Draft.Step)
	voice := f.Kind == "voice" || f.Kind == "audio"
	if q.Kind != KindFiles && !(q.ID == QDescription && voice) {
		return s, e.say(lang, "msg.files_here_only", e.render(s.Draft, lang))
	}
	lim := e.fileLimits()
	var total int64
	for _, x := range s.Draft.Files {
		total += x.Size
	}
	switch {
	case len(s.Draft.Files) >= lim.MaxFiles:
		return s, Result{Messages: []Message{e.withDone(s.Draft, lang, e.tr.N(lang, "msg.too_many_files", lim.MaxFiles, nil))}}
	case f.Size > lim.MaxFileSize:
		return s, Result{Messages: []Message{e.withDone(s.Draft, lang, e.tr.N(lang, "msg.file_too_big", int(lim.MaxFileSize>>20), nil))}}
	case total+f.Size > lim.MaxTotal:
		return s, Result{Messages: []Message{e.withDone(s.Draft, lang, e.tr.N(lang, "msg.evidence_full", int(lim.MaxTotal>>20), nil))}}
	}
	return s, Result{Effect: EffectFile}
}

func (e *Engine) fileLimits() FileLimits {
	l := e.cfg.Files
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultFileLimits.MaxFiles
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultFileLimits.MaxFileSize
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = DefaultFileLimits.MaxTotal
	}
	return l
}

// FileLimits returns the limits in force.
func (e *Engine) FileLimits() FileLimits { return e.fileLimits() }

// withDone is a message with the Done (and Back, Skip) buttons of the
// current question, for answers given in several messages.
func (e *Engine) withDone(d *Draft, lang, text string) Message {
	m := e.doneKeyboard(d, lang)
	m.Text = text
	return m
}

// FileAdded records a stored file in the draft and says so. A voice note
// at the description stands for the description.
func (e *Engine) FileAdded(s State, ev Evidence) (State, []Message) {
	lang := e.Lang(s, "")
	d := s.Draft.clone()
	if d.Step == QDescription {
		ev.AsDescription = true
		a := d.Answers[QDescription]
		a.Skipped = false
		d.Answers[QDescription] = a
	}
	d.Files = append(d.Files, ev)
	d.Rev++
	s.Draft = d
	key := "msg.file_added"
	if ev.AsDescription {
		key = "msg.voice_added"
	}
	return s, []Message{e.withDone(d, lang, e.tr.N(lang, key, len(d.Files), nil))}
}

// button data is "<rev>|<action>|<argument>".
const (
	actOption   = "o"
	actToggle   = "t"
	actDone     = "d"
	actSkip     = "s"
	actBack     = "b"
	actContinue = "c"
	actEdit     = "e"
	actSend     = "x"
	actLanguage = "l"
	actWipe     = "w"
)

func data(d *Draft, act, arg string) string {
	rev := 0
	if d != nil {
		rev = d.Rev
	}
	return buttonData(rev, act, arg)
}

// buttonData is the data of a button: the revision of what it acts on
// (draft, pick or compose), the action and its argument.
func buttonData(rev int, act, arg string) string {
	return strconv.Itoa(rev) + "|" + act + "|" + arg
}

func parseData(s string) (rev int, act, arg string, ok bool) {
	if len(s) > MaxButtonData {
		return 0, "", "", false
	}
	parts := strings.SplitN(s, "|", 3)
	if len(parts) != 3 {
		return 0, "", "", false
	}
	rev, err := strconv.Atoi(parts[0])
	if err != nil || rev < 0 {
		return 0, "", "", false
	}
	return rev, parts[1], parts[2], true
}

func (e *Engine) stale(s State, lang string) (State, Result) {
	return s, Result{Toast: e.tr.T(lang, "msg.stale", nil)}
}

func (e *Engine) button(s State, lang string, ev Event) (State, Result) {
	rev, act, arg, ok := parseData(ev.Data)
	if !ok {
		return e.stale(s, lang)
	}
	switch act {
	case actSubToggle, actSubDone:
		return e.pickButton(s, lang, rev, act, arg)
	case actCkInterval, actCkZone, actCkCountry, actCkSkip, actCkNow, actCkChange, actCkStop, actCkStopYes, actCkKeep:
		return e.checkinButton(s, lang, rev, act, arg)
	case actGuideLand, actGuidePage:
		return e.guidanceButton(s, lang, act, arg)
	case actComposeTopic, actComposeCountry, actComposeNext, actComposeAddLang, actComposeLang, actComposeCreate, actComposeDrop:
		return e.composeButton(s, lang, ev, rev, act, arg)
	case actLanguage:
		return e.chooseLanguage(s, rev, arg)
	case actWipe:
		// Offered under the receipt; valid whenever pressed.
		return e.command(s, lang, Event{Kind: EventCommand, Command: "wipe"})
	}
	d := s.Draft
	if d == nil || rev != d.Rev {
		return e.stale(s, lang)
	}
	q := e.question(d.Step)
	d = d.clone()
	var msgs []Message
	switch {
	case act == actBack:
		if len(d.History) == 0 {
			return e.stale(s, lang)
		}
		d.Step = d.History[len(d.History)-1]
		d.History = d.History[:len(d.History)-1]
		if d.Step == QReview {
			d.Editing = ""
		}
	case act == actContinue && q.Kind == KindNotice:
		e.advance(d)
	case act == actSkip && q.Optional:
		d.Answers[q.ID] = Answer{Skipped: true}
		e.advance(d)
	case act == actOption && q.Kind == KindChoice && q.hasOption(arg):
		d.Answers[q.ID] = Answer{Values: []string{arg}}
		if q.ID == QDanger && arg == "yes" {
			msgs = append(msgs, e.emergency(lang))
		}
		e.advance(d)
	case act == actToggle && q.Kind == KindMulti && q.hasOption(arg):
		a := d.Answers[q.ID]
		if i := slices.Index(a.Values, arg); i >= 0 {
			a.Values = slices.Delete(a.Values, i, i+1)
		} else {
			a.Values = append(a.Values, arg)
		}
		a.Skipped = false
		d.Answers[q.ID] = a
		d.Rev++
		s.Draft = d
		m := e.render(d, lang)
		m.Replace = true
		return s, Result{Messages: []Message{m}}
	case act == actDone && (q.Kind == KindMulti || q.Kind == KindLongText || q.Kind == KindFiles):
		a := d.Answers[q.ID]
		if len(a.Values) == 0 && len(a.Parts) == 0 && !d.hasFiles(q.ID) {
			if !q.Optional {
				return s, Result{Toast: e.tr.T(lang, "msg.need_answer", nil)}
			}
			d.Answers[q.ID] = Answer{Skipped: true}
		}
		e.advance(d)
	case act == actEdit && q.Kind == KindReview:
		first := e.firstOfGroup(d, arg)
		if first == nil {
			return e.stale(s, lang)
		}
		d.History = append(d.History, QReview)
		d.Editing = arg
		d.Step = first.ID
	case act == actSend && q.Kind == KindReview:
		if missing := e.missing(d); missing != nil {
			d.History = append(d.History, QReview)
			d.Editing = missing.group()
			d.Step = missing.ID
			d.Rev++
			s.Draft = d
			return s, e.say(lang, "msg.need_answer", e.render(d, lang))
		}
		return s, Result{Effect: EffectSubmit}
	default:
		return e.stale(s, lang)
	}
	d.Rev++
	s.Draft = d
	return s, Result{Messages: append(msgs, e.render(d, lang))}
}

func (e *Engine) chooseLanguage(s State, rev int, code string) (State, Result) {
	lang := e.Lang(s, "")
	if !slices.ContainsFunc(e.tr.Languages(), func(l Language) bool { return l.Code == code }) {
		return e.stale(s, lang)
	}
	if s.Draft == nil {
		if rev != 0 {
			return e.stale(s, lang)
		}
		s.Lang = code
		return s, e.say(code, "msg.language_set")
	}
	if rev != s.Draft.Rev {
		return e.stale(s, lang)
	}
	s.Lang = code
	d := s.Draft.clone()
	if d.Step == QLanguage {
		e.advance(d)
	}
	d.Rev++
	s.Draft = d
	return s, Result{Messages: []Message{e.render(d, code)}}
}

// advance moves the draft to the next question it should see. While a group
// is edited from the review, leaving the group returns to the review.
func (e *Engine) advance(d *Draft) {
	next := e.nextVisible(d, e.index[d.Step]+1)
	if d.Editing != "" && (next == nil || next.group() != d.Editing) {
		if i := slices.Index(d.History, QReview); i >= 0 {
			d.History = d.History[:i]
		}
		d.Editing = ""
		d.Step = QReview
		return
	}
	d.History = append(d.History, d.Step)
	if next == nil {
		d.Step = QReview
		return
	}
	d.Step = next.ID
}

func (e *Engine) nextVisible(d *Draft, from int) *Question {
	for i := from; i < len(e.questions); i++ {
		q := &e.questions[i]
		if q.Only == nil || q.Only(d) {
			return q
		}
	}
	return nil
}

func (e *Engine) firstOfGroup(d *Draft, group string) *Question {
	for i := range e.questions {
		q := &e.questions[i]
		if q.asked() && q.group() == group && (q.Only == nil || q.Only(d)) {
			return q
		}
	}
	return nil
}

// missing returns the first required question without an answer.
func (e *Engine) missing(d *Draft) *Question {
	for i := range e.questions {
		q := &e.questions[i]
		if !q.asked() || q.Optional || (q.Only != nil && !q.Only(d)) {
			continue
		}
		a := d.Answers[q.ID]
		if len(a.Values) == 0 && len(a.Parts) == 0 && a.Text == "" {
			return q
		}
	}
	return nil
}

func (e *Engine) say(lang, key string, then ...Message) Result {
	return Result{Messages: append([]Message{{Text: e.tr.T(lang, key, nil)}}, then...)}
}

func (e *Engine) sayN(lang, key string, n int, then ...Message) Result {
	return Result{Messages: append([]Message{{Text: e.tr.N(lang, key, n, nil)}}, then...)}
}

func (e *Engine) emergency(lang string) Message {
	var lines []string
	if c := e.cfg.Emergency[""]; c != "" {
		lines = append(lines, c)
	}
	for _, code := range e.cfg.Countries {
		if c := e.cfg.Emergency[code]; c != "" {
			lines = append(lines, e.tr.Region(lang, code)+": "+c)
		}
	}
	if len(lines) == 0 {
		return Message{Text: e.tr.T(lang, "msg.emergency_none", nil)}
	}
	return Message{Text: e.tr.T(lang, "msg.emergency", map[string]any{"Contacts": strings.Join(lines, "\n")})}
}

func (e *Engine) languageMenu(s State, lang string) Message {
	langs := e.tr.Languages()
	// The best match for the defender comes first.
	slices.SortStableFunc(langs, func(a, b Language) int {
		switch {
		case a.Code == lang && b.Code != lang:
			return -1
		case b.Code == lang && a.Code != lang:
			return 1
		}
		return 0
	})
	m := Message{Text: e.tr.T(lang, "step.language.prompt", nil)}
	for _, l := range langs {
		m.Buttons = append(m.Buttons, []Button{{Label: l.Name, Data: data(s.Draft, actLanguage, l.Code)}})
	}
	return m
}

// render shows the draft's current question.
func (e *Engine) render(d *Draft, lang string) Message {
	q := e.question(d.Step)
	if q.Kind == KindLanguage {
		return e.languageMenu(State{Lang: lang, Draft: d}, lang)
	}
	if q.Kind == KindReview {
		return e.review(d, lang)
	}
	m := Message{Text: e.tr.T(lang, "step."+q.ID+".prompt", nil)}
	switch q.Kind {
	case KindNotice:
		m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.continue", nil), Data: data(d, actContinue, "")}})
	case KindChoice:
		m.Buttons = e.optionButtons(d, q, lang, "✓ ", actOption)
	case KindMulti:
		m.Buttons = e.optionButtons(d, q, lang, "✅ ", actToggle)
		m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.done", nil), Data: data(d, actDone, "")}})
	case KindFiles:
		if n := len(d.Files); n > 0 {
			m.Text += "\n\n" + e.tr.N(lang, "msg.files_so_far", n, nil)
			m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.done", nil), Data: data(d, actDone, "")}})
		}
	case KindLongText:
		if parts := len(d.Answers[q.ID].Parts); parts > 0 {
			m.Text += "\n\n" + e.tr.N(lang, "msg.description_so_far", parts, nil)
			m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.done", nil), Data: data(d, actDone, "")}})
		}
	}
	return e.withNav(m, d, q, lang)
}

// optionButtons lists a question's options one per row, marking those
// already chosen.
func (e *Engine) optionButtons(d *Draft, q *Question, lang, mark, act string) [][]Button {
	rows := make([][]Button, 0, len(q.Options)+2)
	for _, opt := range q.Options {
		label := e.optionLabel(lang, q, opt)
		if d.Chose(q.ID, opt) {
			label = mark + label
		}
		rows = append(rows, []Button{{Label: label, Data: data(d, act, opt)}})
	}
	return rows
}

func (e *Engine) withNav(m Message, d *Draft, q *Question, lang string) Message {
	var nav []Button
	if len(d.History) > 0 {
		nav = append(nav, Button{Label: e.tr.T(lang, "btn.back", nil), Data: data(d, actBack, "")})
	}
	if q.Optional {
		nav = append(nav, Button{Label: e.tr.T(lang, "btn.skip", nil), Data: data(d, actSkip, "")})
	}
	if len(nav) > 0 {
		m.Buttons = append(m.Buttons, nav)
	}
	return m
}

// doneKeyboard is the reply to a part of the description: Back and Done.
func (e *Engine) doneKeyboard(d *Draft, lang string) Message {
	m := Message{Buttons: [][]Button{{{Label: e.tr.T(lang, "btn.done", nil), Data: data(d, actDone, "")}}}}
	return e.withNav(m, d, e.question(d.Step), lang)
}

func (e *Engine) optionLabel(lang string, q *Question, opt string) string {
	if q.Regions && opt != "other" {
		return e.tr.Region(lang, opt)
	}
	return e.tr.T(lang, "opt."+q.ID+"."+opt, nil)
}

// reviewExcerpt bounds how much of the description the review repeats, so
// that the summary stays within one Telegram message.
const reviewExcerpt = 600

func (e *Engine) review(d *Draft, lang string) Message {
	var b strings.Builder
	b.WriteString(e.tr.T(lang, "step.review.prompt", nil))
	var groups []string
	for i := range e.questions {
		q := &e.questions[i]
		if !q.asked() || (q.Only != nil && !q.Only(d)) {
			continue
		}
		if !slices.Contains(groups, q.group()) {
			groups = append(groups, q.group())
		}
		fmt.Fprintf(&b, "\n\n%s: %s", e.tr.T(lang, "step."+q.ID+".label", nil), e.answerText(lang, q, d))
	}
	m := Message{Text: b.String()}
	var row []Button
	for _, g := range groups {
		first := e.firstOfGroup(d, g)
		label := e.tr.T(lang, "btn.edit", map[string]any{"Field": e.tr.T(lang, "step."+first.ID+".label", nil)})
		row = append(row, Button{Label: label, Data: data(d, actEdit, g)})
		if len(row) == 2 {
			m.Buttons = append(m.Buttons, row)
			row = nil
		}
	}
	if row != nil {
		m.Buttons = append(m.Buttons, row)
	}
	m.Buttons = append(m.Buttons, []Button{{Label: e.tr.T(lang, "btn.send", nil), Data: data(d, actSend, "")}})
	return e.withNav(m, d, e.question(QReview), lang)
}

func (e *Engine) answerText(lang string, q *Question, d *Draft) string {
	a := d.Answers[q.ID]
	if q.Kind == KindFiles {
		if n := len(d.Files); n > 0 {
			return e.tr.N(lang, "review.files", n, nil)
		}
		return e.tr.T(lang, "review.skipped", nil)
	}
	if q.ID == QDescription && len(a.Parts) == 0 && d.hasFiles(QDescription) {
		return e.tr.T(lang, "review.voice", nil)
	}
	switch {
	case len(a.Values) > 0:
		labels := make([]string, len(a.Values))
		for i, v := range a.Values {
			labels[i] = e.optionLabel(lang, q, v)
		}
		return strings.Join(labels, e.tr.T(lang, "review.separator", nil))
	case len(a.Parts) > 0:
		text := strings.Join(a.Parts, "\n")
		if utf8.RuneCountInString(text) > reviewExcerpt {
			text = string([]rune(text)[:reviewExcerpt]) + "…"
		}
		return isolate(text)
	case a.Text != "":
		return isolate(a.Text)
	default:
		return e.tr.T(lang, "review.skipped", nil)
	}
}

// isolate wraps a defender's own words in Unicode first-strong isolates so
// that text in one direction keeps its order inside a sentence in the other.
// An isolate ends at a line break, so each line gets its own.
func isolate(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\u2068" + l + "\u2069"
		}
	}
	return strings.Join(lines, "\n")
}

// Text returns one text of the engine's translator, for messages the caller
// sends on its own (limits, errors).
func (e *Engine) Text(lang, key string) string { return e.tr.T(lang, key, nil) }

// Receipt is the message sent once the report is stored under ref.
// It offers to wipe the conversation from the phone.
func (e *Engine) Receipt(lang, ref string) []Message {
	return []Message{{Text: e.tr.T(lang, "msg.receipt", map[string]any{"Ref": ref}),
		Buttons: [][]Button{{{Label: e.tr.T(lang, "btn.wipe", nil), Data: data(nil, actWipe, "")}}}}}
}

// Forgotten confirms /forget, and says what stays with the mission.
func (e *Engine) Forgotten(lang string, reports int) []Message {
	if reports == 0 {
		return []Message{{Text: e.tr.T(lang, "msg.forgotten_none", nil)}}
	}
	return []Message{{Text: e.tr.N(lang, "msg.forgotten", reports, nil)}}
}

// Submitted returns the state after the draft was stored as a report. Text
// sent afterwards no longer answers an earlier case.
func (e *Engine) Submitted(s State) State {
	s.Draft = nil
	s.Thread = ""
	return s
}

// StaffReply frames a message from the mission about case ref, and returns
// the state in which the defender's next text answers it.
func (e *Engine) StaffReply(s State, ref, text string) (State, []Message) {
	s.Thread = ref
	return s, []Message{{Text: e.tr.T(e.Lang(s, ""), "msg.staff_reply", map[string]any{"Ref": ref, "Text": text})}}
}

// AnswerSent confirms that the defender's answer reached the case.
func (e *Engine) AnswerSent(lang, ref string) []Message {
	return []Message{{Text: e.tr.T(lang, "msg.answer_sent", map[string]any{"Ref": ref})}}
}

// CaseGone says that the case a defender answered no longer exists, and
// returns the state without the thread.
func (e *Engine) CaseGone(s State, lang string) (State, []Message) {
	s.Thread = ""
	return s, []Message{{Text: e.tr.T(lang, "msg.case_gone", nil)}}
}

// CaseStatus is what /status tells the defender about one report.
type CaseStatus struct {
	Ref        string
	ReceivedAt time.Time
	Status     string // a key under "status." in locales: new, triaged, …
}

// Status is the answer to /status.
func (e *Engine) Status(lang string, cases []CaseStatus) []Message {
	if len(cases) == 0 {
		return []Message{{Text: e.tr.T(lang, "msg.status_none", nil)}}
	}
	var b strings.Builder
	b.WriteString(e.tr.N(lang, "msg.status_header", len(cases), nil))
	for _, c := range cases {
		b.WriteString("\n")
		b.WriteString(e.tr.T(lang, "msg.status_line", map[string]any{
			"Ref":    c.Ref,
			"Date":   c.ReceivedAt.UTC().Format("2006-01-02"),
			"Status": e.tr.T(lang, "status."+c.Status, nil),
		}))
	}
	return []Message{{Text: b.String()}}
}
