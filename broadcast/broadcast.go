// Package broadcast is how coordinators reach subscribed defenders: it
// creates broadcasts and guidance pages, holds them until enough
// coordinators approve, and delivers approved broadcasts at Telegram's
// limits (see Deliverer).
//
// Its promises:
//   - Texts are sealed with age to the bot and to the staff before they are
//     stored; a subscriber's chat id and language are sealed with the bot's
//     key. No chat id is stored in plain text or logged; country codes are
//     kept plain, as segmentation needs them.
//   - A publication takes effect only when Policy.Approvals coordinators
//     agreed: the creator and Approvals-1 others; with Approvals = 1 the
//     creator approves it alone, after the preview. Only a coordinator
//     whom Telegram delivered the whole preview to may approve.
//   - Every creation, approval and stop carries a proof: a sign.Statement
//     over the publication's id, countries and the digest of its exact
//     texts, signed with the coordinator's key (Config.Signer) or, for
//     what a coordinator did in Telegram, vouched for by the bot
//     (InTelegram). The bot sends or shows a publication only when Verify
//     passes over the texts it is about to send (see voice.go).
//   - Errors name the operation, never a text.
package broadcast

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// MaxText bounds the text of one language, in characters (Telegram's limit
// on a message after its formatting is parsed; the HTML may be longer).
const MaxText = flows.MaxPublicationText

// Topics a guidance page may have, in the order /guidance lists them.
var Topics = flows.GuidanceTopics

// Errors a coordinator may meet, for the front end to explain.
var (
	ErrNotCoordinator = errors.New("broadcast: not a coordinator: only the coordinators named in the bot's configuration may create or approve")
	ErrNoDefaultText  = errors.New("broadcast: no text in the default language, which subscribers without their own language get")
	ErrNoCountry      = errors.New("broadcast: no country: give at least one")
	ErrBadCountry     = errors.New("broadcast: a country is not a two-letter ISO 3166 code")
	ErrBadTopic       = errors.New("broadcast: unknown topic; use one of " + strings.Join(Topics, ", "))
	ErrTooLong        = fmt.Errorf("broadcast: a text is longer than Telegram allows (%d characters)", MaxText)
	ErrEmptyText      = errors.New("broadcast: a text is empty")
	ErrNoSigner       = errors.New("broadcast: no signing key: staff actions that reach defenders are signed with your own SSH key (VIGIL_SIGNING_KEY, see docs/signing.md)")
	ErrChangedTexts   = errors.New("broadcast: the texts are not the ones its creator signed (changed in Redis?): do not approve it; stop it and create it again")
	ErrNoPreviewSeen  = errors.New("broadcast: the bot has no record of sending you the preview; wait for it, then approve")
)

// Draft is a publication as a coordinator composed it.
type Draft struct {
	Kind      string            // store.KindBroadcast or store.KindGuidance
	Topic     string            // guidance pages only
	Countries []string          // ISO 3166-1 alpha-2, upper case
	Texts     map[string]string // language → Telegram HTML
}

// Config wires a Service.
type Config struct {
	Store *store.Store
	// Seal seals a text so that the bot and the staff can open it.
	Seal func(plain []byte) ([]byte, error)
	// Open opens a sealed text (the bot's identity, or a staff member's).
	Open func(sealed []byte) ([]byte, error)
	Now  func() time.Time
	// Signer signs the coordinator's statements (staff tools, the web
	// console); its key must be the keyring's for the name acted as.
	Signer *sign.Signer
	// Bot, for the bot's own service, vouches for what coordinators do in
	// Telegram (see InTelegram).
	Bot *seal.Keys
	// Trust and Approvals, for the bot, check a guidance page before it is
	// shown (Shown): the keyring in force, and the approvals the bot's
	// configuration requires (0: the published policy's).
	Trust     *sign.Trust
	Approvals int
}

// Service creates, approves, stops and describes publications.
type Service struct {
	cfg Config
	tg  int64 // the Telegram account acted for; 0: a staff tool
}

// InTelegram returns the service acting for the coordinator who speaks to
// the bot from Telegram account id: the bot (Config.Bot) vouches for the
// statements, and an approval carries the digest of the preview the bot
// sent that coordinator.
func (s *Service) InTelegram(id int64) *Service { return &Service{cfg: s.cfg, tg: id} }

