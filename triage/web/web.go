// Package web is the staff console in the browser: a second front end on
// triage.Service, which `vigil triage serve` runs on the staff member's own
// machine. It lists the queue, shows a case with its history and audit
// trail, carries out the same actions as the command line, and counts
// reports for the regular report on the position of defenders.
//
// Its promises:
//   - Decryption happens in this process, through triage.Service, with the
//     identities the caller gave it. Decrypted text goes into responses to
//     the signed-in browser and nowhere else: it is never logged nor written
//     to disk, search words included, and every response is marked
//     no-store so that the browser does not keep it either.
//   - Every read and action on a case goes through triage.Service, so the
//     audit trail records it as it records the command line's, under the
//     same staff name; an action whose audit entry cannot be written does
//     not happen.
//   - The Broadcasts page goes through broadcast.Service, as `vigil
//     broadcast` does: the coordinators' rule (who may act, how many must
//     agree) is the one the bot published, and a publication records its
//     creator, approvers and who stopped it. Texts are opened with the
//     staff identities and shown escaped, never rendered as HTML.
//   - Access: the Server makes one random login token (LoginPath), which
//     the first browser to present it exchanges for a session cookie
//     (HttpOnly, SameSite=Strict, Path=/, its name chosen per run); the
//     token then no longer works.
//     Every page but the login and the static files needs that cookie.
//     Anything that changes a case is a POST carrying the session's CSRF
//     token, compared in constant time, and refused when the browser says
//     it came from another site.
//   - A request is answered only when its Host is on Config.Hosts (by
//     default the loopback names), so that a web page elsewhere cannot
//     reach the console by pointing a name of its own at it (DNS
//     rebinding), on loopback or beyond.
//   - Every response carries a Content-Security-Policy that allows the
//     console's own script and style sheet and nothing else (no inline
//     script, nothing from another origin, no framing), nosniff and
//     no-referrer. Pages are html/template: a report's text is escaped
//     wherever it appears, and free text is shown in the direction of the
//     report's language.
//   - Statistics (page, charts and CSV) never show a count below
//     Config.MinCount, nor one that could be worked out from the total
//     (triage.Stats.Suppress); the console has no way to show them.
//   - Logs carry routes, statuses and errors of the store, never report
//     or broadcast text, names or chat ids.
//
// The page works without its script; the script only refreshes the queue
// when a report arrives (see static/console.js). Nothing is loaded from
// elsewhere: no fonts, images, frameworks or CDNs.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/disclosure"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/triage"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config wires a Server.
type Config struct {
	Service *triage.Service  // acts as Staff, with the staff member's identities
	Staff   string           // the name Service acts under, shown on the page
	Text    *locales.Catalog // the bot's texts: names of questions and options
	Log     *slog.Logger     // nil: no logs
	// Broadcasts is the coordinators' service (package broadcast), its
	// texts opened with the staff member's identities; nil leaves the
	// Broadcasts page out. Staff acts there under the same name, and may
	// act only when it is one of the coordinators of the bot's policy.
	Broadcasts *broadcast.Service
	// CanCreate says whether the texts of a new broadcast can be sealed
	// now: nil, or ErrNoStaffKeys or ErrNoBotKey, which the form turns
	// into what to set. Nil CanCreate: always. Everything else on the page
	// works without it.
	CanCreate func(ctx context.Context) error
	// Poll is how often an open queue page asks whether the queue changed
	// (a cheap question that decrypts nothing); default 5s.
	Poll time.Duration
	// Hosts are the names and addresses a request's Host may carry: an
	// entry "name" at the port the request arrived at (or with no port),
	// an entry "name:port" exactly (for a tunnel or proxy on another
	// port). Nil means LoopbackHosts. Any other Host is refused, wherever
	// the console listens.
	Hosts []string
	// Idle ends a session unused this long; default 12h.
	Idle time.Duration
	Now  func() time.Time
	// MinCount is the statistics threshold k: counts below it, and the
	// cells that would give one away, show as "<k" (docs/statistics.md).
	// 0 means disclosure.DefaultMinCount; 1 or less is refused.
	MinCount int
}

// Server is the console. It is an http.Handler.
type Server struct {
	cfg    Config
	hosts  []hostRule // from cfg.Hosts
	ui     *locales.Catalog
	gate   *gate
	token  string
	pages  map[string]*template.Template
	engine *flows.Engine
	mux    *http.ServeMux
	log    *slog.Logger
}

