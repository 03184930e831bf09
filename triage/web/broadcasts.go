package web

// The Broadcasts page: coordinators create, approve and stop broadcasts and
// guidance pages through broadcast.Service, as `vigil broadcast` does.
// Staff who are not coordinators see the same pages without the forms, and
// the service refuses them anyway. The texts are Telegram HTML written by a
// coordinator: the page shows them as text, escaped, in a <pre>; the real
// preview is the one the bot sends every coordinator in Telegram.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// Why the texts of a new broadcast cannot be sealed, as Config.CanCreate
// says it: the form names the setting to fix.
var (
	ErrNoStaffKeys = errors.New("web: no staff public keys (VIGIL_RECIPIENTS_FILE), so the texts of a broadcast cannot be sealed to the staff")
	ErrNoBotKey    = errors.New("web: no bot has published its public key in Redis yet, so the texts of a broadcast cannot be sealed to it")
)

// maxBroadcastForm bounds the form that creates a publication: a text in
// every language of the bot, each up to the service's limit, URL-encoded.
const maxBroadcastForm = 2 << 20

// listed is how many publications the list shows, newest first.
const listed = 50

// pubID is a publication's reference as package broadcast makes them:
// B-7K2QX for a broadcast, G-… for a guidance page.
var pubID = regexp.MustCompile(`^[BG]-[2-9A-HJ-NP-Z]{6}$`)

// idOf reads a publication's reference from a request's path.
func idOf(r *http.Request) (string, bool) {
	id := strings.ToUpper(strings.TrimSpace(r.PathValue("id")))
	return id, pubID.MatchString(id)
}

// isoCode is what the service takes as a country: ISO 3166-1 alpha-2.
var isoCode = regexp.MustCompile(`^[A-Z]{2}$`)

// errBadKind is a form whose kind is neither broadcast nor guidance.
var errBadKind = errors.New("bad kind")

// access is what the staff member may do on the Broadcasts page.
type access struct {
	Policy    store.Policy
	HasPolicy bool
	Act       bool   // a coordinator of the policy
	Why       string // why not, in words; "" when Act
	Rule      string // the four-eyes rule, in words
}

// access reads the bot's policy. No policy (no bot has started with
// broadcasts) is not an error: the page says so and lists what there is.
func (s *Server) access(ctx context.Context, x texts) (access, error) {
	pol, err := s.cfg.Broadcasts.Policy(ctx)
	if errors.Is(err, store.ErrNoPolicy) {
		return access{Why: x.T("bc.no_policy")}, nil
	}
	if err != nil {
		return access{}, err
	}
	a := access{Policy: pol, HasPolicy: true, Act: slices.Contains(pol.Coordinators, s.cfg.Staff)}
	if pol.Approvals <= 1 {
		a.Rule = x.T("bc.rule_alone")
	} else {
		a.Rule = x.N("bc.rule", pol.Approvals-1)
	}
	switch {
	case a.Act:
	case len(pol.Coordinators) == 0:
		a.Why = x.T("bc.no_coordinators", "Name", s.cfg.Staff)
	default:
		a.Why = x.T("bc.not_coordinator", "Name", s.cfg.Staff, "Coordinators", strings.Join(pol.Coordinators, ", "))
	}
	return a, nil
}

// pubRow is a publication as the list shows it, every value in words.
type pubRow struct {
	ID        string
	Kind      string // store.KindBroadcast or store.KindGuidance
	What      string // "Broadcast" or "Guidance page: Digital security"
	Status    string // the key, for styling and tests
	Label     string // the status in words
	Countries string
	Langs     string
	Creator   string
	Created   time.Time
	Approvers string
	Needed    string // approvals still needed; "" when none are
	Progress  string // sent, failed, blocked, remaining; "" before sending
	Left      string // time left for a sending broadcast
	Problem   string
}