// prove returns the proof of st by who, signed or vouched for.
func (s *Service) prove(st sign.Statement) ([]byte, error) {
	switch {
	case s.tg != 0 && s.cfg.Bot != nil:
		return vouched(s.cfg.Bot, macTelegram, s.tg, st)
	case s.tg == 0 && s.cfg.Signer != nil:
		return signed(s.cfg.Signer, st)
	}
	return nil, ErrNoSigner
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// Policy returns the rule the bot runs with.
func (s *Service) Policy(ctx context.Context) (store.Policy, error) {
	return s.cfg.Store.GetPolicy(ctx)
}

// Create stores a publication by coordinator who, queued for its preview
// and approval. It returns the publication and how many approvals it needs.
func (s *Service) Create(ctx context.Context, who string, d Draft) (store.Publication, int, error) {
	pol, err := s.Policy(ctx)
	if err != nil {
		return store.Publication{}, 0, err
	}
	if !slices.Contains(pol.Coordinators, who) {
		return store.Publication{}, 0, ErrNotCoordinator
	}
	if err := validate(d, pol.DefaultLang); err != nil {
		return store.Publication{}, 0, err
	}
	if s.tg == 0 && s.cfg.Signer == nil || s.tg != 0 && s.cfg.Bot == nil {
		return store.Publication{}, 0, ErrNoSigner
	}
	p := store.Publication{Kind: d.Kind, Topic: d.Topic, Countries: d.Countries, Creator: who,
		CreatedAt: s.cfg.Now().UTC(), Texts: map[string][]byte{}}
	for lang, text := range d.Texts {
		sealed, err := s.cfg.Seal([]byte(text))
		if err != nil {
			return store.Publication{}, 0, fmt.Errorf("broadcast: seal a text: %w", err)
		}
		p.Texts[lang] = sealed
	}
	digest := sign.TextsDigest(d.Texts)
	for range 5 {
		p.ID = newID(d.Kind)
		// The id is signed with the texts, so it is chosen first.
		p.CreatorProof, err = s.prove(sign.Statement{Action: actionOf(d.Kind), Signer: who, Time: sign.StatementTime(s.cfg.Now()),
			Subject: p.ID, Countries: d.Countries, Digest: digest})
		if err != nil {
			return store.Publication{}, 0, err
		}
		err = s.cfg.Store.CreatePublication(ctx, p)
		if !errors.Is(err, store.ErrRefTaken) {
			break
		}
	}
	if err != nil {
		return store.Publication{}, 0, fmt.Errorf("broadcast: %w", err)
	}
	p.Status = store.PubQueued
	return p, Needed(p, pol), nil
}

func validate(d Draft, defaultLang string) error {
	switch d.Kind {
	case store.KindBroadcast:
	case store.KindGuidance:
		if !slices.Contains(Topics, d.Topic) {
			return ErrBadTopic
		}
	default:
		return fmt.Errorf("broadcast: unknown kind %q", d.Kind)
	}
	if len(d.Countries) == 0 {
		return ErrNoCountry
	}
	for _, c := range d.Countries {
		if len(c) != 2 || strings.ToUpper(c) != c || strings.ContainsFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) {
			return ErrBadCountry
		}
	}
	if _, ok := d.Texts[defaultLang]; !ok {
		return ErrNoDefaultText
	}
	for _, t := range d.Texts {
		if strings.TrimSpace(t) == "" {
			return ErrEmptyText
		}
		if utf8.RuneCountInString(t) > 3*MaxText {
			return ErrTooLong
		}
	}
	return nil
}

// Needed returns how many more approvals p needs under pol.
func Needed(p store.Publication, pol store.Policy) int {
	if p.Status != "" && p.Status != store.PubQueued {
		return 0
	}
	return max(0, max(1, pol.Approvals-1)-len(p.Approvers))
}

// newID returns a reference such as B-7K2QX (a broadcast) or G-… (a page).
func newID(kind string) string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	p := "B-"
	if kind == store.KindGuidance {
		p = "G-"
	}
	return p + string(b)
}

