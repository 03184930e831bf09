package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/store"
)

// span reads every case received in [since, until) (zero times are open
// ends), audits them as what, and opens them.
func (s *Service) span(ctx context.Context, what, detail string, since, until time.Time) ([]Case, error) {
	if len(s.cfg.Identities) == 0 {
		return nil, ErrNoIdentity
	}
	const chunk = 1000
	var picked []store.Case
	for from := int64(0); ; from += chunk {
		page, total, err := s.cfg.Store.Cases(ctx, store.SelectAll, from, chunk)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if (since.IsZero() || !c.ReceivedAt.Before(since)) && (until.IsZero() || c.ReceivedAt.Before(until)) {
				picked = append(picked, c)
			}
		}
		if from+chunk >= total {
			break
		}
	}
	// Oldest first: the order of a register.
	slices.SortStableFunc(picked, func(a, b store.Case) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	if err := s.audit(ctx, what, "", strings.TrimSpace(detail+" "+refsOf(picked))); err != nil {
		return nil, err
	}
	return s.open(picked), nil
}

// Export opens every case received in [since, until), oldest first, for the
// mission's own records.
func (s *Service) Export(ctx context.Context, since, until time.Time) ([]Case, error) {
	return s.span(ctx, "export", "", since, until)
}

// ExportCase opens one case for the mission's records, audited as an
// export of that case.
func (s *Service) ExportCase(ctx context.Context, typed string) (Case, error) {
	if len(s.cfg.Identities) == 0 {
		return Case{}, ErrNoIdentity
	}
	c, err := s.find(ctx, typed)
	if err != nil {
		return Case{}, err
	}
	if err := s.audit(ctx, "export", c.Ref, ""); err != nil {
		return Case{}, err
	}
	return s.openOne(c), nil
}

// Record is one case in export form. Field names follow the HURIDOCS Events
// Standard Formats where a field maps onto one: the event (date, place,
// description), the acts (their types and the victim) and the perpetrators.
type Record struct {
	EventID               string   `json:"event_id"`
	ReceivedAt            string   `json:"received_at"`
	Status                string   `json:"status"`
	Assignee              string   `json:"assignee,omitempty"`
	Urgent                bool     `json:"urgent"`
	Language              string   `json:"language,omitempty"`
	StartDateType         string   `json:"event_start_date_type,omitempty"` // today, yesterday, this_week, earlier, ongoing
	DateText              string   `json:"event_date_text,omitempty"`
	Ongoing               bool     `json:"event_ongoing"`
	GeographicalTerm      string   `json:"geographical_term,omitempty"` // ISO 3166-1 alpha-2, or "other"
	LocalGeographicalArea string   `json:"local_geographical_area,omitempty"`
	ActTypes              []string `json:"act_types"`
	VictimType            string   `json:"victim_type,omitempty"`
	PerpetratorTypes      []string `json:"perpetrator_types"`
	Description           string   `json:"event_description,omitempty"`
	InterventionRequested []string `json:"intervention_requested"`
	Consent               string   `json:"consent,omitempty"`
	ContactAllowed        string   `json:"contact_allowed,omitempty"`
	ContactDetail         string   `json:"contact_detail,omitempty"`
	Problem               string   `json:"problem,omitempty"` // why the report could not be opened
	// Checkin is the category of a case a safety check-in raised
	// (flows.CategoryMissedCheckin, flows.CategoryDuressCheckin); "" for a
	// report the defender wrote.
	Checkin string `json:"checkin,omitempty"`
}

