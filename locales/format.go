package locales

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// format writes a language file canonically: its header comment as it was,
// then its tables in the order of the source file (en.toml), each table's
// texts in the source's order and plural forms in CLDR order (zero, one,
// two, few, many, other). Keys the source lacks follow, sorted, in their
// table or in new tables at the end, so that nothing a translator wrote is
// dropped (Check reports them). Strings are basic strings, multi-line ones
// between triple quotes; invisible direction marks are written as \uXXXX
// escapes so that they stay visible in an editor.
func (c *Catalog) format(header string, f *file) []byte {
	type entry struct{ key, value string }
	var order []string
	tables := map[string][]entry{}
	add := func(table, key, value string) {
		if _, ok := tables[table]; !ok {
			order = append(order, table)
			tables[table] = nil
		}
		tables[table] = append(tables[table], entry{key, value})
	}
	addPlural := func(key string, forms map[string]string) {
		for _, form := range pluralForms {
			if v, ok := forms[form]; ok {
				add("plural."+key, form, v)
			}
		}
	}
	src := c.files[Source]
	seenPlural := map[string]bool{}
	for _, leaf := range src.leaves {
		table, key := splitLast(leaf)
		if k, ok := strings.CutPrefix(table, "plural."); ok {
			if _, isPlural := src.plurals[k]; isPlural {
				if !seenPlural[k] {
					seenPlural[k] = true
					addPlural(k, f.plurals[k])
				}
				continue
			}
		}
		if v, ok := f.texts[leaf]; ok {
			add(table, key, v)
		}
	}
	for _, k := range sortedKeys(f.texts) {
		if _, ok := src.texts[k]; !ok {
			table, key := splitLast(k)
			add(table, key, f.texts[k])
		}
	}
	for _, k := range sortedKeys(f.plurals) {
		if _, ok := src.plurals[k]; !ok {
			addPlural(k, f.plurals[k])
		}
	}

	var b bytes.Buffer
	b.WriteString(header)
	// Keys outside any table must come before the first table header.
	if i := slices.Index(order, ""); i > 0 {
		order = append([]string{""}, slices.Delete(order, i, i+1)...)
	}
	for _, table := range order {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		if table != "" {
			b.WriteString("[" + tomlPath(table) + "]\n")
		}
		for _, e := range tables[table] {
			b.WriteString(tomlKey(e.key) + " = " + tomlString(e.value) + "\n")
		}
	}
	return b.Bytes()
}

func splitLast(path string) (table, key string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return `"` + escape(k, false) + `"`
}

func tomlPath(p string) string {
	parts := strings.Split(p, ".")
	for i, s := range parts {
		parts[i] = tomlKey(s)
	}
	return strings.Join(parts, ".")
}

// tomlString is s as a TOML basic string, between triple quotes when it
// holds a line break.
func tomlString(s string) string {
	if !strings.Contains(s, "\n") {
		return `"` + escape(s, false) + `"`
	}
	lead := ""
	if strings.HasPrefix(s, "\n") {
		lead = "\n" // the line break right after """ is not part of the text
	}
	return `"""` + lead + escape(s, true) + `"""`
}

// visibleEscape lists the invisible characters written as escapes: the
// bidirectional marks, embeddings and isolates, the zero-width space and the
// byte-order mark. Joiners (U+200C, U+200D) stay as they are: Persian
// spelling and emoji use them inside words.
func visibleEscape(r rune) bool {
	switch {
	case r == 0x061C, r == 0x200B, r == 0x200E, r == 0x200F, r == 0xFEFF:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func escape(s string, multiline bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			// In a multi-line string a quote is escaped only where it could
			// close the string: next to another quote, or at the end.
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if !multiline || next == '"' || i == len(s)-1 {
				b.WriteString(`\"`)
			} else {
				b.WriteRune(r)
			}
		case r == '\n' && multiline:
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || visibleEscape(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headerOf returns the comment at the top of a language file (the lines
// before the first table or key, without trailing blank lines), and the
// comment lines further down, which a rewrite does not keep.
func headerOf(raw []byte) (header string, lost []int) {
	var lines []string
	inHeader, inString := true, false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64*1024), 10<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if inHeader {
			if trim == "" || strings.HasPrefix(trim, "#") {
				lines = append(lines, strings.TrimRight(line, " \t\r"))
				continue
			}
			inHeader = false
		}
		if !inString && strings.HasPrefix(trim, "#") {
			lost = append(lost, n)
		}
		if strings.Count(strings.ReplaceAll(line, `\"`, ""), `"""`)%2 == 1 {
			inString = !inString
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return "", lost
	}
	return strings.Join(lines, "\n") + "\n", lost
}
