package flows

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so a reference
// read aloud over a bad phone line is hard to get wrong.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRef returns a random case reference of 8 Crockford base32 characters
// (40 bits), formatted as XXXX-XXXX. r is normally crypto/rand.Reader.
func NewRef(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [5]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("flows: new reference: %w", err)
	}
	v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
	out := make([]byte, 9)
	for i := 8; i >= 0; i-- {
		if i == 4 {
			out[i] = '-'
			continue
		}
		out[i] = crockford[v&31]
		v >>= 5
	}
	return string(out), nil
}

// ParseRef normalises a reference typed by a person: case, spaces and the
// dash are optional, and the look-alike letters I, L and O are read as 1, 1
// and 0, as Crockford's encoding prescribes. It reports false when the input
// is not a reference.
func ParseRef(s string) (string, bool) {
	var b strings.Builder
	for _, c := range strings.ToUpper(strings.TrimSpace(s)) {
		switch {
		case c == '-' || c == ' ':
			continue
		case c == 'I' || c == 'L':
			c = '1'
		case c == 'O':
			c = '0'
		}
		if !strings.ContainsRune(crockford, c) {
			return "", false
		}
		b.WriteRune(c)
	}
	if b.Len() != 8 {
		return "", false
	}
	v := b.String()
	return v[:4] + "-" + v[4:], true
}
