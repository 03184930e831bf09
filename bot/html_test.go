package bot

import (
	"testing"

	"github.com/go-telegram/bot/models"
)

func TestToHTML(t *testing.T) {
	e := func(typ models.MessageEntityType, off, n int) models.MessageEntity {
		return models.MessageEntity{Type: typ, Offset: off, Length: n}
	}
	for _, c := range []struct {
		name, text string
		ents       []models.MessageEntity
		want       string
	}{
		{"plain, escaped", `a < b & "c" > d`, nil, "a &lt; b &amp; &quot;c&quot; &gt; d"},
		{"bold", "Stay calm now", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 9)}, "<b>Stay calm</b> now"},
		// 🔒 is two UTF-16 units: offsets after it count them.
		{"after an emoji", "🔒 lock it", []models.MessageEntity{e(models.MessageEntityTypeItalic, 3, 4)}, "🔒 <i>lock</i> it"},
		{"nested", "bold italic", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 11), e(models.MessageEntityTypeItalic, 5, 6)}, "<b>bold <i>italic</i></b>"},
		{"same span", "both", []models.MessageEntity{e(models.MessageEntityTypeItalic, 0, 4), e(models.MessageEntityTypeBold, 0, 4)}, "<i><b>both</b></i>"},
		{"link", "see site", []models.MessageEntity{{Type: models.MessageEntityTypeTextLink, Offset: 4, Length: 4, URL: `https://e.org/?a=1&b="2"`}},
			`see <a href="https://e.org/?a=1&amp;b=&quot;2&quot;">site</a>`},
		{"pre with language", "x := 1", []models.MessageEntity{{Type: models.MessageEntityTypePre, Offset: 0, Length: 6, Language: "go"}},
			`<pre><code class="language-go">x := 1</code></pre>`},
		{"mention stays plain", "@someone hi", []models.MessageEntity{e(models.MessageEntityTypeMention, 0, 8)}, "@someone hi"},
		{"out of range ignored", "short", []models.MessageEntity{e(models.MessageEntityTypeBold, 3, 10), e(models.MessageEntityTypeBold, -1, 2)}, "short"},
		{"arabic", "تنبيه أمني", []models.MessageEntity{e(models.MessageEntityTypeBold, 0, 5)}, "<b>تنبيه</b> أمني"},
		{"quote and spoiler", "q s", []models.MessageEntity{e(models.MessageEntityTypeBlockquote, 0, 1), e(models.MessageEntityTypeSpoiler, 2, 1)},
			"<blockquote>q</blockquote> <tg-spoiler>s</tg-spoiler>"},
	} {
		if got := toHTML(c.text, c.ents); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// FuzzToHTML: any text with any entities converts without panicking, and
// the text itself survives (tags aside, once unescaped).
func FuzzToHTML(f *testing.F) {
	f.Add("🔒 lock it", 3, 4, 0, 9, uint8(1))
	f.Add("a\xffb", -1, 2, 1, 1, uint8(7))
	f.Add("", 0, 0, 0, 0, uint8(0))
	kinds := []models.MessageEntityType{models.MessageEntityTypeBold, models.MessageEntityTypeItalic, models.MessageEntityTypeTextLink,
		models.MessageEntityTypePre, models.MessageEntityTypeBlockquote, models.MessageEntityTypeMention, models.MessageEntityTypeSpoiler}
	f.Fuzz(func(t *testing.T, text string, off1, len1, off2, len2 int, kind uint8) {
		ents := []models.MessageEntity{
			{Type: kinds[int(kind)%len(kinds)], Offset: off1, Length: len1, URL: text, Language: text},
			{Type: kinds[int(kind/8)%len(kinds)], Offset: off2, Length: len2},
		}
		out := toHTML(text, ents)
		plain := toHTML(text, nil)
		if len(out) < len(plain) {
			t.Fatalf("%q with entities is shorter than without: %q < %q", text, out, plain)
		}
	})
}
