package sign

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var keyTypes = []struct {
	name string
	typ  string
	bits int
}{
	{"ed25519", "ed25519", 0},
	{"ecdsa-p256", "ecdsa", 256},
	{"rsa-3072", "rsa", 3072},
}

// TestOpenSSHAndVigilAgree: what ssh-keygen -Y sign makes, Vigil verifies;
// what Vigil signs, ssh-keygen -Y verify accepts; for every key type.
func TestOpenSSHAndVigilAgree(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(kt.name, func(t *testing.T) {
			key := keygen(t, kt.typ, kt.bits, "")
			kr := keyring(t, "anna staff,coordinator "+key.Pub)
			st := statement(ActionBroadcast, "anna", "B-7K2QX6")
			msg := encode(t, st)

			for _, extra := range [][]string{nil, {"-O", "hashalg=sha256"}} {
				sig := opensshSign(t, key, Namespace, msg, extra...)
				e, err := kr.Verify(st, sig)
				if err != nil {
					t.Fatalf("Verify(ssh-keygen -Y sign %s): %v", strings.Join(extra, " "), err)
				}
				if e.Name != "anna" {
					t.Fatalf("Verify returned %q, want anna", e.Name)
				}
			}

			s, err := FromFile(key.Path, nil)
			if err != nil {
				t.Fatalf("FromFile: %v", err)
			}
			if s.PublicKey() != key.Pub {
				t.Errorf("PublicKey() = %s, want %s", s.PublicKey(), key.Pub)
			}
			sig, err := s.Sign(st)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if err := opensshVerify(t, "anna", key.Pub, sig, msg); err != nil {
				t.Fatalf("ssh-keygen -Y verify refused Vigil's signature: %v\n%s", err, sig)
			}
			other := encode(t, statement(ActionBroadcast, "anna", "B-7K2QX7"))
			if err := opensshVerify(t, "anna", key.Pub, sig, other); err == nil {
				t.Fatal("ssh-keygen -Y verify accepted the signature for another statement")
			}
			if _, err := kr.Verify(st, sig); err != nil {
				t.Fatalf("Verify(Vigil's own signature): %v", err)
			}
		})
	}
}