// pageFiles are the pages, each parsed with layout.html.
var pageFiles = []string{"queue", "case", "stats", "message", "broadcasts", "broadcast", "broadcast_new"}

// New returns a Server with a fresh one-time login token.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Text == nil {
		return nil, errors.New("web: a Service and the bot's Text are needed")
	}
	if cfg.Hosts == nil {
		cfg.Hosts = LoopbackHosts()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinCount == 0 {
		cfg.MinCount = disclosure.DefaultMinCount
	}
	if err := disclosure.CheckMinCount(cfg.MinCount); err != nil {
		return nil, fmt.Errorf("web: MinCount %d: %w", cfg.MinCount, err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ui, err := Texts()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ui: ui, pages: map[string]*template.Template{}, log: log,
		engine: flows.New(cfg.Text, flows.Config{})}
	for _, h := range cfg.Hosts {
		rule, err := parseHostRule(h)
		if err != nil {
			return nil, err
		}
		s.hosts = append(s.hosts, rule)
	}
	s.gate, s.token = newGate(cfg.Idle, cfg.Now)
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Local().Format("2006-01-02 15:04")
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"size": humanSize,
	}
	for _, name := range pageFiles {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		s.pages[name] = t
	}
	s.routes()
	return s, nil
}

// LoginPath is the one-time address (path and query) that opens the
// console; print it for the staff member, prefixed with the address served.
func (s *Server) LoginPath() string { return "/login?token=" + s.token }

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", s.login)
	m.HandleFunc("GET /{$}", s.private(s.queue))
	m.HandleFunc("GET /queue/rows", s.private(s.rows))
	m.HandleFunc("GET /queue/mark", s.private(s.mark))
	m.HandleFunc("GET /case/{ref}", s.private(s.casePage))
	m.HandleFunc("GET /case/{ref}/export.json", s.private(s.export))
	m.HandleFunc("GET /case/{ref}/files/{n}", s.private(s.file))
	m.HandleFunc("POST /case/{ref}/{action}", s.private(s.act))
	if s.cfg.Broadcasts != nil {
		m.HandleFunc("GET /broadcasts", s.private(s.broadcastList))
		m.HandleFunc("GET /broadcasts/new", s.private(s.broadcastForm))
		m.HandleFunc("POST /broadcasts/new", s.privateForm(maxBroadcastForm, s.broadcastCreate))
		m.HandleFunc("GET /broadcasts/{id}", s.private(s.broadcastPage))
		m.HandleFunc("POST /broadcasts/{id}/{action}", s.private(s.broadcastAct))
	}
	m.HandleFunc("GET /stats", s.private(s.stats))
	m.HandleFunc("GET /stats.csv", s.private(s.statsCSV))
	m.HandleFunc("POST /lang", s.private(s.setLang))
	m.HandleFunc("POST /logout", s.private(s.logout))
	m.HandleFunc("/", s.private(func(w http.ResponseWriter, r *http.Request, sess *session) {
		s.message(w, r, sess, http.StatusNotFound, "error.not_found")
	}))
	s.mux = m
}

// nav lists the sections in the header, in order. Broadcasts shows only
// when Config.Broadcasts is set.
var nav = []struct{ ID, Path, Key string }{
	{"queue", "/", "nav.queue"},
	{"stats", "/stats", "nav.stats"},
	{"broadcasts", "/broadcasts", "nav.broadcasts"},
}

// ServeHTTP answers one request, with the security headers on every
// response and the Host checked first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	if !hostAllowed(s.hosts, r) {
		http.Error(w, "This console answers only at the address it printed (or a name given with --host).", http.StatusMisdirectedRequest)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// private wraps a handler that needs a session; a POST also needs the
// session's CSRF token and must come from this site.
func (s *Server) private(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return s.privateForm(maxForm, h)
}

// privateForm is private for a form of up to limit bytes.
func (s *Server) privateForm(limit int64, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *session
		if c, err := r.Cookie(s.gate.cookie); err == nil {
			sess = s.gate.session(c.Value)
		}
		if sess == nil {
			s.message(w, r, nil, http.StatusForbidden, "error.session")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if err := r.ParseForm(); err != nil {
				s.message(w, r, sess, http.StatusRequestEntityTooLarge, "error.too_long")
				return
			}
			if !sameOrigin(r) || !validCSRF(sess, r.PostFormValue("csrf")) {
				s.log.Warn("console: a form without this session's CSRF token was refused", "route", r.Pattern)
				s.message(w, r, sess, http.StatusForbidden, "error.csrf")
				return
			}
		}
		h(w, r, sess)
	}
}

