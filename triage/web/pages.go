package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/disclosure"
	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/triage"
)

// perPage is how many cases a queue page shows.
const perPage = 50

// queueQuery is the queue's filters as the URL carries them.
type queueQuery struct {
	Status, Country, Category, Assignee, Since, Until, Text string
	Urgent                                                  bool
	Page                                                    int
	filter                                                  triage.Filter
	problems                                                []string
}

func (s *Server) parseQueue(x texts, v url.Values) queueQuery {
	q := queueQuery{
		Status: v.Get("status"), Country: strings.TrimSpace(v.Get("country")), Category: v.Get("category"),
		Assignee: strings.TrimSpace(v.Get("assignee")), Since: v.Get("since"), Until: v.Get("until"),
		Text: strings.TrimSpace(v.Get("q")), Urgent: v.Get("urgent") == "1",
	}
	if q.Status != "" && q.Status != "all" && !triage.ValidStatus(q.Status) {
		q.Status = ""
	}
	if utf8.RuneCountInString(q.Text) > 200 {
		q.Text = string([]rune(q.Text)[:200])
	}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Page = max(q.Page, 1)
	// Overdue cases first, then the queue's order (docs/response-times.md).
	q.filter = triage.Filter{Status: q.Status, Urgent: q.Urgent, Country: q.Country, Category: q.Category,
		Assignee: q.Assignee, Text: q.Text, Order: triage.OrderOverdueFirst}
	var bad bool
	if q.filter.Since, bad = parseDay(q.Since); bad {
		q.problems = append(q.problems, x.T("error.date", "Value", q.Since))
		q.Since = ""
	}
	var until time.Time
	if until, bad = parseDay(q.Until); bad {
		q.problems = append(q.problems, x.T("error.date", "Value", q.Until))
		q.Until = ""
	} else if !until.IsZero() {
		q.filter.Until = until.AddDate(0, 0, 1) // the whole day given
	}
	return q
}

// parseDay reads a date as a date input sends it, in local time; bad is
// true for text that is not one.
func parseDay(v string) (t time.Time, bad bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02", v, time.Local)
	return t, err != nil
}

// values is the query again, at another page.
func (q queueQuery) values(page int) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "country": q.Country, "category": q.Category,
		"assignee": q.Assignee, "since": q.Since, "until": q.Until, "q": q.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Urgent {
		v.Set("urgent", "1")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v
}

// queueView is the queue page.
type queueView struct {
	Q          queueQuery
	Rows       []rowView
	Mark       string
	Next, Prev string // links to the next and previous pages; "" for none
	RowsURL    string // the rows of this page alone, for the refresh script
	MarkURL    string
	PollMillis int64
	Statuses   []string
	Categories []option
	Mine       string // the link to the staff member's own cases
}

type option struct{ Key, Label string }

type rowView struct {
	Ref      string
	Received time.Time
	Urgent   bool
	Status   string
	Holder   string
	Lapsed   bool
	Lang     string
	What     string
	Country  string
	Summary  string
	Dir      string
	Problem  string
	// Clock is the response clock as text ("claim: 2h 10m left", "first
	// reply: overdue 35m"), so that it reads without colour; "" when the
	// case has none running (closed, or both deadlines met).
	Clock   string
	Overdue bool
}