// TestVerifyRefuses: every way to make the bot act on a statement nobody
// with the right key signed is refused, with the error that says why.
func TestVerifyRefuses(t *testing.T) {
	annaKey := keygen(t, "ed25519", 0, "")
	bobKey := keygen(t, "ecdsa", 256, "")
	eveKey := keygen(t, "ed25519", 0, "")
	rsaKey, rsaPub := newRSA(t, MinRSABits)
	kr := keyring(t,
		"anna staff "+annaKey.Pub+" telegram=801",
		"bob staff,coordinator "+bobKey.Pub,
		"dora staff,coordinator "+rsaPub,
	)
	signer := func(key testKey) *Signer {
		s, err := FromFile(key.Path, nil)
		if err != nil {
			t.Fatalf("FromFile: %v", err)
		}
		return s
	}
	anna, bob, eve := signer(annaKey), signer(bobKey), signer(eveKey)
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	dora := &Signer{key: rsaSigner}

	sign := func(s *Signer, st Statement) []byte {
		sig, err := s.Sign(st)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		return sig
	}
	reply := statement(ActionReply, "anna", "K7Q2-XM4P")
	broadcast := statement(ActionBroadcast, "bob", "B-7K2QX6")
	changed := func(st Statement, f func(*Statement)) Statement {
		st.Countries = append([]string(nil), st.Countries...)
		f(&st)
		return st
	}
	// envelope rewrites the SSHSIG envelope of sig.
	envelopeOf := func(sig []byte, f func(*envelope)) []byte {
		raw, err := dearmor(sig)
		if err != nil {
			t.Fatal(err)
		}
		env, err := parseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		f(env)
		return armor(env.marshal())
	}
	// resigned signs the statement with dora's RSA key as the envelope
	// says, under a signature algorithm of the test's choosing.
	resigned := func(st Statement, hash, algo string) []byte {
		signed, err := signedData(Namespace, hash, encode(t, st))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := rsaSigner.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, signed, algo)
		if err != nil {
			t.Fatal(err)
		}
		env := envelope{Version: 1, PublicKey: rsaSigner.PublicKey().Marshal(), Namespace: Namespace, HashAlgorithm: hash, Signature: ssh.Marshal(sig)}
		return armor(env.marshal())
	}
	doraReply := statement(ActionReply, "dora", "K7Q2-XM4P")
	if _, err := kr.Verify(doraReply, resigned(doraReply, "sha512", ssh.KeyAlgoRSASHA256)); err != nil {
		t.Fatalf("test bug: a hand-made rsa-sha2-256 signature does not verify: %v", err)
	}

	for _, tc := range []struct {
		name string
		st   Statement // what the bot is about to do
		sig  []byte
		want error
	}{
		{"key not in the keyring", reply, sign(eve, reply), ErrUntrustedKey},
		{"signed by anna, naming bob", changed(reply, func(s *Statement) { s.Signer = "bob" }),
			sign(anna, changed(reply, func(s *Statement) { s.Signer = "bob" })), ErrWrongSigner},
		{"signed by anna, naming no one in the keyring", changed(reply, func(s *Statement) { s.Signer = "zed" }),
			sign(anna, changed(reply, func(s *Statement) { s.Signer = "zed" })), ErrWrongSigner},
		{"staff signs a broadcast", statement(ActionBroadcast, "anna", "B-7K2QX6"), sign(anna, statement(ActionBroadcast, "anna", "B-7K2QX6")), ErrRole},
		{"staff signs guidance", statement(ActionGuidance, "anna", "G-7K2QX6"), sign(anna, statement(ActionGuidance, "anna", "G-7K2QX6")), ErrRole},
		{"staff approves", statement(ActionApprove, "anna", "B-7K2QX6"), sign(anna, statement(ActionApprove, "anna", "B-7K2QX6")), ErrRole},
		{"staff stops", statement(ActionStop, "anna", "B-7K2QX6"), sign(anna, statement(ActionStop, "anna", "B-7K2QX6")), ErrRole},
		{"another namespace (file)", reply, opensshSign(t, annaKey, "file", encode(t, reply)), ErrBadSignature},
		{"another namespace (git)", reply, opensshSign(t, annaKey, "git", encode(t, reply)), ErrBadSignature},
		{"a namespace that starts like ours", reply, opensshSign(t, annaKey, Namespace+"x", encode(t, reply)), ErrBadSignature},
		{"text changed by one byte", changed(reply, func(s *Statement) { s.Digest[31] ^= 1 }), sign(anna, reply), ErrBadSignature},
		{"another text", changed(reply, func(s *Statement) { s.Digest = DigestOf([]byte("Come to the square at 6.")) }), sign(anna, reply), ErrBadSignature},
		{"replayed onto another case", changed(reply, func(s *Statement) { s.Subject = "K7Q2-XM4Q" }), sign(anna, reply), ErrBadSignature},
		{"replayed onto another publication", changed(broadcast, func(s *Statement) { s.Subject = "B-7K2QX7" }), sign(bob, broadcast), ErrBadSignature},
		{"an approval used as a broadcast", broadcast, sign(bob, changed(broadcast, func(s *Statement) { s.Action = ActionApprove })), ErrBadSignature},
		{"countries widened", changed(broadcast, func(s *Statement) { s.Countries = append(s.Countries, "BY") }), sign(bob, broadcast), ErrBadSignature},
		{"time changed", changed(reply, func(s *Statement) { s.Time = s.Time.Add(time.Second) }), sign(anna, reply), ErrBadSignature},
		{"signature changed by one byte", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.Signature[len(e.Signature)-1] ^= 1 }), ErrBadSignature},
		{"eve's key in anna's signature", reply, envelopeOf(sign(eve, reply), func(e *envelope) { e.PublicKey = mustWire(t, annaKey.Pub) }), ErrBadSignature},
		{"hash algorithm sha1", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.HashAlgorithm = "sha1" }), ErrBadSignature},
		{"hash algorithm said sha256, was sha512", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.HashAlgorithm = "sha256" }), ErrBadSignature},
		{"SSHSIG version 2", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.Version = 2 }), ErrBadSignature},
		{"reserved field used", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.Reserved = []byte("x") }), ErrBadSignature},
		{"malformed public key", reply, envelopeOf(sign(anna, reply), func(e *envelope) { e.PublicKey = e.PublicKey[:10] }), ErrBadSignature},
		{"RSA signature with SHA-1 (ssh-rsa)", doraReply, resigned(doraReply, "sha512", ssh.KeyAlgoRSA), ErrBadSignature},
		{"RSA signature of another format", doraReply, envelopeOf(sign(dora, doraReply), func(e *envelope) {
			e.Signature = ssh.Marshal(ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: []byte("x")})
		}), ErrBadSignature},
		{"signature with trailing flags", reply, envelopeOf(sign(anna, reply), func(e *envelope) {
			var s ssh.Signature
			if err := ssh.Unmarshal(e.Signature, &s); err != nil {
				t.Fatal(err)
			}
			s.Rest = []byte{1, 0, 0, 0, 1}
			e.Signature = ssh.Marshal(s)
		}), ErrBadSignature},
		{"not armored", reply, func() []byte { raw, _ := dearmor(sign(anna, reply)); return raw }(), ErrBadSignature},
		{"armor cut short", reply, bytes.TrimSuffix(sign(anna, reply), []byte(armorEnd+"\n")), ErrBadSignature},
		{"armor of another kind", reply, bytes.ReplaceAll(sign(anna, reply), []byte("SSH SIGNATURE"), []byte("PGP SIGNATURE")), ErrBadSignature},
		{"not SSHSIG inside", reply, armor([]byte("SSHSIX\x00\x00\x00\x01")), ErrBadSignature},
		{"empty", reply, nil, ErrBadSignature},
		{"too long", reply, append(sign(anna, reply), bytes.Repeat([]byte(" "), maxArmored)...), ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := kr.Verify(tc.st, tc.sig)
			if err == nil {
				t.Fatalf("Verify accepted it, as %s", e.Name)
			}
			for _, sentinel := range []error{ErrBadSignature, ErrUntrustedKey, ErrWrongSigner, ErrRole} {
				if errors.Is(err, sentinel) != (sentinel == tc.want) {
					t.Errorf("Verify: %v; errors.Is(%v) = %v", err, sentinel, !(sentinel == tc.want))
				}
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}

	// The untouched statements verify, so the refusals above are the
	// changes' doing.
	for _, c := range []struct {
		s  *Signer
		st Statement
	}{{anna, reply}, {bob, broadcast}, {dora, doraReply}, {bob, statement(ActionReply, "bob", "K7Q2-XM4P")}} {
		if _, err := kr.Verify(c.st, sign(c.s, c.st)); err != nil {
			t.Errorf("Verify(%s's %s): %v", c.st.Signer, c.st.Action, err)
		}
	}

	t.Run("an invalid statement matches no sentinel", func(t *testing.T) {
		bad := changed(reply, func(s *Statement) { s.Subject = "K7Q2\nXM4P" })
		_, err := kr.Verify(bad, sign(anna, reply))
		if err == nil || errors.Is(err, ErrBadSignature) || errors.Is(err, ErrUntrustedKey) || errors.Is(err, ErrWrongSigner) || errors.Is(err, ErrRole) {
			t.Fatalf("Verify = %v, want a statement error", err)
		}
	})
}

