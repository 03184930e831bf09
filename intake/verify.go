package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// DefaultReplyMaxAge is how old a staff reply's signature may be when the
// bot delivers it. Replies wait in the outbox until a bot takes them,
// normally seconds; a week covers a bot stopped over a long weekend, and
// bounds how long the bot must remember the signatures it acted on.
const DefaultReplyMaxAge = 7 * 24 * time.Hour

// clockSkew is how far in the future a signature's time may be: the time
// is the staff laptop's clock.
const clockSkew = 10 * time.Minute

// Why a staff reply was refused: the kinds recorded in the case history,
// logged, and counted (the only label of the metric). None carries content.
const (
	RefusedUnsigned     = "unsigned"        // no statement or no signature
	RefusedMalformed    = "malformed"       // the statement does not parse
	RefusedWrongAction  = "wrong-action"    // a statement for something else than a reply
	RefusedWrongCase    = "wrong-case"      // signed for another case
	RefusedDigest       = "digest-mismatch" // signed for other bytes than the ones to deliver
	RefusedExpired      = "expired"         // older than the maximum age, or dated in the future
	RefusedUntrusted    = "untrusted-key"   // the key is not in the keyring
	RefusedBadSignature = "bad-signature"   // the signature does not verify
	RefusedWrongSigner  = "wrong-signer"    // the statement names someone else than the key's owner
	RefusedRole         = "not-staff"       // the key's owner lacks the staff role
	RefusedReplayed     = "replayed"        // the statement was used by another reply already
)

// refusalNote is the case history's entry for a refused reply.
const refusalNote = "refused: not signed by a trusted staff key"

// checkReply decides whether the outbox entry o may be delivered: it
// returns "" when o carries a statement of a reply to o.Ref over the exact
// sealed bytes of o, not older than the maximum age, signed by a key of the
// keyring in force whose entry is the statement's signer and has the staff
// role, and used by no other entry of the case; otherwise the kind of
// refusal. An error (Redis) decides nothing.
func (s *Service) checkReply(ctx context.Context, o store.Outgoing) (string, error) {
	if len(o.Statement) == 0 || len(o.Signature) == 0 {
		return RefusedUnsigned, nil
	}
	claimed, err := sign.ParseStatement(o.Statement)
	if err != nil {
		return RefusedMalformed, nil
	}
	digest := sign.DigestOf(o.Sealed)
	switch now := s.now(); {
	case claimed.Action != sign.ActionReply:
		return RefusedWrongAction, nil
	case claimed.Subject != o.Ref:
		return RefusedWrongCase, nil
	case claimed.Digest != digest:
		return RefusedDigest, nil
	case now.Sub(claimed.Time) > s.maxAge, claimed.Time.Sub(now) > clockSkew:
		return RefusedExpired, nil
	}
	// The statement checked is built from what is about to be delivered;
	// only the signer and the time come from the entry.
	st := sign.Statement{Action: sign.ActionReply, Signer: claimed.Signer, Time: claimed.Time, Subject: o.Ref, Digest: digest}
	if _, err := s.trust.Keyring().Verify(st, o.Signature); err != nil {
		switch {
		case errors.Is(err, sign.ErrUntrustedKey):
			return RefusedUntrusted, nil
		case errors.Is(err, sign.ErrWrongSigner):
			return RefusedWrongSigner, nil
		case errors.Is(err, sign.ErrRole):
			return RefusedRole, nil
		default:
			return RefusedBadSignature, nil
		}
	}
	// The statement's bytes are canonical (a signature's are not: its
	// armor or an ECDSA signature can be re-encoded), so a replay is
	// recognised by them.
	sum := sha256.Sum256(o.Statement)
	fresh, err := s.store.UseSignature(ctx, o, hex.EncodeToString(sum[:]), s.maxAge+2*clockSkew)
	if err != nil {
		return "", err
	}
	if !fresh {
		return RefusedReplayed, nil
	}
	return "", nil
}
