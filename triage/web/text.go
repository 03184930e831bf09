package web

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/text/language"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/locales"
)

// The console's own texts, one file per language, in the format of the
// bot's (see package locales). English is the source.
//
//go:embed locales/*.toml
var localeFiles embed.FS

// Texts returns the console's own texts: what tests check for gaps.
func Texts() (*locales.Catalog, error) {
	sub, err := fs.Sub(localeFiles, "locales")
	if err != nil {
		return nil, err
	}
	return locales.LoadFS(sub, locales.Source)
}

// chooseLanguage picks the console's language for a request: the one
// chosen on the page, else the first of the browser's Accept-Language the
// console has, else English.
func chooseLanguage(ui *locales.Catalog, chosen, accept string) string {
	if chosen != "" && ui.Has(chosen) {
		return chosen
	}
	tags, _, _ := language.ParseAcceptLanguage(accept) // sorted by preference
	for _, t := range tags {
		if base, _ := t.Base(); ui.Has(base.String()) {
			return base.String()
		}
	}
	return ui.Default()
}

// texts renders the page's words in one language: the console's own (ui)
// and, to name a report's questions and options, the bot's (bot).
type texts struct {
	Lang    string
	ui, bot *locales.Catalog
}

// T is a console text; args are pairs of placeholder name and value.
func (x texts) T(key string, args ...any) string {
	return x.ui.T(x.Lang, key, pairs(args))
}

// N is a counted console text.
func (x texts) N(key string, n int, args ...any) string {
	return x.ui.N(x.Lang, key, n, pairs(args))
}

func pairs(args []any) map[string]any {
	if len(args) == 0 {
		return nil
	}
	m := make(map[string]any, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		m[fmt.Sprint(args[i])] = args[i+1]
	}
	return m
}

// Status names a case status.
func (x texts) Status(s string) string {
	if v := x.T("status." + s); v != "status."+s {
		return v
	}
	return s
}

// PubStatus names the status of a broadcast or guidance page.
func (x texts) PubStatus(s string) string {
	if v := x.T("bc.status." + s); v != "bc.status."+s {
		return v
	}
	return s
}

// Topic names a guidance page's topic as /guidance shows it to defenders.
func (x texts) Topic(t string) string {
	if v := x.botText("guidance.topic." + t); v != "" {
		return v
	}
	return t
}

// botLang is the language the bot's catalog names questions in: the page's
// when the bot has it, else English.
func (x texts) botLang() string {
	if x.bot.Has(x.Lang) {
		return x.Lang
	}
	return locales.Source
}

// botText is a text of the bot's catalog, or "" when it has none.
func (x texts) botText(key string) string {
	if v := x.bot.T(x.botLang(), key, nil); v != key {
		return v
	}
	return ""
}

// Question names a question of the report flow, as the bot's review does.
func (x texts) Question(id string) string {
	if v := x.botText("step." + id + ".label"); v != "" {
		return v
	}
	return id
}

// Option names an answer to question q: an option's label, a country's
// name with its code, or the key itself when no text is known (a report
// from a newer flow, or a forged one).
func (x texts) Option(q flows.Question, v string) string {
	if q.Regions && v != "other" {
		return x.Country(v)
	}
	if l := x.botText("opt." + q.ID + "." + v); l != "" {
		return l
	}
	return v
}

// Country names a country answer ("UA" → "Ukraine (UA)").
func (x texts) Country(code string) string {
	if code == "other" {
		if l := x.botText("opt.country.other"); l != "" {
			return l
		}
		return code
	}
	name := x.bot.Region(x.botLang(), strings.ToUpper(code))
	if name == strings.ToUpper(code) {
		return code
	}
	return name + " (" + strings.ToUpper(code) + ")"
}

// label names a key of a statistics dimension.
func (x texts) label(dimension, key string) string {
	switch dimension {
	case "country":
		return x.Country(key)
	case "category":
		return x.Option(flows.Question{ID: "what"}, key)
	case "perpetrator":
		return x.Option(flows.Question{ID: "perpetrator"}, key)
	}
	return key
}
