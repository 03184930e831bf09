package web_test

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/triage"
	"github.com/vigil-hrd/vigil/triage/web"
)

// staffName is unusual so that a test can look for it in the logs.
// It is a keyring name, as a name that signs replies must be.
const staffName = "staffer-quill"

// clock is a settable time for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// console is a console served over real HTTP on loopback, against a real
// Redis, with a browser-like client (a cookie jar, redirects not followed).
type console struct {
	t      *testing.T
	env    *testenv.Env
	srv    *web.Server
	ts     *httptest.Server
	client *http.Client
	logs   *testenv.SafeBuffer
	clock  *clock
	csrf   string
	lang   string // Accept-Language
}

func start(t *testing.T) *console {
	t.Helper()
	return serve(t, testenv.New(t), staffName, web.Config{})
}

// serve starts a console on env for staff; extra sets the Broadcasts
// page's fields of the configuration, and Hosts.
func serve(t *testing.T, env *testenv.Env, staff string, extra web.Config) *console {
	t.Helper()
	signer := "ana" // no bot delivers here: a member not in the keyring signs with another's key
	for _, m := range testenv.Staff {
		if m.Name == staff {
			signer = staff
		}
	}
	svc, err := triage.New(triage.Config{Store: env.Store, Identities: env.Identities, Recipients: env.Recipients, Staff: staff,
		Signer: env.Signer(t, signer), KnownBotFile: env.KnownBotFile()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SafeBuffer{}
	clk := &clock{t: time.Now()}
	srv, err := web.New(web.Config{Service: svc, Staff: staff, Text: env.Text, Poll: time.Second, Idle: time.Hour, Now: clk.now,
		Log:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Broadcasts: extra.Broadcasts, CanCreate: extra.CanCreate, Hosts: extra.Hosts, MinCount: extra.MinCount})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &console{t: t, env: env, srv: srv, ts: ts, client: browser(t), logs: logs, clock: clk}
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (c *console) do(client *http.Client, req *http.Request) response {
	c.t.Helper()
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	res, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func (c *console) get(path string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.ts.URL+path, nil)
	return c.do(c.client, req)
}

// post sends a form as the page does (same origin), with the session's
// CSRF token unless form has one.
func (c *console) post(path string, form url.Values) response {
	c.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(c.client, req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login opens the one-time address and reads the CSRF token of the queue.
func (c *console) login() {
	c.t.Helper()
	res := c.get(c.srv.LoginPath())
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
		c.t.Fatalf("login: %d %v", res.status, res.header)
	}
	q := c.get("/")
	m := csrfField.FindStringSubmatch(q.body)
	if q.status != http.StatusOK || m == nil {
		c.t.Fatalf("queue after login: %d\n%s", q.status, q.body)
	}
	c.csrf = m[1]
}

var rowRef = regexp.MustCompile(`data-ref="([^"]+)"`)

// refs lists the cases of a queue page in order.
func refs(body string) string {
	var out []string
	for _, m := range rowRef.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, ",")
}

func report(ref string, at time.Time, urgent bool, country string, what ...string) flows.Report {
	w := make([]any, len(what))
	for i, x := range what {
		w[i] = x
	}
	return flows.Report{Schema: flows.ReportSchema, Ref: ref, ReceivedAt: at, Language: "en", Urgent: urgent,
		Answers: map[string]any{"country": country, "what": w, "description": "text of " + ref, "contact": "yes"}}
}

func (c *console) audit(ref string) string {
	c.t.Helper()
	svc, _ := triage.New(triage.Config{Store: c.env.Store, Staff: "reader"})
	entries, err := svc.Audit(context.Background(), ref)
	if err != nil {
		c.t.Fatal(err)
	}
	var steps []string
	for _, e := range entries {
		steps = append(steps, e.Who+":"+e.What)
	}
	return strings.Join(steps, ",")
}

func TestLoginTokenWorksOnceForOneBrowser(t *testing.T) {
	c := start(t)
	c.env.Seed(t, report("AAAA-0001", time.Now(), false, "UA", "threats"))

	// No cookie: nothing but the way in.
	for _, path := range []string{"/", "/case/AAAA-0001", "/stats", "/stats.csv", "/queue/rows", "/queue/mark", "/case/AAAA-0001/export.json"} {
		res := c.get(path)
		if res.status != http.StatusForbidden || strings.Contains(res.body, "AAAA-0001") || strings.Contains(res.body, "text of") {
			t.Errorf("%s without a session: %d\n%s", path, res.status, res.body)
		}
	}
	if res := c.get("/login?token=not-the-token"); res.status != http.StatusForbidden || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("wrong token: %d %v", res.status, res.header)
	}

	// A link checker's HEAD and a browser's prefetch do not spend it.
	req, _ := http.NewRequest(http.MethodHead, c.ts.URL+c.srv.LoginPath(), nil)
	if res := c.do(c.client, req); res.status != http.StatusMethodNotAllowed || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("HEAD of the login: %d %v", res.status, res.header)
	}
	req, _ = http.NewRequest(http.MethodGet, c.ts.URL+c.srv.LoginPath(), nil)
	req.Header.Set("Sec-Purpose", "prefetch;prerender")
	if res := c.do(c.client, req); res.status != http.StatusMethodNotAllowed || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("prefetch of the login: %d %v", res.status, res.header)
	}

	res := c.get(c.srv.LoginPath())
	if res.status != http.StatusSeeOther {
		t.Fatalf("login: %d", res.status)
	}
	cookie := res.header.Get("Set-Cookie")
	for _, want := range []string{"vigil_session_", "Path=/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Expires") || strings.Contains(cookie, "Max-Age") {
		t.Errorf("the session cookie should end with the browser: %q", cookie)
	}
	if q := c.get("/"); q.status != http.StatusOK || !strings.Contains(q.body, "AAAA-0001") {
		t.Fatalf("queue with the session: %d", q.status)
	}
	// The same browser following the address again just goes on.
	if again := c.get(c.srv.LoginPath()); again.status != http.StatusSeeOther || again.header.Get("Set-Cookie") != "" {
		t.Errorf("login again in the same browser: %d %v", again.status, again.header)
	}
	// Another browser with the used address gets nothing.
	other := browser(t)
	req, _ = http.NewRequest(http.MethodGet, c.ts.URL+c.srv.LoginPath(), nil)
	if res := c.do(other, req); res.status != http.StatusForbidden || res.header.Get("Set-Cookie") != "" ||
		!strings.Contains(res.body, "already used") {
		t.Fatalf("reused token: %d %v\n%s", res.status, res.header, res.body)
	}
	req, _ = http.NewRequest(http.MethodGet, c.ts.URL+"/", nil)
	if res := c.do(other, req); res.status != http.StatusForbidden {
		t.Fatalf("the other browser reached the queue: %d", res.status)
	}
	// A forged cookie is no session.
	req, _ = http.NewRequest(http.MethodGet, c.ts.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: strings.SplitN(cookie, "=", 2)[0], Value: "guess"})
	if res := c.do(&http.Client{}, req); res.status != http.StatusForbidden {
		t.Fatalf("forged cookie: %d", res.status)
	}
	if !strings.Contains(string(c.logs.Bytes()), "wrong or used token was refused") {
		t.Error("refused logins are not logged")
	}
}

