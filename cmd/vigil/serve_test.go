package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/testenv"
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
	if err := waitFor(10*time.Second, func() bool { return address.Match(out.Bytes()) }); err != nil {
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
