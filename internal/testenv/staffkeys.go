package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-hrd/vigil/sign"
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