// Approve records who's approval and returns the status that follows and
// the approvals still needed.
func (s *Service) Approve(ctx context.Context, id, who string) (string, int, error) {
	pol, err := s.Policy(ctx)
	if err != nil {
		return "", 0, err
	}
	if !slices.Contains(pol.Coordinators, who) {
		return "", 0, ErrNotCoordinator
	}
	p, err := s.cfg.Store.GetPublication(ctx, id)
	if err != nil {
		return "", 0, err
	}
	// The store's refusals first, in its order, before any text is read.
	switch {
	case p.Status != store.PubQueued:
		return "", 0, &store.StateError{Status: p.Status}
	case who == p.Creator && pol.Approvals > 1:
		return "", 0, store.ErrOwnApproval
	case !p.Previewed:
		return "", 0, store.ErrNotPreviewed
	case p.Previews[who] == nil:
		return "", 0, store.ErrNotReached
	case slices.Contains(p.Approvers, who):
		return "", 0, store.ErrApprovedTwice
	}
	digest, err := s.approvedDigest(p, who, pol.DefaultLang)
	if err != nil {
		return "", 0, err
	}
	pr, err := s.prove(sign.Statement{Action: sign.ActionApprove, Signer: who, Time: sign.StatementTime(s.cfg.Now()),
		Subject: p.ID, Countries: p.Countries, Digest: digest})
	if err != nil {
		return "", 0, err
	}
	status, err := s.cfg.Store.Approve(ctx, id, who, pol.Approvals, s.cfg.Now(), pr)
	if err != nil {
		return "", 0, err
	}
	p, err = s.cfg.Store.GetPublication(ctx, id)
	if err != nil {
		return status, 0, err
	}
	return status, Needed(p, pol), nil
}

// Cancel stops a publication on behalf of who (any coordinator may stop
// one: stopping is always safe).
func (s *Service) Cancel(ctx context.Context, id, who string) (string, error) {
	pol, err := s.Policy(ctx)
	if err != nil {
		return "", err
	}
	if !slices.Contains(pol.Coordinators, who) {
		return "", ErrNotCoordinator
	}
	pr, err := s.prove(sign.Statement{Action: sign.ActionStop, Signer: who, Time: sign.StatementTime(s.cfg.Now()),
		Subject: id, Digest: sign.DigestOf([]byte(id))})
	if err != nil {
		return "", err
	}
	return s.cfg.Store.Cancel(ctx, id, who, s.cfg.Now(), pr)
}

// approvedDigest is the digest who approves: in Telegram, that of the
// preview the bot sent them (their preview record, which only the bot can
// make); from a staff tool, that of the texts as opened here, refused when
// it is not the one the creator's statement names.
func (s *Service) approvedDigest(p store.Publication, who, def string) (sign.Digest, error) {
	if s.tg != 0 {
		if s.cfg.Bot == nil {
			return sign.Digest{}, ErrNoSigner
		}
		var pr proof
		if json.Unmarshal(p.Previews[who], &pr) != nil || pr.Telegram != s.tg ||
			!hmac.Equal(pr.MAC, botMAC(s.cfg.Bot, macPreview, s.tg, []byte(pr.Statement))) {
			return sign.Digest{}, ErrNoPreviewSeen
		}
		st, err := sign.ParseStatement([]byte(pr.Statement))
		if err != nil || st.Subject != p.ID || st.Signer != who {
			return sign.Digest{}, ErrNoPreviewSeen
		}
		return st.Digest, nil
	}
	if s.cfg.Signer == nil {
		return sign.Digest{}, ErrNoSigner
	}
	texts, err := s.Texts(p, def)
	if err != nil {
		return sign.Digest{}, err
	}
	digest := sign.TextsDigest(texts)
	var pr proof
	if json.Unmarshal(p.CreatorProof, &pr) == nil {
		if st, err := sign.ParseStatement([]byte(pr.Statement)); err == nil && st.Digest != digest {
			return sign.Digest{}, ErrChangedTexts
		}
	}
	return digest, nil
}

