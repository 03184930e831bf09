package locales

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/text/language"
)

// Request is a translation request: the texts of one language that are
// missing or whose English moved since they were translated, for a
// translator to fill in (Export, Marshal), and, filled in, to merge back
// (ParseRequest, Apply).
type Request struct {
	Lang    string
	Strings []Entry
}

// Entry is one text of a Request. A plain text has one form, ""; a counted
// text (Key "plural.…") one per CLDR category the language needs.
type Entry struct {
	Key   string
	Where string // where the text appears
	Why   string // why it is asked for
	// Hash identifies the English text translated (see LockFile); Apply
	// records it.
	Hash        string
	English     map[string]string // form → text; "" for a plain text
	Current     map[string]string // the translation in use, if any
	Forms       []string          // the forms asked for, CLDR order; [""] for a plain text
	Optional    map[string]bool   // forms that may be left empty
	Covers      map[string]string // form → the numbers it is used for
	Translation map[string]string // form → the translator's text
}

// Why an entry is asked for.
const (
	whyMissing    = "missing"
	whyChanged    = "English changed since it was translated"
	whyUnrecorded = "no record of the English it was translated from"
)

// pluralPlan returns the plural forms to ask a translator of lang for, in
// CLDR order: those lang needs for whole numbers (pluralFormsOf), and, as
// optional, those it has only for numbers the bot never counts to (the
// millions of French and Spanish) or only for fractions (Russian "other").
// covers says which numbers each form is used for.
func (c *Catalog) pluralPlan(lang string) (forms []string, optional map[string]bool, covers map[string]string) {
	need := c.pluralFormsOf(lang)
	pick := pluralPicker(lang)
	const bound = 1000
	nums := map[string][]int{}
	for n := 0; n <= bound; n++ {
		nums[pick(n)] = append(nums[pick(n)], n)
	}
	for _, n := range []int{1000000, 2000000, 3000000} {
		if f := pick(n); len(nums[f]) == 0 || nums[f][len(nums[f])-1] > bound {
			nums[f] = append(nums[f], n)
		}
	}
	fractions := map[string]bool{}
	for _, n := range []string{"0.5", "1.5", "2.5", "3.5", "5.5", "11.5", "100.5"} {
		fractions[pick(n)] = true
	}
	optional, covers = map[string]bool{}, map[string]string{}
	for _, f := range pluralForms {
		switch {
		case len(nums[f]) > 0:
			covers[f] = describeNumbers(nums[f], bound)
		case fractions[f]:
			covers[f] = "fractions only, such as 1.5; the bot counts whole things"
		}
		if slices.Contains(need, f) {
			forms = append(forms, f)
		} else if covers[f] != "" {
			forms = append(forms, f)
			optional[f] = true
		}
	}
	return forms, optional, covers
}

// describeNumbers writes a sorted list of whole numbers as runs, at most
// four: "1, 21, 31, 41, …", "3–10, 103–110, …", "0, 2 and up".
func describeNumbers(ns []int, bound int) string {
	type run struct{ from, to int }
	var runs []run
	for _, n := range ns {
		if len(runs) > 0 && runs[len(runs)-1].to == n-1 {
			runs[len(runs)-1].to = n
			continue
		}
		runs = append(runs, run{n, n})
	}
	var parts []string
	for i, r := range runs {
		if i == 4 {
			parts = append(parts, "…")
			break
		}
		switch {
		case r.to == bound:
			parts = append(parts, strconv.Itoa(r.from)+" and up")
		case r.from == r.to:
			parts = append(parts, strconv.Itoa(r.from))
		case r.to == r.from+1:
			parts = append(parts, strconv.Itoa(r.from), strconv.Itoa(r.to))
		default:
			parts = append(parts, fmt.Sprintf("%d–%d", r.from, r.to))
		}
	}
	if len(runs) <= 4 && runs[len(runs)-1].from > bound {
		parts = append(parts, "…")
	}
	return strings.Join(parts, ", ")
}

func checkLang(lang string) error {
	if lang == Source {
		return fmt.Errorf("locales: %s is the source language: edit %s.toml itself", Source, Source)
	}
	tag, err := language.Parse(lang)
	if err != nil || tag.String() != lang {
		return fmt.Errorf("locales: %q is not a language code as the files are named (a BCP 47 tag such as ru, fa, pt-BR)", lang)
	}
	return nil
}

// Export returns the request for lang: its texts that are missing or empty,
// lack plural forms, or whose English changed since they were translated or
// was never recorded (LockFile), in the order of en.toml. lang need not
// have a file yet.
func (w *Workspace) Export(lang string) (*Request, error) {
	if err := checkLang(lang); err != nil {
		return nil, err
	}
	if err := w.Broken[lang]; err != nil {
		return nil, fmt.Errorf("%w (fix the file first: vigil locales check)", err)
	}
	forms, optional, covers := w.pluralPlan(lang)
	req := &Request{Lang: lang}
	for _, k := range w.Keys() {
		eng, _ := w.text(Source, k)
		cur, has := w.text(lang, k)
		_, plain := eng[""]
		e := Entry{Key: k, Where: w.where(k), Hash: w.sourceHash(k), English: eng, Current: cur,
			Forms: []string{""}, Translation: map[string]string{}}
		if !plain {
			e.Forms, e.Optional, e.Covers = forms, optional, covers
		}
		var empty []string
		for _, f := range e.Forms {
			if !e.Optional[f] && strings.TrimSpace(cur[f]) == "" {
				empty = append(empty, f)
			}
		}
		switch {
		case !has:
			e.Why = whyMissing
		case plain && len(empty) > 0:
			e.Why = "empty"
		case len(empty) > 0:
			e.Why = "plural forms missing: " + strings.Join(empty, ", ")
		case !tracked(k):
			continue
		case w.Lock[lang][k] == "":
			e.Why = whyUnrecorded
		case w.Lock[lang][k] != e.Hash:
			e.Why = whyChanged
		default:
			continue
		}
		if k == "meta.direction" {
			e.Where = descriptions[k]
		}
		req.Strings = append(req.Strings, e)
	}
	return req, nil
}

