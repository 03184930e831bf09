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
