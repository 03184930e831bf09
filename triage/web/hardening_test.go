package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/triage"
	"github.com/vigil-hrd/vigil/triage/web"
)

// TestSessionCookieNameIsPerRun: browsers send a host's cookies to every
// port, so each console names its session cookie afresh (HttpOnly,
// SameSite=Strict, Path=/ as before): two consoles on 127.0.0.1 do not
// overwrite each other's session, and a page on another port cannot
// guess the name to plant a cookie.
func TestSessionCookieNameIsPerRun(t *testing.T) {
	name := regexp.MustCompile(`^(vigil_session_[0-9a-f]{16})=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`)
	var names []string
	for range 2 {
		c := start(t)
		res := c.get(c.srv.LoginPath())
		m := name.FindStringSubmatch(res.header.Get("Set-Cookie"))
		if res.status != http.StatusSeeOther || m == nil {
			t.Fatalf("login: %d, cookie %q", res.status, res.header.Get("Set-Cookie"))
		}
		names = append(names, m[1])
		if q := c.get("/"); q.status != http.StatusOK {
			t.Fatalf("the queue with the session: %d", q.status)
		}
	}
	if names[0] == names[1] {
		t.Fatalf("two consoles share the cookie name %s", names[0])
	}
}

// TestHostAllowList: a request is answered only when its Host is on
// Config.Hosts (the loopback names by default): a name at the console's
// own port or with none, a name:port exactly. A page elsewhere that
// points its own name at the console (DNS rebinding) is refused with 421
// before anything else, login included.
func TestHostAllowList(t *testing.T) {
	env := testenv.New(t)
	for _, tc := range []struct {
		name  string
		hosts []string
		ok    []string // PORT is the console's port
		no    []string
	}{
		{"default", nil,
			[]string{"127.0.0.1:PORT", "localhost:PORT", "LocalHost:PORT", "[::1]:PORT", "localhost"},
			[]string{"evil.com:PORT", "evil.com", "127.0.0.1:1", "localhost.evil.com:PORT", "127.0.0.1.nip.io:PORT"}},
		{"names given", []string{"console.example", "tunnel.example:9000", "192.0.2.10"},
			[]string{"console.example:PORT", "Console.Example:PORT", "console.example", "tunnel.example:9000", "192.0.2.10:PORT"},
			[]string{"evil.com:PORT", "console.example:1", "tunnel.example:PORT", "tunnel.example", "127.0.0.1:PORT", "console.example.evil.com:PORT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, env, staffName, web.Config{Hosts: tc.hosts})
			port := strings.Split(c.ts.Listener.Addr().String(), ":")[1]
			get := func(host, path string) response {
				req, _ := http.NewRequest(http.MethodGet, c.ts.URL+path, nil)
				req.Host = strings.ReplaceAll(host, "PORT", port)
				return c.do(c.client, req)
			}
			for _, host := range tc.no {
				if res := get(host, c.srv.LoginPath()); res.status != http.StatusMisdirectedRequest || res.header.Get("Set-Cookie") != "" {
					t.Errorf("Host %s: %d %v, want 421 and no cookie", host, res.status, res.header)
				}
			}
			if res := get(tc.ok[0], c.srv.LoginPath()); res.status != http.StatusSeeOther {
				t.Fatalf("login at %s: %d (a refused Host must not spend the token)", tc.ok[0], res.status)
			}
			for _, host := range tc.ok {
				if res := get(host, "/static/console.css"); res.status != http.StatusOK {
					t.Errorf("Host %s: %d, want the style sheet", host, res.status)
				}
			}
		})
	}
	for _, bad := range []string{"https://console.example", "console example", "console.example:port", "", ":8765"} {
		if _, err := web.New(web.Config{Service: &triage.Service{}, Text: env.Text, Hosts: []string{bad}}); err == nil {
			t.Errorf("Hosts %q accepted", bad)
		}
	}
}

// TestLanguageSwitchRedirectsOnlyOnThisSite: the language switch sends
// the browser back to the form's "back" path only when it is a path of
// this site, as the handler receives it (form-decoded), and to "/"
// otherwise; nothing is stripped to make a value fit. Browsers drop tabs
// and newlines from a Location and read a backslash as a slash, so each
// refused value here would otherwise lead to evil.com.
func TestLanguageSwitchRedirectsOnlyOnThisSite(t *testing.T) {
	c := start(t)
	c.login()
	for _, tc := range []struct {
		back string // form-encoded, as the browser sends it
		want string // Location
	}{
		{url.QueryEscape("//evil.com"), "/"},
		{url.QueryEscape(`/\evil.com`), "/"},
		{url.QueryEscape("/\t/evil.com"), "/"},
		{"/%09/evil.com", "/"}, // the handler receives a tab
		{url.QueryEscape("/\n/evil.com"), "/"},
		{url.QueryEscape("/\r\n/evil.com"), "/"},
		{url.QueryEscape("/\u0085/evil.com"), "/"},
		{url.QueryEscape(`/./\evil.com`), "/"}, // http.Redirect would clean it to /\evil.com
		{url.QueryEscape("https://evil.com"), "/"},
		{url.QueryEscape("evil.com"), "/"},
		{"", "/"},
		{url.QueryEscape("/ok/path?x=1"), "/ok/path?x=1"},
		{url.QueryEscape("/%09/evil.com"), "/%09/evil.com"}, // the handler receives %09: a path here
		{url.QueryEscape("/case/GGGG-0001"), "/case/GGGG-0001"},
	} {
		body := "lang=en&csrf=" + url.QueryEscape(c.csrf) + "&back=" + tc.back
		req, _ := http.NewRequest(http.MethodPost, c.ts.URL+"/lang", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for _, k := range c.client.Jar.Cookies(req.URL) {
			req.AddCookie(k)
		}
		// The transport, not the client: the Location is read as a
		// browser gets it, without the client's own parsing.
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != tc.want {
			t.Errorf("back=%s: %d to %q, want %q", tc.back, res.StatusCode, loc, tc.want)
		}
	}
}
