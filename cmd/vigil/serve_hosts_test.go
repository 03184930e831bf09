package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// startServe runs `vigil triage serve` with args until the test ends, and
// returns the one-time address it printed and what it wrote to stderr.
func startServe(t *testing.T, vars map[string]string, args ...string) (login string, errs *testenv.SafeBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &testenv.SafeBuffer{}, &testenv.SafeBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"triage", "serve"}, args...), strings.NewReader(""), out, errs,
			func(k string) string { return vars[k] })
	}()
	t.Cleanup(func() { cancel(); <-done })
	address := regexp.MustCompile(`http://127\.0\.0\.1:\d+/login\?token=[A-Za-z0-9_-]{43}`)
	if err := waitFor(fakeapi.Patience, func() bool { return address.Match(out.Bytes()) }); err != nil {
		t.Fatalf("no address printed:\n%s\n%s", out.Bytes(), errs.Bytes())
	}
	return string(address.Find(out.Bytes())), errs
}

// TestTriageServeRemoteKeepsTheHostCheck: --allow-remote lets the console
// listen beyond loopback but does not switch the Host check off: a request
// for a name that is not the listen address, a loopback name on a console
// that listens there, or a --host NAME is refused (421) and spends
// nothing; a --host name is answered.
func TestTriageServeRemoteKeepsTheHostCheck(t *testing.T) {
	env := testenv.New(t)
	vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana"}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(address, host string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, address, nil)
		req.Host = strings.ReplaceAll(host, "PORT", regexp.MustCompile(`:(\d+)/`).FindStringSubmatch(address)[1])
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	address, errs := startServe(t, vars, "-i", env.IdentityFile, "--listen", "0.0.0.0:0", "--allow-remote")
	for _, host := range []string{"evil.com", "evil.com:PORT", "console.example:PORT"} {
		if code := login(address, host); code != http.StatusMisdirectedRequest {
			t.Errorf("--allow-remote, Host %s: %d, want 421", host, code)
		}
	}
	if !strings.Contains(string(errs.Bytes()), "It answers only requests addressed to localhost, 127.0.0.1, ::1") {
		t.Errorf("the warning does not say which names are answered:\n%s", errs.Bytes())
	}
	if code := login(address, "127.0.0.1:PORT"); code != http.StatusSeeOther {
		t.Errorf("login at the printed address after refusals: %d, want 303", code)
	}

	address, _ = startServe(t, vars, "-i", env.IdentityFile, "--listen", "0.0.0.0:0", "--allow-remote",
		"--host", "vigil.example", "--host", "console.example,tunnel.example:9000")
	for _, host := range []string{"evil.com:PORT", "tunnel.example:PORT"} {
		if code := login(address, host); code != http.StatusMisdirectedRequest {
			t.Errorf("--host given, Host %s: %d, want 421", host, code)
		}
	}
	if code := login(address, "console.example:PORT"); code != http.StatusSeeOther {
		t.Errorf("login at a --host name: %d, want 303", code)
	}

	for _, bad := range []string{"https://console.example", "console example", "console.example:port"} {
		_, stderr, code := vigil(t, vars, "", "triage", "serve", "-i", env.IdentityFile, "--listen", "127.0.0.1:0", "--host", bad)
		if code != 1 || !strings.Contains(stderr, "--host") {
			t.Errorf("--host %q: exit %d %q", bad, code, stderr)
		}
	}
	if _, stderr, _ := vigil(t, vars, "", "triage", "help"); !strings.Contains(stderr, "--host NAME") {
		t.Errorf("the usage does not mention --host:\n%s", stderr)
	}
}
