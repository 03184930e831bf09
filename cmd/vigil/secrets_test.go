package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/testenv"
	"github.com/vigil-hrd/vigil/seal"
)

// runMain runs the real vigil command (this test binary re-executed as
// main, see TestMain) with only the environment given, and returns what
// it wrote to stdout and stderr together, and its exit code.
func runMain(t *testing.T, env map[string]string, args ...string) (output string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"VIGIL_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("vigil %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// TestRedisSettingsNeverShowThePassword feeds Redis settings that hold a
// password and cannot be used to every command that connects to Redis,
// run as real processes: each stops with one line that names the setting
// and never shows the password, whatever go-redis or net/url would have
// quoted.
func TestRedisSettingsNeverShowThePassword(t *testing.T) {
	const secret = "S3CRETpw"
	dir := t.TempDir()
	file, pub, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	identity := filepath.Join(dir, "staff.key")
	if err := seal.WriteNewFile(identity, []byte(file)); err != nil {
		t.Fatal(err)
	}
	recipients := filepath.Join(dir, "recipients.txt")
	if err := os.WriteFile(recipients, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Everything else a command needs is there, so that only Redis can
	// fail. Port 1 on loopback: nothing answers there if a URL were taken.
	base := map[string]string{
		"TELEGRAM_BOT_TOKEN":    "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345",
		"VIGIL_RECIPIENTS_FILE": recipients,
		"VIGIL_SECRET_FILE":     filepath.Join(dir, "bot.secret"),
		"VIGIL_IDENTITY":        identity,
		"VIGIL_STAFF":           "ana",
		"VIGIL_METRICS_LISTEN":  "off",
	}
	schemes := "redis://, rediss:// or unix://"
	for _, tc := range []struct {
		name, setting, value string
		want                 []string // in the message
	}{
		{"bad port", "REDIS_URL", "redis://vigil-bot:" + secret + "@127.0.0.1:bad/0", []string{`"redis://vigil-bot:xxxxx@127.0.0.1:bad/0"`, "port"}},
		{"bad db", "REDIS_URL", "redis://vigil-bot:" + secret + "@127.0.0.1:1/zero", []string{`"redis://vigil-bot:xxxxx@127.0.0.1:1/zero"`, "database"}},
		{"password with a slash", "REDIS_URL", "redis://vigil-bot:12/" + secret + "@127.0.0.1:1/0", []string{`"redis://vigil-bot:xxxxx@127.0.0.1:1/0"`}},
		{"password with a bad escape", "REDIS_URL", "redis://vigil-bot:" + secret + "%zz@127.0.0.1:1/0", []string{"xxxxx", "%25"}},
		{"password in the query", "REDIS_URL", "redis://127.0.0.1:1/0?password=" + secret, []string{`"redis://127.0.0.1:1/0?…"`, "option"}},
		{"bad scheme", "REDIS_URL", "http://vigil-bot:" + secret + "@127.0.0.1:1/0", []string{`"http://vigil-bot:xxxxx@127.0.0.1:1/0"`, schemes}},
		{"no scheme", "REDIS_URL", "vigil-bot:" + secret + "@127.0.0.1:6379", []string{"value not shown", schemes}},
		{"no slashes", "REDIS_URL", "redis//vigil-bot:" + secret + "@127.0.0.1:1/0", []string{"value not shown", schemes}},
		{"garbage", "REDIS_URL", "::" + secret + "@", []string{"value not shown", schemes}},
		{"unix without a path", "REDIS_URL", "unix://vigil-bot:" + secret + "@", []string{`"unix://vigil-bot:xxxxx@"`, "socket"}},
		{"password in REDIS_ADDRS", "REDIS_ADDRS", "vigil-bot:" + secret + "@127.0.0.1:1", []string{`"xxxxx@127.0.0.1:1"`, "REDIS_PASSWORD"}},
		{"bare password in REDIS_ADDRS", "REDIS_ADDRS", secret + "@127.0.0.1:1", []string{`"xxxxx@127.0.0.1:1"`}},
	} {
		for _, args := range [][]string{
			{"bot"}, {"console"}, {"triage", "list"}, {"triage", "serve", "--listen", "127.0.0.1:0"},
			{"broadcast", "list"}, {"guidance", "list"},
		} {
			t.Run(tc.name+"/"+strings.Join(args[:min(2, len(args))], " "), func(t *testing.T) {
				env := map[string]string{tc.setting: tc.value}
				for k, v := range base {
					env[k] = v
				}
				out, code := runMain(t, env, args...)
				if strings.Contains(out, secret) {
					t.Fatalf("the password was shown:\n%s", out)
				}
				if code != 1 || !strings.HasPrefix(out, "vigil: "+tc.setting+": ") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
					t.Fatalf("exit %d, want 1 and one line naming %s:\n%s", code, tc.setting, out)
				}
				for _, want := range tc.want {
					if !strings.Contains(out, want) {
						t.Errorf("%q lacks %q", out, want)
					}
				}
			})
		}
	}
}

// TestStaffToolsRefuseAnIdentityOthersCanRead: every staff tool that
// loads an identity (-i or VIGIL_IDENTITY; the console's too) refuses one
// whose file its group or others can read, with one line that names the
// file and the command that fixes it; after the fix it works.
func TestStaffToolsRefuseAnIdentityOthersCanRead(t *testing.T) {
	env := testenv.New(t)
	open := filepath.Join(t.TempDir(), "staff.key")
	raw, err := os.ReadFile(env.IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(open, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	vars := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana"}
	withEnv := map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "ana", "VIGIL_IDENTITY": open}
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{vars, []string{"triage", "list", "-i", open}},
		{withEnv, []string{"triage", "list"}},
		{vars, []string{"triage", "show", "AAAA-BBBB", "-i", open}},
		{withEnv, []string{"triage", "serve", "--listen", "127.0.0.1:0"}},
		{vars, []string{"broadcast", "show", "X", "-i", open}},
		{withEnv, []string{"guidance", "list"}},
	} {
		// A console that wrongly starts is stopped, and fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errb bytes.Buffer
		code := run(ctx, tc.args, strings.NewReader(""), &out, &errb, func(k string) string { return tc.env[k] })
		cancel()
		stderr := errb.String()
		if code != 1 || !strings.HasSuffix(stderr, "fix it with: chmod 600 "+open+"\n") || strings.Count(stderr, "\n") != 1 || out.Len() != 0 {
			t.Errorf("vigil %v: exit %d, want one line ending with the chmod:\n%s%s", tc.args, code, out.String(), stderr)
		}
	}
	if err := os.Chmod(open, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := vigil(t, vars, "", "triage", "list", "-i", open); code != 0 {
		t.Fatalf("after chmod 600: exit %d\n%s%s", code, out, stderr)
	}
}

// TestSecretSettingsAreNotShown: the other secret settings are refused
// without their values, and so is a wrong Redis password.
func TestSecretSettingsAreNotShown(t *testing.T) {
	const secret = "S3CRETpw"
	env := testenv.New(t)
	token := "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
	for _, tc := range []struct {
		name, want string
		vars       map[string]string
		args       []string
	}{
		{"bad token", "TELEGRAM_BOT_TOKEN", map[string]string{"TELEGRAM_BOT_TOKEN": secret}, []string{"bot"}},
		{"bad webhook secret", "VIGIL_WEBHOOK_SECRET", map[string]string{"TELEGRAM_BOT_TOKEN": token, "VIGIL_WEBHOOK_URL": "https://x.example/hook",
			"VIGIL_WEBHOOK_LISTEN": ":0", "VIGIL_WEBHOOK_SECRET": secret + "!"}, []string{"bot"}},
		{"password twice", "REDIS_PASSWORD", map[string]string{"REDIS_ADDRS": "127.0.0.1:1", "REDIS_PASSWORD": secret, "REDIS_PASSWORD_FILE": "x"}, []string{"triage", "list"}},
		{"wrong password", "REDIS_URL", map[string]string{"REDIS_URL": strings.Replace(env.Redis.URL(), "://", "://nobody:"+secret+"@", 1),
			"VIGIL_STAFF": "ana"}, []string{"triage", "list"}},
	} {
		_, stderr, code := vigil(t, tc.vars, "", tc.args...)
		if code != 1 || !strings.HasPrefix(stderr, "vigil: "+tc.want) || strings.Contains(stderr, secret) {
			t.Errorf("%s: exit %d, want 1, %s named and the value not shown: %q", tc.name, code, tc.want, stderr)
		}
	}
}
