package store

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// URLError is a Redis URL that cannot be used. It never holds the
// password: the errors of net/url and go-redis may quote any part of the
// URL (a password holding a '/', '?' or '%' shows up as a port, a database
// or an option), so they are dropped and Problem says what is wrong in
// words of its own.
type URLError struct {
	// URL is the value as RedactURL shows it: "" when it is not shown
	// at all (it does not start with a scheme and "://").
	URL     string
	Problem string
}

func (e *URLError) Error() string {
	if e.URL == "" {
		return "store: Redis URL (value not shown): " + e.Problem
	}
	return fmt.Sprintf("store: Redis URL %q: %s", e.URL, e.Problem)
}

// schemes is what ParseURL accepts, for messages.
const schemes = "redis://, rediss:// or unix://"

// CheckURL reports whether ConnectTo can use raw as Target.URL, without
// connecting: nil, or a *URLError.
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

// parseURL is redis.ParseURL with errors that never show the password.
func parseURL(raw string) (*redis.Options, error) {
	bad := func(problem string) error { return &URLError{URL: RedactURL(raw), Problem: problem} }
	switch scheme, _, ok := strings.Cut(raw, "://"); {
	case !ok || scheme == "":
		return nil, bad("no scheme; want a URL that starts with " + schemes + ", such as redis://user:password@127.0.0.1:6379/0")
	case scheme != "redis" && scheme != "rediss" && scheme != "unix":
		return nil, bad("unknown scheme; want " + schemes)
	}
	if _, err := url.Parse(raw); err != nil {
		return nil, bad(urlProblem(err.Error()))
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, bad(urlProblem(err.Error()))
	}
	return opt, nil
}

// urlProblem turns the text of a net/url or go-redis error into a
// sentence that quotes nothing of the URL. Only its kind is kept.
func urlProblem(msg string) string {
	const encode = " (write / ? # @ : % in the password as %2F %3F %23 %40 %3A %25)"
	for _, p := range []struct{ in, say string }{
		{"invalid port", "the port is not a number" + encode},
		{"invalid URL escape", "a % is not followed by two hexadecimal digits" + encode},
		{"invalid userinfo", "the user name or password holds characters that must be encoded" + encode},
		{"invalid character", "the host name holds a character it cannot" + encode},
		{"invalid control character", "it holds a control character"},
		{"invalid database number", "the database (the path, such as /0) is not a number" + encode},
		{"invalid URL path", "the path must be one database number, such as /0" + encode},
		{"empty unix socket path", "unix:// needs the socket's path, such as unix:///run/redis/redis.sock"},
		{"unexpected option", "an option after ? is not one go-redis knows" + encode},
		{"invalid ", "an option after ? has a value of the wrong kind" + encode},
	} {
		if strings.Contains(msg, p.in) {
			return p.say
		}
	}
	return "not a usable Redis URL" + encode
}

// RedactURL returns raw as it may be shown: the password replaced by
// "xxxxx", and the query left out ("?…"), since a password is sometimes
// put there by mistake. The password is everything between "://" and the
// last '@' after the first ':' (or the whole user part when it has no
// ':', in case it is a password): cutting at the last '@' hides a password
// that holds an unencoded '/', '?', '#' or '@' too. A value without a
// scheme and "://" is returned as "": it is not shown at all.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !validScheme(scheme) {
		return ""
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		if hasPassword {
			user += ":xxxxx"
		} else {
			user = "xxxxx"
		}
		rest = user + rest[at:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?…"
	}
	return scheme + "://" + rest
}

// validScheme reports whether s is a URL scheme (RFC 3986): a letter,
// then letters, digits, '+', '-' or '.'.
func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
