package web_test

import (
	"net/http"
	"regexp"
	"testing"
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
