// Package triage is what mission staff do with the queue, on their own
// machines: list and read cases (decrypting locally with their own age
// identity), claim them, move them through their life cycle, write notes,
// reply to the defender, export, count and purge.
//
// Its promises:
//   - Decryption happens only here, with identities the caller holds; the
//     bot server never needs them.
//   - Every decryption, status change, note, reply, export, count and purge
//     is written to the audit trail first; if that write fails, the action
//     does not happen.
//   - Notes, reasons and replies are sealed to the staff recipients before
//     they are stored; a reply is also sealed to the bot's public key, so
//     that the bot can deliver it and nobody else on the server can read it.
//     That key is pinned on the staff member's machine on first use, and a
//     reply is refused when Redis holds another.
//   - A reply carries a sign.Statement over its sealed copy for the bot,
//     signed with the staff member's own key; the bot delivers nothing
//     else.
//   - A report this identity cannot open is named as such, with the keys it
//     was sealed to; a damaged one is reported as tampered and never shown.
//     Either way the rest of a list still shows.
package triage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// Config wires a Service.
type Config struct {
	Store      *store.Store
	Identities []seal.Identity  // to open reports; may be empty for actions that need none
	Recipients *seal.Recipients // the staff keys notes and replies are sealed to
	Staff      string           // who acts; recorded on every action
	Lease      time.Duration    // a claim on a new case lapses after this (default 24h)
	Now        func() time.Time //
	// Targets are the mission's response times, which every case's Clock
	// runs against; zero Targets are response.DefaultTargets.
	Targets response.Targets
	// BotRecipient overrides the bot's public key read from Redis, to pin it.
	BotRecipient string
	// KnownBotFile, without BotRecipient, is where the bot's public key is
	// pinned on first use (like ssh's known_hosts): a reply is refused with
	// a *BotKeyChangedError when Redis later holds another key. "" trusts
	// Redis (tests only: the staff tools always set it).
	KnownBotFile string
	// Signer signs replies (see ReplySigner); a reply without one is
	// refused with ErrNoSigner.
	Signer ReplySigner
}

// Service carries out staff actions.
type Service struct{ cfg Config }

// New returns a Service. Staff must be set.
func New(cfg Config) (*Service, error) {
	if strings.TrimSpace(cfg.Staff) == "" {
		return nil, errors.New("no staff name: set VIGIL_STAFF or give --as NAME; it is recorded on every action")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Targets = cfg.Targets.OrDefault()
	if err := cfg.Targets.Check(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// Errors a staff member may meet.
var (
	ErrNoIdentity   = errors.New("no identity: give -i FILE (a staff key made by `vigil keygen`) or set VIGIL_IDENTITY")
	ErrNoRecipients = errors.New("no staff recipients to seal to: set VIGIL_RECIPIENTS_FILE to the mission's recipients file")
	ErrNoContact    = errors.New("the defender asked not to be contacted in this chat; the reply was not sent")
)

// Case is a case as staff see it: its metadata and, when this identity
// opens it, the report.
type Case struct {
	store.Case
	Report  *flows.Report
	Problem string // why the report is not shown; "" when it is
	// Lapsed is true when a claim on a new case is older than the lease.
	Lapsed bool
	// Clock is where the case stands against the response targets, when
	// it was read; a closed case's clock is not Running.
	Clock response.Clock
}

// HeldBy returns who works on the case, "" when nobody does.
func (c Case) HeldBy() string {
	if c.Lapsed {
		return ""
	}
	return c.Assignee
}

func (s *Service) audit(ctx context.Context, what, ref, detail string) error {
	return s.cfg.Store.Audit(ctx, store.AuditEntry{At: s.cfg.Now(), Who: s.cfg.Staff, What: what, Ref: ref, Detail: detail})
}

// open decrypts cases in parallel; the caller has audited them.
func (s *Service) open(cases []store.Case) []Case {
	out := make([]Case, len(cases))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i] = s.openOne(cases[i])
			}
		}()
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func (s *Service) openOne(c store.Case) Case {
	oc := Case{Case: c, Clock: s.cfg.Targets.Clock(c.Times(), s.cfg.Now())}
	oc.Lapsed = c.Status == "new" && c.Assignee != "" && s.cfg.Now().Sub(c.ClaimedAt) >= s.cfg.Lease
	raw, err := seal.Open(c.Sealed, s.cfg.Identities...)
	switch {
	case errors.Is(err, seal.ErrWrongIdentity):
		oc.Problem = fmt.Sprintf("this identity cannot open report %s (it was sealed to: %s; you hold: %s)",
			c.Ref, orNone(strings.Join(c.SealedTo, ", ")), orNone(strings.Join(seal.IdentityFingerprints(s.cfg.Identities), ", ")))
	case errors.As(err, new(*seal.PluginError)):
		oc.Problem = fmt.Sprintf("your hardware key did not open report %s: %v", c.Ref, err)
	case err != nil:
		oc.Problem = fmt.Sprintf("report %s is damaged or was tampered with; it is not shown", c.Ref)
	default:
		var r flows.Report
		if err := json.Unmarshal(raw, &r); err != nil || r.Schema != flows.ReportSchema {
			oc.Problem = fmt.Sprintf("report %s is not a %s document; it is not shown", c.Ref, flows.ReportSchema)
		} else if r.Ref != c.Ref {
			oc.Problem = fmt.Sprintf("report %s holds the document of %s: it was moved; it is not shown", c.Ref, r.Ref)
		} else {
			oc.Report = &r
		}
	}
	return oc
}

func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}

