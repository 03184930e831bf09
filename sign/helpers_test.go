package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// need returns the path of an OpenSSH tool, failing the test (never
// skipping it) with how to install it when it is missing.
func need(tb testing.TB, tool string) string {
	tb.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		tb.Fatalf("%s is not installed; the sign tests check Vigil against the real OpenSSH tools. "+
			"Install them with `sudo apt-get install openssh-client` (Debian/Ubuntu) or `brew install openssh` (macOS).", tool)
	}
	return p
}

// testKey is a key pair made by ssh-keygen in a temporary directory.
type testKey struct {
	Path string // private key file, mode 0600
	Pub  string // "TYPE BASE64" without comment
}

// keygen makes a key with `ssh-keygen -t typ [-b bits]` and an optional
// passphrase.
func keygen(tb testing.TB, typ string, bits int, passphrase string) testKey {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "id_"+typ)
	// One KDF round, not the default 16: decrypting the key is the slow
	// part of a test with a passphrase, above all under the race detector.
	args := []string{"-q", "-t", typ, "-N", passphrase, "-a", "1", "-C", "test@vigil", "-f", path}
	if bits != 0 {
		args = append(args, "-b", strconv.Itoa(bits))
	}
	run(tb, nil, need(tb, "ssh-keygen"), args...)
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(pub))
	return testKey{Path: path, Pub: f[0] + " " + f[1]}
}

// run runs a command with stdin and returns its standard output, failing
// the test with its standard error when it fails.
func run(tb testing.TB, stdin []byte, name string, args ...string) []byte {
	tb.Helper()
	out, err := runErr(stdin, nil, name, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

// runErr runs a command and returns its standard output, or an error that
// holds its standard error.
func runErr(stdin []byte, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// opensshSign signs msg with `ssh-keygen -Y sign` and returns the armored
// signature. Extra arguments go before -f (for example -O hashalg=sha256).
func opensshSign(tb testing.TB, key testKey, namespace string, msg []byte, extra ...string) []byte {
	tb.Helper()
	args := append([]string{"-Y", "sign", "-n", namespace, "-q"}, extra...)
	args = append(args, "-f", key.Path)
	return run(tb, msg, need(tb, "ssh-keygen"), args...)
}

// opensshVerify checks sig over msg with `ssh-keygen -Y verify` against an
// allowed_signers file listing principal with pub.
func opensshVerify(tb testing.TB, principal, pub string, sig, msg []byte) error {
	tb.Helper()
	dir := tb.TempDir()
	signers := filepath.Join(dir, "allowed_signers")
	sigPath := filepath.Join(dir, "msg.sig")
	write(tb, signers, principal+` namespaces="`+Namespace+`" `+pub+"\n", 0o600)
	write(tb, sigPath, string(sig), 0o600)
	_, err := runErr(msg, nil, need(tb, "ssh-keygen"), "-Y", "verify", "-f", signers, "-I", principal, "-n", Namespace, "-s", sigPath)
	return err
}

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

// startAgent starts a private ssh-agent on a socket in a new directory and
// stops it when the test ends. It returns the socket's path.
func startAgent(tb testing.TB) string {
	tb.Helper()
	bin := need(tb, "ssh-agent")
	// A Unix socket's path is limited to about 100 bytes, which a test's
	// TempDir under a long name may pass.
	dir, err := os.MkdirTemp("", "vigil-agent")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start ssh-agent: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		select {
		case <-exited:
			tb.Fatalf("ssh-agent exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ssh-agent did not listen on %s within 20 s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agentAdd adds a private key file to the agent at sock with ssh-add.
func agentAdd(tb testing.TB, sock string, key testKey) {
	tb.Helper()
	if _, err := runErr(nil, []string{"SSH_AUTH_SOCK=" + sock}, need(tb, "ssh-add"), "-q", key.Path); err != nil {
		tb.Fatalf("ssh-add: %v", err)
	}
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
