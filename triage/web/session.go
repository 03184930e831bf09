package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// cookiePrefix starts the session cookie's name; newGate adds 64 random
// bits to it, so that each run has its own. Browsers keep cookies per
// host, not per port: with one fixed name, two consoles on 127.0.0.1
// would overwrite each other's session, and any page served from another
// port could plant a cookie under the name the console reads. The cookie
// is HttpOnly, SameSite=Strict and Path=/, and lives until the browser
// closes or the console stops.
const cookiePrefix = "vigil_session_"

// contentPolicy lets the page load its own script and style sheet and
// nothing else: no inline script or style, nothing from another origin, no
// framing. Charts are data: images.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// session is one signed-in browser.
type session struct {
	csrf  string // carried by every form; compared in constant time
	lang  string // chosen on the page; "" follows Accept-Language
	flash string // shown once on the next page: what the last action did
	seen  time.Time
}

// gate holds the one-time login token and the sessions it opened.
// Secrets are kept as SHA-256 hashes and compared in constant time.
type gate struct {
	cookie   string // the session cookie's name, for this run
	mu       sync.Mutex
	token    [32]byte // hash of the one-time token; zero once used
	used     bool
	sessions map[[32]byte]*session
	idle     time.Duration // a session unused this long ends
	now      func() time.Time
}

func newGate(idle time.Duration, now func() time.Time) (*gate, string) {
	token := randomText()
	name := make([]byte, 8)
	rand.Read(name)
	return &gate{cookie: cookiePrefix + hex.EncodeToString(name), token: sha256.Sum256([]byte(token)),
		sessions: map[[32]byte]*session{}, idle: idle, now: now}, token
}

// randomText is 256 random bits, URL-safe.
func randomText() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// exchange trades the one-time token for a new session, once. It returns
// the session's cookie value, or "" when the token is wrong or used.
func (g *gate) exchange(token string) (cookie string, s *session) {
	h := sha256.Sum256([]byte(token))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used || subtle.ConstantTimeCompare(h[:], g.token[:]) != 1 {
		return "", nil
	}
	g.used, g.token = true, [32]byte{}
	cookie = randomText()
	s = &session{csrf: randomText(), seen: g.now()}
	g.sessions[sha256.Sum256([]byte(cookie))] = s
	return cookie, s
}

// session returns the live session of a cookie value, or nil. The lookup
// is by hash, so no comparison of the secret itself leaks its timing.
func (g *gate) session(cookie string) *session {
	if cookie == "" {
		return nil
	}
	k := sha256.Sum256([]byte(cookie))
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sessions[k]
	if s == nil {
		return nil
	}
	now := g.now()
	if now.Sub(s.seen) > g.idle {
		delete(g.sessions, k)
		return nil
	}
	s.seen = now
	return s
}

// end closes a session.
func (g *gate) end(cookie string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sessions, sha256.Sum256([]byte(cookie)))
}

// takeFlash returns the session's one-time message and clears it.
func (g *gate) takeFlash(s *session) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (g *gate) setFlash(s *session, msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.flash = msg
}

func (g *gate) setLang(s *session, lang string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.lang = lang
}

func (g *gate) lang(s *session) string {
	if s == nil {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return s.lang
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(s *session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sameOrigin refuses a request the browser says came from another site.
// Browsers send Sec-Fetch-Site with every form POST, and Origin, which is
// "null" on these pages because of Referrer-Policy: no-referrer (so "null"
// says nothing either way). The CSRF token is the check that does not
// depend on the browser.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != "http://"+r.Host && o != "https://"+r.Host {
		return false
	}
	return true
}

// secureHeaders go on every response. Everything the console serves is
// no-store: most of it holds decrypted text, and the rest is small.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