func TestSessionEndsWhenIdleOrSignedOut(t *testing.T) {
	c := start(t)
	c.login()
	c.clock.add(59 * time.Minute)
	if res := c.get("/"); res.status != http.StatusOK {
		t.Fatalf("after 59 minutes: %d", res.status)
	}
	c.clock.add(61 * time.Minute)
	if res := c.get("/"); res.status != http.StatusForbidden {
		t.Fatalf("after an idle hour: %d", res.status)
	}

	c = start(t)
	c.login()
	res := c.post("/logout", url.Values{})
	if res.status != http.StatusOK || !strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %v", res.status, res.header)
	}
	if res := c.get("/"); res.status != http.StatusForbidden {
		t.Fatalf("after signing out: %d", res.status)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	c := start(t)
	c.env.Seed(t, report("AAAA-0002", time.Now(), false, "UA", "threats"))
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	check := func(name string, res response) {
		t.Helper()
		for k, v := range want {
			if got := res.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
	}
	check("refused", c.get("/"))
	check("bad token", c.get("/login?token=x"))
	c.login()
	for _, path := range []string{"/", "/case/AAAA-0002", "/stats", "/stats.csv", "/queue/rows", "/queue/mark",
		"/case/AAAA-0002/export.json", "/static/console.js", "/static/console.css", "/nowhere"} {
		check(path, c.get(path))
	}
	// The page loads nothing from elsewhere and has no inline script or style.
	page := c.get("/case/AAAA-0002").body
	for _, bad := range []string{"http://", "https://", "<script>", "style=", "onclick", "onload"} {
		if strings.Contains(page, bad) {
			t.Errorf("the case page holds %q", bad)
		}
	}
}

func TestHostMustBeLoopback(t *testing.T) {
	c := start(t)
	c.login()
	// DNS rebinding: a page elsewhere that points its own name at
	// 127.0.0.1 sends its own Host.
	req, _ := http.NewRequest(http.MethodGet, c.ts.URL+"/", nil)
	req.Host = "attacker.example:" + strings.Split(c.ts.Listener.Addr().String(), ":")[1]
	if res := c.do(c.client, req); res.status != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %d", res.status)
	}
	req, _ = http.NewRequest(http.MethodGet, c.ts.URL+"/", nil)
	req.Host = "localhost:" + strings.Split(c.ts.Listener.Addr().String(), ":")[1]
	if res := c.do(c.client, req); res.status == http.StatusMisdirectedRequest {
		t.Fatal("localhost refused")
	}
}

