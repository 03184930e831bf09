package locales

import (
	"strings"
	"testing"
)

func load(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load("en")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEveryLanguageIsComplete is the gate for translations: a missing key, an
// empty text, a placeholder that differs from English, a missing plural form
// or a text over Telegram's limits fails the build.
func TestEveryLanguageIsComplete(t *testing.T) {
	c := load(t)
	for _, p := range c.Check() {
		t.Error(p)
	}
	for _, want := range []string{"en", "fr", "ar"} {
		if !c.Has(want) {
			t.Errorf("language %s is missing", want)
		}
	}
}

func TestCheckFindsGaps(t *testing.T) {
	c := load(t)
	broken := *c.files["fr"]
	broken.texts = map[string]string{}
	for k, v := range c.files["fr"].texts {
		broken.texts[k] = v
	}
	delete(broken.texts, "msg.help")
	broken.texts["msg.stale"] = "  "
	broken.texts["msg.receipt"] = "Référence {{.Reference}}"
	broken.texts["msg.bogus"] = "x"
	broken.plurals = map[string]map[string]string{}
	c.files = map[string]*file{"en": c.files["en"], "fr": &broken}
	got := map[string]string{}
	for _, p := range c.Check() {
		got[p.Key] = p.What
	}
	for key, want := range map[string]string{
		"msg.help":                 "missing",
		"msg.stale":                "empty",
		"msg.receipt":              "placeholders",
		"msg.bogus":                "extra",
		"plural.msg.status_header": "missing",
	} {
		if !strings.Contains(got[key], want) {
			t.Errorf("%s: got %q, want a finding containing %q", key, got[key], want)
		}
	}
}

func TestPluralFormsFollowCLDR(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"en", []string{"one", "other"}},
		{"ar", []string{"zero", "one", "two", "few", "many", "other"}},
	} {
		if got := c.pluralFormsOf(tc.lang); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: plural forms %v, want %v", tc.lang, got, tc.want)
		}
	}
	if got := c.N("en", "msg.status_header", 1, nil); !strings.Contains(got, "1 report ") {
		t.Errorf("English singular: %q", got)
	}
	if got := c.N("en", "msg.status_header", 3, nil); !strings.Contains(got, "3 reports") {
		t.Errorf("English plural: %q", got)
	}
	two, three := c.N("ar", "msg.status_header", 2, nil), c.N("ar", "msg.status_header", 3, nil)
	if two == three || two == "msg.status_header" {
		t.Errorf("Arabic dual and plural should differ: %q / %q", two, three)
	}
}

func TestMatch(t *testing.T) {
	c := load(t)
	for hint, want := range map[string]string{
		"":      "en",
		"fr":    "fr",
		"fr-CA": "fr",
		"ar":    "ar",
		"ar-EG": "ar",
		"de":    "en",
		"xx-!!": "en",
		"en-GB": "en",
	} {
		if got := c.Match(hint); got != want {
			t.Errorf("Match(%q) = %q, want %q", hint, got, want)
		}
	}
}

func TestRightToLeftIsolatesPlaceholders(t *testing.T) {
	c := load(t)
	got := c.T("ar", "msg.receipt", map[string]any{"Ref": "ABCD-EFGH"})
	if !strings.Contains(got, "\u2068ABCD-EFGH\u2069") {
		t.Errorf("Arabic receipt does not isolate the reference: %q", got)
	}
	got = c.T("ar", "msg.emergency", map[string]any{"Contacts": "UA: 112\nGE: 112"})
	if !strings.Contains(got, "\u2068UA: 112\u2069\n\u2068GE: 112\u2069") {
		t.Errorf("multi-line value not isolated line by line: %q", got)
	}
	if got := c.T("en", "msg.receipt", map[string]any{"Ref": "ABCD-EFGH"}); strings.Contains(got, "\u2068") {
		t.Errorf("English receipt has isolates: %q", got)
	}
	if !c.RTL("ar") || c.RTL("fr") {
		t.Error("direction of ar/fr is wrong")
	}
}

func TestRegionNames(t *testing.T) {
	c := load(t)
	if got := c.Region("fr", "DE"); got != "Allemagne" {
		t.Errorf("Region(fr, DE) = %q", got)
	}
	if got := c.Region("en", "ZZZ"); got != "ZZZ" {
		t.Errorf("unknown region = %q", got)
	}
	if got := c.Region("ar", "UA"); got == "UA" || got == "" {
		t.Errorf("Region(ar, UA) = %q", got)
	}
}

func TestMissingKeyShowsItself(t *testing.T) {
	c := load(t)
	if got := c.T("fr", "no.such.key", nil); got != "no.such.key" {
		t.Errorf("got %q", got)
	}
	if got := c.T("xx", "msg.stale", nil); got != c.T("en", "msg.stale", nil) {
		t.Errorf("unknown language should fall back to the default: %q", got)
	}
}

// TestCheckinButtonsFitAPhone: the check-in buttons, pressed in a hurry,
// draw no warning in any language (no label a narrow phone cuts).
func TestCheckinButtonsFitAPhone(t *testing.T) {
	for _, p := range load(t).CheckAll() {
		if strings.HasPrefix(p.Key, "btn.checkin_") {
			t.Error(p)
		}
	}
}
