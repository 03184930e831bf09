package sign

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Signer signs statements with one OpenSSH key. It is safe for concurrent
// use.
type Signer struct {
	key    ssh.Signer
	closer io.Closer // the agent connection, or nil
}

// FromAgent returns a Signer that signs with the key pub (as in a .pub file
// or Entry.PublicKey: "ssh-ed25519 AAAA…") held by the ssh-agent listening
// on the Unix socket sockPath, normally $SSH_AUTH_SOCK. The private key
// never leaves the agent; with a FIDO2 key (sk-) the agent asks for a touch
// of the token for each signature. Close the Signer when done.
func FromAgent(sockPath, pub string) (*Signer, error) {
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return nil, fmt.Errorf("sign: the key to ask the agent for is malformed: %w", err)
	}
	if sockPath == "" {
		return nil, errors.New("sign: no ssh-agent: SSH_AUTH_SOCK is not set; start one with `eval $(ssh-agent)` and add your key with ssh-add")
	}
	conn, err := net.Dial("unix", sockPath)
	if err != nil {
		return nil, fmt.Errorf("sign: connect to the ssh-agent: %w", err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sign: list the ssh-agent's keys: %w", err)
	}
	blob := string(want.Marshal())
	for _, s := range signers {
		if string(s.PublicKey().Marshal()) == blob {
			return &Signer{key: s, closer: conn}, nil
		}
	}
	conn.Close()
	return nil, fmt.Errorf("sign: the ssh-agent does not hold the key %s: add it with ssh-add (ssh-add -l lists what it holds)", ssh.FingerprintSHA256(want))
}

// FromFile returns a Signer that signs with the OpenSSH private key in the
// file at path. A file that group or others can read is refused, as ssh
// refuses it. When the key is encrypted, passphrase is called once for its
// passphrase; it may be nil for a key without one. A FIDO2 (sk-) key file
// only holds a handle to the token: use it through the agent (FromAgent).
func FromFile(path string, passphrase func() ([]byte, error)) (*Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sign: open private key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sign: private key %q: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sign: private key %q is readable by group or others: run chmod 600 %s", path, shellQuote(path))
	}
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("sign: read private key %q: %w", path, err)
	}
	if isSK(fileKeyType(raw)) {
		return nil, fmt.Errorf("sign: %q holds a FIDO2 key, which signs only with its token: add it to ssh-agent (ssh-add %s) and sign through the agent",
			path, shellQuote(path))
	}
	key, err := ssh.ParsePrivateKey(raw)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("sign: private key %q is encrypted and no passphrase was asked for", path)
		}
		pass, perr := passphrase()
		if perr != nil {
			return nil, fmt.Errorf("sign: passphrase for %q: %w", path, perr)
		}
		key, err = ssh.ParsePrivateKeyWithPassphrase(raw, pass)
		clear(pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("sign: wrong passphrase for private key %q", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sign: private key %q: %w", path, err)
	}
	return &Signer{key: key}, nil
}

func isSK(keyType string) bool {
	return keyType == ssh.KeyAlgoSKED25519 || keyType == ssh.KeyAlgoSKECDSA256
}

// fileKeyType returns the type of the public key stored in the clear in an
// OpenSSH private key file (PROTOCOL.key), or "" when the file is of
// another format. It lets FromFile name a FIDO2 key file, which x/crypto
// cannot parse, whether encrypted or not.
func fileKeyType(raw []byte) string {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		return ""
	}
	rest, ok := bytes.CutPrefix(block.Bytes, []byte("openssh-key-v1\x00"))
	if !ok {
		return ""
	}
	var w struct {
		CipherName, KdfName, KdfOpts string
		NumKeys                      uint32
		PubKey                       []byte
		Rest                         []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(rest, &w); err != nil || w.NumKeys != 1 {
		return ""
	}
	key, err := ssh.ParsePublicKey(w.PubKey)
	if err != nil {
		return ""
	}
	return key.Type()
}

// PublicKey returns the signer's public key as in a .pub file, without a
// comment, to be looked up with Keyring.ByKey.
func (s *Signer) PublicKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.key.PublicKey())))
}

// Sign returns an armored SSHSIG signature of st's canonical bytes under
// Namespace, hashed with SHA-512, as `ssh-keygen -Y sign -n vigil-staff@v1`
// would make it. RSA keys sign with rsa-sha2-512.
func (s *Signer) Sign(st Statement) ([]byte, error) {
	msg, err := st.Encode()
	if err != nil {
		return nil, err
	}
	const hashAlgorithm = "sha512"
	signed, err := signedData(Namespace, hashAlgorithm, msg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var sig *ssh.Signature
	if s.key.PublicKey().Type() == ssh.KeyAlgoRSA {
		// A plain Sign would use SHA-1 (ssh-rsa), which Verify refuses.
		as, ok := s.key.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("sign: this RSA signer cannot sign with SHA-2")
		}
		sig, err = as.SignWithAlgorithm(rand.Reader, signed, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.key.Sign(rand.Reader, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("sign: sign with %s: %w", ssh.FingerprintSHA256(s.key.PublicKey()), err)
	}
	env := envelope{
		Version:       sigVersion,
		PublicKey:     s.key.PublicKey().Marshal(),
		Namespace:     Namespace,
		HashAlgorithm: hashAlgorithm,
		Signature:     ssh.Marshal(sig),
	}
	return armor(env.marshal()), nil
}

// Close closes the connection to the agent, if any.
func (s *Signer) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}
