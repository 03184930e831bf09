package web

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage"
)

// caseView is the case page.
type caseView struct {
	Ref      string
	Status   string // the key; StatusLabel names it
	Label    string
	Urgent   bool
	Holder   string
	Lapsed   bool
	Mine     bool
	Received time.Time
	Problem  string // why the report is not shown
	Lang     string // the report's language, for lang=
	LangName string
	Dir      string // rtl for a report in a right-to-left language, else auto
	Answers  []answerView
	Files    []fileView
	History  []stepView
	Audit    []store.AuditEntry
	Older    int // audit entries not shown
	Moves    []option
	// NoContact is true when the defender asked not to be contacted in the
	// chat: the reply form is shown disabled (and the service refuses).
	NoContact bool
	Typed     url.Values // what was typed in the form that failed
}

type answerView struct {
	ID       string // the question's id
	Question string
	Value    string
	Skipped  bool
	Own      bool // the defender's own words (free text), not an option
}

type fileView struct {
	N             int
	Kind, Name    string
	MIME          string
	Size          int64
	Received      time.Time
	Caption       string
	AsDescription bool
	SHA256        string // recorded when received
	Got           string // as decrypted now
	Verified      bool
	Problem       string
}

type stepView struct {
	At      time.Time
	Who     string
	Kind    string // the event type, for styling
	What    string
	From    string
	To      string
	Text    string
	Problem string
	Own     bool // the defender's words
}

// question returns the report flow's question id (an empty one if unknown).
func (s *Server) question(id string) flows.Question {
	for _, q := range s.engine.Questions() {
		if q.ID == id {
			return q
		}
	}
	return flows.Question{ID: id}
}

// dir is the direction of free text written in lang: right to left for
// Arabic and Persian, else as the text itself says (dir="auto").
func (s *Server) dir(lang string) string {
	if s.cfg.Text.RTL(lang) {
		return "rtl"
	}
	return "auto"
}

// answerList reads a multiple choice (or one choice) as a list.
func answerList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (s *Server) caseView(x texts, d triage.Detail) *caseView {
	v := &caseView{Ref: d.Ref, Status: d.Status, Label: x.Status(d.Status), Urgent: d.Urgent, Holder: d.HeldBy(),
		Received: d.ReceivedAt, Problem: d.Problem}
	if d.Lapsed {
		v.Holder, v.Lapsed = d.Assignee, true
	}
	v.Mine = v.Holder == s.cfg.Staff && !v.Lapsed
	for _, to := range triage.Allowed(d.Status) {
		v.Moves = append(v.Moves, option{to, x.Status(to)})
	}
	rep := d.Report
	if rep != nil {
		v.Lang, v.Dir = rep.Language, s.dir(rep.Language)
		v.LangName = rep.Language
		for _, l := range s.cfg.Text.Languages() {
			if l.Code == rep.Language {
				v.LangName = l.Name + " (" + l.Code + ")"
			}
		}
		for _, q := range s.engine.Questions() {
			a, ok := rep.Answers[q.ID]
			if !ok || q.Kind == flows.KindFiles {
				continue
			}
			av := answerView{ID: q.ID, Question: x.Question(q.ID)}
			switch {
			case a == nil:
				av.Skipped, av.Value = true, x.T("case.skipped")
			case q.Kind == flows.KindText || q.Kind == flows.KindLongText:
				av.Own, av.Value = true, strings.Join(answerList(a), "\n")
			default:
				var labels []string
				for _, k := range answerList(a) {
					labels = append(labels, x.Option(q, k))
				}
				av.Value = strings.Join(labels, "; ")
			}
			v.Answers = append(v.Answers, av)
		}
		v.NoContact = rep.Answers[flows.QContact] == "no"
		for i, e := range rep.Evidence {
			v.Files = append(v.Files, fileView{N: i + 1, Kind: e.Kind, Name: e.Name, MIME: e.MIME, Size: e.Size,
				Received: e.ReceivedAt, Caption: e.Caption, AsDescription: e.AsDescription, SHA256: e.SHA256})
		}
	}
	for _, st := range d.History {
		sv := stepView{At: st.At, Who: st.By, Kind: st.Type, What: x.T("event." + st.Type), Text: st.Text, Problem: st.Problem}
		if sv.What == "event."+st.Type {
			sv.What = st.Type
		}
		switch st.Type {
		case "status":
			sv.From, sv.To = x.Status(st.From), x.Status(st.To)
		case "claim", "assign", "release":
			sv.From, sv.To = orDash(st.From), orDash(st.To)
		case "undeliverable":
			if sv.Text == "" {
				sv.Text = st.Detail
			}
		}
		if sv.Who == "" {
			sv.Who = x.T("case.defender")
			if st.Type == "delivered" || st.Type == "undeliverable" {
				sv.Who = x.T("case.bot")
			}
		}
		sv.Own = st.Type == "answer"
		v.History = append(v.History, sv)
	}
	return v
}

// auditShown is how many audit entries a case page lists.
const auditShown = 100

// setAudit keeps the newest entries first. Entries over many cases (list,
// stats, export of a period) name every case they touched; their detail is
// left out here.
func (v *caseView) setAudit(entries []store.AuditEntry) {
	entries = slices.Clone(entries)
	slices.Reverse(entries)
	if len(entries) > auditShown {
		v.Older = len(entries) - auditShown
		entries = entries[:auditShown]
	}
	for i := range entries {
		if entries[i].Ref == "" {
			entries[i].Detail = ""
		}
	}
	v.Audit = entries
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
