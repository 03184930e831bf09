package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/store"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://vigil-bot:pw@127.0.0.1:bad/0", "redis://vigil-bot:xxxxx@127.0.0.1:bad/0"},
		{"redis://:pw@h:1/0", "redis://:xxxxx@h:1/0"},
		{"redis://pw@h:1/0", "redis://xxxxx@h:1/0"},
		{"redis://u:p/w@h:1/0", "redis://u:xxxxx@h:1/0"},
		{"redis://u:p@w?x@h:1/0", "redis://u:xxxxx@h:1/0"},
		{"redis://h:1/0?password=pw", "redis://h:1/0?…"},
		{"unix://u:pw@/run/redis.sock", "unix://u:xxxxx@/run/redis.sock"},
		{"u:pw@h:1", ""},
		{"pw", ""},
		{"u:pw@redis://h", ""},
		{"://u:pw@h", ""},
	} {
		if got := store.RedactURL(tc.raw); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"redis://127.0.0.1:6379/0", "rediss://u:p%2Fw@h:6380/1", "unix:///run/redis.sock?db=2"} {
		if err := store.CheckURL(ok); err != nil {
			t.Errorf("CheckURL(%q): %v", ok, err)
		}
	}
	var bad *store.URLError
	if err := store.CheckURL("redis://u:pw@h:x/0"); !errors.As(err, &bad) || bad.URL != "redis://u:xxxxx@h:x/0" {
		t.Errorf("bad port: %v", err)
	}
}

// FuzzURLErrorHidesThePassword: whatever surrounds it, a password in a
// Redis URL is not in the error about that URL.
func FuzzURLErrorHidesThePassword(f *testing.F) {
	for _, s := range [][4]string{
		{"redis", "vigil-bot", "pw", "127.0.0.1:bad/0"},
		{"redis", "u", "1/x", "h:1/0"},
		{"redis", "u", "%zz", "h:1/0"},
		{"unix", "u", "p?q#r", ""},
		{"http", "", "a@b", "h"},
		{"redis", "a:b", "c", "h:1/0?password=x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, scheme, user, password, rest string) {
		password = "Q7" + password + "Z9"
		if strings.Contains(scheme+user+rest, "Q7") || strings.Contains(scheme+user+rest, "Z9") {
			return
		}
		raw := scheme + "://" + user + ":" + password + "@" + rest
		if err := store.CheckURL(raw); err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("%q: the error shows the password: %v", raw, err)
		}
	})
}
