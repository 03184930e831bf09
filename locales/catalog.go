// Package locales holds every text a defender reads, one file per language
// (<code>.toml, embedded in the binary), and renders it.
//
// English (en.toml) is the source: every other file has the same keys with
// the same {{.Placeholders}}, and plural texts have the forms that the
// language's CLDR rules need. Check reports where a file falls short; the
// test suite fails on any finding.
//
// File format: plain TOML tables whose leaves are strings; the key of a text
// is its path ("step.when.prompt"). Texts that depend on a number live under
// [plural.<key>] with one entry per CLDR category (zero, one, two, few, many,
// other) and use {{.PluralCount}}. A [meta] table names the language in itself
// and gives its direction (ltr or rtl).
//
// Catalog implements flows.Translator. Plural rules and templates come from
// go-i18n; language matching and country names from golang.org/x/text.
//
// The translators' workflow (vigil locales) works on a Workspace: the files
// of a directory or of the binary (OpenFS) with sources.lock, which records
// the English each translation was made from (LockFile). Export lists what a
// language lacks or what changed in English since it was translated, as a
// Request a translator fills in; Apply merges a filled-in Request back,
// rewriting the file in the source's order.
package locales

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/vigil-hrd/vigil/flows"
)

//go:embed *.toml sources.lock
var files embed.FS

// Embedded returns the language files built into the binary (and their
// sources.lock): what ships.
func Embedded() fs.FS { return files }

// Source is the language every other file is checked against.
const Source = "en"

// pluralForms are CLDR's plural categories, the keys of a [plural.*] table.
var pluralForms = []string{"zero", "one", "two", "few", "many", "other"}

// Catalog is the loaded set of languages. It is safe for concurrent use.
type Catalog struct {
	def      string
	order    []string // language codes, the default first
	files    map[string]*file
	bundle   *i18n.Bundle
	loc      map[string]*i18n.Localizer
	matcher  language.Matcher
	matchIdx []string // matcher index → code
}

type file struct {
	code    string
	name    string
	rtl     bool
	texts   map[string]string            // key → text
	plurals map[string]map[string]string // key → form → text
	// leaves are the paths of the file's texts in the order they appear
	// ("meta.name", …, "plural.msg.forgotten.one", …): the source's order
	// is the order of every file written by Format.
	leaves []string
}

// Load reads the language files embedded in the binary. defaultLang is the
// language used when a defender's language is unknown or lacks a text; it
// must be one of the files.
func Load(defaultLang string) (*Catalog, error) { return LoadFS(files, defaultLang) }

