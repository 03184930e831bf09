package locales

import (
	"fmt"
	"maps"
	"strings"
)

// Applied is a request merged into a language file.
type Applied struct {
	Lang string
	// File is the new <Lang>.toml: the old file's header comment, then
	// every text in the order of en.toml (see format).
	File []byte
	// Hashes are the lock entries of the keys translated: the English each
	// was translated from, as the request recorded it.
	Hashes   map[string]string
	Warnings []string
}

// Refused is the error of Apply when a translation cannot be taken; nothing
// should be written.
type Refused struct{ Problems []Problem }

func (r *Refused) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "locales: import refused, %d problem(s); nothing was written:", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Key, p.What)
	}
	return b.String()
}

// Apply merges a filled-in request into current, the language's file as it
// is (nil for a new language), and returns the file to write and the lock
// entries to record. It refuses (*Refused) when a translation is empty,
// breaks a {{.Placeholder}}, is not a valid template or is over Telegram's
// limits, when a key is not one of en.toml, and when a new language lacks
// its meta.name or meta.direction.
func (w *Workspace) Apply(req *Request, current []byte) (*Applied, error) {
	lang := req.Lang
	if err := checkLang(lang); err != nil {
		return nil, err
	}
	var f *file
	var header string
	out := &Applied{Lang: lang, Hashes: map[string]string{}}
	if current != nil {
		var err error
		if f, err = parse(lang, current); err != nil {
			return nil, fmt.Errorf("%w (fix the file first)", err)
		}
		var lost []int
		header, lost = headerOf(current)
		for _, n := range lost {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s.toml line %d: a comment below the header is not kept by the rewrite", lang, n))
		}
	} else {
		f = &file{code: lang, texts: map[string]string{}, plurals: map[string]map[string]string{}}
	}
	var problems []Problem
	refuse := func(key, what string, args ...any) {
		problems = append(problems, Problem{Lang: lang, Key: key, What: fmt.Sprintf(what, args...)})
	}
	_, optional, _ := w.pluralPlan(lang)
	need := w.pluralFormsOf(lang)
	seen := map[string]bool{}
	for _, e := range req.Strings {
		k := e.Key
		if seen[k] {
			refuse(k, "appears twice in the request")
			continue
		}
		seen[k] = true
		eng, ok := w.text(Source, k)
		if !ok {
			refuse(k, "not a key of %s.toml", Source)
			continue
		}
		if src, plain := eng[""]; plain {
			t := trimTranslation(src, e.Translation[""])
			if t == "" {
				refuse(k, "the translation is empty")
				continue
			}
			errs, warns := checkText(k, src, t)
			for _, msg := range errs {
				refuse(k, "%s", msg)
			}
			for _, msg := range warns {
				out.Warnings = append(out.Warnings, k+": "+msg)
			}
			f.texts[k] = t
		} else {
			forms := map[string]string{}
			for form, text := range e.Translation {
				if t := trimTranslation(eng["other"], text); t != "" {
					forms[form] = t
				}
			}
			for _, form := range need {
				if forms[form] == "" {
					refuse(k, "translation_%s is empty (%s needs the %s form)", form, lang, form)
				}
			}
			// An optional form left empty takes the "other" text where
			// "other" is a form of whole numbers (French "many", for the
			// millions); otherwise it is left out.
			for form := range optional {
				if forms[form] == "" && !optional["other"] && forms["other"] != "" {
					forms[form] = forms["other"]
				}
			}
			for _, form := range sortedKeys(forms) {
				errs, warns := checkForm(form, eng["other"], forms[form])
				for _, msg := range errs {
					refuse(k, "translation_%s: %s", form, msg)
				}
				for _, msg := range warns {
					out.Warnings = append(out.Warnings, k+": translation_"+form+": "+msg)
				}
			}
			f.plurals[strings.TrimPrefix(k, "plural.")] = forms
		}
		if tracked(k) {
			h := w.sourceHash(k)
			if hashPattern.MatchString(e.Hash) && e.Hash != h {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: the English changed after this request was made; the translation is recorded as made from the older English, so export will ask for it again", k))
				h = e.Hash
			}
			out.Hashes[k] = h
		}
	}
	for _, k := range []string{"meta.name", "meta.direction"} {
		if f.texts[k] == "" && !seen[k] {
			refuse(k, "missing: a new language needs it (export asks for it)")
		}
	}
	if len(problems) > 0 {
		return nil, &Refused{Problems: problems}
	}
	if current == nil {
		header = fmt.Sprintf("# %s — translation of %s.toml (the source). Same keys, same\n# {{.Placeholders}}; commands (/start, /status, …) stay as they are.\n# reviewed = \"no: awaiting review by a native speaker\"\n# Written by vigil locales import; see README.md, Translations.\n", f.texts["meta.name"], Source)
	}
	out.File = w.format(header, f)
	// What is written must read back as what was merged.
	back, err := parse(lang, out.File)
	if err != nil {
		return nil, fmt.Errorf("locales: %s.toml as rewritten does not parse (a bug): %w", lang, err)
	}
	if !maps.Equal(back.texts, f.texts) || !maps.EqualFunc(back.plurals, f.plurals, maps.Equal) {
		return nil, fmt.Errorf("locales: %s.toml as rewritten does not read back the same (a bug)", lang)
	}
	return out, nil
}

// trimTranslation drops the blank lines and spaces a translator leaves
// around a text between triple quotes, unless the English has them too.
func trimTranslation(english, t string) string {
	if strings.Trim(english, " \t\r\n") == english {
		return strings.Trim(t, " \t\r\n")
	}
	return t
}

// Record sets the lock entries of lang (from Applied.Hashes).
func (w *Workspace) Record(lang string, hashes map[string]string) {
	if len(hashes) == 0 {
		return
	}
	if w.Lock[lang] == nil {
		w.Lock[lang] = map[string]string{}
	}
	maps.Copy(w.Lock[lang], hashes)
}

// Format rewrites lang's file canonically, as Apply writes it: a no-op
// import.
func (w *Workspace) Format(lang string, current []byte) ([]byte, error) {
	a, err := w.Apply(&Request{Lang: lang}, current)
	if err != nil {
		return nil, err
	}
	return a.File, nil
}
