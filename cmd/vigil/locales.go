package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-hrd/vigil/locales"
)

const localesUsage = `usage: vigil locales COMMAND [flags]

  check [LANG…] [--dir DIR] [--json]   gaps and errors in the language files: missing,
                                       extra and empty texts, placeholders, Telegram's
                                       limits; exit status 1 on any (warnings aside)
  export LANG [-o FILE] [--dir DIR]    LANG's texts that are missing or whose English
                                       changed since they were translated, as a file a
                                       translator fills in (LANG need not exist yet)
  import FILE [--dir DIR]              merge a filled-in export into DIR/LANG.toml and
                                       record its English in DIR/sources.lock
  accept LANG [KEY…] [--dir DIR]       record that LANG's texts (or KEYs) translate
                                       today's English, in DIR/sources.lock

check and export read the files built into this binary unless --dir is given;
import and accept write to --dir, by default "locales". A DIR without en.toml
takes the English built into the binary.
`

// runLocales is the translators' tool.
func runLocales(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, localesUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fset := flag.NewFlagSet("locales "+sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, localesUsage) }
	dir := fset.String("dir", "", "read (and write) the language files in `DIR`")
	asJSON := fset.Bool("json", false, "JSON for scripts (check)")
	out := fset.String("o", "", "write the request to `FILE` (export; default: standard output)")
	// Flags may come before or after the positional arguments.
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return errUsage
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		args = fset.Args()[1:]
	}
	l := &localesCLI{stdout: stdout, stderr: stderr, dir: *dir}
	switch {
	case sub == "check":
		return l.check(pos, *asJSON)
	case sub == "export" && len(pos) == 1:
		return l.export(pos[0], *out)
	case sub == "import" && len(pos) == 1:
		return l.importFile(pos[0])
	case sub == "accept" && len(pos) >= 1:
		return l.accept(pos[0], pos[1:])
	}
	fmt.Fprint(stderr, localesUsage)
	return errUsage
}

type localesCLI struct {
	stdout, stderr io.Writer
	dir            string // "" for the files built into the binary
}

// defaultLocalesDir is where import and accept write without --dir: the
// checkout's locales/.
const defaultLocalesDir = "locales"

func (l *localesCLI) writeDir() string {
	if l.dir != "" {
		return l.dir
	}
	return defaultLocalesDir
}

// open opens the workspace: the embedded files, or those in l.dir (or
// writeDir for the commands that write).
func (l *localesCLI) open(writeDir string) (*locales.Workspace, string, error) {
	dir := l.dir
	if dir == "" {
		dir = writeDir
	}
	if dir == "" {
		ws, err := locales.OpenFS(locales.Embedded())
		return ws, "the files built into this binary", err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("locales: %s is not a directory", dir)
	}
	var fsys fs.FS = os.DirFS(dir)
	what := dir
	if _, err := fs.Stat(fsys, locales.Source+".toml"); errors.Is(err, fs.ErrNotExist) {
		fsys = sourceFallback{fsys}
		what += " (with the English built into this binary: it has no " + locales.Source + ".toml)"
	}
	ws, err := locales.OpenFS(fsys)
	return ws, what, err
}

type checkedLang struct {
	Lang     string        `json:"lang"`
	Name     string        `json:"name,omitempty"`
	Errors   int           `json:"errors"`
	Warnings int           `json:"warnings"`
	Problems []problemJSON `json:"problems"`
}

type problemJSON struct {
	Key     string `json:"key"`
	What    string `json:"what"`
	Warning bool   `json:"warning,omitempty"`
}

