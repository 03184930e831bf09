package locales

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tempLocales writes the embedded en.toml and the given files into a fresh
// directory and returns it.
func tempLocales(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	en, err := fs.ReadFile(Embedded(), "en.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "en.toml"), en, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func embedded(t *testing.T, name string) string {
	t.Helper()
	raw, err := fs.ReadFile(Embedded(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func open(t *testing.T, dir string) *Workspace {
	t.Helper()
	w, err := OpenFS(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCheckDirectory(t *testing.T) {
	fr := embedded(t, "fr.toml")
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(fr, old) {
			t.Fatalf("fr.toml has no %q", old)
		}
		return strings.Replace(fr, old, new, 1)
	}
	for _, tc := range []struct {
		name    string
		file    string // fr.toml, or xx.toml when it starts with "#xx"
		key     string
		want    string // "" for no finding on key
		warning bool
	}{
		{"complete", fr, "", "", false},
		{"missing key", replace(`wiped = "Cette conversation a été effacée."`+"\n", ""), "msg.wiped", "missing", false},
		{"empty", replace(`wiped = "Cette conversation a été effacée."`, `wiped = "  "`), "msg.wiped", "empty", false},
		{"extra key", replace("[msg]\n", "[msg]\nbogus = \"x\"\n"), "msg.bogus", "extra", false},
		{"placeholder renamed", replace("dossier {{.Ref}})", "dossier {{.Reference}})"), "msg.answer_sent", "placeholders", false},
		{"template broken", replace("dossier {{.Ref}})", "dossier {{.Ref)"), "msg.answer_sent", "not a valid template", false},
		{"stray braces", replace("dossier {{.Ref}})", "dossier {{.Ref}}}}"), "msg.answer_sent", "braces", false},
		{"plural form missing", replace(`one = "{{.PluralCount}} fichier"`+"\n", ""), "plural.review.files", `form "one" missing`, false},
		{"button over 64", replace(`send = "Envoyer le signalement"`, `send = "`+strings.Repeat("é", 65)+`"`), "btn.send", "over 64", false},
		{"button over 40 warns", replace(`send = "Envoyer le signalement"`, `send = "`+strings.Repeat("é", 41)+`"`), "btn.send", "cut labels over about 40", true},
		{"toast over 200", replace(`stale = "Ce bouton n'est plus actif. Veuillez utiliser le message le plus récent."`, `stale = "`+strings.Repeat("x", 201)+`"`), "msg.stale", "pop-up of 201", false},
		{"message over 4096", replace(`wiped = "Cette conversation a été effacée."`, `wiped = "`+strings.Repeat("😀", 2049)+`"`), "msg.wiped", "4098 UTF-16 units", false},
		{"command dropped warns", replace("Envoyez /start pour signaler un incident.\"\ncancelled", "Envoyez start pour signaler un incident.\"\ncancelled"), "msg.nothing_to_cancel", "/start", true},
		{"direction", replace(`direction = "ltr"`, `direction = "up"`), "fr.toml", "meta.direction must be ltr or rtl", false},
		{"not TOML", "[meta\nname = 1", "fr.toml", "toml: line 2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := open(t, tempLocales(t, map[string]string{"fr.toml": tc.file}))
			var found []Problem
			for _, p := range w.Report() {
				if p.Lang == "fr" && p.Key != LockFile {
					found = append(found, p)
				}
			}
			if tc.want == "" && tc.key == "" {
				for _, p := range found {
					if !p.Warning {
						t.Errorf("unexpected %s", p)
					}
				}
				return
			}
			i := slices.IndexFunc(found, func(p Problem) bool { return p.Key == tc.key && strings.Contains(p.What, tc.want) })
			if i < 0 {
				t.Fatalf("no finding on %s containing %q; got %v", tc.key, tc.want, found)
			}
			if found[i].Warning != tc.warning {
				t.Errorf("%s: warning = %v, want %v", found[i], found[i].Warning, tc.warning)
			}
		})
	}
}

func TestExportListsWhatEnglishMoved(t *testing.T) {
	dir := tempLocales(t, map[string]string{"fr.toml": embedded(t, "fr.toml")})
	w := open(t, dir)
	if n, err := w.Accept("fr", nil); err != nil || n == 0 {
		t.Fatalf("accept: %d %v", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, LockFile), w.LockBytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if req, err := open(t, dir).Export("fr"); err != nil || len(req.Strings) != 0 {
		t.Fatalf("right after accept, export asks for %d strings (%v)", len(req.Strings), err)
	}

	// English moves: a text changes and one is added.
	en := embedded(t, "en.toml")
	en = strings.Replace(en, `wiped = "This conversation was cleared."`, `wiped = "This conversation has been cleared."`, 1)
	en = strings.Replace(en, "[btn]\n", "[btn]\nhelp = \"Help\"\n", 1)
	en = strings.Replace(en, `other = "{{.PluralCount}} files"`, `other = "{{.PluralCount}} files attached"`, 1)
	os.WriteFile(filepath.Join(dir, "en.toml"), []byte(en), 0o644)
	req, err := open(t, dir).Export("fr")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range req.Strings {
		got[e.Key] = e
	}
	for key, why := range map[string]string{"msg.wiped": whyChanged, "btn.help": whyMissing, "plural.review.files": whyChanged} {
		if got[key].Why != why {
			t.Errorf("%s: why %q, want %q", key, got[key].Why, why)
		}
	}
	if _, ok := got["msg.stale"]; ok || len(got) != 3 {
		t.Errorf("export lists %d strings, want only the 3 that moved: %v", len(got), slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		}))
	}
	if e := got["msg.wiped"]; e.English[""] != "This conversation has been cleared." || e.Current[""] != "Cette conversation a été effacée." || !strings.Contains(e.Where, "/wipe") {
		t.Errorf("msg.wiped entry: %+v", e)
	}
	if e := got["plural.review.files"]; !slices.Equal(e.Forms, []string{"one", "many", "other"}) || !e.Optional["many"] {
		t.Errorf("French plural forms asked: %v optional %v", e.Forms, e.Optional)
	}

	// The request reads back as written.
	back, err := ParseRequest(req.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Lang != "fr" || len(back.Strings) != 3 || back.Strings[0].Hash != req.Strings[0].Hash || back.Strings[0].English[""] != req.Strings[0].English[""] {
		t.Errorf("parsed back: %+v", back)
	}
}

func TestExportNewLanguage(t *testing.T) {
	w := open(t, tempLocales(t, nil))
	req, err := w.Export("ru")
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Strings) != len(w.Keys()) || req.Strings[0].Key != "meta.name" || req.Strings[1].Key != "meta.direction" {
		t.Fatalf("a new language gets every key, meta first: %d of %d, %s", len(req.Strings), len(w.Keys()), req.Strings[0].Key)
	}
	raw := string(req.Marshal())
	for _, want := range []string{
		"# Vigil translation request: ru, ",
		"translation_one = \"\"\"\"\"\"",
		"# few: 2–4, 22–24, 32–34, 42–44, …",
		"# many: 0, 5–20, 25–30, 35–40, …",
		"# other (optional): fractions only",
		`where = "Sent to the defender after the report is stored`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("request lacks %q", want)
		}
	}
	for _, bad := range []string{"en", "xx-!!", "FR"} {
		if _, err := w.Export(bad); err == nil {
			t.Errorf("export %q: no error", bad)
		}
	}
}

// fill answers every entry of a request with text(key, form).
func fill(req *Request, text func(key, form string) string) {
	for i, e := range req.Strings {
		for _, f := range e.Forms {
			req.Strings[i].Translation[f] = text(e.Key, f)
		}
	}
}

func TestImportRoundTrip(t *testing.T) {
	w, err := OpenFS(Embedded())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range w.Languages() {
		if l.Code == Source {
			continue
		}
		t.Run(l.Code, func(t *testing.T) {
			raw := []byte(embedded(t, l.Code+".toml"))
			// A no-op import, then every text imported as it is.
			if out, err := w.Format(l.Code, raw); err != nil || string(out) != string(raw) {
				t.Fatalf("a no-op import changes %s.toml (%v):\n%s", l.Code, err, diffLines(string(raw), string(out)))
			}
			req := &Request{Lang: l.Code}
			for _, k := range w.Keys() {
				cur, _ := w.text(l.Code, k)
				req.Strings = append(req.Strings, Entry{Key: k, Translation: cur})
			}
			a, err := w.Apply(req, raw)
			if err != nil {
				t.Fatal(err)
			}
			if string(a.File) != string(raw) {
				t.Fatalf("importing every text as it is changes %s.toml:\n%s", l.Code, diffLines(string(raw), string(a.File)))
			}
			if len(a.Hashes) != len(w.Keys())-2 { // meta.* is not recorded
				t.Errorf("recorded %d hashes for %d keys", len(a.Hashes), len(w.Keys()))
			}
		})
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, al[i], bl[i])
		}
	}
	return "lengths differ"
}

