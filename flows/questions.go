package flows

// Kind is how a question is asked and answered.
type Kind int

const (
	// KindLanguage offers the languages of the Translator.
	KindLanguage Kind = iota
	// KindNotice is text to read, with a Continue button.
	KindNotice
	// KindChoice takes exactly one option, by button.
	KindChoice
	// KindMulti takes one or more options, toggled by button, then Done.
	KindMulti
	// KindText takes one free-text message.
	KindText
	// KindLongText appends free-text messages until Done.
	KindLongText
	// KindReview shows every answer, each editable, and Send.
	KindReview
	// KindFiles takes files (photos, documents, voice notes, videos) until
	// Done.
	KindFiles
)

// Question is one step of the report flow. Its text lives in locales/ under
// "step.<ID>.prompt" (the question) and "step.<ID>.label" (its name in the
// review); each option under "opt.<ID>.<option>".
type Question struct {
	ID      string
	Kind    Kind
	Options []string
	// Optional questions have a Skip button. Every question after the
	// language may be skipped except what happened ("what").
	Optional bool
	// Group names the review line the question belongs to; Edit on that line
	// walks the group's questions again. Empty means the question's own ID.
	Group string
	// Only, when set, shows the question only for drafts it accepts.
	Only func(*Draft) bool
	// MaxLen bounds free text, in characters (KindText: the answer;
	// KindLongText: all parts together).
	MaxLen int
	// Regions marks a choice whose options are ISO 3166 country codes,
	// labelled by Translator.Region, plus "other".
	Regions bool
}

// The ids that other code relies on: urgency, the place, the description and
// whether the mission may reply.
const (
	QLanguage    = "language"
	QNotice      = "notice"
	QDanger      = "danger"
	QCountry     = "country"
	QDescription = "description"
	QContact     = "contact"
	QEvidence    = "evidence"
	QReview      = "review"
)

// questions lists the report flow in the order it is asked, safety first.
// countries are the ISO codes offered at the country question.
func questions(countries []string) []Question {
	return []Question{
		{ID: QLanguage, Kind: KindLanguage},
		{ID: QNotice, Kind: KindNotice},
		{ID: QDanger, Kind: KindChoice, Optional: true, Options: []string{"yes", "no"}},
		{ID: "affected", Kind: KindChoice, Optional: true,
			Options: []string{"me", "defender", "organisation", "family"}},
		{ID: "what", Kind: KindMulti, Options: []string{
			"threats", "attack", "detention", "judicial", "surveillance", "online",
			"raid", "travel_ban", "disappearance", "killing", "sgbv", "family", "other"}},
		{ID: "when", Kind: KindChoice, Optional: true,
			Options: []string{"today", "yesterday", "this_week", "earlier", "ongoing"}},
		{ID: "when_detail", Kind: KindText, Optional: true, Group: "when", MaxLen: 300,
			Only: func(d *Draft) bool { return d.Chose("when", "earlier") }},
		{ID: QCountry, Kind: KindChoice, Optional: true, Group: "where",
			Options: append(append([]string(nil), countries...), "other"), Regions: true},
		{ID: "place", Kind: KindText, Optional: true, Group: "where", MaxLen: 300},
		{ID: "perpetrator", Kind: KindMulti, Optional: true, Options: []string{
			"police", "military", "judiciary", "officials", "armed_group", "company", "unknown", "other"}},
		{ID: QDescription, Kind: KindLongText, Optional: true, MaxLen: 20000},
		{ID: QEvidence, Kind: KindFiles, Optional: true},
		{ID: "help", Kind: KindMulti, Optional: true, Options: []string{
			"physical", "digital", "legal", "medical", "relocation", "monitoring", "statement", "none"}},
		{ID: "consent", Kind: KindChoice, Optional: true,
			Options: []string{"contact_first", "discreet", "public"}},
		{ID: QContact, Kind: KindChoice, Optional: true, Group: "contact", Options: []string{"yes", "no"}},
		{ID: "contact_detail", Kind: KindText, Optional: true, Group: "contact", MaxLen: 300},
		{ID: QReview, Kind: KindReview},
	}
}

func (q *Question) group() string {
	if q.Group != "" {
		return q.Group
	}
	return q.ID
}

func (q *Question) hasOption(opt string) bool {
	for _, o := range q.Options {
		if o == opt {
			return true
		}
	}
	return false
}

// asked reports whether the question belongs to the report (it is neither
// the language, the notice nor the review).
func (q *Question) asked() bool {
	return q.Kind != KindLanguage && q.Kind != KindNotice && q.Kind != KindReview
}