// TestVerifyRoles: each action needs its role, and only it.
func TestVerifyRoles(t *testing.T) {
	keys := map[string]*Signer{}
	var lines []string
	for _, who := range []struct{ name, roles string }{{"sam", "staff"}, {"cora", "coordinator"}, {"bea", "staff,coordinator"}} {
		k := keygen(t, "ed25519", 0, "")
		s, err := FromFile(k.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[who.name] = s
		lines = append(lines, who.name+" "+who.roles+" "+k.Pub)
	}
	kr := keyring(t, lines...)
	allowed := map[Action][]string{
		ActionReply:     {"sam", "bea"},
		ActionBroadcast: {"cora", "bea"},
		ActionGuidance:  {"cora", "bea"},
		ActionApprove:   {"cora", "bea"},
		ActionStop:      {"cora", "bea"},
	}
	for action, who := range allowed {
		for name, s := range keys {
			st := statement(action, name, "B-7K2QX6")
			sig, err := s.Sign(st)
			if err != nil {
				t.Fatal(err)
			}
			_, err = kr.Verify(st, sig)
			want := strings.Contains(strings.Join(who, " "), name)
			if want && err != nil {
				t.Errorf("%s %s: %v", name, action, err)
			}
			if !want && !errors.Is(err, ErrRole) {
				t.Errorf("%s %s: %v, want ErrRole", name, action, err)
			}
		}
	}
}

// mustWire returns the wire bytes of a .pub line.
func mustWire(tb testing.TB, pub string) []byte {
	tb.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		tb.Fatal(err)
	}
	return k.Marshal()
}
