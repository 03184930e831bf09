package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/locales"
)

func locs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"locales"}, args...), strings.NewReader(""), &out, &errb, func(string) string { return "" })
	return out.String(), errb.String(), code
}

// localesDir copies the embedded en.toml and fr.toml into a directory.
func localesDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		raw, err := fs.ReadFile(locales.Embedded(), n)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), raw, 0o644)
	}
	return dir
}

func TestLocalesCheck(t *testing.T) {
	broken := localesDir(t, "en.toml", "fr.toml")
	fr, _ := os.ReadFile(filepath.Join(broken, "fr.toml"))
	fr = bytes.Replace(fr, []byte("dossier {{.Ref}})"), []byte("dossier {{.Reference}})"), 1)
	fr = bytes.Replace(fr, []byte(`wiped = "Cette conversation a été effacée."`+"\n"), nil, 1)
	os.WriteFile(filepath.Join(broken, "fr.toml"), fr, 0o644)
	os.WriteFile(filepath.Join(broken, "xx.toml"), []byte("[meta\n"), 0o644)
	noSource := t.TempDir()
	os.WriteFile(filepath.Join(noSource, "fr.toml"), fr, 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"embedded", nil, 0, []string{"Checking the files built into this binary.", "\nen: ok\n", "\nfr: ok"}},
		{"one language", []string{"ar"}, 0, []string{"\nar: ok"}},
		{"broken dir", []string{"--dir", broken}, 1, []string{"fr: 2 problems", "msg.answer_sent: placeholders [Reference], English has [Ref]", "msg.wiped: missing", "xx: 1 problem", "en: ok"}},
		{"dir without en.toml", []string{"--dir", noSource, "fr"}, 1, []string{"English built into this binary", "fr: 2 problems"}},
		{"unknown language", []string{"zz"}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := locs(t, append([]string{"check"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	out, _, code := locs(t, "check", "--json", "--dir", broken)
	var rep struct {
		OK        bool `json:"ok"`
		Languages []struct {
			Lang     string `json:"lang"`
			Errors   int    `json:"errors"`
			Problems []struct {
				Key  string `json:"key"`
				What string `json:"what"`
			} `json:"problems"`
		} `json:"languages"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	if len(rep.Languages) != 3 || rep.Languages[1].Lang != "fr" || rep.Languages[1].Errors != 2 {
		t.Errorf("--json: %+v", rep.Languages)
	}
}

func TestLocalesExportImport(t *testing.T) {
	dir := localesDir(t, "en.toml", "fr.toml")
	if out, errs, code := locs(t, "accept", "fr", "--dir", dir); code != 0 || !strings.Contains(out, "fr: recorded the English of") {
		t.Fatalf("accept: %d %s%s", code, out, errs)
	}
	frBefore, _ := os.ReadFile(filepath.Join(dir, "fr.toml"))

	// English changes one text.
	en, _ := os.ReadFile(filepath.Join(dir, "en.toml"))
	en = bytes.Replace(en, []byte(`wiped = "This conversation was cleared."`), []byte(`wiped = "This conversation has been cleared."`), 1)
	os.WriteFile(filepath.Join(dir, "en.toml"), en, 0o644)

	req := filepath.Join(t.TempDir(), "fr-request.toml")
	if _, errs, code := locs(t, "export", "fr", "--dir", dir, "-o", req); code != 0 || !strings.Contains(errs, "fr: 1 string to translate") {
		t.Fatalf("export: %d %s", code, errs)
	}
	if _, errs, code := locs(t, "export", "fr", "--dir", dir, "-o", req); code != 1 || !strings.Contains(errs, "never overwritten") {
		t.Fatalf("export over an existing file: %d %s", code, errs)
	}
	raw, _ := os.ReadFile(req)
	if !strings.Contains(string(raw), `key = "msg.wiped"`) || !strings.Contains(string(raw), `english = "This conversation has been cleared."`) {
		t.Fatalf("request:\n%s", raw)
	}

	// A translation that breaks the placeholders of another text is refused
	// whole: nothing is written.
	bad := strings.Replace(string(raw), `translation = """"""`, `translation = "Conversation effacée."`, 1) +
		"\n[[string]]\nkey = \"msg.answer_sent\"\ntranslation = \"Transmis (dossier {{.Dossier}}).\"\n"
	os.WriteFile(req, []byte(bad), 0o644)
	lockBefore, _ := os.ReadFile(filepath.Join(dir, locales.LockFile))
	if _, errs, code := locs(t, "import", req, "--dir", dir); code != 1 || !strings.Contains(errs, "msg.answer_sent: placeholders [Dossier], English has [Ref]") {
		t.Fatalf("bad import: %d %s", code, errs)
	}
	frNow, _ := os.ReadFile(filepath.Join(dir, "fr.toml"))
	lockNow, _ := os.ReadFile(filepath.Join(dir, locales.LockFile))
	if !bytes.Equal(frNow, frBefore) || !bytes.Equal(lockNow, lockBefore) {
		t.Fatal("a refused import wrote files")
	}

	// The good one is merged, and the text no longer needs translating.
	good := strings.Replace(string(raw), `translation = """"""`, "translation = \"\"\"\nCette conversation a bien été effacée.\n\"\"\"", 1)
	os.WriteFile(req, []byte(good), 0o644)
	if out, errs, code := locs(t, "import", req, "--dir", dir); code != 0 || !strings.Contains(out, "fr: 1 text merged") {
		t.Fatalf("import: %d %s%s", code, out, errs)
	}
	frNow, _ = os.ReadFile(filepath.Join(dir, "fr.toml"))
	want := bytes.Replace(frBefore, []byte(`wiped = "Cette conversation a été effacée."`), []byte(`wiped = "Cette conversation a bien été effacée."`), 1)
	if !bytes.Equal(frNow, want) {
		t.Errorf("fr.toml after import differs from the file with one text changed")
	}
	if out, _, _ := locs(t, "export", "fr", "--dir", dir); !strings.Contains(out, "fr, 0 strings") {
		t.Errorf("after import, export still asks:\n%s", out)
	}
	if out, _, code := locs(t, "check", "--dir", dir); code != 0 || !strings.Contains(out, "\nfr: ok") || strings.Contains(out, locales.LockFile) {
		t.Errorf("after import, check: %d\n%s", code, out)
	}
}

func TestLocalesUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"export"}, {"import"}, {"frobnicate"}} {
		if _, errs, code := locs(t, args...); code != 1 || !strings.Contains(errs, "usage: vigil locales") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