func TestChangesNeedPOSTWithTheCSRFToken(t *testing.T) {
	c := start(t)
	c.env.Seed(t, report("AAAA-0003", time.Now(), false, "UA", "threats"))
	c.login()
	refused := func(name string, res response) {
		t.Helper()
		if res.status != http.StatusForbidden && res.status != http.StatusNotFound {
			t.Errorf("%s: %d, want a refusal", name, res.status)
		}
	}
	refused("no token", c.post("/case/AAAA-0003/claim", url.Values{"csrf": {""}}))
	refused("wrong token", c.post("/case/AAAA-0003/claim", url.Values{"csrf": {strings.Repeat("A", len(c.csrf))}}))
	refused("GET", c.get("/case/AAAA-0003/claim"))
	// The right token from another site is refused too.
	form := url.Values{"csrf": {c.csrf}}
	for name, h := range map[string][2]string{
		"cross-site fetch": {"Sec-Fetch-Site", "cross-site"},
		"foreign origin":   {"Origin", "http://attacker.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, c.ts.URL+"/case/AAAA-0003/claim", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h[0], h[1])
		refused(name, c.do(c.client, req))
	}
	if a := c.audit("AAAA-0003"); strings.Contains(a, "claim") {
		t.Fatalf("a refused form claimed the case: %s", a)
	}
	if res := c.post("/case/AAAA-0003/note", url.Values{"text": {strings.Repeat("x", 70<<10)}}); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a form over 64 KiB: %d", res.status)
	}
	if res := c.post("/case/AAAA-0003/claim", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("claim with the token: %d\n%s", res.status, res.body)
	}
	if a := c.audit("AAAA-0003"); !strings.Contains(a, staffName+":claim") {
		t.Fatalf("claim not audited under the staff name: %s", a)
	}
}

func TestHostileReportTextIsShownAsText(t *testing.T) {
	c := start(t)
	r := report("AAAA-0004", time.Now(), true, "UA", "threats")
	r.Answers["description"] = `<script>alert("XSS-MARKER")</script> & <b>bold</b>`
	r.Answers["place"] = `"><img src=x onerror=alert(2)>`
	r.Answers["what"] = []any{`<i>odd option</i>`}
	r.Language = `en" onmouseover="alert(3)`
	c.env.SeedFiles(t, r, []byte("evidence"))
	c.login()
	if res := c.post("/case/AAAA-0004/note", url.Values{"text": {"<script>note()</script>"}}); res.status != http.StatusSeeOther {
		t.Fatalf("note: %d", res.status)
	}
	for _, path := range []string{"/", "/case/AAAA-0004", "/?q=XSS-MARKER"} {
		body := c.get(path).body
		for _, bad := range []string{"<script>alert", "<b>bold", "<img src=x", "<i>odd", `" onmouseover="`, "<script>note"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: %q is markup, not text", path, bad)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;XSS-MARKER&#34;)&lt;/script&gt;") {
			t.Errorf("%s does not show the description as text", path)
		}
	}
	if !strings.Contains(c.get("/case/AAAA-0004").body, "&lt;script&gt;note()&lt;/script&gt;") {
		t.Error("the note is not shown as text")
	}
}

