package broadcast

// The mission's voice: a publication reaches defenders only when the bot
// has checked, against the exact texts it is about to send, that the
// coordinators of its own keyring said so. Redis holds the proofs, but
// cannot make one.
//
// A proof is a sign.Statement (its canonical bytes) and what authenticates
// it:
//   - a signature by the coordinator's own key (staff tools, the web
//     console): checked with sign.Keyring.Verify;
//   - or, for what a coordinator did in Telegram, the bot's HMAC (seal.Keys
//     MAC, a key only the bot's disk holds) over the statement and the
//     Telegram account it came from: the bot vouches that this account
//     asked for it. It counts only when that account is the telegram= of
//     the statement's signer in the keyring, who must be a coordinator.
//
// A Telegram approval is bound to the preview: when the bot sends a preview
// to a coordinator it keeps, authenticated the same way, the digest of the
// texts it sent (preview:NAME); an approval in Telegram carries that
// digest, never one of the texts in Redis at the time of the approval.

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// proof is how a statement is stored with a publication.
type proof struct {
	Statement string `json:"statement"`          // sign.Statement.Encode
	SSHSig    string `json:"sshsig,omitempty"`   // by the signer's key
	Telegram  int64  `json:"telegram,omitempty"` // the account the bot heard it from
	MAC       []byte `json:"mac,omitempty"`      // the bot's, over Telegram and Statement
}

// MAC domains: a preview record cannot pass for an approval, nor the other
// way round.
const (
	macTelegram = "vigil telegram statement v1"
	macPreview  = "vigil preview v1"
)

// botMAC authenticates st as heard from Telegram account tg, in domain.
func botMAC(keys *seal.Keys, domain string, tg int64, st []byte) []byte {
	return keys.MAC(domain, append(strconv.AppendInt(nil, tg, 10), append([]byte{'\n'}, st...)...))
}

// signed returns the proof of st signed with signer.
func signed(signer *sign.Signer, st sign.Statement) ([]byte, error) {
	msg, err := st.Encode()
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w", err)
	}
	sig, err := signer.Sign(st)
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w", err)
	}
	return json.Marshal(proof{Statement: string(msg), SSHSig: string(sig)})
}

// vouched returns the proof of st heard by the bot from Telegram account
// tg, in domain.
func vouched(keys *seal.Keys, domain string, tg int64, st sign.Statement) ([]byte, error) {
	msg, err := st.Encode()
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w", err)
	}
	return json.Marshal(proof{Statement: string(msg), Telegram: tg, MAC: botMAC(keys, domain, tg, msg)})
}

// actionOf is the statement action that creates a publication of kind.
func actionOf(kind string) sign.Action {
	if kind == store.KindGuidance {
		return sign.ActionGuidance
	}
	return sign.ActionBroadcast
}

// Why a publication is not sent; staff see these as its problem.
var (
	ErrTextsChanged    = errors.New("texts changed after signing")
	ErrNoCreatorProof  = errors.New("the creator's signature is missing")
	ErrNotEnough       = errors.New("not enough approvals by trusted coordinators")
	ErrNoKeyring       = errors.New("the bot has no staff keyring (VIGIL_STAFF_KEYRING), so it trusts no coordinator")
	errProofMalformed  = errors.New("malformed")
	errProofMismatched = errors.New("is about another publication, action or countries")
)

// verifier checks the proofs of one publication against the digest of the
// texts about to be sent.
type verifier struct {
	keyring *sign.Keyring
	keys    *seal.Keys
	p       store.Publication
	digest  sign.Digest
}

