package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func write(tb testing.TB, path, data string, mode os.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // the umask may have cleared bits
		tb.Fatal(err)
	}
}

// keyring parses keyring lines, failing the test on an error.
func keyring(tb testing.TB, lines ...string) *Keyring {
	tb.Helper()
	k, err := ParseKeyring(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	if err != nil {
		tb.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

// statement returns a valid statement of action by signer about subject.
func statement(action Action, signer, subject string) Statement {
	st := Statement{
		Action:  action,
		Signer:  signer,
		Time:    time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC),
		Subject: subject,
		Digest:  DigestOf([]byte("We have read your report. Stay safe.")),
	}
	if action.hasCountries() {
		st.Countries = []string{"GE", "UA"}
	}
	return st
}

func encode(tb testing.TB, st Statement) []byte {
	tb.Helper()
	b, err := st.Encode()
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}

// authorized returns a public key as in a .pub file, without comment.
func authorized(tb testing.TB, key ssh.PublicKey) string {
	tb.Helper()
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// goKey returns the .pub line of a key made in the test process, for tests
// of the keyring's parser that need many keys and no ssh-keygen.
func goKey(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return authorized(tb, k)
}

func newEd25519(tb testing.TB) string {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return goKey(tb, pub)
}

func newECDSA(tb testing.TB, c elliptic.Curve) string {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return goKey(tb, &k.PublicKey)
}

func newRSA(tb testing.TB, bits int) (*rsa.PrivateKey, string) {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return k, goKey(tb, &k.PublicKey)
}
