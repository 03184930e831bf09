package bot

import (
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/flows"
)

// toHTML writes a message's text with its formatting entities as Telegram
// HTML, so that a coordinator's broadcast keeps the bold, links and quotes
// they typed. Entity offsets count UTF-16 code units. Entities that are
// not formatting (mentions, hashtags, plain URLs) stay plain text, which
// Telegram detects again on its own; entities outside the text are ignored.
func toHTML(text string, entities []models.MessageEntity) string {
	units := utf16.Encode([]rune(text))
	type tag struct {
		at         int
		open       bool
		length, n  int // n: the entity's place in the list
		start, end string
	}
	var tags []tag
	for n, e := range entities {
		start, end := htmlTags(e)
		if start == "" || e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > len(units) {
			continue
		}
		tags = append(tags, tag{at: e.Offset, open: true, length: e.Length, n: n, start: start, end: end},
			tag{at: e.Offset + e.Length, length: e.Length, n: n, end: end})
	}
	// At one offset: closings first (inner ones, the shorter, first), then
	// openings (outer ones, the longer, first); of two entities over the
	// same text, the one opened first closes last.
	slices.SortStableFunc(tags, func(a, b tag) int {
		switch {
		case a.at != b.at:
			return a.at - b.at
		case a.open != b.open:
			if a.open {
				return 1
			}
			return -1
		case a.open && a.length != b.length:
			return b.length - a.length
		case a.open:
			return a.n - b.n
		case a.length != b.length:
			return a.length - b.length
		default:
			return b.n - a.n
		}
	})
	var b strings.Builder
	pos := 0
	for _, t := range tags {
		b.WriteString(flows.EscapeHTML(string(utf16.Decode(units[pos:t.at]))))
		pos = t.at
		if t.open {
			b.WriteString(t.start)
		} else {
			b.WriteString(t.end)
		}
	}
	b.WriteString(flows.EscapeHTML(string(utf16.Decode(units[pos:]))))
	return b.String()
}

func htmlTags(e models.MessageEntity) (start, end string) {
	switch e.Type {
	case models.MessageEntityTypeBold:
		return "<b>", "</b>"
	case models.MessageEntityTypeItalic:
		return "<i>", "</i>"
	case models.MessageEntityTypeUnderline:
		return "<u>", "</u>"
	case models.MessageEntityTypeStrikethrough:
		return "<s>", "</s>"
	case models.MessageEntityTypeSpoiler:
		return "<tg-spoiler>", "</tg-spoiler>"
	case models.MessageEntityTypeCode:
		return "<code>", "</code>"
	case models.MessageEntityTypePre:
		if e.Language != "" {
			return `<pre><code class="language-` + flows.EscapeHTML(e.Language) + `">`, "</code></pre>"
		}
		return "<pre>", "</pre>"
	case models.MessageEntityTypeTextLink:
		return `<a href="` + flows.EscapeHTML(e.URL) + `">`, "</a>"
	case models.MessageEntityTypeBlockquote:
		return "<blockquote>", "</blockquote>"
	case models.MessageEntityTypeExpandableBlockquote:
		return "<blockquote expandable>", "</blockquote>"
	}
	return "", ""
}
