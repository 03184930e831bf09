package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is what a statement lets the bot do.
type Action string

// The actions a staff member signs, and the role each needs (Action.Role).
const (
	ActionReply     Action = "reply"     // a reply to a defender's case; staff
	ActionBroadcast Action = "broadcast" // a broadcast to subscribers; coordinator
	ActionGuidance  Action = "guidance"  // a guidance page; coordinator
	ActionApprove   Action = "approve"   // an approval of a publication; coordinator
	ActionStop      Action = "stop"      // a stop of a publication; coordinator
)

// Role returns the role an entry needs to sign a, or 0 for an unknown
// action.
func (a Action) Role() Role {
	switch a {
	case ActionReply:
		return RoleStaff
	case ActionBroadcast, ActionGuidance, ActionApprove, ActionStop:
		return RoleCoordinator
	}
	return 0
}

// hasCountries reports whether statements of a name countries.
func (a Action) hasCountries() bool {
	return a == ActionBroadcast || a == ActionGuidance || a == ActionApprove
}

// Digest is the SHA-256 of the exact text(s) a statement is about.
type Digest [sha256.Size]byte

// String returns the digest as written in a statement: "sha256:" and 64
// lowercase hex digits.
func (d Digest) String() string { return "sha256:" + hex.EncodeToString(d[:]) }

// DigestOf returns the SHA-256 of b: for a reply, of the exact text (plain
// or sealed, as the caller's contract says) the bot will deliver.
func DigestOf(b []byte) Digest { return sha256.Sum256(b) }

// textsDomain starts the bytes TextsDigest hashes.
const textsDomain = "vigil-texts/1\n"

