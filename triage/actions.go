package triage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// Statuses are the states of a case, in life-cycle order.
var Statuses = []string{"new", "triaged", "in-progress", "waiting-defender", "closed"}

// next lists the statuses a case may move to from each status.
var next = map[string][]string{
	"new":              {"triaged", "in-progress", "closed"},
	"triaged":          {"in-progress", "waiting-defender", "closed"},
	"in-progress":      {"waiting-defender", "closed"},
	"waiting-defender": {"in-progress", "closed"},
	"closed":           {"in-progress"}, // reopen
}

// ValidStatus reports whether s is a status.
func ValidStatus(s string) bool { return slices.Contains(Statuses, s) }

// Allowed returns the statuses a case in status from may move to.
func Allowed(from string) []string { return slices.Clone(next[from]) }

// TransitionError is an illegal status change.
type TransitionError struct{ From, To string }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("a %s case cannot become %s; from %s it can become: %s", e.From, e.To, e.From, strings.Join(next[e.From], ", "))
}

// HeldError is an action refused because another staff member holds the
// case.
type HeldError struct{ Ref, By string }

func (e *HeldError) Error() string {
	return fmt.Sprintf("case %s is held by %s; ask them, or reassign it with `vigil triage assign %s NAME`", e.Ref, e.By, e.Ref)
}

func heldError(ref string, err error) error {
	var held *store.HeldError
	if errors.As(err, &held) {
		return &HeldError{Ref: ref, By: held.By}
	}
	return err
}

// Claim takes a case for the acting staff member. A case someone else holds
// is refused, naming them, unless their claim on a new case has lapsed.
func (s *Service) Claim(ctx context.Context, ref string) error { return s.hold(ctx, ref, "claim", "") }

// Assign gives a case to a staff member, whoever holds it now.
func (s *Service) Assign(ctx context.Context, ref, to string) error {
	if strings.TrimSpace(to) == "" {
		return errors.New("assign to whom? give a staff name")
	}
	return s.hold(ctx, ref, "assign", to)
}

// Release gives up the acting staff member's hold on a case.
func (s *Service) Release(ctx context.Context, ref string) error {
	return s.hold(ctx, ref, "release", "")
}

func (s *Service) hold(ctx context.Context, typed, mode, to string) error {
	c, err := s.find(ctx, typed)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.Hold(ctx, store.Holding{Ref: c.Ref, Staff: s.cfg.Staff, Mode: mode, Target: to, At: s.cfg.Now(), Lease: s.cfg.Lease})
	return heldError(c.Ref, err)
}

// SetStatus moves a case along its life cycle, with an optional reason
// (sealed to the staff). An illegal change is refused with the allowed ones.
func (s *Service) SetStatus(ctx context.Context, typed, to, reason string) error {
	if !ValidStatus(to) {
		return fmt.Errorf("unknown status %q (one of %s)", to, strings.Join(Statuses, ", "))
	}
	var sealed []byte
	if reason != "" {
		var err error
		if sealed, err = s.sealForStaff(reason); err != nil {
			return err
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		c, err := s.find(ctx, typed)
		if err != nil {
			return err
		}
		if !slices.Contains(next[c.Status], to) {
			return &TransitionError{From: c.Status, To: to}
		}
		err = s.cfg.Store.SetStatus(ctx, store.Transition{Ref: c.Ref, Staff: s.cfg.Staff, From: c.Status, To: to, At: s.cfg.Now(), Reason: sealed})
		if errors.Is(err, store.ErrConflict) {
			continue // someone moved it meanwhile: look again
		}
		return heldError(c.Ref, err)
	}
	return fmt.Errorf("case %s keeps changing; try again", typed)
}

// Note adds an internal note, sealed to the staff; the defender never sees it.
func (s *Service) Note(ctx context.Context, typed, text string) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("the note is empty")
	}
	c, err := s.find(ctx, typed)
	if err != nil {
		return err
	}
	sealed, err := s.sealForStaff(text)
	if err != nil {
		return err
	}
	return s.cfg.Store.AddEntry(ctx, store.Entry{Ref: c.Ref, Staff: s.cfg.Staff, Kind: "note", At: s.cfg.Now(), Sealed: sealed})
}

// Reply sends a message to the defender through the bot, signed with the
// staff member's key (Config.Signer) over its copy sealed to the bot. It is
// refused when the defender said the mission may not contact them in the
// chat, when someone else holds the case, without a signer (ErrNoSigner),
// and when the bot's key in Redis is not the one pinned
// (*BotKeyChangedError); a refused reply queues nothing.
func (s *Service) Reply(ctx context.Context, typed, text string) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("the reply is empty")
	}
	if s.cfg.Signer == nil {
		return ErrNoSigner
	}
	if len(s.cfg.Identities) == 0 {
		return ErrNoIdentity
	}
	c, err := s.find(ctx, typed)
	if err != nil {
		return err
	}
	// Reading the report's consent is a decryption: audited first.
	if err := s.audit(ctx, "read", c.Ref, "check consent to contact before a reply"); err != nil {
		return err
	}
	oc := s.openOne(c)
	if oc.Report == nil {
		return errors.New(oc.Problem)
	}
	if answer(oc.Report, flows.QContact) == "no" {
		return ErrNoContact
	}
	forStaff, err := s.sealForStaff(text)
	if err != nil {
		return err
	}
	botKey, err := s.botKey(ctx)
	if err != nil {
		return err
	}
	bot, err := seal.ParseRecipients(strings.NewReader(botKey))
	if err != nil {
		return fmt.Errorf("the bot's public key is not valid: %w", err)
	}
	if bot.PostQuantum() != s.cfg.Recipients.PostQuantum() {
		_, err := s.cfg.Recipients.With(botKey)
		return fmt.Errorf("the bot's public key (VIGIL_BOT_RECIPIENT) does not fit the staff keys: %w", err)
	}
	forBot, err := bot.Seal([]byte(text))
	if err != nil {
		return err
	}
	statement, signature, err := s.signReply(c.Ref, forBot)
	if err != nil {
		return err
	}
	err = s.cfg.Store.AddEntry(ctx, store.Entry{Ref: c.Ref, Staff: s.cfg.Staff, Kind: "reply", At: s.cfg.Now(), Sealed: forStaff, ForBot: forBot,
		Statement: statement, Signature: signature})
	return heldError(c.Ref, err)
}

func (s *Service) sealForStaff(text string) ([]byte, error) {
	if s.cfg.Recipients == nil {
		return nil, ErrNoRecipients
	}
	return s.cfg.Recipients.Seal([]byte(text))
}

// Audit returns the audit trail, for one case or (ref "") all.
func (s *Service) Audit(ctx context.Context, typed string) ([]store.AuditEntry, error) {
	ref := ""
	if typed != "" {
		var ok bool
		if ref, ok = flows.ParseRef(typed); !ok {
			return nil, fmt.Errorf("%q is not a case reference", typed)
		}
	}
	return s.cfg.Store.AuditLog(ctx, ref)
}

// PurgePlan lists the closed cases a purge would delete.
func (s *Service) PurgePlan(ctx context.Context, closedBefore time.Time) ([]string, error) {
	return s.cfg.Store.ClosedBefore(ctx, closedBefore)
}

// Purge deletes the given closed cases for good, each audited first. It
// returns how many went.
func (s *Service) Purge(ctx context.Context, refs []string) (int, error) {
	n := 0
	for _, ref := range refs {
		err := s.cfg.Store.Purge(ctx, ref, s.cfg.Staff, s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			continue // gone or reopened meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