func TestReplyRefusedWhenTheDefenderDeclinedContact(t *testing.T) {
	c := start(t)
	ref := c.env.Defender(t, 4242).Submit("NOCONTACT", false)
	c.login()
	page := c.get("/case/" + ref).body
	if !strings.Contains(page, `id="no-contact"`) || !strings.Contains(page, `id="reply-submit" disabled`) {
		t.Fatalf("the reply form should say why it is closed:\n%s", page)
	}
	c.post("/case/"+ref+"/claim", url.Values{})
	res := c.post("/case/"+ref+"/reply", url.Values{"text": {"Are you safe?"}})
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "asked not to be contacted in this chat; the reply was not sent") {
		t.Fatalf("reply without consent: %d\n%s", res.status, res.body)
	}
	if !strings.Contains(res.body, ">Are you safe?</textarea>") {
		t.Error("the refused reply's text was not kept in the form")
	}
	if n, _ := c.env.RDB.XLen(context.Background(), "vigil:{q}:outbox").Result(); n != 0 {
		t.Fatal("a refused reply reached the outbox")
	}
}

func TestActionsGoThroughTheService(t *testing.T) {
	ctx := context.Background()
	c := start(t)
	ref := c.env.Defender(t, 4343).Submit("ACTIONS", true)
	other, _ := triage.New(triage.Config{Store: c.env.Store, Identities: c.env.Identities, Recipients: c.env.Recipients, Staff: "ben"})
	c.login()

	ok := func(action string, form url.Values, flash string) {
		t.Helper()
		res := c.post("/case/"+ref+"/"+action, form)
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/case/"+ref {
			t.Fatalf("%s: %d\n%s", action, res.status, res.body)
		}
		if page := c.get("/case/" + ref).body; !strings.Contains(page, html.EscapeString(flash)) {
			t.Fatalf("%s: page lacks %q", action, flash)
		}
	}
	failsWith := func(action string, form url.Values, status int, msg string) {
		t.Helper()
		res := c.post("/case/"+ref+"/"+action, form)
		if res.status != status || !strings.Contains(res.body, html.EscapeString(msg)) {
			t.Fatalf("%s: %d, want %d with %q\n%s", action, res.status, status, msg, res.body)
		}
	}

	if err := other.Claim(ctx, ref); err != nil {
		t.Fatal(err)
	}
	failsWith("claim", url.Values{}, http.StatusConflict, "Case "+ref+" is held by ben. Ask them, or assign the case.")
	ok("assign", url.Values{"to": {staffName}}, "Case "+ref+" is assigned to "+staffName+".")
	failsWith("status", url.Values{"to": {"waiting-defender"}}, http.StatusConflict,
		"A case that is new cannot become waiting for the defender. It can become: triaged, in progress, closed.")
	failsWith("note", url.Values{"text": {"  "}}, http.StatusBadRequest, "Write something first.")
	failsWith("status", url.Values{"to": {"bogus"}}, http.StatusUnprocessableEntity, `unknown status "bogus"`)
	ok("status", url.Values{"to": {"triaged"}, "reason": {"REASON-MARKER credible"}}, "Case "+ref+" is now triaged.")
	ok("note", url.Values{"text": {"NOTE-MARKER called the lawyer"}}, "Note added.")
	ok("reply", url.Values{"text": {"REPLY-MARKER we read you"}}, "Reply queued")
	ok("status", url.Values{"to": {"closed"}}, "Case "+ref+" is now closed.")
	ok("release", url.Values{}, "You released case "+ref+".")

	page := c.get("/case/" + ref).body
	for _, want := range []string{"REASON-MARKER credible", "NOTE-MARKER called the lawyer", "REPLY-MARKER we read you",
		`data-status="closed"`, "ev-note", "ev-reply", "description ACTIONS"} {
		if !strings.Contains(page, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	if n, _ := c.env.RDB.XLen(ctx, "vigil:{q}:outbox").Result(); n != 1 {
		t.Errorf("outbox holds %d replies, want 1", n)
	}
	// The same audit entries as the command line, under the staff name.
	got := c.audit(ref)
	for _, want := range []string{"ben:claim", staffName + ":show", staffName + ":assign", staffName + ":status",
		staffName + ":note", staffName + ":read", staffName + ":reply", staffName + ":release"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s:\n%s", want, got)
		}
	}
	// The page lists the audit trail, newest first.
	if i, j := strings.Index(page, "<td>release</td>"), strings.Index(page, "<td>assign</td>"); i < 0 || j < 0 || i > j {
		t.Errorf("audit trail on the page not newest first")
	}
	if strings.Contains(string(c.logs.Bytes()), staffName) || strings.Contains(string(c.logs.Bytes()), "MARKER") ||
		strings.Contains(string(c.logs.Bytes()), "4343") {
		t.Errorf("the logs carry a name, a text or a chat id:\n%s", c.logs.Bytes())
	}
}

