// Package textsafe makes untrusted text safe for one output: a cell of a
// CSV file a spreadsheet will open, or a staff member's terminal. What a
// defender, a staff member or a coordinator wrote is data; these functions
// keep the program that shows it from taking it as code.
//
// Each function is for one output and only that one. JSON for scripts
// (--json) is written exact, with none of them.
//
// # Spreadsheets
//
// A spreadsheet reads a cell that starts with =, +, - or @ as a formula,
// and some read one that starts with a tab or carriage return the same way:
// a defender's "=HYPERLINK(…)" or "=cmd|' /C calc'!A0" would run on the
// staff member's machine, or send other defenders' rows elsewhere. As OWASP
// recommends (CSV Injection), such a cell is written with a single quote
// before it, and the rest of the cell exact: the spreadsheet shows text
// (some hide the quote, some show it). [CSVCell] does it for one cell, and
// [CSV] for every cell of a file: every CSV that Vigil writes goes through
// [CSV]. Only the start of a cell is guarded: a spreadsheet that splits the
// file at another separator than the comma (a semicolon, in many European
// locales) starts cells inside a defender's answer, where a formula can
// still begin; open Vigil's CSV files with the comma as separator.
//
// # Terminals
//
// A terminal obeys the control characters in what it prints: ESC and the C1
// controls start sequences that clear the screen, rewrite earlier lines,
// set the clipboard (OSC 52) or disguise a link (OSC 8). [Terminal] and
// [TerminalLine] print them visibly instead, and keep everything else as it
// is, so that Arabic, Hebrew or Persian text still reads right to left:
//
//   - C0 controls (U+0000–U+001F) other than line feed and tab, and DEL
//     (U+007F), as \x1b-style escapes (two lowercase hex digits);
//   - C1 controls (U+0080–U+009F) as \u009b-style escapes;
//   - the bidirectional embeddings and overrides (U+202A–U+202E) as
//     \u202e-style escapes: they reorder what the staff member sees
//     ("Trojan Source"), for instance show "closed" where the text says
//     "desolc", and can reach beyond the text into what is printed after
//     it on the line;
//   - a bidirectional isolate (U+2066–U+2068) that its pop (U+2069) does
//     not close on the same line, and a pop that closes nothing, the same
//     way. A closed isolate is kept: nothing outside it is reordered, and
//     Vigil's own messages put one around each line of a defender's words
//     so that they keep their order inside a sentence in the other
//     direction (flows, locales);
//   - the marks U+200E, U+200F and U+061C, which only set the direction of
//     the characters around them, and the right-to-left letters themselves,
//     stay as they are;
//   - each byte that is not part of valid UTF-8 as a \x9b-style escape (a
//     terminal in an 8-bit mode would read a lone 0x9b as CSI).
//
// [TerminalLine] is for a value shown on one line (a table cell, a name
// after a label): line feed and tab are escaped too, so that a value cannot
// start a line of its own that looks like another row.
//
// A backslash is not escaped: text that holds a literal "\x1b" looks the
// same as text that held the control character. The output is for reading;
// the --json output of the same command is exact when it matters.
package textsafe

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// CSVCell returns v as a CSV cell that a spreadsheet takes as text: v with
// a single quote before it when it starts with =, +, -, @, a tab or a
// carriage return, v unchanged otherwise.
func CSVCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// CSV writes rows of a CSV file, each cell through [CSVCell]. Quoting is
// encoding/csv's, with a line feed after each row.
type CSV struct {
	w    *csv.Writer
	cell []string // reused for each row
}

// NewCSV returns a CSV writing to w. Call [CSV.Flush] after the last row.
func NewCSV(w io.Writer) *CSV { return &CSV{w: csv.NewWriter(w)} }

// Write writes one row; row itself is not changed. Rows are buffered: an
// error writing them may only show at [CSV.Flush].
func (c *CSV) Write(row []string) error {
	c.cell = c.cell[:0]
	for _, v := range row {
		c.cell = append(c.cell, CSVCell(v))
	}
	return c.w.Write(c.cell)
}

// Flush writes the buffered rows and returns the first error met writing
// any row.
func (c *CSV) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// Terminal returns s for printing in a terminal, with its control
// characters visibly escaped as the package documentation lists; line
// feeds and tabs are kept.
func Terminal(s string) string { return escape(s, false) }

// TerminalLine is [Terminal] for a value that must stay on one line: line
// feeds and tabs are escaped too (\x0a, \x09).
func TerminalLine(s string) string { return escape(s, true) }

func escape(s string, oneLine bool) string {
	closed := closedIsolates(s, oneLine)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case (r == '\n' || r == '\t') && !oneLine:
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, isIsolate(r) && !closed[i]:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isIsolate reports whether r opens (LRI, RLI, FSI) or closes (PDI) a
// bidirectional isolate.
func isIsolate(r rune) bool { return r >= 0x2066 && r <= 0x2069 }

// closedIsolates returns the byte offsets in s of the isolates that are
// closed, and of the pops that close them, on one line of the output: a
// pop closes the latest isolate still open, and a line feed (unless
// oneLine escapes it) or a paragraph separator ends all of them, as in
// the Unicode Bidirectional Algorithm. It is nil when s has none.
func closedIsolates(s string, oneLine bool) map[int]bool {
	if !strings.ContainsFunc(s, isIsolate) {
		return nil
	}
	closed := map[int]bool{}
	var open []int
	for i, r := range s {
		switch {
		case r == 0x2069 && len(open) > 0:
			closed[open[len(open)-1]], closed[i] = true, true
			open = open[:len(open)-1]
		case isIsolate(r) && r != 0x2069:
			open = append(open, i)
		case r == '\n' && !oneLine, r == 0x2029:
			open = open[:0]
		}
	}
	return closed
}
