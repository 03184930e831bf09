package locales

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/vigil-hrd/vigil/flows"
)

// Problem is one shortcoming of a language file. A warning is worth a look
// but does not fail Check.
type Problem struct {
	Lang    string
	Key     string
	What    string
	Warning bool
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s.toml: %s: %s", p.Lang, p.Key, p.What)
	if p.Warning {
		s += " (warning)"
	}
	return s
}

// Telegram's limits on what the bot sends.
const (
	maxMessage     = 4096 // UTF-16 code units in one message
	maxButtonLabel = 64   // beyond this a button label is cut on a phone
	// wideButtonLabel is where a label starts to be cut on a narrow phone,
	// one button a row; a warning, since it depends on the phone.
	wideButtonLabel = 40
	maxToast        = 200 // answerCallbackQuery text, in characters
	maxCommandDesc  = 256 // a command's description in the command menu
)

// notInReview are the steps whose label no Change button shows.
var notInReview = []string{flows.QLanguage, flows.QNotice, flows.QReview}

// toasts are shown as answerCallbackQuery pop-ups.
var toasts = []string{"msg.stale", "msg.need_answer"}

var (
	placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)
	// command finds /commands: a slash not inside a word or a path.
	command = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_/])(/[a-z][a-z_]*)\b`)
)

// Check compares every language with the source language (English): missing
// and extra keys, empty texts, placeholders that differ, texts that are not
// valid templates, plural forms the language's CLDR rules need but the file
// lacks, and texts over Telegram's limits. An empty result means every
// language is complete. Warnings (CheckAll) are left out.
func (c *Catalog) Check() []Problem {
	return slices.DeleteFunc(c.CheckAll(), func(p Problem) bool { return p.Warning })
}

// CheckAll is Check with the warnings: button labels that may be cut on a
// phone and /commands of the English text that a translation lacks.
func (c *Catalog) CheckAll() []Problem {
	var out []Problem
	src := c.files[Source]
	for _, code := range slices.Sorted(maps.Keys(c.files)) {
		f := c.files[code]
		add := func(key string, warning bool, what string) {
			out = append(out, Problem{Lang: code, Key: key, What: what, Warning: warning})
		}
		for _, k := range slices.Sorted(maps.Keys(src.texts)) {
			v, ok := f.texts[k]
			if !ok {
				add(k, false, "missing")
				continue
			}
			errs, warns := checkText(k, src.texts[k], v)
			for _, e := range errs {
				add(k, false, e)
			}
			for _, w := range warns {
				add(k, true, w)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.texts)) {
			if _, ok := src.texts[k]; !ok {
				add(k, false, "not in English (extra key)")
				errs, _ := checkText(k, f.texts[k], f.texts[k])
				for _, e := range errs {
					add(k, false, e)
				}
			}
		}
		if edit, ok := f.texts["btn.edit"]; ok {
			for _, k := range slices.Sorted(maps.Keys(f.texts)) {
				q := strings.TrimSuffix(strings.TrimPrefix(k, "step."), ".label")
				if strings.HasPrefix(k, "step.") && strings.HasSuffix(k, ".label") && !slices.Contains(notInReview, q) {
					label := placeholder.ReplaceAllStringFunc(edit, func(p string) string {
						if placeholder.FindStringSubmatch(p)[1] == "Field" {
							return f.texts[k]
						}
						return p
					})
					if n := width(label); n > wideButtonLabel {
						add("btn.edit", true, fmt.Sprintf("with %s the Change button reads %q, %d characters: phones cut labels over about %d", k, label, n, wideButtonLabel))
					}
				}
			}
		}
		need := c.pluralFormsOf(code)
		for _, k := range slices.Sorted(maps.Keys(src.plurals)) {
			forms, ok := f.plurals[k]
			if !ok {
				add("plural."+k, false, "missing")
				continue
			}
			for _, form := range need {
				if strings.TrimSpace(forms[form]) == "" {
					add("plural."+k, false, fmt.Sprintf("form %q missing or empty (needed by %s plural rules)", form, code))
				}
			}
			for _, form := range pluralForms {
				v, ok := forms[form]
				if !ok || strings.TrimSpace(v) == "" {
					continue
				}
				errs, warns := checkForm(form, src.plurals[k]["other"], v)
				for _, e := range errs {
					add("plural."+k+"."+form, false, e)
				}
				for _, w := range warns {
					add("plural."+k+"."+form, true, w)
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.plurals)) {
			if _, ok := src.plurals[k]; !ok {
				add("plural."+k, false, "not in English (extra key)")
			}
		}
	}
	return out
}

// checkText returns what is wrong with the text v of key, whose English is
// src: errors, and warnings that do not fail a check.
func checkText(key, src, v string) (errs, warns []string) {
	if strings.TrimSpace(v) == "" {
		return []string{"empty"}, nil
	}
	if key == "meta.direction" && v != "ltr" && v != "rtl" {
		errs = append(errs, fmt.Sprintf("%q: must be ltr or rtl", v))
	}
	if !samePlaceholders(src, v) {
		errs = append(errs, fmt.Sprintf("placeholders %v, English has %v", placeholders(v), placeholders(src)))
	}
	errs = append(errs, templateProblems(v)...)
	if n := len(utf16.Encode([]rune(v))); n > maxMessage {
		errs = append(errs, fmt.Sprintf("%d UTF-16 units, over Telegram's %d", n, maxMessage))
	}
	n := utf8.RuneCountInString(v)
	switch {
	case strings.HasPrefix(key, "opt.") || strings.HasPrefix(key, "btn.") || key == "meta.name":
		if n > maxButtonLabel {
			errs = append(errs, fmt.Sprintf("button label of %d characters, over %d", n, maxButtonLabel))
		} else if w := width(v); w > wideButtonLabel {
			warns = append(warns, fmt.Sprintf("button label of %d characters: phones cut labels over about %d", w, wideButtonLabel))
		}
	case strings.HasPrefix(key, "cmd.") && n > maxCommandDesc:
		errs = append(errs, fmt.Sprintf("command description of %d characters, over Telegram's %d", n, maxCommandDesc))
	case slices.Contains(toasts, key) && n > maxToast:
		errs = append(errs, fmt.Sprintf("pop-up of %d characters, over Telegram's %d", n, maxToast))
	}
	if missing := missingCommands(src, v); len(missing) > 0 {
		warns = append(warns, fmt.Sprintf("English has the command(s) %s, this text does not", strings.Join(missing, " ")))
	}
	return errs, warns
}

// width counts the characters of s that take room on a line: not the
// marks that combine with the letter before them (the vowel signs of
// Burmese or Hindi, Arabic vowel marks), nor invisible format characters.
func width(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
			n++
		}
	}
	return n
}

// checkForm is checkText for one plural form, whose English is srcOther
// (the English "other" form).
func checkForm(form, srcOther, v string) (errs, warns []string) {
	if !pluralPlaceholdersFit(form, srcOther, v) {
		errs = append(errs, fmt.Sprintf("placeholders %v, English has %v", placeholders(v), placeholders(srcOther)))
	}
	errs = append(errs, templateProblems(v)...)
	if n := len(utf16.Encode([]rune(v))); n > maxMessage {
		errs = append(errs, fmt.Sprintf("%d UTF-16 units, over Telegram's %d", n, maxMessage))
	}
	if missing := missingCommands(srcOther, v); len(missing) > 0 {
		warns = append(warns, fmt.Sprintf("English has the command(s) %s, this text does not", strings.Join(missing, " ")))
	}
	return errs, warns
}

// templateProblems reports a text the template engine cannot run: "{{.Ref"
// without its braces, say.
func templateProblems(v string) []string {
	if !strings.Contains(v, "{{") && !strings.Contains(v, "}}") {
		return nil
	}
	if _, err := template.New("").Option("missingkey=zero").Parse(v); err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return []string{"not a valid template: " + msg}
	}
	if n := strings.Count(v, "{{") + strings.Count(v, "}}"); n != 2*len(placeholder.FindAllString(v, -1)) {
		return []string{"braces {{ }} that are not a {{.Placeholder}}"}
	}
	return nil
}

func commands(s string) []string {
	var out []string
	for _, m := range command.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func missingCommands(src, v string) []string {
	have := commands(v)
	var out []string
	for _, c := range commands(src) {
		if !slices.Contains(have, c) {
			out = append(out, c)
		}
	}
	return out
}

// pluralFormsOf returns the CLDR categories that go-i18n picks for lang for
// whole numbers from 0 to 10,000: the forms a text counting things needs.
func (c *Catalog) pluralFormsOf(lang string) []string {
	if forms, ok := formsOf.Load(lang); ok {
		return slices.Clone(forms.([]string))
	}
	pick := pluralPicker(lang)
	seen := map[string]bool{}
	for n := 0; n <= 10000; n++ {
		seen[pick(n)] = true
	}
	var out []string
	for _, f := range pluralForms {
		if seen[f] {
			out = append(out, f)
		}
	}
	formsOf.Store(lang, slices.Clone(out))
	return out
}

// formsOf caches pluralFormsOf: language → []string.
var formsOf sync.Map

// pluralPicker returns the function that names the CLDR category go-i18n
// uses for a count in lang: an int, or a decimal as a string ("1.5").
func pluralPicker(lang string) func(count any) string {
	b := i18n.NewBundle(language.English)
	probe := &i18n.Message{ID: "probe", Zero: "zero", One: "one", Two: "two", Few: "few", Many: "many", Other: "other"}
	b.MustAddMessages(language.MustParse(lang), probe)
	l := i18n.NewLocalizer(b, lang)
	return func(n any) string {
		s, err := l.Localize(&i18n.LocalizeConfig{MessageID: "probe", PluralCount: n})
		if err != nil {
			return ""
		}
		return s
	}
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