// LoadFS reads the language files (<code>.toml) at the root of fsys: the
// embedded ones (Embedded) or, for a translator's working copy,
// os.DirFS(dir). Any file that does not parse is an error.
func LoadFS(fsys fs.FS, defaultLang string) (*Catalog, error) {
	c, broken, err := loadFS(fsys, defaultLang)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, code := range sortedKeys(broken) {
		errs = append(errs, broken[code])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// loadFS reads what parses and returns the files that do not, by language,
// so that a check can report them and go on with the rest. The source and
// the default language must parse.
func loadFS(fsys fs.FS, defaultLang string) (*Catalog, map[string]error, error) {
	names, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("locales: list files: %w", err)
	}
	c := &Catalog{files: map[string]*file{}, loc: map[string]*i18n.Localizer{}}
	broken := map[string]error{}
	for _, n := range names {
		if n.IsDir() || !strings.HasSuffix(n.Name(), ".toml") {
			continue
		}
		code := strings.TrimSuffix(n.Name(), path.Ext(n.Name()))
		raw, err := fs.ReadFile(fsys, n.Name())
		if err != nil {
			return nil, nil, fmt.Errorf("locales: read %s: %w", n.Name(), err)
		}
		f, err := parse(code, raw)
		if err == nil {
			if _, err = language.Parse(code); err != nil {
				err = fmt.Errorf("locales: %s.toml: file name is not a BCP 47 tag: %w", code, err)
			}
		}
		if err != nil {
			broken[code] = err
			continue
		}
		c.files[f.code] = f
	}
	if defaultLang == "" {
		defaultLang = Source
	}
	for _, must := range []struct{ role, code string }{{"source", Source}, {"default", defaultLang}} {
		if err := broken[must.code]; err != nil {
			return nil, nil, err
		}
		if _, ok := c.files[must.code]; !ok {
			return nil, nil, fmt.Errorf("locales: %s language %q has no file (have %s)", must.role, must.code, strings.Join(slices.Sorted(maps.Keys(c.files)), ", "))
		}
	}
	c.def = defaultLang
	c.order = append([]string{defaultLang}, slices.DeleteFunc(slices.Sorted(maps.Keys(c.files)), func(s string) bool { return s == defaultLang })...)

	c.bundle = i18n.NewBundle(language.MustParse(defaultLang))
	var tags []language.Tag
	for _, code := range c.order {
		f := c.files[code]
		tag := language.MustParse(code) // checked above
		tags = append(tags, tag)
		c.matchIdx = append(c.matchIdx, code)
		var msgs []*i18n.Message
		for k, v := range f.texts {
			msgs = append(msgs, &i18n.Message{ID: k, Other: v})
		}
		for k, forms := range f.plurals {
			msgs = append(msgs, &i18n.Message{ID: k, Zero: forms["zero"], One: forms["one"], Two: forms["two"],
				Few: forms["few"], Many: forms["many"], Other: forms["other"]})
		}
		if err := c.bundle.AddMessages(tag, msgs...); err != nil {
			return nil, nil, fmt.Errorf("locales: %s.toml: %w", code, err)
		}
	}
	for _, code := range c.order {
		c.loc[code] = i18n.NewLocalizer(c.bundle, code, c.def)
	}
	c.matcher = language.NewMatcher(tags)
	return c, broken, nil
}

func parse(code string, raw []byte) (*file, error) {
	var tree map[string]any
	md, err := toml.Decode(string(raw), &tree)
	if err != nil {
		return nil, fmt.Errorf("locales: %s.toml: %w", code, err)
	}
	f := &file{code: code, texts: map[string]string{}, plurals: map[string]map[string]string{}}
	for _, k := range md.Keys() {
		if md.Type(k...) == "String" {
			f.leaves = append(f.leaves, strings.Join(k, "."))
		}
	}
	if p, ok := tree["plural"].(map[string]any); ok {
		delete(tree, "plural")
		if err := flattenPlurals(f, "", p); err != nil {
			return nil, fmt.Errorf("locales: %s.toml: %w", code, err)
		}
	}
	if err := flatten(f.texts, "", tree); err != nil {
		return nil, fmt.Errorf("locales: %s.toml: %w", code, err)
	}
	f.name = f.texts["meta.name"]
	switch f.texts["meta.direction"] {
	case "ltr":
	case "rtl":
		f.rtl = true
	default:
		return nil, fmt.Errorf("locales: %s.toml: meta.direction must be ltr or rtl", code)
	}
	if f.name == "" {
		return nil, fmt.Errorf("locales: %s.toml: meta.name is missing", code)
	}
	return f, nil
}

func flatten(out map[string]string, prefix string, tree map[string]any) error {
	for k, v := range tree {
		key := join(prefix, k)
		switch v := v.(type) {
		case string:
			out[key] = v
		case map[string]any:
			if err := flatten(out, key, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: want text or a table, got %T", key, v)
		}
	}
	return nil
}

// flattenPlurals reads [plural.*]: a table whose keys are all CLDR
// categories is one text; any other table nests further.
func flattenPlurals(f *file, prefix string, tree map[string]any) error {
	for k, v := range tree {
		key := join(prefix, k)
		t, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("plural.%s: want a table of plural forms, got %T", key, v)
		}
		if isPluralTable(t) {
			forms := map[string]string{}
			for form, text := range t {
				s, ok := text.(string)
				if !ok {
					return fmt.Errorf("plural.%s.%s: want text, got %T", key, form, text)
				}
				forms[form] = s
			}
			f.plurals[key] = forms
			continue
		}
		if err := flattenPlurals(f, key, t); err != nil {
			return err
		}
	}
	return nil
}

func isPluralTable(t map[string]any) bool {
	for k := range t {
		if !slices.Contains(pluralForms, k) {
			return false
		}
	}
	return len(t) > 0
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// Default returns the default language.
func (c *Catalog) Default() string { return c.def }

// Has reports whether lang is one of the catalog's languages.
func (c *Catalog) Has(lang string) bool { _, ok := c.files[lang]; return ok }

// RTL reports whether lang is written right to left.
func (c *Catalog) RTL(lang string) bool {
	f, ok := c.files[lang]
	return ok && f.rtl
}

// Languages lists the languages, the default first, each named in itself.
func (c *Catalog) Languages() []flows.Language {
	out := make([]flows.Language, 0, len(c.order))
	for _, code := range c.order {
		out = append(out, flows.Language{Code: code, Name: c.files[code].name})
	}
	return out
}

// Match returns the catalog language that best serves a BCP 47 tag such as
// Telegram's language_code ("pt-BR", "ar", "zh-hans"), or the default.
func (c *Catalog) Match(hint string) string {
	if hint == "" {
		return c.def
	}
	tag, err := language.Parse(hint)
	if err != nil {
		return c.def
	}
	_, i, conf := c.matcher.Match(tag)
	if conf == language.No {
		return c.def
	}
	return c.matchIdx[i]
}

// T returns the text of key in lang. A text missing in lang falls back to the
// default language, and a key missing everywhere is returned as itself, so
// that a gap shows instead of breaking the conversation (Check finds gaps).
func (c *Catalog) T(lang, key string, data map[string]any) string {
	return c.localize(lang, key, nil, data)
}

// N is T for a [plural.*] text: count picks the form and is {{.PluralCount}}.
func (c *Catalog) N(lang, key string, count int, data map[string]any) string {
	d := make(map[string]any, len(data)+1)
	maps.Copy(d, data)
	return c.localize(lang, key, count, d)
}

func (c *Catalog) localize(lang, key string, count any, data map[string]any) string {
	l, ok := c.loc[lang]
	if !ok {
		l = c.loc[c.def]
	}
	if c.RTL(lang) && len(data) > 0 {
		// References, dates and numbers keep their order inside right-to-left
		// sentences when each is isolated.
		iso := make(map[string]any, len(data))
		for k, v := range data {
			if s, ok := v.(string); ok {
				v = isolateLines(s)
			}
			iso[k] = v
		}
		data = iso
	}
	if count != nil {
		if data == nil {
			data = map[string]any{}
		}
		data["PluralCount"] = count
	}
	// A text found only in the default language comes back with a
	// MessageNotFoundErr for lang: the text is still the one to show.
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: key, TemplateData: data, PluralCount: count})
	var notFound *i18n.MessageNotFoundErr
	if s == "" || err != nil && !errors.As(err, &notFound) {
		return key
	}
	return s
}

// isolateLines wraps each line of s in a first-strong isolate (U+2068 …
// U+2069). Isolates end at a line break, so a multi-line value is isolated
// line by line.
func isolateLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" && !strings.HasPrefix(l, "\u2068") {
			lines[i] = "\u2068" + l + "\u2069"
		}
	}
	return strings.Join(lines, "\n")
}

// Region names a country in lang, for example Region("fr", "DE") is
// "Allemagne". An unknown code is returned as it is.
func (c *Catalog) Region(lang, code string) string {
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return code
	}
	tag, err := language.Parse(lang)
	if err != nil {
		tag = language.English
	}
	if n := display.Regions(tag).Name(r); n != "" {
		return n
	}
	return code
}
