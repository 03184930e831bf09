package store_test

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/store"
)

var update = flag.Bool("update", false, "rewrite the key tables of SECURITY.md and README.md from store.Keys")

// The documents that show store.Keys as a table, between these markers.
var keyTableDocs = []string{"../SECURITY.md", "../README.md"}

const (
	keysBegin = "<!-- keys:begin: generated from store/keys.go by `go test ./store -run TestSecurityKeyTable -update` -->"
	keysEnd   = "<!-- keys:end -->"
)

// keyTable renders store.Keys as a markdown table.
func keyTable() string {
	var b strings.Builder
	b.WriteString("| key | type | lives | holds | staff's Redis user reads it |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, k := range store.Keys() {
		reads := "no"
		if k.StaffReads {
			reads = "yes"
		}
		b.WriteString("| `" + k.Pattern() + "` | " + k.Type + " | " + cell(k.Life.String()) + " | " + cell(k.Holds) + " | " + reads + " |\n")
	}
	return b.String()
}

// cell escapes what would end a markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// TestSecurityKeyTable keeps the key tables of SECURITY.md and README.md
// equal to store.Keys: what each key holds and how long it lives. With
// -update it rewrites them.
func TestSecurityKeyTable(t *testing.T) {
	want := keyTable()
	for _, doc := range keyTableDocs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		begin, end := strings.Index(text, keysBegin), strings.Index(text, keysEnd)
		if begin < 0 || end < begin || strings.Count(text, keysBegin) != 1 || strings.Count(text, keysEnd) != 1 {
			t.Fatalf("%s must hold the key table once, between\n%s\nand\n%s", doc, keysBegin, keysEnd)
		}
		from := begin + len(keysBegin) + 1 // after the marker's line
		got := text[from:end]
		if got == want {
			continue
		}
		if *update {
			if err := os.WriteFile(doc, []byte(text[:from]+want+text[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		line := strings.Count(text[:from], "\n") + 1
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range max(len(gotLines), len(wantLines)) {
			g, w := lineAt(gotLines, i), lineAt(wantLines, i)
			if g != w {
				t.Errorf("%s:%d differs from store.Keys (go test ./store -run TestSecurityKeyTable -update rewrites it):\n got: %s\nwant: %s", doc, line+i, g, w)
				break
			}
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(nothing)"
}

// TestKeysAreListedOnce checks the list itself: each pattern once, a known
// type, a lifetime that says what ends it, and a description.
func TestKeysAreListedOnce(t *testing.T) {
	seen := map[string]bool{}
	types := map[string]bool{"string": true, "list": true, "hash": true, "set": true, "zset": true, "stream": true}
	for _, k := range store.Keys() {
		p := k.Pattern()
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
		if !strings.HasPrefix(p, "vigil:") || !types[k.Type] || k.Holds == "" {
			t.Errorf("%s: type %q, holds %q", p, k.Type, k.Holds)
		}
		if d, bounded := k.Life.Max(store.DefaultOptions); bounded && d <= 0 || !bounded && k.Life.Kind == store.Caller && k.Life.Until == "" {
			t.Errorf("%s: lifetime %+v says nothing", p, k.Life)
		}
		// A key of each kind matches its kind and no other.
		for _, o := range store.Keys() {
			if got := o.Match(sample(k)); got != (o.Pattern() == p) {
				t.Errorf("%s matches %s: %v", o.Pattern(), sample(k), got)
			}
		}
	}
}

// sample is a key of kind k: each variable part filled in.
func sample(k store.Key) string {
	return placeholder.ReplaceAllStringFunc(k.Name, func(m string) string {
		if m[0] == '\x01' {
			return "1" // a number
		}
		return strings.ToLower(strings.Trim(m, "\x00")) + "1"
	})
}

var placeholder = regexp.MustCompile("\x00[A-Z]+\x00|\x01[A-Z]+\x01")

// TestKeyMatch checks Key.Match on names the store makes.
func TestKeyMatch(t *testing.T) {
	for _, tc := range []struct {
		key, pattern string
	}{
		{"vigil:{c:q2xkz7a3mfq4yt6b5ngvjw1hcr}:draft", "vigil:{c:H}:draft"},
		{"vigil:{c:h1}:rl:rep-h:493958", "vigil:{c:H}:rl:K:W"},
		{"vigil:{in:3}:rl:h1:29637", "vigil:{in:P}:rl:H:W"},
		{"vigil:{in:0}:seen:1001", "vigil:{in:P}:seen:ID"},
		{"vigil:{q}:case:ABCD-EF12:once:1700000000000-0", "vigil:{q}:case:REF:once:ID"},
		{"vigil:{q}:case:ABCD-EF12:events", "vigil:{q}:case:REF:events"},
		{"vigil:{q}:status:closed", "vigil:{q}:status:S"},
		{"vigil:{b}:subs", "vigil:{b}:subs"},
		{"vigil:{b}:subs:countries", "vigil:{b}:subs:countries"},
		{"vigil:lease:poller", "vigil:lease:NAME"},
		{"vigil:{budget}:evidence:3600:493958", "vigil:{budget}:K:W:B"},
		{"vigil:{budget}:reports:86400:20580:refused", "vigil:{budget}:K:W:B:refused"},
		{"vigil:{budget}:alerted:evidence:3600:493958:80", "vigil:{budget}:alerted:K:W:B:LEVEL"},
		{"vigil:{budget}:alerted:memory:90", "vigil:{budget}:alerted:K:LEVEL"},
		{"vigil:{in:x}:updates", ""},
		{"vigil:{q}:unknown:x", ""},
		{"vigil:{c:h1}:draft:x", ""},
		{"vigil:{c:}:draft", ""},
		{"other:{c:h1}:draft", ""},
	} {
		var got []string
		for _, k := range store.Keys() {
			if k.Match(tc.key) {
				got = append(got, k.Pattern())
			}
		}
		if strings.Join(got, " ") != tc.pattern {
			t.Errorf("%s matches %v, want %q", tc.key, got, tc.pattern)
		}
	}
}

// TestLifetimeString checks the words the tables use for lifetimes.
func TestLifetimeString(t *testing.T) {
	for _, tc := range []struct {
		l    store.Lifetime
		want string
	}{
		{store.Lifetime{Kind: store.Fixed, TTL: 7 * 24 * time.Hour}, "7 days"},
		{store.Lifetime{Kind: store.Fixed, TTL: 48 * time.Hour}, "48 hours"},
		{store.Lifetime{Kind: store.Fixed, TTL: 72 * time.Hour}, "3 days"},
		{store.Lifetime{Kind: store.Fixed, TTL: 36 * time.Hour}, "36 hours"},
		{store.Lifetime{Kind: store.Fixed, TTL: time.Minute}, "1 minute"},
		{store.Lifetime{Kind: store.Option, Option: "DraftTTL", Times: 2}, "2 × the draft TTL (48 hours by default)"},
		{store.Lifetime{Kind: store.Option, Option: "ProfileTTL", Renewed: true}, "the profile TTL (400 days by default), renewed on each use"},
		{store.Lifetime{Kind: store.Forever}, "no TTL"},
		{store.Lifetime{Kind: store.Forever, Until: "until purged"}, "no TTL: until purged"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.l, got, tc.want)
		}
	}
}