func TestImportMergesAndRecords(t *testing.T) {
	dir := tempLocales(t, map[string]string{"fr.toml": embedded(t, "fr.toml")})
	w := open(t, dir)
	w.Accept("fr", nil)
	en := strings.Replace(embedded(t, "en.toml"), `wiped = "This conversation was cleared."`, `wiped = "This conversation has been cleared."`, 1)
	os.WriteFile(filepath.Join(dir, "en.toml"), []byte(en), 0o644)
	os.WriteFile(filepath.Join(dir, LockFile), w.LockBytes(), 0o644)
	w = open(t, dir)
	req, _ := w.Export("fr")
	fill(req, func(string, string) string { return "\nCette conversation a bien été effacée.\n" })
	raw, _ := os.ReadFile(filepath.Join(dir, "fr.toml"))
	a, err := w.Apply(req, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.File), `wiped = "Cette conversation a bien été effacée."`) || !strings.HasPrefix(string(a.File), "# Français") {
		t.Fatalf("merged file lacks the translation or the header")
	}
	w.Record("fr", a.Hashes)
	os.WriteFile(filepath.Join(dir, "fr.toml"), a.File, 0o644)
	os.WriteFile(filepath.Join(dir, LockFile), w.LockBytes(), 0o644)
	w = open(t, dir)
	if changed, unrecorded := w.Stale("fr"); len(changed)+len(unrecorded) != 0 {
		t.Errorf("after import: changed %v, unrecorded %v", changed, unrecorded)
	}
	if p := w.Check(); len(p) != 0 {
		t.Errorf("after import: %v", p)
	}

	// English moves between export and import: the translation is recorded
	// as made from the English the translator saw, so export asks again.
	req, _ = w.Export("ru")
	req.Strings = req.Strings[:3] // meta.name, meta.direction, step.language.prompt
	fill(req, func(key, _ string) string {
		return map[string]string{"meta.name": "Русский", "meta.direction": "ltr", "step.language.prompt": "Здравствуйте."}[key]
	})
	os.WriteFile(filepath.Join(dir, "en.toml"), []byte(strings.Replace(en, "Welcome.", "Hello.", 1)), 0o644)
	w = open(t, dir)
	a, err = w.Apply(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "step.language.prompt: the English changed after this request was made") {
		t.Errorf("warnings %v", a.Warnings)
	}
	if !strings.HasPrefix(string(a.File), "# Русский — translation of en.toml") || !strings.Contains(string(a.File), "[step.language]\nprompt = \"Здравствуйте.\"\n") {
		t.Errorf("new file:\n%s", a.File)
	}
	w.Record("ru", a.Hashes)
	os.WriteFile(filepath.Join(dir, "ru.toml"), a.File, 0o644)
	os.WriteFile(filepath.Join(dir, LockFile), w.LockBytes(), 0o644)
	if changed, _ := open(t, dir).Stale("ru"); !slices.Equal(changed, []string{"step.language.prompt"}) {
		t.Errorf("after an import of an older English, changed = %v", changed)
	}
}

