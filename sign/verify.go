package sign

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Errors from Verify, to be matched with errors.Is. Their messages never
// repeat what the signature holds beyond a key's fingerprint.
var (
	// ErrBadSignature means the signature is malformed, made for another
	// namespace, or not a signature of this statement by its key (the
	// statement was changed, or the signature was made for another one). A
	// FIDO2 signature made without a touch is one too.
	ErrBadSignature = errors.New("sign: bad signature")
	// ErrUntrustedKey means the signature is by a key not in the keyring.
	ErrUntrustedKey = errors.New("sign: the signing key is not in the keyring")
	// ErrWrongSigner means the statement names someone other than the
	// owner of the key that signed it.
	ErrWrongSigner = errors.New("sign: the statement's signer is not the key's owner")
	// ErrRole means the key's owner lacks the role the action needs.
	ErrRole = errors.New("sign: the signer lacks the role the action needs")
)

// Verify checks that armored is an SSHSIG signature (as `ssh-keygen -Y
// sign -n vigil-staff@v1` writes it) of st's canonical bytes, by a key of
// the keyring whose entry is named st.Signer and has the role st.Action
// needs, and returns that entry. The caller builds st from what it is about
// to do (the case, the texts it will send), not from what came with the
// signature; see the package documentation for what this proves and what
// it does not.
//
// A statement that Encode refuses is an error matching none of the
// sentinels; otherwise the error matches ErrBadSignature, ErrUntrustedKey,
// ErrWrongSigner or ErrRole. Verify does not panic on any input.
func (k *Keyring) Verify(st Statement, armored []byte) (Entry, error) {
	msg, err := st.Encode()
	if err != nil {
		return Entry{}, err
	}
	raw, err := dearmor(armored)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	env, err := parseEnvelope(raw)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	switch {
	case env.Version != sigVersion:
		return Entry{}, fmt.Errorf("%w: SSHSIG version %d, want %d", ErrBadSignature, env.Version, sigVersion)
	case env.Namespace != Namespace:
		return Entry{}, fmt.Errorf("%w: made for another namespace than %s", ErrBadSignature, Namespace)
	case len(env.Reserved) != 0:
		return Entry{}, fmt.Errorf("%w: reserved field not empty", ErrBadSignature)
	}
	signed, err := signedData(env.Namespace, env.HashAlgorithm, msg)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	pub, err := ssh.ParsePublicKey(env.PublicKey)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: malformed public key", ErrBadSignature)
	}
	e, ok := k.byWire(pub.Marshal())
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrUntrustedKey, ssh.FingerprintSHA256(pub))
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(env.Signature, &sig); err != nil {
		return Entry{}, fmt.Errorf("%w: malformed signature blob", ErrBadSignature)
	}
	if !signatureFormatOK(e.key.Type(), &sig) {
		return Entry{}, fmt.Errorf("%w: signature algorithm %q is not accepted for a %s key", ErrBadSignature, sig.Format, e.key.Type())
	}
	// x/crypto checks the sk- keys' flags: it refuses a signature without
	// the user-presence flag, since a key parsed from a keyring line is
	// never marked no-touch-required.
	if err := e.key.Verify(signed, &sig); err != nil {
		return Entry{}, fmt.Errorf("%w: does not verify with %s's key %s", ErrBadSignature, e.Name, e.Fingerprint())
	}
	if st.Signer != e.Name {
		return Entry{}, fmt.Errorf("%w: the key is %s's, the statement names %s", ErrWrongSigner, e.Name, st.Signer)
	}
	if need := st.Action.Role(); !e.Has(need) {
		return Entry{}, fmt.Errorf("%w: %s has role %q, %s needs %s", ErrRole, e.Name, e.Roles, st.Action, need)
	}
	return e, nil
}

// signatureFormatOK reports whether sig uses an algorithm accepted for a
// key of type keyType: RSA only with SHA-2, every other type with its own
// algorithm, and flags and a counter only for sk- keys.
func signatureFormatOK(keyType string, sig *ssh.Signature) bool {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return (sig.Format == ssh.KeyAlgoRSASHA256 || sig.Format == ssh.KeyAlgoRSASHA512) && len(sig.Rest) == 0
	case ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return sig.Format == keyType
	default:
		return sig.Format == keyType && len(sig.Rest) == 0
	}
}
