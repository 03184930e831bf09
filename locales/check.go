package locales

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Problem is one shortcoming of a language file.
type Problem struct {
	Lang string
	Key  string
	What string
}

func (p Problem) String() string { return fmt.Sprintf("%s.toml: %s: %s", p.Lang, p.Key, p.What) }

// Telegram's limits on what the bot sends.
const (
	maxMessage     = 4096 // UTF-16 code units in one message
	maxButtonLabel = 64   // beyond this a button label is cut on a phone
)

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// Check compares every language with the source language (English): missing
// and extra keys, empty texts, placeholders that differ, plural forms the
// language's CLDR rules need but the file lacks, and texts over Telegram's
// limits. An empty result means every language is complete.
func (c *Catalog) Check() []Problem {
	var out []Problem
	src := c.files[Source]
	for _, code := range slices.Sorted(maps.Keys(c.files)) {
		f := c.files[code]
		add := func(key, what string, args ...any) {
			out = append(out, Problem{Lang: code, Key: key, What: fmt.Sprintf(what, args...)})
		}
		for _, k := range slices.Sorted(maps.Keys(src.texts)) {
			v, ok := f.texts[k]
			switch {
			case !ok:
				add(k, "missing")
			case strings.TrimSpace(v) == "":
				add(k, "empty")
			case !samePlaceholders(src.texts[k], v):
				add(k, "placeholders %v, English has %v", placeholders(v), placeholders(src.texts[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.texts)) {
			if _, ok := src.texts[k]; !ok {
				add(k, "not in English (extra key)")
			}
			if n := len(utf16.Encode([]rune(f.texts[k]))); n > maxMessage {
				add(k, "%d UTF-16 units, over Telegram's %d", n, maxMessage)
			}
			if (strings.HasPrefix(k, "opt.") || strings.HasPrefix(k, "btn.")) && len([]rune(f.texts[k])) > maxButtonLabel {
				add(k, "button label of %d characters, over %d", len([]rune(f.texts[k])), maxButtonLabel)
			}
		}
		need := c.pluralFormsOf(code)
		for _, k := range slices.Sorted(maps.Keys(src.plurals)) {
			forms, ok := f.plurals[k]
			if !ok {
				add("plural."+k, "missing")
				continue
			}
			for _, form := range need {
				v := forms[form]
				switch {
				case strings.TrimSpace(v) == "":
					add("plural."+k, "form %q missing or empty (needed by %s plural rules)", form, code)
				case !pluralPlaceholdersFit(form, src.plurals[k]["other"], v):
					add("plural."+k+"."+form, "placeholders %v, English has %v", placeholders(v), placeholders(src.plurals[k]["other"]))
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.plurals)) {
			if _, ok := src.plurals[k]; !ok {
				add("plural."+k, "not in English (extra key)")
			}
		}
	}
	return out
}

// pluralFormsOf returns the CLDR categories that go-i18n picks for lang for
// whole numbers from 0 to 10,000: the forms a text counting things needs.
func (c *Catalog) pluralFormsOf(lang string) []string {
	b := i18n.NewBundle(language.English)
	probe := &i18n.Message{ID: "probe", Zero: "zero", One: "one", Two: "two", Few: "few", Many: "many", Other: "other"}
	b.MustAddMessages(language.MustParse(lang), probe)
	l := i18n.NewLocalizer(b, lang)
	seen := map[string]bool{}
	for n := 0; n <= 10000; n++ {
		if s, err := l.Localize(&i18n.LocalizeConfig{MessageID: "probe", PluralCount: n}); err == nil {
			seen[s] = true
		}
	}
	var out []string
	for _, f := range pluralForms {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out
}

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

func samePlaceholders(a, b string) bool { return slices.Equal(placeholders(a), placeholders(b)) }

// pluralPlaceholdersFit lets the zero, one and two forms leave out the number
// ("one message", "رسالتان"), as many languages do; every other placeholder
// must be there, and the other forms need them all.
func pluralPlaceholdersFit(form, source, text string) bool {
	if samePlaceholders(source, text) {
		return true
	}
	if form != "zero" && form != "one" && form != "two" {
		return false
	}
	drop := func(p string) bool { return p == "PluralCount" }
	return slices.Equal(slices.DeleteFunc(placeholders(source), drop), slices.DeleteFunc(placeholders(text), drop))
}