func TestImportRefuses(t *testing.T) {
	w, err := OpenFS(Embedded())
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(embedded(t, "fr.toml"))
	for _, tc := range []struct {
		name  string
		entry Entry
		want  string
	}{
		{"placeholder dropped", Entry{Key: "msg.receipt", Translation: map[string]string{"": "Référence : {{.Reference}}"}}, "placeholders [Reference], English has [Ref]"},
		{"placeholder missing", Entry{Key: "msg.answer_sent", Translation: map[string]string{"": "Message transmis."}}, "placeholders [], English has [Ref]"},
		{"empty", Entry{Key: "msg.wiped", Translation: map[string]string{"": " \n "}}, "empty"},
		{"bad template", Entry{Key: "msg.answer_sent", Translation: map[string]string{"": "dossier {{.Ref"}}, "not a valid template"},
		{"unknown key", Entry{Key: "msg.nope", Translation: map[string]string{"": "x"}}, "not a key of en.toml"},
		{"plural form empty", Entry{Key: "plural.review.files", Translation: map[string]string{"one": "{{.PluralCount}} fichier"}}, "translation_other is empty"},
		{"plural placeholder", Entry{Key: "plural.review.files", Translation: map[string]string{"one": "un fichier", "other": "des fichiers"}}, "translation_other: placeholders"},
		{"direction", Entry{Key: "meta.direction", Translation: map[string]string{"": "left"}}, "must be ltr or rtl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := Entry{Key: "msg.stale", Translation: map[string]string{"": "Bouton périmé."}}
			a, err := w.Apply(&Request{Lang: "fr", Strings: []Entry{ok, tc.entry}}, raw)
			var refused *Refused
			if !errors.As(err, &refused) || a != nil {
				t.Fatalf("not refused: %v", err)
			}
			if !slices.ContainsFunc(refused.Problems, func(p Problem) bool { return strings.Contains(p.What, tc.want) }) ||
				slices.ContainsFunc(refused.Problems, func(p Problem) bool { return p.Key == "msg.stale" }) {
				t.Errorf("refusal %v, want one containing %q", refused.Problems, tc.want)
			}
		})
	}
	// A new language must name itself.
	_, err = w.Apply(&Request{Lang: "ru", Strings: []Entry{{Key: "msg.wiped", Translation: map[string]string{"": "Переписка удалена."}}}}, nil)
	var refused *Refused
	if !errors.As(err, &refused) || !strings.Contains(refused.Error(), "meta.name") {
		t.Errorf("new language without meta.name: %v", err)
	}
}

