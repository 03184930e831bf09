package triage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// ReplySigner signs the statement of a reply with the staff member's own
// key (a *sign.Signer, opened from VIGIL_SIGNING_KEY).
type ReplySigner interface {
	Sign(sign.Statement) ([]byte, error)
}

// ErrNoSigner is a reply refused because no signing key was given: the bot
// delivers only replies signed by a key of its staff keyring.
var ErrNoSigner = errors.New("replies are signed with your own SSH key and none was given: set VIGIL_SIGNING_KEY (or --sign-key) to its file, or to its .pub to sign through ssh-agent (see docs/signing.md)")

// BotKeyChangedError is a reply refused because the bot's public key in
// Redis is not the one this staff member pinned: a reply sealed to it
// could be read by whoever put it there.
type BotKeyChangedError struct {
	File   string // the pin file
	Pinned string // the key pinned in File
	Now    string // the key Redis holds now
}

func (e *BotKeyChangedError) Error() string {
	return fmt.Sprintf("THE BOT'S REPLY KEY HAS CHANGED, so nothing was sent. You pinned %s (in %s) and Redis now holds %s. "+
		"Whoever can write to Redis can swap this key and then read every reply sealed to it, so treat this as an attack until "+
		"whoever runs the bot confirms, by another channel than this server, that the bot's key changed (the bot logs it at start "+
		"as \"bot reply key\"). If they confirm the new key, accept it with `vigil triage trust-bot-key %s` and send again.",
		e.Pinned, e.File, e.Now, e.Now)
}

// botKey returns the bot's public key to seal a reply to: BotRecipient when
// configured; otherwise the key in Redis of the staff keys' kind (the bot's
// post-quantum key when they are post-quantum: a reply sealed to a classic
// key would lose the protection of its staff copy), which must be the one
// pinned in KnownBotFile (pinned there on first use).
func (s *Service) botKey(ctx context.Context) (string, error) {
	if s.cfg.BotRecipient != "" {
		return s.cfg.BotRecipient, nil
	}
	published := s.cfg.Store.BotRecipient
	if s.cfg.Recipients != nil && s.cfg.Recipients.PostQuantum() {
		published = s.cfg.Store.BotRecipientPQ
	}
	now, err := published(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return "", errors.New("no bot has published its key on this Redis yet (a post-quantum one if the staff keys are), so there is no key to seal the reply for it; start `vigil bot` once")
	}
	if err != nil {
		return "", err
	}
	if s.cfg.KnownBotFile == "" {
		return now, nil
	}
	pinned, err := ReadKnownBot(s.cfg.KnownBotFile)
	if errors.Is(err, fs.ErrNotExist) {
		if err := TrustBotKey(s.cfg.KnownBotFile, now); err != nil {
			return "", err
		}
		return now, nil
	}
	if err != nil {
		return "", err
	}
	if pinned != now {
		return "", &BotKeyChangedError{File: s.cfg.KnownBotFile, Pinned: pinned, Now: now}
	}
	return now, nil
}

// ReadKnownBot returns the bot key pinned in file: its first line that is
// neither blank nor a comment. A missing file is an error matching
// fs.ErrNotExist.
func ReadKnownBot(file string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", fmt.Errorf("the bot key file %s holds no key: delete it to pin the key in Redis again", file)
}

// TrustBotKey pins key (an age public key) as the bot's reply key in file,
// replacing any pinned before: file is written mode 0600 in a directory
// made mode 0700.
func TrustBotKey(file, key string) error {
	key = strings.TrimSpace(key)
	if _, err := seal.ParseRecipients(strings.NewReader(key)); err != nil || strings.ContainsAny(key, " \n") {
		return fmt.Errorf("%q is not an age public key (age1…)", key)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("pin the bot's key: %w", err)
	}
	tmp := file + ".tmp"
	text := "# The Vigil bot's reply key, pinned on first use; change it only with `vigil triage trust-bot-key KEY`.\n" + key + "\n"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return fmt.Errorf("pin the bot's key: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("pin the bot's key: %w", err)
	}
	return nil
}

// signReply signs the statement of a reply to case ref whose copy for the
// bot is forBot, and returns the statement's bytes and the signature.
func (s *Service) signReply(ref string, forBot []byte) (statement, signature []byte, err error) {
	st := sign.Statement{Action: sign.ActionReply, Signer: s.cfg.Staff, Time: sign.StatementTime(s.cfg.Now()),
		Subject: ref, Digest: sign.DigestOf(forBot)}
	if statement, err = st.Encode(); err != nil {
		return nil, nil, fmt.Errorf("your staff name %q must be your name in the staff keyring (a-z, 0-9, . _ -): %w", s.cfg.Staff, err)
	}
	if signature, err = s.cfg.Signer.Sign(st); err != nil {
		return nil, nil, fmt.Errorf("sign the reply: %w", err)
	}
	return statement, signature, nil
}

// Verdict is what VerifyAudit found about one audit entry.
type Verdict struct {
	store.AuditEntry
	// Status is "verified" (By signed it), "unsigned" (an action that is
	// signed now, recorded without a signature: from before signing), or
	// "invalid" (Why says why); "" for an entry of a kind never signed.
	Status string
	By     string
	Why    string
}

// signedKinds are the audit entries whose action is signed.
var signedKinds = map[string]sign.Action{"reply": sign.ActionReply}

// VerifyAudit checks the signed statement of every audit entry that has
// one against keyring: the statement parses, names the entry's case and
// staff member (and, for a reply, the reply action), and its signature is by
// that member's key with the role the action needs.
func VerifyAudit(entries []store.AuditEntry, keyring *sign.Keyring) []Verdict {
	out := make([]Verdict, len(entries))
	for i, e := range entries {
		out[i] = verifyEntry(e, keyring)
	}
	return out
}

func verifyEntry(e store.AuditEntry, keyring *sign.Keyring) Verdict {
	v := Verdict{AuditEntry: e}
	action, signedKind := signedKinds[e.What]
	if e.Statement == "" {
		if signedKind {
			v.Status = "unsigned"
		}
		return v
	}
	v.Status = "invalid"
	st, err := sign.ParseStatement([]byte(e.Statement))
	switch {
	case err != nil:
		v.Why = "the statement does not parse"
	case signedKind && st.Action != action:
		v.Why = fmt.Sprintf("the statement is for a %s, not a %s", st.Action, e.What)
	case e.Ref != "" && st.Subject != e.Ref:
		v.Why = fmt.Sprintf("the statement is for %s, not %s", st.Subject, e.Ref)
	case st.Signer != e.Who:
		v.Why = fmt.Sprintf("the statement is signed as %s, the entry names %s", st.Signer, e.Who)
	}
	if v.Why != "" {
		return v
	}
	entry, err := keyring.Verify(st, []byte(e.Signature))
	if err != nil {
		v.Why = err.Error()
		return v
	}
	v.Status, v.By = "verified", entry.Name
	return v
}