// TextsDigest returns one digest over every language's exact text, for a
// publication. It is the SHA-256 of "vigil-texts/1\n" followed by, for each
// language in byte order, the language and then its text, each as an
// 8-byte big-endian length and the bytes. Moving bytes from one text to
// another, or from a language to its text, changes the digest.
func TextsDigest(texts map[string]string) Digest {
	langs := make([]string, 0, len(texts))
	for l := range texts {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	h := sha256.New()
	h.Write([]byte(textsDomain))
	var n [8]byte
	for _, l := range langs {
		for _, s := range []string{l, texts[l]} {
			binary.BigEndian.PutUint64(n[:], uint64(len(s)))
			h.Write(n[:])
			h.Write([]byte(s))
		}
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// Statement is what a staff member signs. See the package documentation for
// its byte layout.
type Statement struct {
	Action Action
	// Signer is the keyring name of the staff member who signs.
	Signer string
	// Time is when it was signed, as the signer claims; UTC to the second
	// (Encode refuses a fraction of a second; use StatementTime).
	Time time.Time
	// Subject is a case reference or a publication id:
	// [A-Za-z0-9][A-Za-z0-9._:-]{0,63}.
	Subject string
	// Countries are ISO 3166-1 alpha-2 codes in upper case, for broadcast,
	// guidance and approve (at least one), and none for reply and stop.
	// Encode writes them sorted; ParseStatement returns them sorted.
	Countries []string
	// Digest is DigestOf the reply's text or TextsDigest of the
	// publication's texts.
	Digest Digest
}

// StatementTime returns t in UTC truncated to the second, as Statement.Time
// must be: StatementTime(time.Now()).
func StatementTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// statementHeader is the first line of every statement, naming its layout.
const statementHeader = "vigil-statement/1\n"

// Encode returns the statement's canonical bytes, which are what is signed.
// It refuses a statement with a field outside its charset, so that the
// bytes always parse back to the same statement.
func (s Statement) Encode() ([]byte, error) {
	if s.Action.Role() == 0 {
		return nil, fmt.Errorf("sign: statement: unknown action %q", s.Action)
	}
	if !validName(s.Signer) {
		return nil, fmt.Errorf("sign: statement: bad signer %q: want a keyring name", s.Signer)
	}
	t := s.Time.UTC()
	if s.Time.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return nil, errors.New("sign: statement: time not set")
	}
	if t.Nanosecond() != 0 {
		return nil, errors.New("sign: statement: time has a fraction of a second: use sign.StatementTime")
	}
	if !validSubject(s.Subject) {
		return nil, fmt.Errorf("sign: statement: bad subject %q: want a case reference or a publication id", s.Subject)
	}
	countries := slices.Clone(s.Countries)
	slices.Sort(countries)
	for i, c := range countries {
		if !validCountry(c) {
			return nil, fmt.Errorf("sign: statement: bad country %q: want a two-letter code in upper case", c)
		}
		if i > 0 && countries[i-1] == c {
			return nil, fmt.Errorf("sign: statement: country %s given twice", c)
		}
	}
	if s.Action.hasCountries() && len(countries) == 0 {
		return nil, fmt.Errorf("sign: statement: %s needs at least one country", s.Action)
	}
	if !s.Action.hasCountries() && len(countries) != 0 {
		return nil, fmt.Errorf("sign: statement: %s takes no country", s.Action)
	}
	if s.Digest == (Digest{}) {
		return nil, errors.New("sign: statement: digest not set")
	}
	var b bytes.Buffer
	b.WriteString(statementHeader)
	fmt.Fprintf(&b, "action: %s\n", s.Action)
	fmt.Fprintf(&b, "signer: %s\n", s.Signer)
	fmt.Fprintf(&b, "time: %s\n", t.Format(time.RFC3339))
	fmt.Fprintf(&b, "subject: %s\n", s.Subject)
	fmt.Fprintf(&b, "countries: %s\n", strings.Join(countries, ","))
	fmt.Fprintf(&b, "digest: %s\n", s.Digest)
	return b.Bytes(), nil
}

// maxStatement bounds what ParseStatement reads: a statement with every
// country is under 1,000 bytes.
const maxStatement = 4096

// ParseStatement parses bytes written by Encode and refuses any other: a
// missing or extra line, a space too many, upper-case hex, unsorted
// countries, a time not in UTC to the second.
func ParseStatement(b []byte) (Statement, error) {
	if len(b) > maxStatement {
		return Statement{}, errors.New("sign: parse statement: too long")
	}
	rest, ok := bytes.CutPrefix(b, []byte(statementHeader))
	if !ok {
		return Statement{}, errors.New("sign: parse statement: does not start with " + strings.TrimSpace(statementHeader))
	}
	var s Statement
	var fieldErr error
	field := func(name string) string {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		value, found := bytes.CutPrefix(line, []byte(name+": "))
		if !ok || !found {
			if fieldErr == nil {
				fieldErr = fmt.Errorf("sign: parse statement: want a %q line", name)
			}
			return ""
		}
		rest = after
		return string(value)
	}
	s.Action = Action(field("action"))
	s.Signer = field("signer")
	tm := field("time")
	s.Subject = field("subject")
	countries := field("countries")
	digest := field("digest")
	if fieldErr != nil {
		return Statement{}, fieldErr
	}
	if len(rest) != 0 {
		return Statement{}, errors.New("sign: parse statement: text after the digest line")
	}
	var err error
	if s.Time, err = time.Parse(time.RFC3339, tm); err != nil {
		return Statement{}, fmt.Errorf("sign: parse statement: bad time %q", tm)
	}
	s.Time = s.Time.UTC()
	if countries != "" {
		s.Countries = strings.Split(countries, ",")
	}
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexDigest) != 2*len(s.Digest) {
		return Statement{}, fmt.Errorf("sign: parse statement: bad digest %q", digest)
	}
	if _, err := hex.Decode(s.Digest[:], []byte(hexDigest)); err != nil {
		return Statement{}, fmt.Errorf("sign: parse statement: bad digest %q", digest)
	}
	// Every check is Encode's; what Encode would write differently (an
	// offset, unsorted countries, upper-case hex) is not canonical.
	again, err := s.Encode()
	if err != nil {
		return Statement{}, err
	}
	if !bytes.Equal(again, b) {
		return Statement{}, errors.New("sign: parse statement: not in canonical form")
	}
	return s, nil
}

// validName reports whether s is a keyring name:
// [a-z0-9][a-z0-9._-]{0,31}.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validSubject reports whether s is [A-Za-z0-9][A-Za-z0-9._:-]{0,63}.
func validSubject(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validCountry reports whether c is two upper-case ASCII letters.
func validCountry(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}