func (s *Server) pubRow(x texts, p store.Publication, a access) pubRow {
	row := pubRow{ID: p.ID, Kind: p.Kind, Status: p.Status, Label: x.PubStatus(p.Status), Countries: strings.Join(p.Countries, ", "),
		Langs: strings.Join(p.Langs(), ", "), Creator: p.Creator, Created: p.CreatedAt,
		Approvers: strings.Join(p.Approvers, ", "), Problem: p.Problem}
	row.What = x.T("bc.kind_broadcast")
	if p.Kind == store.KindGuidance {
		row.What = x.T("bc.kind_guidance", "Topic", x.Topic(p.Topic))
	}
	if a.HasPolicy {
		if n := broadcast.Needed(p, a.Policy); n > 0 {
			row.Needed = fmt.Sprint(n)
		}
	}
	if p.Kind == store.KindBroadcast && (p.Total > 0 || p.Status == store.PubSending || p.Status == store.PubDone) {
		row.Progress = x.T("bc.progress", "Sent", p.Sent, "Total", p.Total, "Failed", p.Failed, "Blocked", p.Blocked,
			"Remaining", p.Remaining+p.InFlight)
	}
	if p.Status == store.PubSending && a.HasPolicy && a.Policy.Rate > 0 {
		row.Left = x.T("bc.left", "Time", span(broadcast.Left(p, a.Policy.Rate)), "Rate", a.Policy.Rate)
	}
	return row
}

// span writes a duration for people: "< 1 min", "4 min", "2 h 05 min".
func span(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case d < 30*time.Second:
		return "< 1 min"
	case m < 60:
		return fmt.Sprintf("%d min", max(m, 1))
	default:
		return fmt.Sprintf("%d h %02d min", m/60, m%60)
	}
}

// broadcastsView is the list.
type broadcastsView struct {
	access
	Rows []pubRow
}

func (s *Server) broadcastList(w http.ResponseWriter, r *http.Request, sess *session) {
	p := s.newPage(r, sess, "broadcasts")
	p.Title = p.L.T("bc.title")
	a, err := s.access(r.Context(), p.L)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	pubs, err := s.cfg.Broadcasts.List(r.Context(), listed)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	v := &broadcastsView{access: a}
	for _, pub := range pubs {
		v.Rows = append(v.Rows, s.pubRow(p.L, pub, a))
	}
	p.Data = v
	s.render(w, r, http.StatusOK, "broadcasts", p)
}

// pubView is one publication's page.
type pubView struct {
	pubRow
	access
	Guidance                          bool
	CountryNames                      string
	Previewed                         bool
	ApprovedAt, StartedAt, FinishedAt time.Time
	CancelledBy                       string
	Total, Sent, Failed, Blocked      int64
	Skipped, Remaining                int64
	Texts                             []pubText
	// What the staff member may do now, and why not when they may not.
	Approve     bool
	ApproveHint string
	Stop        string // the stop button's label; "" when it cannot be stopped
}

// pubText is one language's text, opened with the staff identity.
type pubText struct {
	Lang, Name, Dir string
	Default         bool
	Text            string
	Problem         string // why it could not be opened
}

func (s *Server) broadcastPage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.showBroadcast(w, r, sess, http.StatusOK, "")
}

