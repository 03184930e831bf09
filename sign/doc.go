// Package sign binds the staff's actions that reach defenders to a signature
// by a key only the staff member holds, so that the bot speaks in the
// mission's name only when a staff member said so.
//
// It is the only package that imports golang.org/x/crypto/ssh and
// golang.org/x/crypto/ssh/agent, and it imports nothing else of Vigil, nor of
// Telegram, Redis or age: it signs and verifies bytes.
//
// # The pieces
//
//   - A Keyring lists who may sign, one line per staff member, in a file that
//     lives on the bot's own disk, never in Redis (LoadKeyring). A staff
//     member pastes the line of their OpenSSH public key (.pub) into it:
//
//     NAME ROLES KEYTYPE BASE64KEY [telegram=ID] [# comment]
//
//   - A Statement is what is signed: an action (reply, broadcast, guidance,
//     approve, stop), the signer's name, a time, a subject (a case reference
//     or a publication id), the countries of a publication, and the SHA-256
//     of the exact text(s). Statement.Encode gives its canonical bytes.
//
//   - A Signer (FromAgent, FromFile) signs a Statement with an OpenSSH key and
//     returns an armored signature in OpenSSH's SSHSIG format, under the
//     namespace Namespace: the format of `ssh-keygen -Y sign`, so that a
//     signature can be made or checked by hand with ssh-keygen.
//
//   - Keyring.Verify checks such a signature against a Statement the caller
//     built from what it is about to do.
//
// # Statement layout
//
// Statement.Encode writes exactly seven lines, each ending in "\n", in this
// order, with one space after each colon:
//
//	vigil-statement/1
//	action: reply
//	signer: anna
//	time: 2026-12-07T21:00:00Z
//	subject: K7Q2-XM4P
//	countries:
//	digest: sha256:<64 lowercase hex digits>
//
// time is UTC to the second (RFC 3339, "Z"); countries are ISO 3166-1
// alpha-2 codes in upper case, sorted and comma-separated without spaces,
// present for broadcast, guidance and approve and empty (the line then ends
// in ": ") for reply and stop. Every field is checked against its charset, so
// no field can hold a newline or a control character: two different
// statements never have the same bytes, and ParseStatement accepts only
// bytes that Encode would write.
//
// # What a verified statement proves
//
// When Verify returns an Entry without error, the holder of that entry's key
// (a private key file, an agent, or a FIDO2 token touched by a person) signed
// exactly these statement bytes under Namespace; the key is in the keyring
// the bot loaded; the statement's signer is that entry's name; and the entry
// has the role the action needs (reply: staff; broadcast, guidance, approve,
// stop: coordinator). Whoever can write to Redis but holds no staff key can
// therefore not make the bot act on a statement: not change a text (its
// digest changes), not move a signature to another case or publication (the
// subject changes), not claim another staff member's name (the signer must
// match the key).
//
// It does not prove:
//
//   - freshness or uniqueness: a signed statement can be presented again.
//     The caller must refuse one it has already acted on, and may bound the
//     age of Statement.Time; the time is the signer's claim, not a
//     timestamp anyone vouches for;
//   - that the key is still in the hands of its owner: a stolen key signs
//     until its line is removed from the keyring;
//   - anything about the text but its SHA-256: what was digested (the plain
//     or the sealed text of a reply, every language of a publication) is
//     the caller's contract, stated where the statement is built.
//
// # Keys
//
// Accepted key types: ssh-ed25519, sk-ssh-ed25519@openssh.com,
// ecdsa-sha2-nistp256, sk-ecdsa-sha2-nistp256@openssh.com (the sk- types are
// FIDO2 hardware keys, `ssh-keygen -t ed25519-sk`) and ssh-rsa of at least
// 3072 bits, whose signatures must use rsa-sha2-256 or rsa-sha2-512 (never
// SHA-1). Signatures by sk- keys must carry the user-presence flag (the key
// was touched); golang.org/x/crypto/ssh refuses those that do not.
//
// Errors from Verify match ErrBadSignature, ErrUntrustedKey, ErrWrongSigner
// or ErrRole with errors.Is. See docs/signing.md for the staff's side.
package sign