func (l *localesCLI) check(only []string, asJSON bool) error {
	ws, what, err := l.open("")
	if err != nil {
		return err
	}
	var langs []string
	names := map[string]string{}
	for _, lang := range ws.Languages() {
		langs = append(langs, lang.Code)
		names[lang.Code] = lang.Name
	}
	for code := range ws.Broken {
		langs = append(langs, code)
	}
	slices.Sort(langs)
	for _, code := range only {
		if !slices.Contains(langs, code) {
			return fmt.Errorf("locales: no file %s.toml in %s", code, what)
		}
	}
	byLang := map[string]*checkedLang{}
	var report []*checkedLang
	for _, code := range langs {
		if len(only) > 0 && !slices.Contains(only, code) {
			continue
		}
		byLang[code] = &checkedLang{Lang: code, Name: names[code], Problems: []problemJSON{}}
		report = append(report, byLang[code])
	}
	failed := false
	for _, p := range ws.Report() {
		c := byLang[p.Lang]
		if c == nil {
			continue
		}
		c.Problems = append(c.Problems, problemJSON{Key: p.Key, What: p.What, Warning: p.Warning})
		if p.Warning {
			c.Warnings++
		} else {
			c.Errors++
			failed = true
		}
	}
	if asJSON {
		enc := json.NewEncoder(l.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(map[string]any{"ok": !failed, "checked": what, "languages": report}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(l.stdout, "Checking %s.\n", what)
		for _, c := range report {
			fmt.Fprintf(l.stdout, "%s: %s\n", c.Lang, localesSummary(c.Errors, c.Warnings))
			for _, p := range c.Problems {
				kind := "error  "
				if p.Warning {
					kind = "warning"
				}
				fmt.Fprintf(l.stdout, "  %s  %s: %s\n", kind, p.Key, p.What)
			}
		}
	}
	if failed {
		return errUsage // the report is the whole story; exit status 1
	}
	return nil
}

func localesSummary(errs, warns int) string {
	s := "ok"
	if errs > 0 {
		s = countNoun(errs, "problem")
	}
	if warns > 0 {
		s += ", " + countNoun(warns, "warning")
	}
	return s
}

func countNoun(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (l *localesCLI) export(lang, out string) error {
	ws, _, err := l.open("")
	if err != nil {
		return err
	}
	req, err := ws.Export(lang)
	if err != nil {
		return err
	}
	if out == "" {
		if _, err := l.stdout.Write(req.Marshal()); err != nil {
			return err
		}
		fmt.Fprintf(l.stderr, "%s: %s to translate\n", lang, countNoun(len(req.Strings), "string"))
		return nil
	}
	// A request may already be half filled in: never overwrite one.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("locales: %s exists and is never overwritten (it may hold a translator's work)", out)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(req.Marshal()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(l.stderr, "%s: %s to translate, written to %s\n", lang, countNoun(len(req.Strings), "string"), out)
	return nil
}

func (l *localesCLI) importFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	req, err := locales.ParseRequest(raw)
	if err != nil {
		return err
	}
	ws, _, err := l.open(defaultLocalesDir)
	if err != nil {
		return err
	}
	dir := l.writeDir()
	target := filepath.Join(dir, req.Lang+".toml")
	current, err := os.ReadFile(target)
	if errors.Is(err, fs.ErrNotExist) {
		current, err = nil, nil
	}
	if err != nil {
		return err
	}
	applied, err := ws.Apply(req, current)
	var refused *locales.Refused
	if errors.As(err, &refused) {
		fmt.Fprintf(l.stderr, "vigil: %s: import refused, nothing was written:\n", path)
		for _, p := range refused.Problems {
			fmt.Fprintf(l.stderr, "  %s: %s\n", p.Key, p.What)
		}
		return errUsage
	}
	if err != nil {
		return err
	}
	for _, w := range applied.Warnings {
		fmt.Fprintf(l.stderr, "warning: %s\n", w)
	}
	ws.Record(req.Lang, applied.Hashes)
	if err := replaceFile(target, applied.File); err != nil {
		return err
	}
	if err := replaceFile(filepath.Join(dir, locales.LockFile), ws.LockBytes()); err != nil {
		return err
	}
	fmt.Fprintf(l.stdout, "%s: %s merged into %s; %s updated.\n", req.Lang, countNoun(len(req.Strings), "text"), target, filepath.Join(dir, locales.LockFile))
	fmt.Fprintf(l.stdout, "Next: vigil locales check --dir %s %s, then go test ./flows/ -update and review flows/testdata/golden/%s.txt.\n", dir, req.Lang, req.Lang)
	return nil
}

func (l *localesCLI) accept(lang string, keys []string) error {
	ws, _, err := l.open(defaultLocalesDir)
	if err != nil {
		return err
	}
	n, err := ws.Accept(lang, keys)
	if err != nil {
		return err
	}
	dir := l.writeDir()
	lock := filepath.Join(dir, locales.LockFile)
	if err := replaceFile(lock, ws.LockBytes()); err != nil {
		return err
	}
	fmt.Fprintf(l.stdout, "%s: recorded the English of %s in %s.\n", lang, countNoun(n, "text"), lock)
	return nil
}

// replaceFile replaces path with data, or leaves it as it was.
func replaceFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sourceFallback is a directory of language files that lacks en.toml: the
// English comes from the binary.
type sourceFallback struct{ fs.FS }

func (s sourceFallback) Open(name string) (fs.File, error) {
	f, err := s.FS.Open(name)
	if errors.Is(err, fs.ErrNotExist) && name == locales.Source+".toml" {
		return locales.Embedded().Open(name)
	}
	return f, err
}

func (s sourceFallback) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(s.FS, name)
	if err != nil || name != "." {
		return entries, err
	}
	src, err := fs.Stat(locales.Embedded(), locales.Source+".toml")
	if err != nil {
		return nil, err
	}
	entries = append(entries, fs.FileInfoToDirEntry(src))
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}
