package flows

import (
	"strings"
	"time"
)

// ReportSchema names the version of the report document.
const ReportSchema = "vigil.report.v1"

// Report is the document a defender confirms. It is what gets sealed to the
// mission: nothing in it may be stored or logged in plain text.
type Report struct {
	Schema     string    `json:"schema"`
	Ref        string    `json:"ref"`
	ReceivedAt time.Time `json:"received_at"`
	Language   string    `json:"language"` // BCP 47
	Urgent     bool      `json:"urgent"`
	// Answers maps each question id to its answer: an option key (string)
	// for a single choice, a list of option keys for several, the text for
	// free text (the description verbatim, its messages joined by a blank
	// line), and null for a question the defender skipped.
	Answers map[string]any `json:"answers"`
	// Evidence lists the files sent with the report, in order; file n is
	// stored beside the report, sealed on its own.
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Report builds the document for the draft in s, received now under ref.
func (e *Engine) Report(s State, ref string, now time.Time) Report {
	d := s.Draft
	r := Report{
		Schema:     ReportSchema,
		Ref:        ref,
		ReceivedAt: now.UTC().Truncate(time.Second),
		Language:   e.Lang(s, ""),
		Urgent:     d.Urgent(),
		Answers:    map[string]any{},
	}
	for _, f := range d.Files {
		f.Key = ""
		r.Evidence = append(r.Evidence, f)
	}
	for i := range e.questions {
		q := &e.questions[i]
		if !q.asked() || (q.Only != nil && !q.Only(d)) || q.Kind == KindFiles {
			continue
		}
		a, ok := d.Answers[q.ID]
		switch {
		case !ok || a.Skipped || (len(a.Values) == 0 && len(a.Parts) == 0 && a.Text == ""):
			r.Answers[q.ID] = nil
		case q.Kind == KindChoice:
			r.Answers[q.ID] = a.Values[0]
		case q.Kind == KindMulti:
			r.Answers[q.ID] = a.Values
		case q.Kind == KindLongText:
			r.Answers[q.ID] = strings.Join(a.Parts, "\n\n")
		default:
			r.Answers[q.ID] = a.Text
		}
	}
	return r
}
