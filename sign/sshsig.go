package sign

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace of Vigil's staff statements: what
// `ssh-keygen -Y sign -n` and `-Y verify -n` are given. A signature made
// for another purpose (git commits use "git", files "file") does not verify
// as a statement, and a statement's signature is useless elsewhere.
const Namespace = "vigil-staff@v1"

// The SSHSIG wire format, from OpenSSH's PROTOCOL.sshsig.
const (
	sigMagic   = "SSHSIG"
	sigVersion = 1
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	armorWidth = 70 // as ssh-keygen wraps it
	// maxArmored bounds what Verify reads: a signature by an RSA key of
	// 16384 bits is under 6 KiB armored.
	maxArmored = 32 << 10
)

// envelope is an SSHSIG signature after its magic preamble:
//
//	byte[6]  "SSHSIG"
//	uint32   version (1)
//	string   public key (SSH wire format)
//	string   namespace
//	string   reserved (empty)
//	string   hash algorithm ("sha256" or "sha512")
//	string   signature (SSH signature format)
type envelope struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Signature     []byte
}

func (e *envelope) marshal() []byte {
	return append([]byte(sigMagic), ssh.Marshal(e)...)
}

func parseEnvelope(b []byte) (*envelope, error) {
	rest, ok := bytes.CutPrefix(b, []byte(sigMagic))
	if !ok {
		return nil, errors.New("not an SSHSIG signature")
	}
	e := new(envelope)
	if err := ssh.Unmarshal(rest, e); err != nil {
		return nil, errors.New("malformed SSHSIG signature")
	}
	return e, nil
}

// signedData returns the bytes a key signs for message msg: the magic
// preamble, then the namespace, the reserved string, the hash algorithm
// and the hash of msg, each as an SSH string.
func signedData(namespace, hashAlgorithm string, msg []byte) ([]byte, error) {
	var sum []byte
	switch hashAlgorithm {
	case "sha512":
		h := sha512.Sum512(msg)
		sum = h[:]
	case "sha256":
		h := sha256.Sum256(msg)
		sum = h[:]
	default:
		return nil, errors.New("hash algorithm is neither sha256 nor sha512")
	}
	blob := struct {
		Namespace     string
		Reserved      []byte
		HashAlgorithm string
		Hash          []byte
	}{namespace, nil, hashAlgorithm, sum}
	return append([]byte(sigMagic), ssh.Marshal(&blob)...), nil
}

// armor wraps an SSHSIG signature as ssh-keygen writes it.
func armor(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	out.WriteString(armorBegin + "\n")
	for len(enc) > armorWidth {
		out.WriteString(enc[:armorWidth] + "\n")
		enc = enc[armorWidth:]
	}
	out.WriteString(enc + "\n")
	out.WriteString(armorEnd + "\n")
	return out.Bytes()
}

// dearmor reverses armor; it accepts surrounding white space and any line
// width, as ssh-keygen does.
func dearmor(b []byte) ([]byte, error) {
	if len(b) > maxArmored {
		return nil, fmt.Errorf("longer than %d bytes", maxArmored)
	}
	b = bytes.TrimSpace(b)
	body, ok := bytes.CutPrefix(b, []byte(armorBegin))
	if !ok {
		return nil, errors.New("does not start with " + armorBegin)
	}
	body, ok = bytes.CutSuffix(body, []byte(armorEnd))
	if !ok {
		return nil, errors.New("does not end with " + armorEnd)
	}
	// StdEncoding skips '\r' and '\n'; anything else out of the alphabet
	// is an error.
	raw, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		return nil, errors.New("malformed base64")
	}
	return raw, nil
}
