package sign

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzVerify feeds Verify signatures and statements derived from real ones
// (made by ssh-keygen and by a stand-in FIDO2 token). Verify must not
// panic; it may accept another encoding of a seed's signature, but only for
// a statement a seed validly signed, and only as that statement's signer;
// every refusal must match exactly one of the sentinel errors and be one
// line.
func FuzzVerify(f *testing.F) {
	ed := keygen(f, "ed25519", 0, "")
	ec := keygen(f, "ecdsa", 256, "")
	tok := newToken(f, ssh.KeyAlgoSKECDSA256, 1)
	kr := keyring(f,
		"anna staff,coordinator "+ed.Pub,
		"bob staff "+ec.Pub,
		"cora coordinator "+authorized(f, tok.PublicKey()),
	)
	base := statement(ActionReply, "anna", "K7Q2-XM4P")
	signed := map[string]bool{} // statements that a seed validly signs
	add := func(st Statement, sig []byte) {
		msg := encode(f, st)
		if _, err := kr.Verify(st, sig); err == nil {
			signed[string(msg)] = true
		}
		f.Add(sig, msg)
	}
	for _, st := range []Statement{base, statement(ActionBroadcast, "anna", "B-7K2QX6")} {
		add(st, opensshSign(f, ed, Namespace, encode(f, st)))
		add(st, opensshSign(f, ed, Namespace, encode(f, st), "-O", "hashalg=sha256"))
		add(st, opensshSign(f, ed, "file", encode(f, st)))
	}
	bobReply := statement(ActionReply, "bob", "K7Q2-XM4P")
	add(bobReply, opensshSign(f, ec, Namespace, encode(f, bobReply)))
	coraStop := statement(ActionStop, "cora", "G-7K2QX6")
	sig, err := (&Signer{key: tok}).Sign(coraStop)
	if err != nil {
		f.Fatal(err)
	}
	add(coraStop, sig)
	if len(signed) != 4 {
		f.Fatalf("%d seed statements verify, want 4 (ssh-keygen's two, bob's, cora's)", len(signed))
	}
	f.Add([]byte(armorBegin+"\n"+armorEnd+"\n"), encode(f, base))
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, sig, msg []byte) {
		st, err := ParseStatement(msg)
		if err != nil {
			st = base
			msg = encode(t, base)
		}
		e, err := kr.Verify(st, sig)
		if err == nil {
			if !signed[string(msg)] {
				t.Fatalf("Verify accepted a signature of a statement no one signed:\n%s\n%q", msg, sig)
			}
			if e.Name != st.Signer || !e.Has(st.Action.Role()) {
				t.Fatalf("Verify returned %s (%v) for a statement by %s of %s", e.Name, e.Roles, st.Signer, st.Action)
			}
			return
		}
		n := 0
		for _, sentinel := range []error{ErrBadSignature, ErrUntrustedKey, ErrWrongSigner, ErrRole} {
			if errors.Is(err, sentinel) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("Verify: %v matches %d sentinels, want 1", err, n)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("error is not one line: %q", err)
		}
	})
}

// FuzzParseStatement: whatever ParseStatement accepts, Encode writes back
// byte for byte.
func FuzzParseStatement(f *testing.F) {
	for _, st := range []Statement{
		statement(ActionReply, "anna", "K7Q2-XM4P"),
		statement(ActionBroadcast, "bob", "B-7K2QX6"),
		statement(ActionGuidance, "c.d_e-f", "G-ABCDEF"),
		statement(ActionApprove, "anna", "B-7K2QX6"),
		statement(ActionStop, "anna", "B-7K2QX6"),
	} {
		f.Add(encode(f, st))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatement(b)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		again, err := st.Encode()
		if err != nil {
			t.Fatalf("Encode(ParseStatement(%q)): %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("ParseStatement accepted %q, which encodes as %q", b, again)
		}
	})
}

// FuzzParseKeyring: the parser never panics, refuses with one line, and
// what it accepts can be looked up by every key it holds.
func FuzzParseKeyring(f *testing.F) {
	f.Add("anna staff,coordinator " + newEd25519(f) + " telegram=801 # laptop\n# c\n\nbob staff " + newEd25519(f) + "\n")
	f.Add("anna staff " + authorized(f, newToken(f, ssh.KeyAlgoSKED25519, 1).PublicKey()) + "\n")
	f.Add("anna staff ssh-ed25519 AAAA\n")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParseKeyring(strings.NewReader(text))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		for _, e := range k.Entries() {
			if !validName(e.Name) || e.Roles == 0 {
				t.Fatalf("accepted entry %+v", e)
			}
			if got, ok := k.ByKey(e.PublicKey()); !ok || got.Name != e.Name {
				t.Fatalf("ByKey(%s's key) = %q, %v", e.Name, got.Name, ok)
			}
			if got, ok := k.ByName(e.Name); !ok || got.Line != e.Line {
				t.Fatalf("ByName(%s) = %+v, %v", e.Name, got, ok)
			}
		}
	})
}