func (s *Server) queueData(r *http.Request, x texts) (*queueView, error) {
	q := s.parseQueue(x, r.URL.Query())
	// The mark is read before the list, so that a change while listing
	// shows at the next poll.
	mark, err := s.cfg.Service.Mark(r.Context())
	if err != nil {
		return nil, err
	}
	cases, more, err := s.cfg.Service.List(r.Context(), q.filter, (q.Page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	v := &queueView{Q: q, Mark: mark, PollMillis: s.cfg.Poll.Milliseconds(), Statuses: triage.Statuses,
		RowsURL: "/queue/rows?" + q.values(q.Page).Encode(), MarkURL: "/queue/mark",
		Mine: "/?" + url.Values{"assignee": {s.cfg.Staff}}.Encode()}
	if more {
		v.Next = "/?" + q.values(q.Page+1).Encode()
	}
	if q.Page > 1 {
		v.Prev = "/?" + q.values(q.Page-1).Encode()
	}
	for _, o := range s.question("what").Options {
		v.Categories = append(v.Categories, option{o, x.Option(s.question("what"), o)})
	}
	for _, c := range cases {
		v.Rows = append(v.Rows, s.row(x, c))
	}
	return v, nil
}

func (s *Server) row(x texts, c triage.Case) rowView {
	rv := rowView{Ref: c.Ref, Received: c.ReceivedAt, Urgent: c.Urgent, Status: x.Status(c.Status),
		Holder: c.HeldBy(), Problem: c.Problem, Clock: clockText(x, c.Clock), Overdue: c.Clock.Overdue}
	if c.Lapsed {
		rv.Holder, rv.Lapsed = c.Assignee, true
	}
	if c.Report == nil {
		return rv
	}
	rep := c.Report
	rv.Lang, rv.Dir = rep.Language, s.dir(rep.Language)
	var what []string
	for _, k := range answerList(rep.Answers["what"]) {
		what = append(what, x.Option(s.question("what"), k))
	}
	rv.What = strings.Join(what, ", ")
	if ck := flows.CheckinCategory(rep); ck != "" {
		rv.What = ck // as the staff tools name it
	}
	if cc, _ := rep.Answers[flows.QCountry].(string); cc != "" {
		rv.Country = x.Country(cc)
	}
	if d, _ := rep.Answers[flows.QDescription].(string); d != "" {
		rv.Summary = shorten(strings.Join(strings.Fields(d), " "), 140)
	}
	return rv
}

// clockText is a response clock for the queue, in the page's language.
func clockText(x texts, k response.Clock) string {
	if !k.Running {
		return ""
	}
	deadline := x.T("queue.clock_" + k.Next)
	if k.Overdue {
		return x.T("queue.clock_overdue", "Deadline", deadline, "Time", response.Span(k.Left))
	}
	return x.T("queue.clock_left", "Deadline", deadline, "Time", response.Span(k.Left))
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request, sess *session) {
	p := s.newPage(r, sess, "queue")
	p.Title = p.L.T("queue.title")
	v, err := s.queueData(r, p.L)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	p.Error = strings.Join(v.Q.problems, " ")
	p.Data = v
	s.render(w, r, http.StatusOK, "queue", p)
}

// rows is the table body of a queue page alone: what the script swaps in
// when the queue changed.
func (s *Server) rows(w http.ResponseWriter, r *http.Request, sess *session) {
	p := s.newPage(r, sess, "queue")
	v, err := s.queueData(r, p.L)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	p.Data = v
	var buf bytes.Buffer
	if err := s.pages["queue"].ExecuteTemplate(&buf, "rows", p); err != nil {
		s.log.Error("console: render", "page", "rows", "err", err)
		http.Error(w, "The rows could not be drawn.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	buf.WriteTo(w)
}

// mark tells the script whether the queue changed; it decrypts nothing.
func (s *Server) mark(w http.ResponseWriter, r *http.Request, sess *session) {
	m, err := s.cfg.Service.Mark(r.Context())
	if err != nil {
		s.log.Error("console: queue mark", "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"mark": m})
}

// refOf reads the case reference of a request's path.
func refOf(r *http.Request) (string, bool) { return flows.ParseRef(r.PathValue("ref")) }

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, sess *session) {
	s.showCase(w, r, sess, http.StatusOK, "", nil)
}

// showCase draws a case, with an error from an action and the text the
// staff member had typed when there is one.
func (s *Server) showCase(w http.ResponseWriter, r *http.Request, sess *session, status int, problem string, typed url.Values) {
	ref, ok := refOf(r)
	if !ok {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	p := s.newPage(r, sess, "queue")
	d, err := s.cfg.Service.Show(r.Context(), ref)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	v := s.caseView(p.L, d)
	if d.Report != nil && len(d.Report.Evidence) > 0 {
		files, err := s.cfg.Service.Verify(r.Context(), ref)
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		for i, f := range files {
			if i < len(v.Files) {
				v.Files[i].Verified, v.Files[i].Problem, v.Files[i].Got = f.Verified(), f.Problem, f.SHA256
			}
		}
	}
	audit, err := s.cfg.Service.Audit(r.Context(), ref)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	v.setAudit(audit)
	v.Typed = typed
	if v.Typed == nil {
		v.Typed = url.Values{}
	}
	p.Title = p.L.T("case.title", "Ref", d.Ref)
	p.Here = "/case/" + d.Ref // after a failed action too, the language switch comes back here
	p.Error = problem
	p.Data = v
	s.render(w, r, status, "case", p)
}

// errEmpty is an action without its text.
var errEmpty = errors.New("empty")

// errNoName is an assignment without a name.
var errNoName = errors.New("no name")

// act carries out one action on a case through the service, then shows
// the case again: after a redirect when it worked, at once with the error
// and the typed text kept when it did not.
func (s *Server) act(w http.ResponseWriter, r *http.Request, sess *session) {
	ref, ok := refOf(r)
	if !ok {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	x := s.texts(r, sess)
	ctx := r.Context()
	text := strings.TrimSpace(r.PostFormValue("text"))
	var err error
	var done string
	switch r.PathValue("action") {
	case "claim":
		err, done = s.cfg.Service.Claim(ctx, ref), x.T("done.claim", "Ref", ref)
	case "release":
		err, done = s.cfg.Service.Release(ctx, ref), x.T("done.release", "Ref", ref)
	case "assign":
		to := strings.TrimSpace(r.PostFormValue("to"))
		if to == "" {
			err = errNoName
		} else {
			err, done = s.cfg.Service.Assign(ctx, ref, to), x.T("done.assign", "Ref", ref, "Name", to)
		}
	case "status":
		to := r.PostFormValue("to")
		err, done = s.cfg.Service.SetStatus(ctx, ref, to, strings.TrimSpace(r.PostFormValue("reason"))),
			x.T("done.status", "Ref", ref, "Status", x.Status(to))
	case "note":
		if text == "" {
			err = errEmpty
		} else {
			err, done = s.cfg.Service.Note(ctx, ref, text), x.T("done.note")
		}
	case "reply":
		if text == "" {
			err = errEmpty
		} else {
			err, done = s.cfg.Service.Reply(ctx, ref, text), x.T("done.reply")
		}
	default:
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		status, msg := s.explain(x, err)
		if status == http.StatusInternalServerError || status == http.StatusNotFound {
			s.fail(w, r, sess, err)
			return
		}
		s.logFailure(r, status, err)
		typed := url.Values{}
		for _, k := range []string{"text", "reason", "to"} {
			typed.Set(k, r.PostFormValue(k))
		}
		typed.Set("action", r.PathValue("action"))
		s.showCase(w, r, sess, status, msg, typed)
		return
	}
	s.gate.setFlash(sess, done)
	http.Redirect(w, r, "/case/"+ref, http.StatusSeeOther)
}

// explain turns an error of the service into a status and a sentence in
// the page's language.
func (s *Server) explain(x texts, err error) (int, string) {
	var held *triage.HeldError
	var move *triage.TransitionError
	var none *triage.NoCaseError
	switch {
	case errors.As(err, &held):
		return http.StatusConflict, x.T("error.held", "Ref", held.Ref, "Name", held.By)
	case errors.As(err, &move):
		var allowed []string
		for _, a := range triage.Allowed(move.From) {
			allowed = append(allowed, x.Status(a))
		}
		return http.StatusConflict, x.T("error.transition", "From", x.Status(move.From), "To", x.Status(move.To),
			"Allowed", strings.Join(allowed, ", "))
	case errors.Is(err, triage.ErrNoContact):
		return http.StatusForbidden, x.T("error.no_contact")
	case errors.Is(err, triage.ErrNoRecipients):
		return http.StatusConflict, x.T("error.no_recipients")
	case errors.Is(err, errEmpty):
		return http.StatusBadRequest, x.T("error.empty")
	case errors.Is(err, errNoName):
		return http.StatusBadRequest, x.T("error.name")
	case errors.As(err, &none):
		return http.StatusNotFound, x.T("error.no_case", "Ref", none.Ref)
	}
	if strings.HasPrefix(err.Error(), "store: ") {
		return http.StatusInternalServerError, x.T("error.other", "Error", err.Error())
	}
	// The service's other refusals (an unknown status, a report this
	// identity cannot open) are sentences for people, in English.
	return http.StatusUnprocessableEntity, x.T("error.other", "Error", err.Error())
}

// logFailure logs what people cannot fix on the page: errors of the store
// (500) and refusals the console does not name (422). Their messages hold
// references and key fingerprints at most, never report text or names; the
// refusals it names (held by someone, no consent, …) are not logged.
func (s *Server) logFailure(r *http.Request, status int, err error) {
	switch status {
	case http.StatusInternalServerError:
		s.log.Error("console: request failed", "route", r.Pattern, "err", err)
	case http.StatusUnprocessableEntity:
		s.log.Warn("console: action refused", "route", r.Pattern, "err", err)
	}
}

// fail shows an error that stops a whole page. Errors of the store are
// logged (they hold no report text); the rest are refusals, not logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	x := s.texts(r, sess)
	status, msg := s.explain(x, err)
	s.logFailure(r, status, err)
	p := s.newPage(r, sess, "")
	p.Title = x.T("app.title")
	p.Data = msg
	s.render(w, r, status, "message", p)
}

// export sends one case as JSON, in the form of `vigil triage export`.
func (s *Server) export(w http.ResponseWriter, r *http.Request, sess *session) {
	ref, ok := refOf(r)
	if !ok {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	c, err := s.cfg.Service.ExportCase(r.Context(), ref)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var buf bytes.Buffer
	if err := triage.WriteJSON(&buf, []triage.Case{c}); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	attachment(w, "application/json", "vigil-"+c.Ref+".json")
	buf.WriteTo(w)
}

// file sends an evidence file, only when it verifies, always as a
// download of opaque bytes: the type the defender's phone gave it is not
// trusted to render in the console's origin.
func (s *Server) file(w http.ResponseWriter, r *http.Request, sess *session) {
	ref, ok := refOf(r)
	n, err := strconv.Atoi(r.PathValue("n"))
	if !ok || err != nil || n < 1 {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
		return
	}
	res, data, err := s.cfg.Service.File(r.Context(), ref, n-1)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if data == nil {
		s.message(w, r, sess, http.StatusConflict, "error.not_verified", "Problem", res.Problem)
		return
	}
	attachment(w, "application/octet-stream", res.Name)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func attachment(w http.ResponseWriter, contentType, name string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
}

// statsView is the statistics page.
type statsView struct {
	Since, Until string
	Summary      string
	Cases        string
	Unreadable   string // "" when every report opened
	Suppressed   string // what "<k" means
	Tables       []statTable
	CSV          string
}

type statTable struct {
	By, Title string
	Chart     template.URL // an SVG bar chart as a data: URL (the page's CSP allows data: images only)
	Rows      []triage.TableRow
	CSV       string
}

// suppress is the counts as the console shows them: small ones hidden.
func (s *Server) suppress(all []triage.Stats) ([]triage.Table, error) {
	out := make([]triage.Table, len(all))
	for i, st := range all {
		t, err := st.Suppress(s.cfg.MinCount)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// casesText is "12 reports counted.", or, for a suppressed total, that
// there were fewer than k.
func casesText(x texts, c triage.Cell, k int) string {
	if c.Suppressed {
		return x.T("stats.cases_few", "Min", k)
	}
	return x.N("stats.cases", *c.Count)
}

// period reads since and until (a whole day, inclusive) from a query.
func period(x texts, v url.Values) (since, until time.Time, sinceText, untilText string, problems []string) {
	sinceText, untilText = v.Get("since"), v.Get("until")
	var bad bool
	if since, bad = parseDay(sinceText); bad {
		problems = append(problems, x.T("error.date", "Value", sinceText))
		sinceText = ""
	}
	if until, bad = parseDay(untilText); bad {
		problems = append(problems, x.T("error.date", "Value", untilText))
		untilText = ""
	} else if !until.IsZero() {
		until = until.AddDate(0, 0, 1)
	}
	return
}

// statOrder is the order of the statistics page and of the CSV of all
// dimensions.
var statOrder = []string{"country", "category", "perpetrator", "month"}

var statTitles = map[string]string{"country": "stats.by_country", "category": "stats.by_category",
	"perpetrator": "stats.by_perpetrator", "month": "stats.by_month"}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, sess *session) {
	p := s.newPage(r, sess, "stats")
	x := p.L
	p.Title = x.T("stats.title")
	since, until, sinceText, untilText, problems := period(x, r.URL.Query())
	counted, err := s.cfg.Service.Counts(r.Context(), statOrder, since, until, x.label)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	all, err := s.suppress(counted)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	q := url.Values{}
	if sinceText != "" {
		q.Set("since", sinceText)
	}
	if untilText != "" {
		q.Set("until", untilText)
	}
	from, to := x.T("stats.first"), x.T("stats.now")
	if sinceText != "" {
		from = sinceText
	}
	if untilText != "" {
		to = untilText
	}
	v := &statsView{Since: sinceText, Until: untilText, Summary: x.T("stats.summary", "From", from, "To", to),
		CSV: "/stats.csv?" + q.Encode(), Suppressed: x.T("stats.suppressed", "Hidden", disclosure.Hidden(s.cfg.MinCount), "Min", s.cfg.MinCount)}
	for _, st := range all {
		if st.Unreadable.Count == nil || *st.Unreadable.Count > 0 {
			v.Unreadable = st.Unreadable.Display
		}
		v.Cases = casesText(x, st.Cases, s.cfg.MinCount)
		title := x.T(statTitles[st.By])
		st.Rows = notGiven(x, st.Rows)
		rows := st.Rows
		c := st.Chart(title, v.Summary+" "+v.Cases)
		var svg bytes.Buffer
		if err := c.SVG(&svg); err != nil {
			s.fail(w, r, sess, err)
			return
		}
		qb := url.Values{"by": {st.By}}
		for k, vs := range q {
			qb[k] = vs
		}
		v.Tables = append(v.Tables, statTable{By: st.By, Title: title, Rows: rows, CSV: "/stats.csv?" + qb.Encode(),
			Chart: template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg.Bytes()))})
	}
	p.Error = strings.Join(problems, " ")
	p.Data = v
	s.render(w, r, http.StatusOK, "stats", p)
}

// notGiven names the row of reports without an answer in the page's
// language.
func notGiven(x texts, rows []triage.TableRow) []triage.TableRow {
	out := slices.Clone(rows)
	for i := range out {
		if out[i].Key == "" {
			out[i].Label = x.T("stats.not_given")
		}
	}
	return out
}

// statsCSV sends the counts of one dimension (by=…) or all four as CSV:
// dimension, key, label, count; a suppressed count is "<k", as on the page.
func (s *Server) statsCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	x := s.texts(r, sess)
	since, until, _, _, _ := period(x, r.URL.Query())
	dims := statOrder
	name := "vigil-stats.csv"
	if by := r.URL.Query().Get("by"); by != "" {
		if !slices.Contains(triage.Dimensions, by) {
			s.message(w, r, sess, http.StatusNotFound, "error.not_found")
			return
		}
		dims, name = []string{by}, "vigil-stats-"+by+".csv"
	}
	counted, err := s.cfg.Service.Counts(r.Context(), dims, since, until, x.label)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	all, err := s.suppress(counted)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var buf bytes.Buffer
	cw := textsafe.NewCSV(&buf)
	cw.Write([]string{"dimension", "key", "label", "count"})
	for _, st := range all {
		for _, row := range notGiven(x, st.Rows) {
			cw.Write([]string{st.By, row.Key, row.Label, row.Display})
		}
	}
	cw.Flush()
	attachment(w, "text/csv; charset=utf-8", name)
	buf.WriteTo(w)
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
