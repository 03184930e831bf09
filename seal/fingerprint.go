package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"filippo.io/age"
)

// Fingerprint is a short, stable name for a public key: the first 8 bytes of
// its SHA-256, in hex. An age file does not say whom it was sealed to, so
// Vigil records the fingerprints beside each sealed value; they name keys
// without revealing anything secret.
func Fingerprint(recipient string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(recipient)))
	return hex.EncodeToString(sum[:8])
}

// Fingerprints returns the fingerprints of the recipients, in file order.
func (rs *Recipients) Fingerprints() []string {
	out := make([]string, len(rs.keys))
	for i, k := range rs.keys {
		out[i] = Fingerprint(k)
	}
	return out
}

// IdentityFingerprints returns the fingerprints of the public keys that
// belong to the identities, so a staff tool can say which keys it holds.
func IdentityFingerprints(ids []Identity) []string {
	var out []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			out = append(out, Fingerprint(id.Recipient().String()))
		case *age.HybridIdentity:
			out = append(out, Fingerprint(id.Recipient().String()))
		case *pluginIdentity:
			// A hardware key's public key is known only from the comment
			// above it in the identity file, as age-plugin-yubikey writes.
			if id.recipient != "" {
				out = append(out, Fingerprint(id.recipient))
			}
		case either:
			out = append(out, IdentityFingerprints(id)...)
		}
	}
	return out
}

// ParseIdentity reads one identity from the text NewIdentity returns.
func ParseIdentity(text string) (Identity, error) {
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("seal: parse identity: %w", err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("seal: want one identity, got %d", len(ids))
	}
	return ids[0], nil
}