// Filter narrows a list.
type Filter struct {
	Status   string // "" every open case, "all", or one status
	Urgent   bool
	Country  string // ISO code, or "other"
	Category string // an option of "what happened"
	Since    time.Time
	Until    time.Time // received before this; zero for no end
	Assignee string    // "" anyone
	// Text keeps the cases whose report holds it, whatever the case
	// (references, answers, file names and captions). The search runs over
	// the decrypted reports in memory; the text itself is neither stored
	// nor audited, only which cases were opened to look.
	Text string
	// Order is the list's order: OrderQueue (urgent first, then newest
	// first), OrderDue or OrderOverdueFirst.
	Order Order
}

// Order is the order of a list.
type Order string

const (
	// OrderQueue is the queue's order: urgent first, then newest first.
	OrderQueue Order = ""
	// OrderDue puts the cases by the time left on their clocks, most
	// overdue first; cases without a running clock (closed, or both
	// deadlines met) come last, in the queue's order.
	OrderDue Order = "due"
	// OrderOverdueFirst puts the overdue cases first, then the others,
	// each in the queue's order.
	OrderOverdueFirst Order = "overdue"
)

func (f Filter) plain(c store.Case) bool {
	return (!f.Urgent || c.Urgent) && (f.Since.IsZero() || !c.ReceivedAt.Before(f.Since)) &&
		(f.Until.IsZero() || c.ReceivedAt.Before(f.Until)) &&
		(f.Assignee == "" || c.Assignee == f.Assignee)
}

// needsReport tells whether matching needs the decrypted report.
func (f Filter) needsReport() bool { return f.Country != "" || f.Category != "" || f.Text != "" }

func (f Filter) sealed(c Case) bool {
	if !f.needsReport() {
		return true
	}
	if c.Report == nil {
		return false
	}
	return (f.Country == "" || strings.EqualFold(answer(c.Report, flows.QCountry), f.Country)) &&
		(f.Category == "" || contains(answers(c.Report, "what"), f.Category)) &&
		(f.Text == "" || holds(c.Report, f.Text))
}

// holds reports whether any text of r contains s, ignoring case.
func holds(r *flows.Report, s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	in := func(t string) bool { return strings.Contains(strings.ToLower(t), s) }
	if in(r.Ref) {
		return true
	}
	for id := range r.Answers {
		for _, v := range answers(r, id) {
			if in(v) {
				return true
			}
		}
	}
	for _, e := range r.Evidence {
		if in(e.Name) || in(e.Caption) {
			return true
		}
	}
	return false
}

func selection(status string) store.Selection {
	switch status {
	case "":
		return store.SelectOpen
	case "all":
		return store.SelectAll
	}
	return store.SelectStatus(status)
}

// List returns up to limit cases matching f, skipping the first offset
// matches, in f.Order (by default urgent first, then newest first); more
// tells whether there are further matches. Another order reads the
// metadata of the whole selection to sort it, and still decrypts only
// what the page needs. Only the cases it must read are decrypted, so the first
// page of a long queue comes at once.
func (s *Service) List(ctx context.Context, f Filter, offset, limit int) (cases []Case, more bool, err error) {
	if len(s.cfg.Identities) == 0 {
		return nil, false, ErrNoIdentity
	}
	if f.Status != "" && f.Status != "all" && !ValidStatus(f.Status) {
		return nil, false, fmt.Errorf("unknown status %q (one of %s, or all)", f.Status, strings.Join(Statuses, ", "))
	}
	const chunk = 200
	read := func(from int64) ([]store.Case, int64, error) {
		return s.cfg.Store.Cases(ctx, selection(f.Status), from, chunk)
	}
	switch f.Order {
	case OrderQueue:
	case OrderDue, OrderOverdueFirst:
		sorted, err := s.ordered(ctx, f, chunk)
		if err != nil {
			return nil, false, err
		}
		read = func(from int64) ([]store.Case, int64, error) {
			return sorted[min(from, int64(len(sorted))):min(from+chunk, int64(len(sorted)))], int64(len(sorted)), nil
		}
	default:
		return nil, false, fmt.Errorf("unknown order %q (due, overdue, or none)", f.Order)
	}
	matched := 0
	for from := int64(0); ; from += chunk {
		page, total, err := read(from)
		if err != nil {
			return nil, false, err
		}
		var plain []store.Case
		for _, c := range page {
			if f.plain(c) {
				plain = append(plain, c)
			}
		}
		if !f.needsReport() {
			// Every plain match is a match: open no more than the page needs
			// (one extra tells whether there is more).
			if need := offset + limit + 1 - matched; len(plain) > need {
				plain = plain[:need]
			}
		}
		if len(plain) > 0 {
			if err := s.audit(ctx, "list", "", refsOf(plain)); err != nil {
				return nil, false, err
			}
		}
		for _, c := range s.open(plain) {
			if !f.sealed(c) {
				continue
			}
			matched++
			if matched <= offset {
				continue
			}
			if len(cases) == limit {
				return cases, true, nil
			}
			cases = append(cases, c)
		}
		if from+chunk >= total {
			return cases, false, nil
		}
	}
}