// check verifies one proof of action and returns the signer's name. A
// digest other than v.digest is ErrTextsChanged.
func (v verifier) check(raw []byte, action sign.Action) (string, error) {
	var pr proof
	if err := json.Unmarshal(raw, &pr); err != nil {
		return "", errProofMalformed
	}
	st, err := sign.ParseStatement([]byte(pr.Statement))
	if err != nil {
		return "", errProofMalformed
	}
	// What the bot is about to do, with the signer's name and time.
	want := sign.Statement{Action: action, Signer: st.Signer, Time: st.Time, Subject: v.p.ID,
		Countries: slices.Sorted(slices.Values(v.p.Countries)), Digest: v.digest}
	if st.Action != want.Action || st.Subject != want.Subject || !slices.Equal(st.Countries, want.Countries) {
		return st.Signer, errProofMismatched
	}
	if st.Digest != want.Digest {
		return st.Signer, ErrTextsChanged
	}
	switch {
	case pr.SSHSig != "" && pr.MAC == nil:
		if _, err := v.keyring.Verify(want, []byte(pr.SSHSig)); err != nil {
			return st.Signer, err
		}
	case pr.SSHSig == "" && pr.MAC != nil:
		if !hmac.Equal(pr.MAC, botMAC(v.keys, macTelegram, pr.Telegram, []byte(pr.Statement))) {
			return st.Signer, errors.New("its Telegram record was not made by this bot")
		}
		e, ok := v.keyring.ByName(st.Signer)
		if !ok || !e.Has(sign.RoleCoordinator) {
			return st.Signer, sign.ErrRole
		}
		if e.TelegramID == 0 || e.TelegramID != pr.Telegram {
			return st.Signer, errors.New("the Telegram account is not the keyring's for this coordinator")
		}
	default:
		return st.Signer, errProofMalformed
	}
	return st.Signer, nil
}

// Verify checks that p may be sent (or shown) with texts, its exact texts
// by language: the creator's proof over TextsDigest(texts), p's id and
// countries, and approvals over the same by at least approvals-1 distinct
// coordinators other than the creator (one, the creator's own after the
// preview, when approvals is 1). An approval that does not verify, by the
// creator, or over another digest is not counted. The error is what staff
// should read as the publication's problem.
func Verify(keyring *sign.Keyring, keys *seal.Keys, p store.Publication, texts map[string]string, approvals int) error {
	if keyring == nil {
		return ErrNoKeyring
	}
	v := verifier{keyring: keyring, keys: keys, p: p, digest: sign.TextsDigest(texts)}
	if p.CreatorProof == nil {
		return ErrNoCreatorProof
	}
	creator, err := v.check(p.CreatorProof, actionOf(p.Kind))
	if errors.Is(err, ErrTextsChanged) {
		return err
	}
	if err != nil {
		return fmt.Errorf("the creator's signature does not verify: %w", err)
	}
	others := max(1, approvals-1)
	counted := map[string]bool{}
	var firstBad error
	for _, name := range slices.Sorted(maps.Keys(p.Approvals)) {
		who, err := v.check(p.Approvals[name], sign.ActionApprove)
		switch {
		case err != nil:
			if firstBad == nil {
				firstBad = fmt.Errorf("approval by %s does not verify: %w", strconv.Quote(name), err)
			}
		case who != name:
			if firstBad == nil {
				firstBad = fmt.Errorf("approval by %s does not verify: it is signed by %s", strconv.Quote(name), who)
			}
		case who == creator && approvals > 1:
			// The creator's own approval is not a second pair of eyes.
		default:
			counted[who] = true
		}
	}
	if len(counted) >= others {
		return nil
	}
	if firstBad != nil {
		return firstBad
	}
	return ErrNotEnough
}

// PreviewRecord is what the bot keeps when it has sent p's preview, texts
// (language → the exact HTML sent), to coordinator name at Telegram
// account chat: the digest of those texts, authenticated with the bot's
// keys. An approval name gives in Telegram carries that digest.
func PreviewRecord(keys *seal.Keys, name string, chat int64, p store.Publication, texts map[string]string, now time.Time) ([]byte, error) {
	return vouched(keys, macPreview, chat, sign.Statement{Action: sign.ActionApprove, Signer: name,
		Time: sign.StatementTime(now), Subject: p.ID, Countries: p.Countries, Digest: sign.TextsDigest(texts)})
}

// approvalsNeeded is the bot's own setting (configured > 0), else the
// policy's.
func approvalsNeeded(configured int, pol store.Policy) int {
	if configured > 0 {
		return configured
	}
	return pol.Approvals
}
