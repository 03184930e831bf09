package locales

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// LockFile records, for each translated language and key, which English
// text the translation was made from: the first 12 hex digits of the
// SHA-256 of that text. It sits beside the language files and is embedded
// with them. `vigil locales accept` and `vigil locales import` write it;
// `vigil locales export` compares it with the English of today to find
// translations whose English moved since.
const LockFile = "sources.lock"

// Lock maps language → key → hash of the English text translated. Keys are
// those of Keys: "msg.receipt", and "plural.msg.forgotten" for a counted
// text (all its forms hashed together). meta.* is not recorded: a
// language's name and direction do not follow the English.
type Lock map[string]map[string]string

var hashPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// ReadLock reads LockFile at the root of fsys; a missing file is an empty
// lock.
func ReadLock(fsys fs.FS) (Lock, error) {
	raw, err := fs.ReadFile(fsys, LockFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Lock{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("locales: %s: %w", LockFile, err)
	}
	l := Lock{}
	if _, err := toml.Decode(string(raw), &l); err != nil {
		return nil, fmt.Errorf("locales: %s: %w", LockFile, err)
	}
	for lang, keys := range l {
		for k, h := range keys {
			if !hashPattern.MatchString(h) {
				return nil, fmt.Errorf("locales: %s: [%s] %q: %q is not 12 hex digits", LockFile, lang, k, h)
			}
		}
	}
	return l, nil
}

// marshal writes the lock: languages and keys sorted, one key a line.
func (l Lock) marshal() []byte {
	var b bytes.Buffer
	b.WriteString(`# Which English text each translation was made from: per language and key,
# the first 12 hex digits of the SHA-256 of the English text (all plural
# forms together for plural.* keys). Written by "vigil locales accept" and
# "vigil locales import"; "vigil locales export" lists the keys whose English
# no longer has the recorded hash. Do not edit by hand.
`)
	for _, lang := range sortedKeys(l) {
		if len(l[lang]) == 0 {
			continue
		}
		b.WriteString("\n[" + tomlKey(lang) + "]\n")
		for _, k := range sortedKeys(l[lang]) {
			b.WriteString(`"` + escape(k, false) + `" = "` + l[lang][k] + "\"\n")
		}
	}
	return b.Bytes()
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// Keys lists the source's keys in the order of its file: a text as its path
// ("step.when.prompt"), a counted text as "plural." and its key
// ("plural.msg.forgotten"), as Check reports them.
func (c *Catalog) Keys() []string {
	src := c.files[Source]
	var out []string
	for _, leaf := range src.leaves {
		if table, _ := splitLast(leaf); strings.HasPrefix(table, "plural.") {
			if _, ok := src.plurals[table[len("plural."):]]; ok {
				if !slices.Contains(out, table) {
					out = append(out, table)
				}
				continue
			}
		}
		out = append(out, leaf)
	}
	return out
}

// text returns the text of key (as Keys names it) in lang: for a plain
// text, "" → text; for a counted one, form → text. ok is false when the
// language lacks it.
func (c *Catalog) text(lang, key string) (map[string]string, bool) {
	f, ok := c.files[lang]
	if !ok {
		return nil, false
	}
	if k, isPlural := strings.CutPrefix(key, "plural."); isPlural {
		if forms, ok := f.plurals[k]; ok {
			return forms, true
		}
	}
	if v, ok := f.texts[key]; ok {
		return map[string]string{"": v}, true
	}
	return nil, false
}

// sourceHash is the hash of the English text of key, or "" if English has
// no such key.
func (c *Catalog) sourceHash(key string) string {
	forms, ok := c.text(Source, key)
	if !ok {
		return ""
	}
	if v, plain := forms[""]; plain {
		return hashText(v)
	}
	var parts []string
	for _, form := range pluralForms {
		if v, ok := forms[form]; ok {
			parts = append(parts, form+"\x1f"+v)
		}
	}
	return hashText(strings.Join(parts, "\x1e"))
}

// tracked reports whether a key follows the English: meta.* does not.
func tracked(key string) bool { return !strings.HasPrefix(key, "meta.") }

// Workspace is a set of language files and their lock, as a translator or
// a check sees them: files that do not parse are kept aside in Broken
// instead of stopping everything.
type Workspace struct {
	*Catalog
	Broken map[string]error // language → why its file does not load
	Lock   Lock
}

// OpenFS opens the language files and LockFile at the root of fsys. The
// source file (en.toml) must load.
func OpenFS(fsys fs.FS) (*Workspace, error) {
	c, broken, err := loadFS(fsys, Source)
	if err != nil {
		return nil, err
	}
	lock, err := ReadLock(fsys)
	if err != nil {
		return nil, err
	}
	return &Workspace{Catalog: c, Broken: broken, Lock: lock}, nil
}

// Stale returns the keys lang has whose English moved since they were
// translated (changed), and those with no record of the English they were
// made from (unrecorded), in the source's order.
func (w *Workspace) Stale(lang string) (changed, unrecorded []string) {
	for _, k := range w.Keys() {
		if !tracked(k) {
			continue
		}
		if _, ok := w.text(lang, k); !ok {
			continue
		}
		switch h, ok := w.Lock[lang][k]; {
		case !ok:
			unrecorded = append(unrecorded, k)
		case h != w.sourceHash(k):
			changed = append(changed, k)
		}
	}
	return changed, unrecorded
}

// Accept records that lang's texts of keys (all its texts when keys is
// empty) are translations of today's English, and returns how many it
// recorded. Accepting all replaces what the lock held for lang.
func (w *Workspace) Accept(lang string, keys []string) (int, error) {
	if lang == Source {
		return 0, fmt.Errorf("locales: %s is the source; there is nothing to accept", Source)
	}
	if !w.Has(lang) {
		if err := w.Broken[lang]; err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("locales: no file %s.toml", lang)
	}
	all := len(keys) == 0
	if all {
		keys = w.Keys()
	}
	rec := map[string]string{}
	for _, k := range keys {
		h := w.sourceHash(k)
		if h == "" {
			return 0, fmt.Errorf("locales: %s: not a key of %s.toml", k, Source)
		}
		if !tracked(k) {
			if !all {
				return 0, fmt.Errorf("locales: %s: meta.* does not follow the English and is not recorded", k)
			}
			continue
		}
		if _, ok := w.text(lang, k); !ok {
			if !all {
				return 0, fmt.Errorf("locales: %s: %s.toml has no such text to accept", k, lang)
			}
			continue
		}
		rec[k] = h
	}
	if all || w.Lock[lang] == nil {
		w.Lock[lang] = map[string]string{}
	}
	maps.Copy(w.Lock[lang], rec)
	return len(rec), nil
}

// LockBytes returns the lock as it is written to LockFile, without keys
// English no longer has.
func (w *Workspace) LockBytes() []byte {
	for lang, keys := range w.Lock {
		maps.DeleteFunc(keys, func(k, _ string) bool { return w.sourceHash(k) == "" || !tracked(k) })
		if len(keys) == 0 {
			delete(w.Lock, lang)
		}
	}
	return w.Lock.marshal()
}

// Report is CheckAll for a workspace: it adds the files that do not load,
// and a warning for each language with texts whose English moved since
// they were translated, or with no record of the English they came from.
func (w *Workspace) Report() []Problem {
	var out []Problem
	for _, lang := range sortedKeys(w.Broken) {
		what := strings.TrimPrefix(w.Broken[lang].Error(), "locales: "+lang+".toml: ")
		out = append(out, Problem{Lang: lang, Key: lang + ".toml", What: what})
	}
	out = append(out, w.CheckAll()...)
	for _, l := range w.Languages() {
		if l.Code == Source {
			continue
		}
		changed, unrecorded := w.Stale(l.Code)
		if len(changed) > 0 {
			out = append(out, Problem{Lang: l.Code, Key: LockFile, Warning: true,
				What: fmt.Sprintf("%d text(s) translated from an older English: %s (vigil locales export %s lists them)", len(changed), abbreviate(changed, 5), l.Code)})
		}
		if len(unrecorded) > 0 {
			out = append(out, Problem{Lang: l.Code, Key: LockFile, Warning: true,
				What: fmt.Sprintf("%d text(s) with no record of the English they were translated from (vigil locales accept %s, once reviewed)", len(unrecorded), l.Code)})
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return strings.Compare(a.Lang, b.Lang) })
	return out
}

func abbreviate(keys []string, n int) string {
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:n], ", ") + fmt.Sprintf(" and %d more", len(keys)-n)
}
