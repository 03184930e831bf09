package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
)

// TestTriageServeRefusesWhatItShould: the console needs an identity, and
// listens beyond loopback only when told twice.
func TestTriageServeRefusesWhatItShould(t *testing.T) {
	env := testenv.New(t)
	vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, "no identity"},
		{[]string{"-i", env.IdentityFile, "--listen", "0.0.0.0:0"}, "--allow-remote"},
		{[]string{"-i", env.IdentityFile, "--listen", "192.0.2.1:8765"}, "SSH tunnel"},
		{[]string{"-i", env.IdentityFile, "--listen", "8765"}, "want HOST:PORT"},
		{[]string{"-i", env.IdentityFile, "--poll", "1ms"}, "--poll"},
		{[]string{"-i", env.IdentityFile, "extra"}, "usage: vigil triage serve"},
	} {
		_, stderr, code := vigil(t, vars, "", append([]string{"triage", "serve"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, want %q in %q", tc.args, code, tc.want, stderr)
		}
	}
}

// TestTriageServeRemoteWarnsAndStops: with --allow-remote the console
// warns, prints an address that opens it once, and stops cleanly when
// asked.
func TestTriageServeRemoteWarnsAndStops(t *testing.T) {
	env := testenv.New(t)
	vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana", "VIGIL_RECIPIENTS_FILE": filepath.Join(env.Dir, "recipients.txt")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &testenv.SafeBuffer{}, &testenv.SafeBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"triage", "serve", "-i", env.IdentityFile, "--listen", "0.0.0.0:0", "--allow-remote"},
			strings.NewReader(""), out, errs, func(k string) string { return vars[k] })
	}()
	address := regexp.MustCompile(`http://127\.0\.0\.1:\d+/login\?token=[A-Za-z0-9_-]{43}`)
	if err := waitFor(fakeapi.Patience, func() bool { return address.Match(out.Bytes()) }); err != nil {
		t.Fatalf("no address printed:\n%s\n%s", out.Bytes(), errs.Bytes())
	}
	if !strings.Contains(string(errs.Bytes()), "WARNING: the console listens on") {
		t.Errorf("no warning for a remote console:\n%s", errs.Bytes())
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := string(address.Find(out.Bytes()))
	for i, want := range []int{http.StatusSeeOther, http.StatusForbidden} {
		res, err := client.Get(login)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("login %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(string(errs.Bytes()), "console stopped") {
			t.Fatalf("stop: exit %d\n%s", code, errs.Bytes())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not stop")
	}
}

// TestTriageServeBroadcasts: the console's Broadcasts page seals new texts
// to the recipients file and to the bot's key read from Redis, and opens
// them with the staff identity; without a recipients file, Create says
// what to set and the rest of the page works.
func TestTriageServeBroadcasts(t *testing.T) {
	env := testenv.New(t)
	open := func(recipients string) (base string, client *http.Client, csrf string, page string) {
		t.Helper()
		vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "anna", "VIGIL_RECIPIENTS_FILE": recipients,
			"VIGIL_SIGNING_KEY": env.SigningKeyFile("anna"), "VIGIL_KNOWN_BOT": env.KnownBotFile()}
		ctx, cancel := context.WithCancel(context.Background())
		out, errs := &testenv.SafeBuffer{}, &testenv.SafeBuffer{}
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"triage", "serve", "-i", env.IdentityFile, "--listen", "127.0.0.1:0"},
				strings.NewReader(""), out, errs, func(k string) string { return vars[k] })
		}()
		t.Cleanup(func() { cancel(); <-done })
		address := regexp.MustCompile(`http://127\.0\.0\.1:\d+/login\?token=[A-Za-z0-9_-]{43}`)
		if err := waitFor(fakeapi.Patience, func() bool { return address.Match(out.Bytes()) }); err != nil {
			t.Fatalf("no address printed:\n%s\n%s", out.Bytes(), errs.Bytes())
		}
		login := string(address.Find(out.Bytes()))
		jar, _ := cookiejar.New(nil)
		client = &http.Client{Jar: jar}
		base = strings.Split(login, "/login")[0]
		if res, err := client.Get(login); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("login: %v %v", res, err)
		}
		res, err := client.Get(base + "/broadcasts/new")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
		if res.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("the form: %d\n%s", res.StatusCode, b)
		}
		return base, client, string(m[1]), string(b)
	}

	_, _, _, page := open(filepath.Join(env.Dir, "no-such-recipients.txt"))
	if !strings.Contains(page, "start it with VIGIL_RECIPIENTS_FILE set to the staff recipients file") {
		t.Errorf("without a recipients file the form does not say what to set:\n%s", page)
	}

	base, client, csrf, _ := open(filepath.Join(env.Dir, "recipients.txt"))
	res, err := client.PostForm(base+"/broadcasts/new", url.Values{"csrf": {csrf}, "kind": {"broadcast"}, "countries": {"UA"},
		"text-en": {"SERVE-TEXT <i>stay safe</i>"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "SERVE-TEXT &lt;i&gt;stay safe&lt;/i&gt;</pre>") {
		t.Fatalf("create: %d\n%s", res.StatusCode, b)
	}
	ps, err := env.Store.Publications(context.Background(), 1)
	if err != nil || len(ps) != 1 || ps[0].Creator != "anna" {
		t.Fatalf("publications: %+v %v", ps, err)
	}
	// The bot can send it: sealed to the key it published in Redis.
	if raw, err := seal.Open(ps[0].Texts["en"], env.BotID); err != nil || string(raw) != "SERVE-TEXT <i>stay safe</i>" {
		t.Fatalf("the bot opens %q, %v", raw, err)
	}
}