// ordered reads every case of f's selection that f's plain filters keep
// (metadata only: nothing is opened here) and puts them in f.Order by their
// clocks now.
func (s *Service) ordered(ctx context.Context, f Filter, chunk int64) ([]store.Case, error) {
	var all []store.Case
	for from := int64(0); ; from += chunk {
		page, total, err := s.cfg.Store.Cases(ctx, selection(f.Status), from, chunk)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if f.plain(c) {
				all = append(all, c)
			}
		}
		if from+chunk >= total {
			break
		}
	}
	now := s.cfg.Now()
	clocks := make(map[string]response.Clock, len(all))
	for _, c := range all {
		clocks[c.Ref] = s.cfg.Targets.Clock(c.Times(), now)
	}
	slices.SortStableFunc(all, func(a, b store.Case) int {
		ka, kb := clocks[a.Ref], clocks[b.Ref]
		if f.Order == OrderOverdueFirst {
			return boolOrder(ka.Overdue, kb.Overdue)
		}
		if c := boolOrder(ka.Running, kb.Running); c != 0 || !ka.Running {
			return c
		}
		return cmp.Compare(ka.Left, kb.Left)
	})
	return all, nil
}

// boolOrder puts true before false.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func refsOf(cs []store.Case) string {
	refs := make([]string, len(cs))
	for i, c := range cs {
		refs[i] = c.Ref
	}
	return strings.Join(refs, ",")
}

// Detail is one case with its history.
type Detail struct {
	Case
	History []Step
}

// Step is one event of a case's history, with its text when this identity
// opens it.
type Step struct {
	store.Event
	Text    string
	Problem string
}

// Show opens one case and its history.
func (s *Service) Show(ctx context.Context, ref string) (Detail, error) {
	if len(s.cfg.Identities) == 0 {
		return Detail{}, ErrNoIdentity
	}
	c, err := s.find(ctx, ref)
	if err != nil {
		return Detail{}, err
	}
	if err := s.audit(ctx, "show", c.Ref, ""); err != nil {
		return Detail{}, err
	}
	events, err := s.cfg.Store.Events(ctx, c.Ref)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Case: s.openOne(c)}
	for _, e := range events {
		st := Step{Event: e}
		if len(e.Sealed) > 0 {
			raw, err := seal.Open(e.Sealed, s.cfg.Identities...)
			switch {
			case errors.Is(err, seal.ErrWrongIdentity):
				st.Problem = "this identity cannot open this entry"
			case errors.As(err, new(*seal.PluginError)):
				st.Problem = fmt.Sprintf("your hardware key did not open this entry: %v", err)
			case err != nil:
				st.Problem = "this entry is damaged or was tampered with"
			default:
				st.Text = string(raw)
			}
		}
		d.History = append(d.History, st)
	}
	return d, nil
}

// find reads a case by a reference as a person typed it.
func (s *Service) find(ctx context.Context, typed string) (store.Case, error) {
	ref, ok := flows.ParseRef(typed)
	if !ok {
		return store.Case{}, fmt.Errorf("%q is not a case reference (8 characters, like ABCD-EF12)", typed)
	}
	c, err := s.cfg.Store.Report(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Case{}, &NoCaseError{Ref: ref}
	}
	return c, err
}

// NoCaseError is a reference that names no case: never queued, or purged.
type NoCaseError struct{ Ref string }

func (e *NoCaseError) Error() string { return "no case " + e.Ref }

// Mark returns a short string that changes when a report arrives or is
// purged, or a case is closed or reopened. It decrypts nothing and is not
// audited: a page polls it to know when to list again.
func (s *Service) Mark(ctx context.Context) (string, error) { return s.cfg.Store.QueueMark(ctx) }

// Raw returns the stored age file of a case (no decryption, not audited).
func (s *Service) Raw(ctx context.Context, ref string) ([]byte, error) {
	c, err := s.find(ctx, ref)
	return c.Sealed, err
}

func answer(r *flows.Report, id string) string {
	if r == nil {
		return ""
	}
	v, _ := r.Answers[id].(string)
	return v
}

func answers(r *flows.Report, id string) []string {
	if r == nil {
		return nil
	}
	switch v := r.Answers[id].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