// Marshal writes the request as the TOML file a translator fills in.
func (r *Request) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Vigil translation request: %s, %d strings. Fill in each `translation`; keep {{.Placeholders}} and /commands as they are.\n", r.Lang, len(r.Strings))
	b.WriteString(`#
# Each [[string]] is one text. "where" says where the defender sees it;
# "english" is the text to translate; "current", when there, is the
# translation in use, made from an older English text. Write the translation
# between the triple quotes of "translation" (several lines are fine) and
# change nothing else. A text that depends on a number has one field per
# form your language needs (translation_one, translation_few, …); the comment
# above each says which numbers use it, and {{.PluralCount}} is the number.
#
# Send the file back, or merge it yourself: vigil locales import FILE
`)
	fmt.Fprintf(&b, "\nlanguage = %s\n", tomlString(r.Lang))
	for _, e := range r.Strings {
		b.WriteString("\n[[string]]\n")
		fmt.Fprintf(&b, "key = %s\n", tomlString(e.Key))
		fmt.Fprintf(&b, "where = %s\n", tomlString(e.Where))
		fmt.Fprintf(&b, "why = %s\n", tomlString(e.Why))
		fmt.Fprintf(&b, "english_hash = %s\n", tomlString(e.Hash))
		if v, plain := e.English[""]; plain {
			fmt.Fprintf(&b, "english = %s\n", tomlString(v))
			if v, ok := e.Current[""]; ok && strings.TrimSpace(v) != "" {
				fmt.Fprintf(&b, "current = %s\n", tomlString(v))
			}
			fmt.Fprintf(&b, "translation = %s\n", toFill(e.Translation[""]))
			continue
		}
		for _, f := range pluralForms {
			if v, ok := e.English[f]; ok {
				fmt.Fprintf(&b, "english_%s = %s\n", f, tomlString(v))
			}
		}
		for _, f := range pluralForms {
			if v, ok := e.Current[f]; ok && strings.TrimSpace(v) != "" {
				fmt.Fprintf(&b, "current_%s = %s\n", f, tomlString(v))
			}
		}
		for _, f := range e.Forms {
			if e.Optional[f] {
				then := "it is left out"
				if slices.Contains(e.Forms, "other") && !e.Optional["other"] {
					then = "translation_other is used"
				}
				fmt.Fprintf(&b, "# %s (optional): %s — left empty, %s.\n", f, e.Covers[f], then)
			} else {
				fmt.Fprintf(&b, "# %s: %s\n", f, e.Covers[f])
			}
			fmt.Fprintf(&b, "translation_%s = %s\n", f, toFill(e.Translation[f]))
		}
	}
	return b.Bytes()
}

// toFill writes a translation field: empty, as the triple quotes that take
// several lines.
func toFill(s string) string {
	if s == "" {
		return `""""""`
	}
	return tomlString(s)
}

// ParseRequest reads a filled-in request.
func ParseRequest(raw []byte) (*Request, error) {
	var doc struct {
		Language string           `toml:"language"`
		Strings  []map[string]any `toml:"string"`
	}
	if _, err := toml.Decode(string(raw), &doc); err != nil {
		return nil, fmt.Errorf("locales: translation request: %w", err)
	}
	if doc.Language == "" {
		return nil, fmt.Errorf(`locales: translation request: no language = "…" line`)
	}
	r := &Request{Lang: doc.Language}
	for i, s := range doc.Strings {
		e := Entry{English: map[string]string{}, Current: map[string]string{}, Translation: map[string]string{}}
		for field, v := range s {
			text, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("locales: translation request: string %d: %s is %T, want text", i+1, field, v)
			}
			text = strings.ReplaceAll(text, "\r\n", "\n")
			switch {
			case field == "key":
				e.Key = text
			case field == "where":
				e.Where = text
			case field == "why":
				e.Why = text
			case field == "english_hash":
				e.Hash = text
			case field == "english":
				e.English[""] = text
			case field == "current":
				e.Current[""] = text
			case field == "translation":
				e.Translation[""] = text
			default:
				for _, prefix := range []string{"english_", "current_", "translation_"} {
					form, ok := strings.CutPrefix(field, prefix)
					if !ok || !slices.Contains(pluralForms, form) {
						continue
					}
					map[string]map[string]string{"english_": e.English, "current_": e.Current, "translation_": e.Translation}[prefix][form] = text
				}
			}
		}
		if e.Key == "" {
			return nil, fmt.Errorf("locales: translation request: string %d has no key", i+1)
		}
		r.Strings = append(r.Strings, e)
	}
	return r, nil
}
