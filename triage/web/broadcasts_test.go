package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage/web"
)

// staffBroadcasts is the coordinators' service as `vigil triage serve`
// wires it: texts sealed to the staff keys and the bot's, opened with the
// staff identity (not the bot's, as env.Broadcasts does), statements
// signed with staff's key (VIGIL_SIGNING_KEY) when the keyring has one.
func staffBroadcasts(t *testing.T, env *testenv.Env, staff string) *broadcast.Service {
	t.Helper()
	key, err := env.Store.BotRecipient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := broadcast.SealFor(env.Recipients, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := broadcast.Config{Store: env.Store, Seal: sealer, Open: broadcast.Opener(env.Identities...)}
	if _, ok := env.Trust.Keyring().ByName(staff); ok {
		cfg.Signer = env.Signer(t, staff)
	}
	return broadcast.New(cfg)
}

// coordinator is a console with the Broadcasts page, signed in as staff.
func coordinator(t *testing.T, env *testenv.Env, staff string) *console {
	t.Helper()
	c := serve(t, env, staff, web.Config{Broadcasts: staffBroadcasts(t, env, staff)})
	c.login()
	return c
}

var createdAt = regexp.MustCompile(`^/broadcasts/([BG]-[2-9A-HJ-NP-Z]{6})$`)

// create posts the form and returns the new publication's reference.
func (c *console) create(form url.Values) string {
	c.t.Helper()
	res := c.post("/broadcasts/new", form)
	m := createdAt.FindStringSubmatch(res.header.Get("Location"))
	if res.status != http.StatusSeeOther || m == nil {
		c.t.Fatalf("create: %d %v\n%s", res.status, res.header, res.body)
	}
	return m[1]
}

func (c *console) publication(id string) store.Publication {
	c.t.Helper()
	p, err := c.env.Store.GetPublication(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// refused posts a form that must be refused with status and msg (in
// words, escaped as the page escapes it).
func (c *console) refused(path string, form url.Values, status int, msg string) response {
	c.t.Helper()
	res := c.post(path, form)
	if res.status != status || !strings.Contains(res.body, html.EscapeString(msg)) {
		c.t.Fatalf("%s: %d, want %d with %q\n%s", path, res.status, status, msg, res.body)
	}
	return res
}

func TestBroadcastCreatedSealedAndShownAsText(t *testing.T) {
	env := testenv.New(t)
	anna := coordinator(t, env, "anna")

	list := anna.get("/broadcasts")
	for _, want := range []string{`href="/broadcasts" aria-current="page">Broadcasts</a>`, `id="new-broadcast"`,
		"There are no broadcasts or guidance pages yet.", "1 other coordinator approves it"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("the list lacks %q:\n%s", want, list.body)
		}
	}
	form := anna.get("/broadcasts/new").body
	for _, want := range []string{`name="text-en" rows="8" lang="en" dir="auto" required>`, `name="text-fr"`,
		`name="text-ar" rows="4" lang="ar" dir="rtl"`, `<option value="detention">If you are detained</option>`,
		"&lt;b&gt;bold&lt;/b&gt;"} {
		if !strings.Contains(form, want) {
			t.Errorf("the form lacks %q", want)
		}
	}

	// Refusals in words, with what was typed kept.
	anna.refused("/broadcasts/new", url.Values{"kind": {"broadcast"}, "countries": {" "}, "text-en": {"KEPT-TEXT"}},
		http.StatusBadRequest, "Give at least one country.")
	res := anna.refused("/broadcasts/new", url.Values{"kind": {"broadcast"}, "countries": {"UA, Ukraine"}, "text-en": {"KEPT-TEXT"}},
		http.StatusBadRequest, "Countries are two-letter ISO codes such as UA or GE, separated by commas or spaces. Not a code: UKRAINE.")
	if !strings.Contains(res.body, ">KEPT-TEXT</textarea>") || !strings.Contains(res.body, `value="UA, Ukraine"`) {
		t.Errorf("the refused form lost what was typed:\n%s", res.body)
	}
	res = anna.refused("/broadcasts/new", url.Values{"kind": {"broadcast"}, "countries": {"UA"}, "text-fr": {"Restez prudents"}},
		http.StatusBadRequest, "Write the text in the default language")
	if !strings.Contains(res.body, `<details open id="other-languages">`) || !strings.Contains(res.body, ">Restez prudents</textarea>") {
		t.Error("a text typed in another language is hidden after a refusal")
	}
	anna.refused("/broadcasts/new", url.Values{"kind": {"guidance"}, "topic": {"bogus"}, "countries": {"UA"}, "text-en": {"x"}},
		http.StatusBadRequest, "Choose the topic of the guidance page.")
	anna.refused("/broadcasts/new", url.Values{"kind": {"spam"}, "countries": {"UA"}, "text-en": {"x"}},
		http.StatusBadRequest, "Choose a broadcast or a guidance page.")
	if ps, _ := env.Store.Publications(context.Background(), 10); len(ps) != 0 {
		t.Fatalf("a refused form created %d publications", len(ps))
	}

	const hostile = `<b>Stay safe</b> <script>alert("BC-XSS")</script>`
	id := anna.create(url.Values{"kind": {"broadcast"}, "countries": {"ua, ge ua"},
		"text-en": {hostile + "\r\nsecond line"}, "text-ar": {"ابقوا بأمان BC-AR"}, "text-fr": {"   "}})
	p := anna.publication(id)
	if !slices.Equal(p.Countries, []string{"UA", "GE"}) || p.Creator != "anna" || !slices.Equal(p.Langs(), []string{"ar", "en"}) ||
		p.Kind != store.KindBroadcast || p.Status != store.PubQueued {
		t.Fatalf("stored: %+v", p)
	}
	// Sealed: the staff and the bot can open it; Redis holds no text.
	for name, id := range map[string]seal.Identity{"staff": env.Identities[0], "bot": env.BotID} {
		raw, err := seal.Open(p.Texts["en"], id)
		if err != nil || string(raw) != hostile+"\nsecond line" {
			t.Errorf("the %s opens %q, %v", name, raw, err)
		}
	}
	if all := string(env.Everything(t)); strings.Contains(all, "BC-XSS") || strings.Contains(all, "BC-AR") {
		t.Error("a text is stored in plain text")
	}

	page := anna.get("/broadcasts/" + id).body
	for _, want := range []string{
		"Created " + id + ". The bot sends the preview to every coordinator in Telegram; 1 other coordinator must approve it.",
		`<pre class="html-text" id="text-en" lang="en" dir="auto">&lt;b&gt;Stay safe&lt;/b&gt; &lt;script&gt;alert(&#34;BC-XSS&#34;)&lt;/script&gt;` + "\nsecond line</pre>",
		`<pre class="html-text" id="text-ar" lang="ar" dir="rtl">ابقوا بأمان BC-AR</pre>`,
		"English (en) — default language", "Ukraine (UA), Georgia (GE)", `data-status="queued"`, "waiting for approval",
		`id="needed">1<`, "not sent yet (is a bot running?)", "exactly as subscribers will see it",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<b>Stay"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page renders %q as markup", bad)
		}
	}
	// The default language comes first.
	if strings.Index(page, `id="text-en"`) > strings.Index(page, `id="text-ar"`) {
		t.Error("the default language's text is not first")
	}
	row := anna.get("/broadcasts").body
	for _, want := range []string{`data-id="` + id + `" data-status="queued"`, "<td>UA, GE</td>", "<td>ar, en</td>", "waiting for approval"} {
		if !strings.Contains(row, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if logs := string(anna.logs.Bytes()); strings.Contains(logs, "BC-") || strings.Contains(logs, "Stay safe") {
		t.Errorf("the logs carry a text:\n%s", logs)
	}
}

func TestBroadcastFourEyes(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	anna, ben := coordinator(t, env, "anna"), coordinator(t, env, "ben")
	id := anna.create(url.Values{"kind": {"broadcast"}, "countries": {"UA"}, "text-en": {"Stay safe."}})

	// The creator is not offered the approval, and is refused it.
	page := anna.get("/broadcasts/" + id).body
	if strings.Contains(page, `id="approve"`) || !strings.Contains(page, "You created it, so another coordinator must approve it.") {
		t.Errorf("the creator's page:\n%s", page)
	}
	anna.refused("/broadcasts/"+id+"/approve", url.Values{}, http.StatusConflict,
		"You created "+id+", so another coordinator must approve it")
	// Nobody approves what the bot has not previewed to the coordinators.
	if page := ben.get("/broadcasts/" + id).body; !strings.Contains(page, `id="approve"`) || !strings.Contains(page, "has not sent the preview") {
		t.Errorf("the page before the preview:\n%s", page)
	}
	ben.refused("/broadcasts/"+id+"/approve", url.Values{}, http.StatusConflict,
		"The bot has not sent the preview of "+id+" to the coordinators yet")
	if p := anna.publication(id); len(p.Approvers) != 0 || p.Status != store.PubQueued {
		t.Fatalf("after the refusals: %+v", p)
	}

	// Nor one whom the preview did not reach (the bot's record of it is
	// package broadcast's; the store only needs one).
	if err := env.Store.MarkPreviewed(ctx, id, "", map[string][]byte{"anna": []byte("seen")}); err != nil {
		t.Fatal(err)
	}
	ben.refused("/broadcasts/"+id+"/approve", url.Values{}, http.StatusConflict,
		"The preview of "+id+" did not reach you in Telegram")
	if err := env.Store.MarkPreviewed(ctx, id, "", map[string][]byte{"ben": []byte("seen")}); err != nil {
		t.Fatal(err)
	}
	if res := ben.post("/broadcasts/"+id+"/approve", url.Values{}); res.status != http.StatusSeeOther || res.header.Get("Location") != "/broadcasts/"+id {
		t.Fatalf("ben approves: %d\n%s", res.status, res.body)
	}
	page = ben.get("/broadcasts/" + id).body
	for _, want := range []string{"Approved. Broadcast " + id + " is being sent.", `data-status="approved"`, `id="approvers">ben, `,
		"sent to the coordinators", `id="cancel"`} {
		if !strings.Contains(page, want) {
			t.Errorf("after the approval the page lacks %q", want)
		}
	}
	if p := anna.publication(id); !slices.Equal(p.Approvers, []string{"ben"}) || p.Status != store.PubApproved {
		t.Fatalf("after ben's approval: %+v", p)
	}
	ben.refused("/broadcasts/"+id+"/approve", url.Values{}, http.StatusConflict,
		id+" cannot be changed now: it is approved, waiting to be sent.")

	// Sending: the counts and the time left, as of the page's load.
	env.SeedSubscribers(t, 9000, 10, "UA", "en")
	if _, err := env.Store.StartDelivery(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _, err := env.Store.Take(ctx, id, 4, time.Now())
	if err != nil || len(got) != 4 {
		t.Fatalf("take: %d, %v", len(got), err)
	}
	for i, outcome := range []string{store.OutcomeSent, store.OutcomeSent, store.OutcomeFailed, store.OutcomeBlocked} {
		if err := env.Store.Record(ctx, id, got[i].Handle, outcome, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for path, wants := range map[string][]string{
		"/broadcasts": {"2 of 10 sent, 1 failed, 1 blocked, 6 remaining"},
		"/broadcasts/" + id: {`id="n-total">10<`, `id="n-sent">2<`, `id="n-failed">1<`, `id="n-blocked">1<`,
			`id="n-skipped">0<`, `id="n-remaining">6<`},
	} {
		body := anna.get(path).body
		for _, want := range append(wants, "about &lt; 1 min left at 25 messages a second", `data-status="sending"`) {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
	}

	// Any coordinator may stop it.
	if res := anna.post("/broadcasts/"+id+"/cancel", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("stop: %d\n%s", res.status, res.body)
	}
	page = anna.get("/broadcasts/" + id).body
	for _, want := range []string{id + " is stopped. Nothing more will be sent.", `data-status="cancelled"`, `id="stopped-by">anna`,
		"Nothing can be changed any more."} {
		if !strings.Contains(page, want) {
			t.Errorf("after stopping the page lacks %q", want)
		}
	}
	if p := anna.publication(id); p.Status != store.PubCancelled || p.CancelledBy != "anna" || p.Remaining != 0 {
		t.Fatalf("after stopping: %+v", p)
	}
	anna.refused("/broadcasts/"+id+"/cancel", url.Values{}, http.StatusConflict, id+" cannot be changed now: it is stopped.")

	// A guidance page is published, then withdrawn.
	g := ben.create(url.Values{"kind": {"guidance"}, "topic": {"detention"}, "countries": {"UA"}, "text-en": {"Ask for a lawyer."}})
	env.Store.MarkPreviewed(ctx, g, "", map[string][]byte{"anna": []byte("seen")})
	if res := anna.post("/broadcasts/"+g+"/approve", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("approve the page: %d\n%s", res.status, res.body)
	}
	page = anna.get("/broadcasts/" + g).body
	for _, want := range []string{"Guidance page " + g, "Guidance page: If you are detained", "Approved. Guidance page " + g + " is published; /guidance shows it.",
		">Withdraw this page</button>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the published page lacks %q", want)
		}
	}
	if shown, _ := env.Store.Guidance(ctx, "UA"); shown["detention"] != g {
		t.Fatalf("/guidance shows %v", shown)
	}
	anna.post("/broadcasts/"+g+"/cancel", url.Values{})
	if page := anna.get("/broadcasts/" + g).body; !strings.Contains(page, "Guidance page "+g+" is withdrawn.") {
		t.Error("no word of the withdrawal")
	}
	if shown, _ := env.Store.Guidance(ctx, "UA"); shown["detention"] != "" {
		t.Fatalf("/guidance still shows %v", shown)
	}

	if res := anna.get("/broadcasts/B-222222"); res.status != http.StatusNotFound ||
		!strings.Contains(res.body, "There is no broadcast or guidance page B-222222.") {
		t.Errorf("an unknown reference: %d\n%s", res.status, res.body)
	}
	if res := anna.get("/broadcasts/nonsense"); res.status != http.StatusNotFound {
		t.Errorf("a malformed reference: %d", res.status)
	}
}

func TestBroadcastPostsNeedTheCSRFToken(t *testing.T) {
	env := testenv.New(t)
	ben := coordinator(t, env, "ben")
	p, _, err := env.As(t, "anna").Create(context.Background(), "anna", broadcast.Draft{Kind: store.KindBroadcast, Countries: []string{"UA"},
		Texts: map[string]string{"en": "Stay safe."}})
	if err != nil {
		t.Fatal(err)
	}
	env.Store.MarkPreviewed(context.Background(), p.ID, "")
	create := url.Values{"kind": {"broadcast"}, "countries": {"UA"}, "text-en": {"forged"}}
	for _, path := range []string{"/broadcasts/new", "/broadcasts/" + p.ID + "/approve", "/broadcasts/" + p.ID + "/cancel"} {
		for name, form := range map[string]url.Values{"no token": {"csrf": {""}}, "wrong token": {"csrf": {strings.Repeat("A", len(ben.csrf))}}} {
			for k, v := range create {
				form[k] = v
			}
			if res := ben.post(path, form); res.status != http.StatusForbidden || !strings.Contains(res.body, "did not come from this console page") {
				t.Errorf("%s, %s: %d", path, name, res.status)
			}
		}
		form := url.Values{"csrf": {ben.csrf}}
		for k, v := range create {
			form[k] = v
		}
		req, _ := http.NewRequest(http.MethodPost, ben.ts.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if res := ben.do(ben.client, req); res.status != http.StatusForbidden {
			t.Errorf("%s from another site: %d", path, res.status)
		}
		if res := ben.get(path); path != "/broadcasts/new" && res.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, res.status)
		}
	}
	ps, _ := env.Store.Publications(context.Background(), 10)
	if len(ps) != 1 || ps[0].Status != store.PubQueued || len(ps[0].Approvers) != 0 {
		t.Fatalf("a refused form changed the publications: %+v", ps)
	}
	// A form of many languages fits (the case forms' 64 KiB would not).
	long := url.Values{"kind": {"broadcast"}, "countries": {"UA"}}
	for _, l := range env.Text.Languages() {
		long.Set("text-"+l.Code, strings.Repeat("ж", 4000))
	}
	if id := ben.create(long); len(ben.publication(id).Texts) != len(env.Text.Languages()) {
		t.Error("not every language was stored")
	}
}

func TestBroadcastsReadOnlyForOthers(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := coordinator(t, env, staffName)
	p, _, err := env.As(t, "anna").Create(ctx, "anna", broadcast.Draft{Kind: store.KindBroadcast, Countries: []string{"UA"},
		Texts: map[string]string{"en": "READ-ONLY-TEXT"}})
	if err != nil {
		t.Fatal(err)
	}
	env.Store.MarkPreviewed(ctx, p.ID, "")
	why := "You are signed in as " + staffName + ", who is not one of the coordinators named in the bot's configuration (anna, ben): " +
		"you can read the broadcasts, but not create, approve or stop them."
	for _, path := range []string{"/broadcasts", "/broadcasts/" + p.ID, "/broadcasts/new"} {
		res := c.get(path)
		if res.status != http.StatusOK || !strings.Contains(res.body, html.EscapeString(why)) {
			t.Errorf("%s: %d, lacks why:\n%s", path, res.status, res.body)
		}
		for _, bad := range []string{`id="new-broadcast"`, `id="approve"`, `id="cancel"`, `id="compose"`} {
			if strings.Contains(res.body, bad) {
				t.Errorf("%s offers %s", path, bad)
			}
		}
	}
	if page := c.get("/broadcasts/" + p.ID).body; !strings.Contains(page, ">READ-ONLY-TEXT</pre>") || !strings.Contains(page, p.ID) {
		t.Error("the texts are not shown to staff who are not coordinators")
	}
	// The service refuses them anyway, in words.
	const refusal = "Only the coordinators named in the bot's configuration may create, approve or stop broadcasts, and " + staffName + " is not one of them."
	c.refused("/broadcasts/"+p.ID+"/approve", url.Values{}, http.StatusForbidden, refusal)
	c.refused("/broadcasts/"+p.ID+"/cancel", url.Values{}, http.StatusForbidden, refusal)
	c.refused("/broadcasts/new", url.Values{"kind": {"broadcast"}, "countries": {"UA"}, "text-en": {"x"}}, http.StatusForbidden, refusal)
	if ps, _ := env.Store.Publications(ctx, 10); len(ps) != 1 || ps[0].Status != store.PubQueued || len(ps[0].Approvers) != 0 {
		t.Fatalf("a non-coordinator changed the publications: %+v", ps)
	}

	// In French.
	c.lang = "fr"
	if page := c.get("/broadcasts").body; !strings.Contains(page, "Diffusions et pages de conseils") ||
		!strings.Contains(page, html.EscapeString("qui ne fait pas partie des coordinateurs nommés")) ||
		!strings.Contains(page, "en attente d&#39;approbation") {
		t.Errorf("the French list:\n%s", page)
	}
	c.lang = ""

	// Before any bot published the policy: the list, and why nothing can be done.
	if err := env.RDB.Del(ctx, "vigil:{b}:policy").Err(); err != nil {
		t.Fatal(err)
	}
	if res := c.get("/broadcasts"); res.status != http.StatusOK || !strings.Contains(res.body, "No bot has published its broadcast rules") ||
		!strings.Contains(res.body, p.ID) {
		t.Errorf("without a policy: %d\n%s", res.status, res.body)
	}
}

func TestBroadcastCreateSaysWhatToSet(t *testing.T) {
	env := testenv.New(t)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{web.ErrNoStaffKeys, "start it with VIGIL_RECIPIENTS_FILE set to the staff recipients file"},
		{web.ErrNoBotKey, "start vigil bot once (or set VIGIL_BOT_RECIPIENT)"},
	} {
		c := serve(t, env, "anna", web.Config{Broadcasts: staffBroadcasts(t, env, "anna"), CanCreate: func(context.Context) error { return tc.err }})
		c.login()
		form := c.get("/broadcasts/new").body
		if !strings.Contains(form, tc.want) || !strings.Contains(form, `id="create" disabled`) {
			t.Errorf("the form does not say what to set (%q):\n%s", tc.want, form)
		}
		c.refused("/broadcasts/new", url.Values{"kind": {"broadcast"}, "countries": {"UA"}, "text-en": {"x"}}, http.StatusConflict, tc.want)
		if res := c.get("/broadcasts"); res.status != http.StatusOK {
			t.Errorf("the list without %v: %d", tc.err, res.status)
		}
	}
	if ps, _ := env.Store.Publications(context.Background(), 10); len(ps) != 0 {
		t.Fatalf("created without the keys: %+v", ps)
	}
}
