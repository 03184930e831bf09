package fakeapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// Telegram measures text and entity offsets in UTF-16 code units.

// utf16Len returns the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16RuneLen(r)
	}
	return n
}

// utf16RuneLen returns 2 for runes outside the Basic Multilingual Plane, else 1.
func utf16RuneLen(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// trimText strips leading and trailing white space from text, as Telegram
// does, and shifts or clips entities to stay on the same characters. Entities
// left empty are dropped.
func trimText(text string, entities []models.MessageEntity) (string, []models.MessageEntity) {
	trimmed := strings.TrimLeftFunc(text, unicode.IsSpace)
	shift := utf16Len(text[:len(text)-len(trimmed)])
	trimmed = strings.TrimRightFunc(trimmed, unicode.IsSpace)
	size := utf16Len(trimmed)

	var out []models.MessageEntity
	for _, e := range entities {
		start := max(e.Offset-shift, 0)
		end := min(e.Offset+e.Length-shift, size)
		if end <= start {
			continue
		}
		e.Offset, e.Length = start, end-start
		out = append(out, e)
	}
	return trimmed, out
}

// commandEntities returns a bot_command entity for every "/command" (with an
// optional "@botname") that starts the text or follows white space, the way
// Telegram marks commands in incoming messages.
func commandEntities(text string) []models.MessageEntity {
	var out []models.MessageEntity
	offset := 0 // UTF-16 offset of text[i]
	prevSpace := true
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '/' && prevSpace {
			n := commandLen(text[i:])
			if n > 1 {
				out = append(out, models.MessageEntity{
					Type:   models.MessageEntityTypeBotCommand,
					Offset: offset,
					Length: n, // commands are ASCII: bytes == UTF-16 units
				})
				i += n
				offset += n
				prevSpace = false
				continue
			}
		}
		prevSpace = unicode.IsSpace(r)
		i += size
		offset += utf16RuneLen(r)
	}
	return out
}

// commandLen returns the byte length of the command at the start of s, which
// begins with '/': letters, digits and underscores, optionally followed by
// "@username". It returns 1 when no command name follows the slash.
func commandLen(s string) int {
	word := func(from int) int {
		j := from
		for j < len(s) && (s[j] == '_' || s[j] < utf8.RuneSelf && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])))) {
			j++
		}
		return j
	}
	n := word(1)
	if n > 1 && n < len(s) && s[n] == '@' {
		if m := word(n + 1); m > n+1 {
			n = m
		}
	}
	return n
}

// htmlEntityType maps the start tags Telegram's HTML parse mode accepts to the
// entity type they produce.
func htmlEntityType(tag string) (models.MessageEntityType, bool) {
	switch tag {
	case "b", "strong":
		return models.MessageEntityTypeBold, true
	case "i", "em":
		return models.MessageEntityTypeItalic, true
	case "u", "ins":
		return models.MessageEntityTypeUnderline, true
	case "s", "strike", "del":
		return models.MessageEntityTypeStrikethrough, true
	case "tg-spoiler", "span":
		return models.MessageEntityTypeSpoiler, true
	case "a":
		return models.MessageEntityTypeTextLink, true
	case "code":
		return models.MessageEntityTypeCode, true
	case "pre":
		return models.MessageEntityTypePre, true
	case "blockquote":
		return models.MessageEntityTypeBlockquote, true
	case "tg-emoji":
		return models.MessageEntityTypeCustomEmoji, true
	}
	return "", false
}

// openTag is an HTML start tag waiting for its end tag.
type openTag struct {
	name   string
	arg    string // href, language, emoji id, or "expandable"
	offset int    // UTF-16 offset in the output where the tag's content starts
}

// parseHTML turns text in Telegram's HTML parse mode into plain text and
// entities. Errors use Telegram's wording (the part after "can't parse
// entities: "), with byte offsets into the input.
func parseHTML(src string) (string, []models.MessageEntity, error) {
	var out strings.Builder
	var entities []models.MessageEntity
	var stack []openTag
	offset := 0

	for i := 0; i < len(src); {
		switch src[i] {
		case '&':
			if r, n := htmlCharRef(src[i:]); n > 0 {
				out.WriteRune(r)
				offset += utf16RuneLen(r)
				i += n
				continue
			}
			out.WriteByte('&')
			offset++
			i++
		case '<':
			if i+1 < len(src) && src[i+1] == '/' {
				e, next, err := closeTag(src, i, &stack, offset)
				if err != nil {
					return "", nil, err
				}
				if e != nil {
					entities = append(entities, *e)
				}
				i = next
				continue
			}
			tag, next, err := readStartTag(src, i)
			if err != nil {
				return "", nil, err
			}
			tag.offset = offset
			stack = append(stack, tag)
			i = next
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			out.WriteString(src[i : i+size])
			offset += utf16RuneLen(r)
			i += size
		}
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag %q", stack[len(stack)-1].name)
	}
	sort.SliceStable(entities, func(a, b int) bool {
		if entities[a].Offset != entities[b].Offset {
			return entities[a].Offset < entities[b].Offset
		}
		return entities[a].Length > entities[b].Length
	})
	return out.String(), entities, nil
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// readStartTag parses the start tag at src[begin] == '<' and returns it with
// the index just past its '>'.
func readStartTag(src string, begin int) (openTag, int, error) {
	i := begin + 1
	for i < len(src) && !isHTMLSpace(src[i]) && src[i] != '>' {
		i++
	}
	if i >= len(src) {
		return openTag{}, 0, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
	}
	tag := openTag{name: strings.ToLower(src[begin+1 : i])}
	if _, ok := htmlEntityType(tag.name); !ok {
		return openTag{}, 0, fmt.Errorf("Unsupported start tag %q at byte offset %d", tag.name, begin)
	}

	for {
		for i < len(src) && isHTMLSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return openTag{}, 0, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
		}
		if src[i] == '>' {
			break
		}
		nameStart := i
		for i < len(src) && !isHTMLSpace(src[i]) && src[i] != '=' && src[i] != '>' {
			i++
		}
		attr := strings.ToLower(src[nameStart:i])
		if attr == "" {
			return openTag{}, 0, fmt.Errorf("Empty attribute name in the tag %q at byte offset %d", tag.name, begin)
		}
		for i < len(src) && isHTMLSpace(src[i]) {
			i++
		}
		if i >= len(src) || src[i] != '=' {
			if tag.name == "blockquote" && attr == "expandable" {
				tag.arg = "expandable"
				continue
			}
			return openTag{}, 0, fmt.Errorf("Expected equal sign in declaration of an attribute of the tag %q at byte offset %d", tag.name, begin)
		}
		i++
		for i < len(src) && isHTMLSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return openTag{}, 0, fmt.Errorf("Unclosed start tag %q at byte offset %d", tag.name, begin)
		}
		value, next, err := readAttrValue(src, i)
		if err != nil {
			return openTag{}, 0, err
		}
		i = next
		switch {
		case tag.name == "a" && attr == "href":
			tag.arg = value
		case tag.name == "code" && attr == "class" && strings.HasPrefix(value, "language-"):
			tag.arg = strings.TrimPrefix(value, "language-")
		case tag.name == "span" && attr == "class":
			tag.arg = value
		case tag.name == "tg-emoji" && attr == "emoji-id":
			tag.arg = value
		}
	}
	if tag.name == "span" && tag.arg != "tg-spoiler" {
		return openTag{}, 0, fmt.Errorf("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
	}
	return tag, i + 1, nil
}