func TestPluralPlan(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		lang, forms, optional string
		covers                map[string]string
	}{
		{"en", "one,other", "", map[string]string{"one": "1", "other": "0, 2 and up"}},
		{"fr", "one,many,other", "many", map[string]string{"one": "0, 1", "many": "1000000, 2000000, 3000000, …"}},
		{"ru", "one,few,many,other", "other", map[string]string{"one": "1, 21, 31, 41, …"}},
		{"ar", "zero,one,two,few,many,other", "", map[string]string{"few": "3–10, 103–110, 203–210, 303–310, …", "other": "100–102, 200–202, 300–302, 400–402, …"}},
		{"zh", "other", "", map[string]string{"other": "0 and up"}},
	} {
		forms, optional, covers := c.pluralPlan(tc.lang)
		var opt []string
		for _, f := range forms {
			if optional[f] {
				opt = append(opt, f)
			}
		}
		if strings.Join(forms, ",") != tc.forms || strings.Join(opt, ",") != tc.optional {
			t.Errorf("%s: forms %v optional %v, want %s / %s", tc.lang, forms, opt, tc.forms, tc.optional)
		}
		for f, want := range tc.covers {
			if covers[f] != want {
				t.Errorf("%s %s covers %q, want %q", tc.lang, f, covers[f], want)
			}
		}
	}
}

func TestEveryKeySaysWhereItAppears(t *testing.T) {
	c := load(t)
	keys := c.Keys()
	for _, k := range keys {
		if w := c.where(k); w == "" || w == "Text shown to the defender." {
			t.Errorf("%s: no description of where it appears", k)
		}
	}
	for k := range descriptions {
		if !slices.Contains(keys, k) && !slices.Contains(keys, "plural."+k) {
			t.Errorf("descriptions has %s, which en.toml does not", k)
		}
	}
}

func TestLockReadsBack(t *testing.T) {
	l := Lock{"fr": {"msg.wiped": "0123456789ab", "plural.review.files": "ba9876543210"}, "pt-BR": {"btn.back": "aaaaaaaaaaaa"}}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, LockFile), l.marshal(), 0o644)
	back, err := ReadLock(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back["fr"]["plural.review.files"] != "ba9876543210" || back["pt-BR"]["btn.back"] != "aaaaaaaaaaaa" {
		t.Errorf("read back %v", back)
	}
	os.WriteFile(filepath.Join(dir, LockFile), []byte("[fr]\n\"msg.wiped\" = \"nothex\"\n"), 0o644)
	if _, err := ReadLock(os.DirFS(dir)); err == nil {
		t.Error("a bad hash was read")
	}
	if l, err := ReadLock(os.DirFS(t.TempDir())); err != nil || len(l) != 0 {
		t.Errorf("missing lock: %v %v", l, err)
	}
}

// TestEmbeddedLock keeps the shipped lock in step with the English: a hash
// of a key English no longer has means the lock was not rewritten.
func TestEmbeddedLock(t *testing.T) {
	w, err := OpenFS(Embedded())
	if err != nil {
		t.Fatal(err)
	}
	for lang, keys := range w.Lock {
		if !w.Has(lang) {
			t.Errorf("%s: recorded for %s, which has no file", LockFile, lang)
		}
		for k := range keys {
			if w.sourceHash(k) == "" || !tracked(k) {
				t.Errorf("%s: [%s] %s is not a key English has", LockFile, lang, k)
			}
		}
	}
}

func TestLoadFS(t *testing.T) {
	dir := tempLocales(t, map[string]string{"fr.toml": embedded(t, "fr.toml")})
	c, err := LoadFS(os.DirFS(dir), "fr")
	if err != nil || c.Default() != "fr" || !c.Has("en") || c.T("fr", "msg.wiped", nil) != "Cette conversation a été effacée." {
		t.Fatalf("LoadFS: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "xx.toml"), []byte("[meta\n"), 0o644)
	if _, err := LoadFS(os.DirFS(dir), "en"); err == nil || !strings.Contains(err.Error(), "xx.toml") {
		t.Errorf("a broken file loaded: %v", err)
	}
	if _, err := LoadFS(os.DirFS(t.TempDir()), "en"); err == nil || !strings.Contains(err.Error(), `source language "en" has no file`) {
		t.Errorf("no en.toml: %v", err)
	}
}