// maxForm bounds a form: a reply or note of a few thousand characters fits
// many times over.
const maxForm = 64 << 10

// login exchanges the one-time token for a session cookie. Only a real
// visit does: not a HEAD (a link checker), nor a browser's prefetch or
// prerender, which would spend the token (or keep the session) for a page
// the staff member may never open.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Sec-Purpose") != "" || r.Header.Get("Purpose") == "prefetch" {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Open this address in the browser.", http.StatusMethodNotAllowed)
		return
	}
	if c, err := r.Cookie(s.gate.cookie); err == nil && s.gate.session(c.Value) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther) // signed in already
		return
	}
	cookie, _ := s.gate.exchange(r.URL.Query().Get("token"))
	if cookie == "" {
		s.log.Warn("console: a login with a wrong or used token was refused")
		s.message(w, r, nil, http.StatusForbidden, "error.token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.gate.cookie, Value: cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	s.log.Info("console: signed in")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if c, err := r.Cookie(s.gate.cookie); err == nil {
		s.gate.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: s.gate.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.log.Info("console: signed out")
	s.message(w, r, nil, http.StatusOK, "signed_out.text")
}

// setLang keeps the language chosen on the page for the session.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request, sess *session) {
	if l := r.PostFormValue("lang"); s.ui.Has(l) {
		s.gate.setLang(sess, l)
	}
	http.Redirect(w, r, localPath(r.PostFormValue("back")), http.StatusSeeOther)
}

// localPath keeps a redirect on this site: p itself when it is a path
// of this site, "/" otherwise. Such a path starts with one slash followed
// by anything but a slash, and holds no backslash and no control
// character anywhere; nothing is removed to make it fit. Browsers drop
// tabs and newlines from a Location and read a backslash as a slash, so
// "/", tab, "/evil.com" would become "//evil.com", another site; and
// http.Redirect cleans the path, so "/./" and a backslash would become a
// backslash right after the first slash.
func localPath(p string) string {
	if len(p) == 0 || p[0] != '/' || (len(p) > 1 && p[1] == '/') ||
		strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return "/"
	}
	return p
}

// page is what every template gets.
type page struct {
	L     texts
	Title string
	Nav   string // the current section
	Navs  []navItem
	Staff string
	CSRF  string
	Flash string
	Error string
	Here  string // this page's path and query, for the language switch
	Langs []flows.Language
	Data  any
}

type navItem struct {
	ID, Path, Label string
	Current         bool
}

func (s *Server) texts(r *http.Request, sess *session) texts {
	return texts{Lang: chooseLanguage(s.ui, s.gate.lang(sess), r.Header.Get("Accept-Language")), ui: s.ui, bot: s.cfg.Text}
}

func (s *Server) newPage(r *http.Request, sess *session, section string) *page {
	x := s.texts(r, sess)
	p := &page{L: x, Nav: section, Langs: s.ui.Languages(), Here: r.URL.RequestURI()}
	if sess != nil {
		p.Staff, p.CSRF, p.Flash = s.cfg.Staff, sess.csrf, s.gate.takeFlash(sess)
		for _, n := range nav {
			if n.ID == "broadcasts" && s.cfg.Broadcasts == nil {
				continue
			}
			p.Navs = append(p.Navs, navItem{ID: n.ID, Path: n.Path, Label: x.T(n.Key), Current: n.ID == section})
		}
	}
	return p
}

// render writes a page whole or not at all: a template that fails halfway
// sends an error, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "The page could not be drawn.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// message shows one sentence (an error, or that the session ended).
func (s *Server) message(w http.ResponseWriter, r *http.Request, sess *session, status int, key string, args ...any) {
	p := s.newPage(r, sess, "")
	p.Title = p.L.T("app.title")
	if key == "signed_out.text" {
		p.Title = p.L.T("signed_out.title")
	}
	p.Data = p.L.T(key, args...)
	s.render(w, r, status, "message", p)
}

func humanSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