// Shown returns the text of guidance page p in lang (or the default
// language) when its proofs verify against all its texts (Verify); when
// they do not, it marks p invalid with the reason, and returns the error.
func (s *Service) Shown(ctx context.Context, p store.Publication, lang string) (string, error) {
	pol, err := s.Policy(ctx)
	if err != nil {
		return "", err
	}
	texts, err := s.Texts(p, pol.DefaultLang)
	if err != nil {
		return "", err
	}
	if err := Verify(s.cfg.Trust.Keyring(), s.cfg.Bot, p, texts, approvalsNeeded(s.cfg.Approvals, pol)); err != nil {
		if ierr := s.cfg.Store.Invalidate(ctx, p.ID, err.Error()); ierr != nil {
			return "", errors.Join(err, ierr)
		}
		return "", err
	}
	html, ok := texts[lang]
	if !ok {
		html = texts[pol.DefaultLang]
	}
	return html, nil
}

// Texts opens every text of p: language → Telegram HTML.
func (s *Service) Texts(p store.Publication, def string) (map[string]string, error) {
	return openTexts(s.cfg.Open, p, def)
}

func openTexts(open func([]byte) ([]byte, error), p store.Publication, def string) (map[string]string, error) {
	texts := map[string]string{}
	for _, lang := range p.Langs() {
		html, _, err := openText(open, p, lang, def)
		if err != nil {
			return nil, err
		}
		texts[lang] = html
	}
	return texts, nil
}

// Get reads a publication.
func (s *Service) Get(ctx context.Context, id string) (store.Publication, error) {
	return s.cfg.Store.GetPublication(ctx, strings.ToUpper(strings.TrimSpace(id)))
}

// List reads the latest publications, newest first.
func (s *Service) List(ctx context.Context, n int) ([]store.Publication, error) {
	return s.cfg.Store.Publications(ctx, n)
}

// Text opens p's text in lang, or in def when it has none in lang, and says
// which language it is.
func (s *Service) Text(p store.Publication, lang, def string) (string, string, error) {
	return openText(s.cfg.Open, p, lang, def)
}

func openText(open func([]byte) ([]byte, error), p store.Publication, lang, def string) (string, string, error) {
	sealed, ok := p.Texts[lang]
	if !ok {
		lang, sealed = def, p.Texts[def]
	}
	if sealed == nil {
		return "", "", fmt.Errorf("broadcast: %s has no text in %s", p.ID, def)
	}
	raw, err := open(sealed)
	if err != nil {
		return "", "", fmt.Errorf("broadcast: open a text of %s: %w", p.ID, err)
	}
	return string(raw), lang, nil
}

// Left estimates the time a sending broadcast needs to finish at rate
// messages per second.
func Left(p store.Publication, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(p.Remaining+p.InFlight) / rate * float64(time.Second))
}

// Subscriber is what a subscription holds, sealed with the bot's key.
type Subscriber struct {
	Chat int64  `json:"chat"`
	Lang string `json:"lang"`
}

func subscriberName(handle string) string { return "sub:" + handle }

// SealSubscriber seals a subscriber's record, bound to their handle.
func SealSubscriber(keys *seal.Keys, handle string, sub Subscriber) ([]byte, error) {
	raw, err := json.Marshal(sub)
	if err != nil {
		return nil, fmt.Errorf("broadcast: encode subscriber: %w", err)
	}
	return keys.Seal(subscriberName(handle), raw), nil
}

// OpenSubscriber opens a subscriber's record.
func OpenSubscriber(keys *seal.Keys, handle string, sealed []byte) (Subscriber, error) {
	raw, err := keys.Open(subscriberName(handle), sealed)
	if err != nil {
		return Subscriber{}, fmt.Errorf("broadcast: open subscriber: %w", err)
	}
	var sub Subscriber
	if err := json.Unmarshal(raw, &sub); err != nil {
		return Subscriber{}, errors.New("broadcast: malformed subscriber record")
	}
	return sub, nil
}

// SealFor returns a sealer to the staff recipients and the bot's public
// key, so that the bot can send a text and staff tools can show it. The
// bot's key must be of the staff keys' kind (post-quantum or classic).
func SealFor(staff *seal.Recipients, botRecipient string) (func([]byte) ([]byte, error), error) {
	all, err := staff.With(botRecipient)
	if err != nil {
		return nil, fmt.Errorf("broadcast: the bot's key: %w", err)
	}
	return all.Seal, nil
}

// Opener returns an opener of texts for identities.
func Opener(ids ...seal.Identity) func([]byte) ([]byte, error) {
	return func(sealed []byte) ([]byte, error) { return seal.Open(sealed, ids...) }
}