// readAttrValue reads a quoted string or an unquoted name token at src[i].
func readAttrValue(src string, i int) (string, int, error) {
	if q := src[i]; q == '"' || q == '\'' {
		var b strings.Builder
		i++
		for i < len(src) && src[i] != q {
			if src[i] == '&' {
				if r, n := htmlCharRef(src[i:]); n > 0 {
					b.WriteRune(r)
					i += n
					continue
				}
			}
			b.WriteByte(src[i])
			i++
		}
		if i < len(src) {
			i++ // closing quote
		}
		return b.String(), i, nil
	}
	start := i
	for i < len(src) && (src[i] < utf8.RuneSelf && (unicode.IsLetter(rune(src[i])) || unicode.IsDigit(rune(src[i]))) || src[i] == '.' || src[i] == '-') {
		i++
	}
	if i < len(src) && !isHTMLSpace(src[i]) && src[i] != '>' {
		return "", 0, fmt.Errorf("Unexpected end of name token at byte offset %d", start)
	}
	return strings.ToLower(src[start:i]), i, nil
}

// closeTag handles the end tag at src[begin:] == "</...". It pops the
// matching start tag and returns the entity it spans (nil when the span is
// empty or produces no entity) and the index past '>'.
func closeTag(src string, begin int, stack *[]openTag, offset int) (*models.MessageEntity, int, error) {
	if len(*stack) == 0 {
		return nil, 0, fmt.Errorf("Unexpected end tag at byte offset %d", begin)
	}
	i := begin + 2
	for i < len(src) && !isHTMLSpace(src[i]) && src[i] != '>' {
		i++
	}
	name := strings.ToLower(src[begin+2 : i])
	for i < len(src) && isHTMLSpace(src[i]) {
		i++
	}
	if i >= len(src) || src[i] != '>' {
		return nil, 0, fmt.Errorf("Unclosed end tag at byte offset %d", begin)
	}
	top := (*stack)[len(*stack)-1]
	if name != "" && name != top.name {
		return nil, 0, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.name, name)
	}
	*stack = (*stack)[:len(*stack)-1]

	// <pre><code class="language-x">…</code></pre> is one pre entity with a language.
	if top.name == "code" && top.arg != "" && len(*stack) > 0 && (*stack)[len(*stack)-1].name == "pre" {
		(*stack)[len(*stack)-1].arg = top.arg
		return nil, i + 1, nil
	}
	length := offset - top.offset
	if length <= 0 || top.name == "a" && top.arg == "" {
		return nil, i + 1, nil
	}
	typ, _ := htmlEntityType(top.name)
	e := models.MessageEntity{Type: typ, Offset: top.offset, Length: length}
	switch typ {
	case models.MessageEntityTypeTextLink:
		e.URL = top.arg
	case models.MessageEntityTypePre:
		e.Language = top.arg
	case models.MessageEntityTypeCustomEmoji:
		e.CustomEmojiID = top.arg
	case models.MessageEntityTypeBlockquote:
		if top.arg == "expandable" {
			e.Type = models.MessageEntityTypeExpandableBlockquote
		}
	}
	return &e, i + 1, nil
}

// htmlCharRef decodes the character reference at the start of s ("&lt;",
// "&#233;", "&#x1F600;"). Telegram supports all numeric references and only
// the named ones &lt; &gt; &amp; &quot;. It returns n == 0 when s does not
// start with a supported reference; the '&' is then literal text.
func htmlCharRef(s string) (r rune, n int) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 12 {
		return 0, 0
	}
	name := s[1:end]
	switch name {
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "amp":
		return '&', end + 1
	case "quot":
		return '"', end + 1
	}
	if name[0] != '#' || len(name) < 2 {
		return 0, 0
	}
	base, digits := 10, name[1:]
	if digits[0] == 'x' || digits[0] == 'X' {
		base, digits = 16, digits[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil || v == 0 || v > unicode.MaxRune || !utf8.ValidRune(rune(v)) {
		return 0, 0
	}
	return rune(v), end + 1
}