// showBroadcast draws a publication, with the refusal of an action when
// there is one.
func (s *Server) showBroadcast(w http.ResponseWriter, r *http.Request, sess *session, status int, problem string) {
	id, ok := idOf(r)
	if !ok {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	p := s.newPage(r, sess, "broadcasts")
	x := p.L
	a, err := s.access(r.Context(), x)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	pub, err := s.cfg.Broadcasts.Get(r.Context(), id)
	if err != nil {
		s.failBroadcast(w, r, sess, id, err)
		return
	}
	v := &pubView{pubRow: s.pubRow(x, pub, a), access: a, Guidance: pub.Kind == store.KindGuidance, Previewed: pub.Previewed,
		ApprovedAt: pub.ApprovedAt, StartedAt: pub.StartedAt, FinishedAt: pub.FinishedAt, CancelledBy: pub.CancelledBy,
		Total: pub.Total, Sent: pub.Sent, Failed: pub.Failed, Blocked: pub.Blocked, Skipped: pub.Skipped,
		Remaining: pub.Remaining + pub.InFlight}
	var names []string
	for _, c := range pub.Countries {
		names = append(names, x.Country(c))
	}
	v.CountryNames = strings.Join(names, ", ")
	def := s.defaultLang(a)
	langs := pub.Langs()
	if i := slices.Index(langs, def); i > 0 {
		langs = append(append([]string{def}, langs[:i]...), langs[i+1:]...)
	}
	for _, lang := range langs {
		t := pubText{Lang: lang, Name: s.langName(lang), Dir: s.dir(lang), Default: lang == def}
		// The language asked for is one the publication has, so Text opens
		// that very text.
		text, _, err := s.cfg.Broadcasts.Text(pub, lang, def)
		switch {
		case errors.Is(err, seal.ErrWrongIdentity):
			t.Problem = x.T("bc.text_wrong_identity")
		case errors.Is(err, seal.ErrTampered):
			t.Problem = x.T("bc.text_tampered")
		case err != nil:
			s.fail(w, r, sess, err)
			return
		default:
			t.Text = text
		}
		v.Texts = append(v.Texts, t)
	}
	if a.Act {
		s.setActions(x, v, pub, a.Policy)
	}
	p.Title = x.T("bc.detail_"+pub.Kind, "ID", pub.ID)
	p.Here = "/broadcasts/" + pub.ID
	p.Error = problem
	p.Data = v
	s.render(w, r, status, "broadcast", p)
}

// setActions offers a coordinator what the service would allow, and says
// why when it would not.
func (s *Server) setActions(x texts, v *pubView, p store.Publication, pol store.Policy) {
	switch p.Status {
	case store.PubQueued, store.PubApproved, store.PubSending, store.PubInvalid:
		v.Stop = x.T("bc.stop")
		if p.Kind == store.KindGuidance {
			v.Stop = x.T("bc.cancel_page")
		}
	case store.PubPublished:
		v.Stop = x.T("bc.withdraw")
	}
	if p.Status != store.PubQueued {
		return
	}
	switch {
	case p.Creator == s.cfg.Staff && pol.Approvals > 1:
		v.ApproveHint = x.T("bc.hint_own")
	case slices.Contains(p.Approvers, s.cfg.Staff):
		v.ApproveHint = x.T("bc.hint_approved")
	default:
		v.Approve = true
		if !p.Previewed {
			v.ApproveHint = x.T("bc.hint_preview")
		}
	}
}

// defaultLang is the language subscribers without their own get: the
// policy's when the bot's texts know it.
func (s *Server) defaultLang(a access) string {
	if a.HasPolicy && s.cfg.Text.Has(a.Policy.DefaultLang) {
		return a.Policy.DefaultLang
	}
	return s.cfg.Text.Default()
}

// langName names a language of the bot in itself, with its code.
func (s *Server) langName(code string) string {
	for _, l := range s.cfg.Text.Languages() {
		if l.Code == code {
			return l.Name + " (" + code + ")"
		}
	}
	return code
}

// broadcastAct approves or stops a publication through the service, then
// shows it again: after a redirect when it worked, at once with the
// refusal in words when it did not.
func (s *Server) broadcastAct(w http.ResponseWriter, r *http.Request, sess *session) {
	id, ok := idOf(r)
	if !ok {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	x := s.texts(r, sess)
	ctx := r.Context()
	var done string
	var err error
	switch r.PathValue("action") {
	case "approve":
		var status string
		var needed int
		status, needed, err = s.cfg.Broadcasts.Approve(ctx, id, s.cfg.Staff)
		switch status {
		case store.PubQueued:
			done = x.N("bc.done.recorded", needed, "ID", id)
		case store.PubApproved:
			done = x.T("bc.done.approved", "ID", id)
		case store.PubPublished:
			done = x.T("bc.done.published", "ID", id)
		}
	case "cancel":
		var status string
		status, err = s.cfg.Broadcasts.Cancel(ctx, id, s.cfg.Staff)
		if status == store.PubWithdrawn {
			done = x.T("bc.done.withdrawn", "ID", id)
		} else {
			done = x.T("bc.done.stopped", "ID", id)
		}
	default:
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		status, msg := s.explainBroadcast(x, id, err)
		if status == http.StatusInternalServerError || status == http.StatusNotFound {
			s.failBroadcast(w, r, sess, id, err)
			return
		}
		s.logFailure(r, status, err)
		s.showBroadcast(w, r, sess, status, msg)
		return
	}
	s.gate.setFlash(sess, done)
	http.Redirect(w, r, "/broadcasts/"+id, http.StatusSeeOther)
}

// formView is the form that creates a publication.
type formView struct {
	access
	Kind, Topic, Countries string
	Topics                 []option
	Default                textField
	Others                 []textField
	OthersOpen             bool   // a text in another language was typed
	Blocked                string // why Create cannot work from this console now
	MaxText                int
}

// textField is the textarea of one language.
type textField struct {
	Lang, Name, Dir, Text string
}

func (s *Server) broadcastForm(w http.ResponseWriter, r *http.Request, sess *session) {
	s.showForm(w, r, sess, http.StatusOK, "", nil)
}

// showForm draws the form, with a refusal and what was typed when there is
// one.
func (s *Server) showForm(w http.ResponseWriter, r *http.Request, sess *session, status int, problem string, typed url.Values) {
	p := s.newPage(r, sess, "broadcasts")
	x := p.L
	a, err := s.access(r.Context(), x)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if typed == nil {
		typed = url.Values{}
		if r.URL.Query().Get("kind") == store.KindGuidance {
			typed.Set("kind", store.KindGuidance)
		}
	}
	v := &formView{access: a, Kind: store.KindBroadcast, Topic: typed.Get("topic"), Countries: typed.Get("countries"),
		MaxText: broadcast.MaxText}
	if typed.Get("kind") == store.KindGuidance {
		v.Kind = store.KindGuidance
	}
	for _, t := range broadcast.Topics {
		v.Topics = append(v.Topics, option{t, x.Topic(t)})
	}
	def := s.defaultLang(a)
	v.Default = textField{Lang: def, Name: s.langName(def), Dir: s.dir(def), Text: typed.Get("text-" + def)}
	for _, l := range s.cfg.Text.Languages() {
		if l.Code == def {
			continue
		}
		f := textField{Lang: l.Code, Name: s.langName(l.Code), Dir: s.dir(l.Code), Text: typed.Get("text-" + l.Code)}
		v.OthersOpen = v.OthersOpen || f.Text != ""
		v.Others = append(v.Others, f)
	}
	if a.Act {
		if err := s.canCreate(r.Context()); err != nil {
			_, v.Blocked = s.explainBroadcast(x, "", err)
		}
	}
	p.Title = x.T("bc.new_title")
	p.Here = "/broadcasts/new"
	p.Error = problem
	p.Data = v
	s.render(w, r, status, "broadcast_new", p)
}

func (s *Server) canCreate(ctx context.Context) error {
	if s.cfg.CanCreate == nil {
		return nil
	}
	return s.cfg.CanCreate(ctx)
}

// broadcastCreate creates a publication from the form, by the staff member,
// and shows it; a refusal shows the form again with what was typed.
func (s *Server) broadcastCreate(w http.ResponseWriter, r *http.Request, sess *session) {
	x := s.texts(r, sess)
	ctx := r.Context()
	typed := url.Values{}
	for k, vs := range r.PostForm {
		if k != "csrf" && len(vs) > 0 {
			typed.Set(k, strings.ReplaceAll(vs[0], "\r\n", "\n"))
		}
	}
	d, err := s.draft(typed)
	if err == nil {
		// The service refuses a non-coordinator before it seals anything;
		// a coordinator learns first what this console lacks to seal.
		if pol, perr := s.cfg.Broadcasts.Policy(ctx); perr == nil && slices.Contains(pol.Coordinators, s.cfg.Staff) {
			err = s.canCreate(ctx)
		}
	}
	var pub store.Publication
	var needed int
	if err == nil {
		pub, needed, err = s.cfg.Broadcasts.Create(ctx, s.cfg.Staff, d)
	}
	if err != nil {
		status, msg := s.explainBroadcast(x, "", err)
		if status == http.StatusInternalServerError {
			s.fail(w, r, sess, err)
			return
		}
		s.logFailure(r, status, err)
		if errors.Is(err, broadcast.ErrBadCountry) {
			var bad []string
			for _, c := range d.Countries {
				if !isoCode.MatchString(c) {
					bad = append(bad, c)
				}
			}
			msg += " " + x.T("bc.error.not_codes", "Given", strings.Join(bad, ", "))
		}
		s.showForm(w, r, sess, status, msg, typed)
		return
	}
	if needed > 0 {
		s.gate.setFlash(sess, x.N("bc.done.created", needed, "ID", pub.ID))
	} else {
		s.gate.setFlash(sess, x.T("bc.done.created_alone", "ID", pub.ID))
	}
	http.Redirect(w, r, "/broadcasts/"+pub.ID, http.StatusSeeOther)
}

// draft reads the form: the kind and topic, countries as ISO codes
// separated by commas or spaces, and a text for each of the bot's
// languages that has one. The service validates the rest.
func (s *Server) draft(form url.Values) (broadcast.Draft, error) {
	d := broadcast.Draft{Kind: form.Get("kind"), Texts: map[string]string{}}
	switch d.Kind {
	case store.KindBroadcast:
	case store.KindGuidance:
		d.Topic = form.Get("topic")
	default:
		return d, errBadKind
	}
	for _, c := range strings.FieldsFunc(form.Get("countries"), func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}) {
		if c = strings.ToUpper(c); !slices.Contains(d.Countries, c) {
			d.Countries = append(d.Countries, c)
		}
	}
	for _, l := range s.cfg.Text.Languages() {
		if t := strings.TrimSpace(form.Get("text-" + l.Code)); t != "" {
			d.Texts[l.Code] = t
		}
	}
	return d, nil
}

// explainBroadcast turns an error of the broadcast service into a status
// and a sentence in the page's language; id names the publication, if any.
func (s *Server) explainBroadcast(x texts, id string, err error) (int, string) {
	var state *store.StateError
	switch {
	case errors.Is(err, broadcast.ErrNotCoordinator):
		return http.StatusForbidden, x.T("bc.error.not_coordinator", "Name", s.cfg.Staff)
	case errors.Is(err, store.ErrNoPolicy):
		return http.StatusConflict, x.T("bc.no_policy")
	case errors.Is(err, ErrNoStaffKeys):
		return http.StatusConflict, x.T("bc.error.no_staff_keys")
	case errors.Is(err, ErrNoBotKey):
		return http.StatusConflict, x.T("bc.error.no_bot_key")
	case errors.Is(err, store.ErrNoPublication):
		return http.StatusNotFound, x.T("bc.error.no_publication", "ID", id)
	case errors.Is(err, store.ErrOwnApproval):
		return http.StatusConflict, x.T("bc.error.own", "ID", id)
	case errors.Is(err, store.ErrApprovedTwice):
		return http.StatusConflict, x.T("bc.error.twice", "ID", id)
	case errors.Is(err, store.ErrNotPreviewed):
		return http.StatusConflict, x.T("bc.error.not_previewed", "ID", id)
	case errors.Is(err, store.ErrNotReached):
		return http.StatusConflict, x.T("bc.error.not_reached", "ID", id)
	case errors.As(err, &state):
		return http.StatusConflict, x.T("bc.error.state", "ID", id, "Status", x.PubStatus(state.Status))
	case errors.Is(err, errBadKind):
		return http.StatusBadRequest, x.T("bc.error.kind")
	case errors.Is(err, broadcast.ErrBadTopic):
		return http.StatusBadRequest, x.T("bc.error.topic")
	case errors.Is(err, broadcast.ErrNoCountry):
		return http.StatusBadRequest, x.T("bc.error.no_country")
	case errors.Is(err, broadcast.ErrBadCountry):
		return http.StatusBadRequest, x.T("bc.error.bad_country")
	case errors.Is(err, broadcast.ErrNoDefaultText):
		return http.StatusBadRequest, x.T("bc.error.no_default")
	case errors.Is(err, broadcast.ErrEmptyText):
		return http.StatusBadRequest, x.T("error.empty")
	case errors.Is(err, broadcast.ErrTooLong):
		return http.StatusBadRequest, x.T("bc.error.too_long", "Max", broadcast.MaxText)
	}
	return s.explain(x, err)
}

// failBroadcast shows an error that stops a whole page.
func (s *Server) failBroadcast(w http.ResponseWriter, r *http.Request, sess *session, id string, err error) {
	x := s.texts(r, sess)
	status, msg := s.explainBroadcast(x, id, err)
	s.logFailure(r, status, err)
	p := s.newPage(r, sess, "broadcasts")
	p.Title = x.T("app.title")
	p.Data = msg
	s.render(w, r, status, "message", p)
}
