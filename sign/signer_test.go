package sign

import (
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestAgentSigns: through a real ssh-agent, the key chosen by its public
// half signs statements that Vigil and ssh-keygen both accept.
func TestAgentSigns(t *testing.T) {
	sock := startAgent(t)
	ed := keygen(t, "ed25519", 0, "")
	ec := keygen(t, "ecdsa", 256, "")
	rsa := keygen(t, "rsa", 3072, "")
	for _, k := range []testKey{ed, ec, rsa} {
		agentAdd(t, sock, k)
	}
	kr := keyring(t, "anna staff "+ed.Pub, "bob staff,coordinator "+ec.Pub, "dora staff "+rsa.Pub)
	for _, tc := range []struct {
		name string
		key  testKey
		st   Statement
	}{
		{"anna", ed, statement(ActionReply, "anna", "K7Q2-XM4P")},
		{"bob", ec, statement(ActionApprove, "bob", "B-7K2QX6")},
		{"dora", rsa, statement(ActionReply, "dora", "K7Q2-XM4P")}, // the agent signs with rsa-sha2-512
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry, _ := kr.ByName(tc.name)
			s, err := FromAgent(sock, entry.PublicKey())
			if err != nil {
				t.Fatalf("FromAgent: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			sig, err := s.Sign(tc.st)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if e, err := kr.Verify(tc.st, sig); err != nil || e.Name != tc.name {
				t.Fatalf("Verify = %q, %v", e.Name, err)
			}
			if err := opensshVerify(t, tc.name, tc.key.Pub, sig, encode(t, tc.st)); err != nil {
				t.Fatalf("ssh-keygen -Y verify: %v", err)
			}
		})
	}

	t.Run("a key the agent does not hold", func(t *testing.T) {
		other := keygen(t, "ed25519", 0, "")
		_, err := FromAgent(sock, other.Pub)
		if err == nil || !strings.Contains(err.Error(), "does not hold the key SHA256:") || !strings.Contains(err.Error(), "ssh-add") {
			t.Fatalf("FromAgent = %v, want 'does not hold the key … ssh-add'", err)
		}
	})
	t.Run("no agent", func(t *testing.T) {
		_, err := FromAgent("", ed.Pub)
		if err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") {
			t.Fatalf("FromAgent = %v, want 'SSH_AUTH_SOCK is not set'", err)
		}
		_, err = FromAgent(filepath.Join(t.TempDir(), "none.sock"), ed.Pub)
		if err == nil || !strings.Contains(err.Error(), "connect to the ssh-agent") {
			t.Fatalf("FromAgent = %v, want 'connect to the ssh-agent'", err)
		}
	})
	t.Run("a malformed key", func(t *testing.T) {
		if _, err := FromAgent(sock, "ssh-ed25519 !!"); err == nil {
			t.Fatal("FromAgent accepted a malformed key")
		}
	})
}

// TestFromFilePermissions: a private key that group or others can read is
// refused, as ssh refuses it.
func TestFromFilePermissions(t *testing.T) {
	key := keygen(t, "ed25519", 0, "")
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o660, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			if err := os.Chmod(key.Path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := FromFile(key.Path, nil)
			if tc.ok {
				if err != nil {
					t.Fatalf("FromFile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("FromFile accepted a key others can read")
			}
			if want := "readable by group or others: run chmod 600 " + key.Path; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not hold %q", err, want)
			}
		})
	}
}

func TestFromFilePassphrase(t *testing.T) {
	const pass = "correct horse battery staple"
	key := keygen(t, "ed25519", 0, pass)
	kr := keyring(t, "anna staff "+key.Pub)
	asked := 0
	for _, tc := range []struct {
		name       string
		passphrase func() ([]byte, error)
		want       string // "" for success
	}{
		{"right passphrase", func() ([]byte, error) { asked++; return []byte(pass), nil }, ""},
		{"wrong passphrase", func() ([]byte, error) { return []byte("wrong " + pass), nil }, "wrong passphrase for private key"},
		{"no way to ask", nil, "encrypted and no passphrase was asked for"},
		{"asking fails", func() ([]byte, error) { return nil, errors.New("no terminal") }, "no terminal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromFile(key.Path, tc.passphrase)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("FromFile = %v, want an error holding %q", err, tc.want)
				}
				if strings.Contains(err.Error(), pass) {
					t.Fatalf("the error repeats the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromFile: %v", err)
			}
			st := statement(ActionReply, "anna", "K7Q2-XM4P")
			sig, err := s.Sign(st)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Verify(st, sig); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	if asked != 1 {
		t.Errorf("passphrase asked %d times, want 1", asked)
	}
	if _, err := FromFile(filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FromFile(missing) = %v, want os.ErrNotExist", err)
	}
	notKey := filepath.Join(t.TempDir(), "not-a-key")
	write(t, notKey, "hello\n", 0o600)
	if _, err := FromFile(notKey, nil); err == nil {
		t.Error("FromFile accepted a file that is not a key")
	}
}

func TestSignRefusesAnInvalidStatement(t *testing.T) {
	key := keygen(t, "ed25519", 0, "")
	s, err := FromFile(key.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := statement(ActionReply, "anna", "K7Q2-XM4P")
	st.Subject = "K7Q2\nXM4P"
	if sig, err := s.Sign(st); err == nil {
		t.Fatalf("Sign signed an invalid statement:\n%s", sig)
	}
}

// TestFromFileFIDOKey: a FIDO2 key file holds only a handle to the token, so
// FromFile sends its user to the agent instead of failing obscurely, and
// does not ask for a passphrase first.
func TestFromFileFIDOKey(t *testing.T) {
	tok := newToken(t, ssh.KeyAlgoSKED25519, 1)
	for _, cipher := range []string{"none", "aes256-ctr"} {
		t.Run(cipher, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "id_ed25519_sk")
			write(t, path, string(skKeyFile(tok.PublicKey(), cipher)), 0o600)
			_, err := FromFile(path, func() ([]byte, error) {
				t.Error("FromFile asked for a passphrase")
				return nil, errors.New("no")
			})
			if err == nil || !strings.Contains(err.Error(), "holds a FIDO2 key") || !strings.Contains(err.Error(), "ssh-add "+path) {
				t.Fatalf("FromFile = %v, want 'holds a FIDO2 key … ssh-add %s'", err, path)
			}
		})
	}
}

// skKeyFile returns an OpenSSH private key file (PROTOCOL.key) for a FIDO2
// key: its public half in the clear and, as a token's file does, a key
// handle where a private key would be. With a cipher other than "none" the
// private section is opaque, as an encrypted one is without its passphrase.
func skKeyFile(pub ssh.PublicKey, cipher string) []byte {
	kdf, kdfOpts := "none", ""
	if cipher != "none" {
		kdf, kdfOpts = "bcrypt", string(ssh.Marshal(struct {
			Salt   string
			Rounds uint32
		}{"0123456789abcdef", 16}))
	}
	private := ssh.Marshal(struct {
		Check1, Check2 uint32
		Type           string
		Rest           []byte `ssh:"rest"`
	}{7, 7, pub.Type(), []byte("handle, not a key")})
	for i := byte(1); len(private)%16 != 0; i++ {
		private = append(private, i)
	}
	body := append([]byte("openssh-key-v1\x00"), ssh.Marshal(struct {
		CipherName, KdfName, KdfOpts string
		NumKeys                      uint32
		PubKey, PrivKeyBlock         []byte
	}{cipher, kdf, kdfOpts, 1, pub.Marshal(), private})...)
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: body})
}
