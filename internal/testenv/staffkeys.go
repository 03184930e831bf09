package testenv

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"

	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/triage"
)

// StaffMember is one entry of the keyring the tests play: ana answers
// defenders; anna and ben are coordinators reachable in Telegram (the ids
// of the bot tests' coordinators); carl is a coordinator who works only
// from the command line.
type StaffMember struct {
	Name     string
	Roles    string // as the keyring writes them
	Telegram int64  // 0: none
}

// Staff is who the keyring of every Env trusts.
var Staff = []StaffMember{
	{Name: "ana", Roles: "staff"},
	{Name: "anna", Roles: "staff,coordinator", Telegram: 801},
	{Name: "ben", Roles: "coordinator", Telegram: 802},
	{Name: "carl", Roles: "coordinator"},
}

// staffKeys writes a signing key (an OpenSSH ed25519 private key, mode
// 0600) for each of Staff under dir/keys and the keyring that trusts them
// (dir/keyring, mode 0644); it returns the keyring's path.
func staffKeys(tb testing.TB, dir string) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for _, m := range Staff {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, m.Name+"@vigil-test")
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", m.Name), pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
		sshPub, err := ssh.NewPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		line := m.Name + " " + m.Roles + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
		if m.Telegram != 0 {
			line += " telegram=" + strconv.FormatInt(m.Telegram, 10)
		}
		lines = append(lines, line)
	}
	path := filepath.Join(dir, "keyring")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// SigningKeyFile returns the path of name's signing key (see Staff).
func (e *Env) SigningKeyFile(name string) string { return filepath.Join(e.Dir, "keys", name) }

// Signer returns a signer with name's key (see Staff), closed when the
// test ends.
func (e *Env) Signer(tb testing.TB, name string) *sign.Signer {
	tb.Helper()
	s, err := sign.FromFile(e.SigningKeyFile(name), nil)
	if err != nil {
		tb.Fatalf("signing key of %s: %v", name, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// StaffService returns the staff tools' service for name (see Staff): it
// signs replies with name's key and pins the bot's key in the Env's
// directory (KnownBotFile), as `vigil triage` does.
func (e *Env) StaffService(tb testing.TB, name string) *triage.Service {
	tb.Helper()
	s, err := triage.New(triage.Config{Store: e.Store, Identities: e.Identities, Recipients: e.Recipients, Staff: name,
		Signer: e.Signer(tb, name), KnownBotFile: e.KnownBotFile()})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// KnownBotFile is where the Env's staff tools pin the bot's key.
func (e *Env) KnownBotFile() string { return filepath.Join(e.Dir, "known_bot") }

// Reply has staff member name reply text to case ref through StaffService
// (signed, sealed to the bot, queued in the outbox).
func (e *Env) Reply(tb testing.TB, name, ref, text string) {
	tb.Helper()
	if err := e.StaffService(tb, name).Reply(context.Background(), ref, text); err != nil {
		tb.Fatalf("%s's reply to %s: %v", name, ref, err)
	}
}

// StaffRedis returns a client of the Env's Redis logged in as the staff
// user of the production ACL (deploy/redis/users.acl, its password
// replaced by a test one): what a staff laptop, or whoever stole its
// Redis password, may do. It needs a single server (New).
func (e *Env) StaffRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	if e.Redis == nil {
		tb.Fatal("testenv: StaffRedis needs a single Redis server")
	}
	_, here, _, _ := runtime.Caller(0)
	acl := filepath.Join(filepath.Dir(here), "..", "..", "deploy", "redis", "users.acl")
	raw, err := os.ReadFile(acl)
	if err != nil {
		tb.Fatal(err)
	}
	const user, password = "vigil-staff", "test-staff-password"
	var rules []any
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "user" || f[1] != user {
			continue
		}
		rules = append(rules, "ACL", "SETUSER", user)
		for _, r := range f[2:] {
			if strings.HasPrefix(r, "#") { // the password hash placeholder
				r = ">" + password
			}
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		tb.Fatalf("testenv: no user %s in %s", user, acl)
	}
	ctx := context.Background()
	if err := e.RDB.Do(ctx, rules...).Err(); err != nil {
		tb.Fatalf("testenv: create the staff user: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: e.Redis.Addr, Username: user, Password: password, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testenv: log in as %s: %v", user, err)
	}
	return c
}