func TestQueueFiltersAndRefresh(t *testing.T) {
	c := start(t)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.Local) }
	c.env.Seed(t, report("BBBB-0001", day(1), false, "UA", "threats"))
	r := report("BBBB-0002", day(2), true, "GE", "raid", "threats")
	r.Answers["description"] = "Обыск в офисе"
	c.env.Seed(t, r)
	c.env.Seed(t, report("BBBB-0003", day(3), false, "UA", "detention"))
	c.env.Seed(t, report("BBBB-0004", day(4), false, "BY", "threats"))
	c.login()
	for _, tc := range []struct{ query, want string }{
		{"", "BBBB-0002,BBBB-0004,BBBB-0003,BBBB-0001"},
		{"urgent=1", "BBBB-0002"},
		{"country=ua", "BBBB-0003,BBBB-0001"},
		{"category=threats", "BBBB-0002,BBBB-0004,BBBB-0001"},
		{"since=2026-03-02&until=2026-03-03", "BBBB-0002,BBBB-0003"},
		{"q=" + url.QueryEscape("ОФИСЕ"), "BBBB-0002"},
		{"q=nothing-like-this", ""},
		{"status=closed", ""},
	} {
		if got := refs(c.get("/?" + tc.query).body); got != tc.want {
			t.Errorf("?%s: got %q, want %q", tc.query, got, tc.want)
		}
	}
	if res := c.get("/?since=yesterday"); !strings.Contains(res.body, "Dates look like 2026-01-31: yesterday was ignored.") ||
		refs(res.body) != "BBBB-0002,BBBB-0004,BBBB-0003,BBBB-0001" {
		t.Errorf("a bad date should be named and ignored:\n%s", res.body)
	}
	c.post("/case/BBBB-0003/claim", url.Values{})
	if got := refs(c.get("/?assignee=" + url.QueryEscape(staffName)).body); got != "BBBB-0003" {
		t.Errorf("assignee: %q", got)
	}
	c.post("/case/BBBB-0004/status", url.Values{"to": {"closed"}})
	if got := refs(c.get("/?status=closed").body); got != "BBBB-0004" {
		t.Errorf("status closed: %q", got)
	}
	// Every open case here is long overdue: they come first, the closed
	// one (no clock) after them.
	if got := refs(c.get("/?status=all").body); got != "BBBB-0002,BBBB-0003,BBBB-0001,BBBB-0004" {
		t.Errorf("status all: %q", got)
	}

	// The script's view: the mark changes when a report arrives, and the
	// rows of the same filters then hold it.
	mark := func() string {
		var m struct{ Mark string }
		res := c.get("/queue/mark")
		if err := json.Unmarshal([]byte(res.body), &m); err != nil || m.Mark == "" || res.header.Get("Content-Type") != "application/json" {
			t.Fatalf("mark: %v %q", err, res.body)
		}
		return m.Mark
	}
	before := mark()
	if mark() != before {
		t.Fatal("the mark changed by itself")
	}
	c.env.Seed(t, report("BBBB-0005", day(5), false, "UA", "threats"))
	if mark() == before {
		t.Fatal("the mark did not change when a report arrived")
	}
	rows := c.get("/queue/rows?country=UA")
	if !strings.HasPrefix(strings.TrimSpace(rows.body), "<tbody data-mark=") || refs(rows.body) != "BBBB-0005,BBBB-0003,BBBB-0001" {
		t.Fatalf("rows:\n%s", rows.body)
	}
	// Paging: 50 a page.
	for i := 6; i < 56; i++ {
		c.env.Seed(t, report(fmt.Sprintf("CCCC-%04d", i), day(6), false, "UA", "threats"))
	}
	first := c.get("/")
	if n := len(strings.Split(refs(first.body), ",")); n != 50 || !strings.Contains(first.body, `rel="next"`) {
		t.Fatalf("first page: %d rows", n)
	}
	if second := c.get("/?page=2"); len(strings.Split(refs(second.body), ",")) != 4 || !strings.Contains(second.body, `rel="prev"`) {
		t.Fatalf("second page: %s", refs(second.body))
	}
}

