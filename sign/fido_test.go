package sign

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"math/big"
	"testing"

	"golang.org/x/crypto/ssh"
)

// token stands in for a FIDO2 security key, which no test machine has: it
// makes the signatures OpenSSH's PROTOCOL.u2f describes (the signed bytes
// are SHA-256(application) || flags || counter || SHA-256(data)), with or
// without the user-presence flag a touch sets. ssh-keygen -Y verify checks
// what it makes, so the stand-in is held to the real format. It signs data
// for the tests only: the package itself implements no signature.
type token struct {
	pub     ssh.PublicKey
	ed      ed25519.PrivateKey
	ec      *ecdsa.PrivateKey
	flags   byte
	counter uint32
}

const application = "ssh:"

// newToken returns a stand-in token of type typ (ssh.KeyAlgoSKED25519 or
// ssh.KeyAlgoSKECDSA256) whose signatures carry flags.
func newToken(tb testing.TB, typ string, flags byte) *token {
	tb.Helper()
	t := &token{flags: flags, counter: 41}
	var blob []byte
	switch typ {
	case ssh.KeyAlgoSKED25519:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		t.ed = priv
		blob = ssh.Marshal(struct {
			Type, Key, App string
		}{typ, string(pub), application})
	case ssh.KeyAlgoSKECDSA256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		t.ec = priv
		point, err := priv.PublicKey.ECDH()
		if err != nil {
			tb.Fatal(err)
		}
		blob = ssh.Marshal(struct {
			Type, Curve, Key, App string
		}{typ, "nistp256", string(point.Bytes()), application})
	default:
		tb.Fatalf("newToken: %s is not a FIDO key type", typ)
	}
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		tb.Fatalf("newToken: parse own key: %v", err)
	}
	t.pub = pub
	return t
}

func (t *token) PublicKey() ssh.PublicKey { return t.pub }

func (t *token) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	t.counter++
	app := sha256.Sum256([]byte(application))
	msg := sha256.Sum256(data)
	signed := ssh.Marshal(struct {
		App     []byte `ssh:"rest"`
		Flags   byte
		Counter uint32
		Msg     []byte `ssh:"rest"`
	}{app[:], t.flags, t.counter, msg[:]})
	rest := ssh.Marshal(struct {
		Flags   byte
		Counter uint32
	}{t.flags, t.counter})
	if t.ed != nil {
		return &ssh.Signature{Format: t.pub.Type(), Blob: ed25519.Sign(t.ed, signed), Rest: rest}, nil
	}
	h := sha256.Sum256(signed)
	r, s, err := ecdsa.Sign(rand.Reader, t.ec, h[:])
	if err != nil {
		return nil, err
	}
	return &ssh.Signature{Format: t.pub.Type(), Blob: ssh.Marshal(struct{ R, S *big.Int }{r, s}), Rest: rest}, nil
}

// TestFIDOKeysNeedATouch: a signature by a FIDO2 key verifies when the
// token reports the user's presence (a touch) and is refused when it does
// not, though it is otherwise valid.
func TestFIDOKeysNeedATouch(t *testing.T) {
	const userPresent = 0x01
	for _, tc := range []struct {
		name    string
		typ     string
		flags   byte
		wantErr error
	}{
		{"ed25519-sk touched", ssh.KeyAlgoSKED25519, userPresent, nil},
		{"ed25519-sk not touched", ssh.KeyAlgoSKED25519, 0, ErrBadSignature},
		{"ecdsa-sk touched", ssh.KeyAlgoSKECDSA256, userPresent, nil},
		{"ecdsa-sk touched and verified", ssh.KeyAlgoSKECDSA256, userPresent | 0x04, nil},
		{"ecdsa-sk verified (PIN) but not touched", ssh.KeyAlgoSKECDSA256, 0x04, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := newToken(t, tc.typ, tc.flags)
			pub := authorized(t, tok.PublicKey())
			kr := keyring(t, "anna staff "+pub+" telegram=801")
			st := statement(ActionReply, "anna", "K7Q2-XM4P")
			sig, err := (&Signer{key: tok}).Sign(st)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			_, err = kr.Verify(st, sig)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify: %v, want %v", err, tc.wantErr)
			}
			// ssh-keygen accepts every one of them (OpenSSH 9.2 does not
			// check the flag in -Y verify): the signature is otherwise
			// sound, and only the missing touch makes Vigil refuse it.
			if err := opensshVerify(t, "anna", pub, sig, encode(t, st)); err != nil {
				t.Fatalf("ssh-keygen -Y verify refused the stand-in token's signature: %v", err)
			}
		})
	}
}