// ToRecord maps a case to its export form.
func ToRecord(c Case) Record {
	r := Record{EventID: c.Ref, ReceivedAt: c.ReceivedAt.UTC().Format(time.RFC3339), Status: c.Status,
		Assignee: c.HeldBy(), Urgent: c.Urgent, Problem: c.Problem,
		ActTypes: []string{}, PerpetratorTypes: []string{}, InterventionRequested: []string{}}
	if c.Report == nil {
		return r
	}
	rep := c.Report
	r.Language = rep.Language
	r.Checkin = flows.CheckinCategory(rep)
	r.StartDateType = answer(rep, "when")
	r.Ongoing = r.StartDateType == "ongoing"
	r.DateText = answer(rep, "when_detail")
	r.GeographicalTerm = answer(rep, flows.QCountry)
	r.LocalGeographicalArea = answer(rep, "place")
	r.ActTypes = nonNil(answers(rep, "what"))
	r.VictimType = answer(rep, "affected")
	r.PerpetratorTypes = nonNil(answers(rep, "perpetrator"))
	r.Description = answer(rep, flows.QDescription)
	r.InterventionRequested = nonNil(answers(rep, "help"))
	r.Consent = answer(rep, "consent")
	r.ContactAllowed = answer(rep, flows.QContact)
	r.ContactDetail = answer(rep, "contact_detail")
	return r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteJSON writes the cases as a JSON array of records.
func WriteJSON(w io.Writer, cases []Case) error {
	recs := make([]Record, len(cases))
	for i, c := range cases {
		recs[i] = ToRecord(c)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(recs)
}

// csvHeader names the CSV columns, in the order of Record.
var csvHeader = []string{"event_id", "received_at", "status", "assignee", "urgent", "language",
	"event_start_date_type", "event_date_text", "event_ongoing", "geographical_term", "local_geographical_area",
	"act_types", "victim_type", "perpetrator_types", "event_description", "intervention_requested",
	"consent", "contact_allowed", "contact_detail", "problem"}

// WriteCSV writes the cases as CSV with a header row; lists are joined
// with ";". A cell a spreadsheet would read as a formula starts with a
// single quote (textsafe.CSV).
func WriteCSV(w io.Writer, cases []Case) error {
	cw := textsafe.NewCSV(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, c := range cases {
		r := ToRecord(c)
		row := []string{r.EventID, r.ReceivedAt, r.Status, r.Assignee, fmt.Sprint(r.Urgent), r.Language,
			r.StartDateType, r.DateText, fmt.Sprint(r.Ongoing), r.GeographicalTerm, r.LocalGeographicalArea,
			strings.Join(r.ActTypes, ";"), r.VictimType, strings.Join(r.PerpetratorTypes, ";"), r.Description,
			strings.Join(r.InterventionRequested, ";"), r.Consent, r.ContactAllowed, r.ContactDetail, r.Problem}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// Dimensions stats can count by.
var Dimensions = []string{"country", "category", "month", "perpetrator"}

// Row is one line of a count.
type Row struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Count int    `json:"count"`
}

// Stats is a count of cases.
type Stats struct {
	By         string    `json:"by"`
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until,omitzero"`
	Cases      int       `json:"cases"`      // cases counted
	Unreadable int       `json:"unreadable"` // cases this identity could not open, not counted
	Rows       []Row     `json:"rows"`
}

// Count counts the cases received in [since, until) by one dimension. A
// case with several categories or perpetrators counts once under each.
func (s *Service) Count(ctx context.Context, by string, since, until time.Time, label func(dimension, key string) string) (Stats, error) {
	all, err := s.Counts(ctx, []string{by}, since, until, label)
	if err != nil {
		return Stats{}, err
	}
	return all[0], nil
}

// AuditUnsuppressed records in the audit trail, before true counts below
// the statistics threshold are shown to the staff member, that they were
// asked for: who and when (as every entry) and command, the command line
// that asked. command must hold no count. If the entry cannot be written,
// nothing may be shown.
func (s *Service) AuditUnsuppressed(ctx context.Context, command string) error {
	return s.audit(ctx, "stats-unsuppressed", "", command)
}

// Counts is Count by several dimensions at once, in the order given, for
// one decryption of the period's cases (audited once, naming them all).
func (s *Service) Counts(ctx context.Context, by []string, since, until time.Time, label func(dimension, key string) string) ([]Stats, error) {
	if len(by) == 0 {
		return nil, errors.New("count by what? one of " + strings.Join(Dimensions, ", "))
	}
	for _, b := range by {
		if !slices.Contains(Dimensions, b) {
			return nil, fmt.Errorf("cannot count by %q (one of %s)", b, strings.Join(Dimensions, ", "))
		}
	}
	cases, err := s.span(ctx, "stats", "by="+strings.Join(by, ","), since, until)
	if err != nil {
		return nil, err
	}
	out := make([]Stats, len(by))
	for i, b := range by {
		out[i] = tally(cases, b, since, until, label)
	}
	return out, nil
}

func tally(cases []Case, by string, since, until time.Time, label func(dimension, key string) string) Stats {
	st := Stats{By: by, Since: since, Until: until}
	counts := map[string]int{}
	for _, c := range cases {
		if c.Report == nil {
			st.Unreadable++
			continue
		}
		st.Cases++
		var keys []string
		switch by {
		case "country":
			keys = []string{answer(c.Report, flows.QCountry)}
		case "category":
			keys = answers(c.Report, "what")
		case "perpetrator":
			keys = answers(c.Report, "perpetrator")
		case "month":
			keys = []string{c.ReceivedAt.UTC().Format("2006-01")}
		}
		if len(keys) == 0 {
			keys = []string{""}
		}
		for _, k := range keys {
			counts[k]++
		}
	}
	for k, n := range counts {
		l := k
		if k == "" {
			l = "(not given)"
		} else if label != nil && by != "month" {
			l = label(by, k)
		}
		st.Rows = append(st.Rows, Row{Key: k, Label: l, Count: n})
	}
	slices.SortFunc(st.Rows, func(a, b Row) int {
		if by == "month" {
			return strings.Compare(a.Key, b.Key)
		}
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Label, b.Label)
	})
	return st
}