func TestStatisticsAsChartsTablesAndCSV(t *testing.T) {
	c := start(t)
	jan := time.Date(2026, 1, 15, 12, 0, 0, 0, time.Local)
	c.env.Seed(t, report("DDDD-0001", jan, false, "UA", "threats", "surveillance"))
	c.env.Seed(t, report("DDDD-0002", jan.AddDate(0, 1, 0), false, "UA", "threats"))
	c.env.Seed(t, report("DDDD-0003", jan.AddDate(0, 1, 0), false, "=HYPERLINK(1)", "raid"))
	c.login()

	page := c.get("/stats")
	for _, want := range []string{"Reports by country", "Reports by what happened", "Reports by who was responsible",
		"Reports by month", `src="data:image/svg&#43;xml;base64,`, "Ukraine (UA)",
		// Three reports are fewer than the default threshold of 5: every count is hidden.
		"Fewer than 5 reports counted: every count is hidden.", `<td class="num suppressed">&lt;5</td>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("stats page lacks %q", want)
		}
	}
	if n := strings.Count(page.body, `class="chart"`); n != 4 {
		t.Errorf("%d charts, want 4", n)
	}

	res := c.get("/stats.csv?by=country&since=2026-02-01")
	if res.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv headers: %v", res.header)
	}
	rows, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"dimension", "key", "label", "count"}, {"country", "'=HYPERLINK(1)", "'=HYPERLINK(1)", "<5"}, {"country", "UA", "Ukraine (UA)", "<5"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("csv by country since February:\n got %q\nwant %q", rows, want)
	}
	all, _ := csv.NewReader(strings.NewReader(c.get("/stats.csv").body)).ReadAll()
	dims := map[string]int{}
	for _, r := range all[1:] {
		dims[r[0]] += 1
	}
	if dims["country"] != 2 || dims["category"] != 3 || dims["perpetrator"] != 1 || dims["month"] != 2 {
		t.Errorf("csv of all dimensions: %q", all)
	}
	if res := c.get("/stats.csv?by=colour"); res.status != http.StatusNotFound {
		t.Errorf("unknown dimension: %d", res.status)
	}
	if a := c.audit(""); strings.Count(a, staffName+":stats") != 3 {
		t.Errorf("stats not audited once per page and file: %s", a)
	}
}

func TestEvidenceVerifiedAndDownloaded(t *testing.T) {
	ctx := context.Background()
	c := start(t)
	c.env.SeedFiles(t, report("EEEE-0001", time.Now(), false, "UA", "raid"), []byte("<html>PHOTO-MARKER</html>"), []byte("second"))
	c.login()
	page := c.get("/case/EEEE-0001").body
	if strings.Count(page, "✓ verified") != 2 || !strings.Contains(page, `href="/case/EEEE-0001/files/1"`) {
		t.Fatalf("files not verified on the page:\n%s", page)
	}
	res := c.get("/case/EEEE-0001/files/1")
	if res.status != http.StatusOK || res.body != "<html>PHOTO-MARKER</html>" ||
		res.header.Get("Content-Type") != "application/octet-stream" ||
		res.header.Get("Content-Disposition") != `attachment; filename=01-file1.bin` {
		t.Fatalf("download: %d %v %q", res.status, res.header, res.body)
	}
	key := "vigil:{q}:file:EEEE-0001:0"
	raw, _ := c.env.RDB.Get(ctx, key).Bytes()
	raw[len(raw)-2] ^= 1
	c.env.RDB.Set(ctx, key, raw, 0)
	page = c.get("/case/EEEE-0001").body
	if strings.Count(page, "✓ verified") != 1 || !strings.Contains(page, "NOT verified") {
		t.Fatalf("a tampered file shows as verified")
	}
	if res := c.get("/case/EEEE-0001/files/1"); res.status != http.StatusConflict || strings.Contains(res.body, "PHOTO-MARKER") {
		t.Fatalf("a tampered file was handed out: %d", res.status)
	}
	if res := c.get("/case/EEEE-0001/files/9"); res.status != http.StatusUnprocessableEntity {
		t.Errorf("file 9: %d", res.status)
	}
	if a := c.audit("EEEE-0001"); !strings.Contains(a, staffName+":files") {
		t.Errorf("file decryption not audited: %s", a)
	}
}

func TestExportOneCaseAsJSON(t *testing.T) {
	c := start(t)
	c.env.Seed(t, report("FFFF-0001", time.Now(), false, "UA", "threats"))
	c.login()
	res := c.get("/case/ffff-0001/export.json")
	var recs []triage.Record
	if err := json.Unmarshal([]byte(res.body), &recs); err != nil || len(recs) != 1 || recs[0].EventID != "FFFF-0001" ||
		recs[0].Description != "text of FFFF-0001" {
		t.Fatalf("export: %v %s", err, res.body)
	}
	if res.header.Get("Content-Disposition") != "attachment; filename=vigil-FFFF-0001.json" {
		t.Errorf("export headers: %v", res.header)
	}
	if a := c.audit("FFFF-0001"); !strings.HasSuffix(a, staffName+":export") {
		t.Errorf("export not audited: %s", a)
	}
	if res := c.get("/case/ZZZZ-9999"); res.status != http.StatusNotFound || !strings.Contains(res.body, "There is no case ZZZZ-9999.") {
		t.Errorf("unknown case: %d", res.status)
	}
	if res := c.get("/case/not-a-ref"); res.status != http.StatusNotFound {
		t.Errorf("not a reference: %d", res.status)
	}
}

func TestLanguageFromTheBrowserOrTheSwitch(t *testing.T) {
	c := start(t)
	r := report("GGGG-0001", time.Now(), false, "UA", "threats")
	r.Language = "ar"
	r.Answers["description"] = "هددوني بالاعتقال"
	c.env.Seed(t, r)
	c.lang = "fr-CH, fr;q=0.9, en;q=0.8"
	c.login()
	page := c.get("/case/GGGG-0001").body
	for _, want := range []string{`<html lang="fr">`, "Dossier GGGG-0001", "Prendre en charge", "Ukraine (UA)",
		`dir="rtl" lang="ar">هددوني بالاعتقال`} {
		if !strings.Contains(page, want) {
			t.Errorf("French page lacks %q", want)
		}
	}
	if res := c.post("/lang", url.Values{"lang": {"en"}, "back": {"/case/GGGG-0001"}}); res.status != http.StatusSeeOther ||
		res.header.Get("Location") != "/case/GGGG-0001" {
		t.Fatalf("switch: %d %v", res.status, res.header)
	}
	if page := c.get("/case/GGGG-0001").body; !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "Case GGGG-0001") {
		t.Error("the switch did not win over Accept-Language")
	}
	if res := c.post("/lang", url.Values{"lang": {"en"}, "back": {"//attacker.example/"}}); res.header.Get("Location") != "/" {
		t.Errorf("the switch redirected off the site: %v", res.header.Get("Location"))
	}
}

func TestConsoleTextsAreComplete(t *testing.T) {
	texts, err := web.Texts()
	if err != nil {
		t.Fatal(err)
	}
	if got := texts.Languages(); len(got) < 2 || !slices.ContainsFunc(got, func(l flows.Language) bool { return l.Code == "fr" }) {
		t.Fatalf("languages: %+v", got)
	}
	for _, p := range texts.Check() {
		t.Error(p)
	}
}

// TestStatisticsSuppressSmallCounts: the page's tables, its charts and the
// CSV hide the same counts: those below the threshold, and the smallest
// other one where a single hidden count could be worked out from the
// total. The threshold is the configured one; below 2 it is refused.
func TestStatisticsSuppressSmallCounts(t *testing.T) {
	env := testenv.New(t)
	feb := time.Date(2026, 2, 10, 12, 0, 0, 0, time.Local)
	n := 0
	for country, count := range map[string]int{"UA": 6, "GE": 5, "BY": 2} {
		for range count {
			n++
			env.Seed(t, report(fmt.Sprintf("KKKK-%04d", n), feb, false, country, "threats"))
		}
	}
	for _, tc := range []struct {
		minCount int
		want     map[string]string // label: what the country table shows
	}{
		{0, map[string]string{"Ukraine (UA)": "6", "Georgia (GE)": "<5", "Belarus (BY)": "<5"}},
		{2, map[string]string{"Ukraine (UA)": "6", "Georgia (GE)": "5", "Belarus (BY)": "2"}},
		{7, map[string]string{"Ukraine (UA)": "<7", "Georgia (GE)": "<7", "Belarus (BY)": "<7"}},
	} {
		t.Run(fmt.Sprint("k=", tc.minCount), func(t *testing.T) {
			c := serve(t, env, staffName, web.Config{MinCount: tc.minCount})
			c.login()
			page := c.get("/stats").body
			if !strings.Contains(page, "13 reports counted.") {
				t.Errorf("the total of 13 is not shown")
			}
			section := regexp.MustCompile(`(?s)<section[^>]*id="stat-country">.*?</section>`).FindString(page)
			table := map[string]string{}
			for _, m := range regexp.MustCompile(`<tr><td dir="auto">([^<]*)</td><td class="num[^"]*">([^<]*)</td></tr>`).FindAllStringSubmatch(section, -1) {
				table[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
			}
			if !maps.Equal(table, tc.want) {
				t.Errorf("page table %v, want %v", table, tc.want)
			}
			if chart := svgCounts(t, section); !maps.Equal(chart, tc.want) {
				t.Errorf("chart %v, want %v", chart, tc.want)
			}
			rows, err := csv.NewReader(strings.NewReader(c.get("/stats.csv?by=country").body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			fromCSV := map[string]string{}
			for _, r := range rows[1:] {
				fromCSV[r[2]] = r[3]
			}
			if !maps.Equal(fromCSV, tc.want) {
				t.Errorf("CSV %v, want %v", fromCSV, tc.want)
			}
		})
	}
	for _, k := range []int{1, -1} {
		if _, err := web.New(web.Config{Service: env.StaffService(t, "ana"), Text: env.Text, MinCount: k}); err == nil {
			t.Errorf("MinCount %d accepted", k)
		}
	}
}

// svgCounts decodes the chart in section (a data: URL) and returns what it
// shows after each bar's label: the count, or "<k".
func svgCounts(t *testing.T, section string) map[string]string {
	t.Helper()
	m := regexp.MustCompile(`src="data:image/svg&#43;xml;base64,([^"]+)"`).FindStringSubmatch(section)
	if m == nil {
		t.Fatal("no chart")
	}
	svg, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Text []string `xml:"text"`
		G    []struct {
			Text []string `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || len(doc.G) != 3 || len(doc.G[1].Text) != len(doc.G[2].Text) {
		t.Fatalf("chart: %v\n%s", err, svg)
	}
	out := map[string]string{}
	for i, label := range doc.G[1].Text {
		out[label] = doc.G[2].Text[i]
	}
	return out
}
