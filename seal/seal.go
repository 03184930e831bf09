// Package seal is the only package that encrypts, and it says who can read
// what it writes.
//
//   - Reports, notes and evidence are sealed with age (filippo.io/age) to the
//     mission's recipients (Recipients.Seal). The output is a standard binary
//     age file: `age -d -i staff.key` decrypts it. The bot holds only public
//     keys, so once a report is sealed the bot server cannot read it again;
//     only a holder of a staff identity can (Open).
//   - Staff keys are classic (X25519), post-quantum (age 1.3's ML-KEM-768 +
//     X25519 hybrid), or on a hardware key reached through its age plugin
//     (age-plugin-yubikey); a recipients file holds post-quantum keys only or
//     none, since a classic key beside them would undo their protection.
//   - Drafts, settings and reply routing, which the bot itself must read back,
//     are sealed with the bot's own secret (Keys.Seal): XChaCha20-Poly1305
//     under a key derived from the secret file, bound to the name of the place
//     the value is stored in, so a value moved to another key does not open.
//   - Chat ids are never stored; Keys.Hash gives a keyed hash (HMAC-SHA256) to
//     use as a stable handle instead.
//
// Errors from Open distinguish a wrong identity (ErrWrongIdentity) from a
// damaged or tampered file (ErrTampered) and from a hardware key's plugin
// that failed (*PluginError).
package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

// ErrWrongIdentity means none of the identities given can open the file: it
// was sealed to other recipients.
var ErrWrongIdentity = errors.New("seal: none of the identities can open this file")

// ErrTampered means the file is damaged or was changed after it was sealed.
var ErrTampered = errors.New("seal: the file is damaged or was tampered with")

// ErrNoRecipients means a recipients file holds no key.
var ErrNoRecipients = errors.New("no recipients: add at least one staff public key (age1…)")

// Recipients are the public keys of the mission staff that reports are
// sealed to. They are all post-quantum or all classic: age will not seal
// to both kinds at once.
type Recipients struct {
	list []age.Recipient
	keys []string
	pq   bool
}

// ParseRecipients reads recipients in the format of `age -R`: one per line,
// blank lines and lines starting with # ignored. At least one is required.
// A line is a classic key (age1…), a post-quantum one (age1pq1…), or a
// hardware key's, sealed to by its age plugin (age1NAME1…, such as
// age1yubikey1…), which must then be installed on this machine.
// Post-quantum keys and others in one file are refused: age would not seal
// to both, as the classic keys would undo the post-quantum protection.
func ParseRecipients(r io.Reader) (*Recipients, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<24))
	if err != nil {
		return nil, fmt.Errorf("seal: read recipients: %w", err)
	}
	rs := &Recipients{}
	firstClassic, firstPQ := 0, 0
	for n, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rec, pq, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("seal: parse recipients: line %d: %w", n+1, err)
		}
		switch {
		case pq && firstPQ == 0:
			firstPQ = n + 1
		case !pq && firstClassic == 0:
			firstClassic = n + 1
		}
		rs.list = append(rs.list, rec)
		rs.keys = append(rs.keys, line)
	}
	if len(rs.list) == 0 {
		return nil, fmt.Errorf("seal: parse recipients: %w", ErrNoRecipients)
	}
	if firstPQ != 0 && firstClassic != 0 {
		return nil, fmt.Errorf("seal: parse recipients: line %d is a post-quantum key (age1pq1…) and line %d a classic one: "+
			"age will not seal to both, as the classic keys would undo the post-quantum protection; "+
			"give every staff member a post-quantum identity (vigil keygen --pq) and list only those, or use only classic keys",
			firstPQ, firstClassic)
	}
	rs.pq = firstPQ != 0
	return rs, nil
}

// parseRecipient reads one public key, and says whether it is post-quantum.
// Errors do not quote the line: a post-quantum key is 2,000 characters.
func parseRecipient(line string) (r age.Recipient, pq bool, err error) {
	switch {
	case strings.HasPrefix(line, "age1pq1"):
		if r, err = age.ParseHybridRecipient(line); err != nil {
			return nil, false, errors.New("not a valid post-quantum public key (was a character lost in copying?)")
		}
		return r, true, nil
	case strings.HasPrefix(line, "age1") && strings.Count(line, "1") > 1:
		// Bech32 data has no "1": a second one ends a plugin's name.
		p, err := plugin.NewRecipient(line, &plugin.ClientUI{})
		if err != nil {
			return nil, false, errors.New("not a valid age plugin public key (age1NAME1…)")
		}
		if err := pluginInstalled(p.Name()); err != nil {
			return nil, false, err
		}
		return p, false, nil
	case strings.HasPrefix(line, "age1"):
		if r, err = age.ParseX25519Recipient(line); err != nil {
			return nil, false, errors.New("not a valid age public key (was a character lost in copying?)")
		}
		return r, false, nil
	default:
		// Perhaps a secret key pasted by mistake: not quoted.
		return nil, false, errors.New("not an age public key (age1…)")
	}
}

// LoadRecipients reads a recipients file; see ParseRecipients.
func LoadRecipients(path string) (*Recipients, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open recipients file: %w", err)
	}
	defer f.Close()
	return ParseRecipients(f)
}

// Keys returns the recipients' public keys as written in the file.
func (rs *Recipients) Keys() []string { return append([]string(nil), rs.keys...) }

// PostQuantum reports whether the recipients are post-quantum (age1pq1…);
// otherwise they are all classic.
func (rs *Recipients) PostQuantum() bool { return rs.pq }

// With returns the recipients and one more key, such as the bot's. A key of
// the other kind (classic among post-quantum ones, or the reverse) is
// refused, as age would refuse to seal to both.
func (rs *Recipients) With(recipient string) (*Recipients, error) {
	one, err := ParseRecipients(strings.NewReader(recipient))
	if err != nil {
		return nil, err
	}
	if one.pq != rs.pq {
		return nil, fmt.Errorf("seal: the key %s is %s and the recipients are %s: age will not seal to both kinds",
			Fingerprint(recipient), kind(one.pq), kind(rs.pq))
	}
	return &Recipients{list: append(rs.list[:len(rs.list):len(rs.list)], one.list...),
		keys: append(rs.Keys(), one.keys...), pq: rs.pq}, nil
}

func kind(pq bool) string {
	if pq {
		return "post-quantum"
	}
	return "classic"
}

// Seal encrypts plaintext to every recipient and returns an age file.
func (rs *Recipients) Seal(plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plaintext) + 200*len(rs.list) + 64)
	w, err := age.Encrypt(&buf, rs.list...)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// Identity is a staff member's secret key.
type Identity = age.Identity

// Either returns one Identity that opens what any of ids opens: the bot's
// reply keys, classic and post-quantum, as one.
func Either(ids ...Identity) Identity { return either(ids) }

type either []Identity

func (e either) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, id := range e {
		key, err := id.Unwrap(stanzas)
		if !errors.Is(err, age.ErrIncorrectIdentity) {
			return key, err
		}
	}
	return nil, age.ErrIncorrectIdentity
}

// NewIdentity generates a staff identity. It returns the identity file's
// text (a comment line and the AGE-SECRET-KEY line, as age-keygen writes it)
// and the public recipient to put in the bot's recipients file. The key is
// X25519, which every age release can read.
func NewIdentity() (file, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("seal: generate identity: %w", err)
	}
	pub := id.Recipient().String()
	return fmt.Sprintf("# public key: %s\n%s\n", pub, id.String()), pub, nil
}

// NewPostQuantumIdentity is NewIdentity for a post-quantum identity: the
// hybrid ML-KEM-768 + X25519 key of age 1.3 (AGE-SECRET-KEY-PQ-1…), whose
// recipient (age1pq1…) is about 2,000 characters long. It resists a future
// quantum computer; age before 1.3 cannot use it without age-plugin-pq.
func NewPostQuantumIdentity() (file, recipient string, err error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return "", "", fmt.Errorf("seal: generate post-quantum identity: %w", err)
	}
	pub := id.Recipient().String()
	return fmt.Sprintf("# public key: %s\n%s\n", pub, id.String()), pub, nil
}

// LoadIdentities reads an identity file as `age -i` does. A file its group
// or others may read or change is refused (an *ExposedError, which names
// the chmod that fixes it), as ssh refuses such a private key: the
// identity opens every report sealed to it. Hardware keys' identities
// (AGE-PLUGIN-…) need term, where their plugin talks to the staff member;
// with a nil term they are refused.
func LoadIdentities(path string, term *Terminal) ([]Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open identity file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: identity file %s: %w", path, err)
	}
	if err := checkPrivate(fi, path, "identity file"); err != nil {
		return nil, err
	}
	ids, err := parseIdentities(f, term)
	if err != nil {
		return nil, fmt.Errorf("seal: read identity file %s: %w", path, err)
	}
	return ids, nil
}

// Open decrypts an age file with any of the identities. A hardware key's
// plugin failing is a *PluginError, not ErrTampered.
func Open(sealed []byte, ids ...Identity) ([]byte, error) {
	r, err := decrypt(bytes.NewReader(sealed), ids)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return out, nil
}

// SealTo returns a writer that encrypts everything written to it to every
// recipient, as an age file written to dst in 64 KiB chunks: a file of any
// size is sealed without being held whole in memory. The caller must Close
// it to finish the file.
func (rs *Recipients) SealTo(dst io.Writer) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, rs.list...)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	return w, nil
}

// OpenStream returns a reader of the plaintext of an age file read from src.
// Errors while reading wrap ErrTampered.
func OpenStream(src io.Reader, ids ...Identity) (io.Reader, error) {
	r, err := decrypt(src, ids)
	if err != nil {
		return nil, err
	}
	return tamperReader{r}, nil
}

// decrypt starts decrypting, sorting its failures: ErrWrongIdentity, a
// *PluginError, or ErrTampered.
func decrypt(src io.Reader, ids []Identity) (io.Reader, error) {
	r, err := age.Decrypt(src, ids...)
	var none *age.NoIdentityMatchError
	var pe *PluginError
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &none):
		return nil, ErrWrongIdentity
	case errors.As(err, &pe):
		return nil, pe
	default:
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
}

type tamperReader struct{ r io.Reader }

func (t tamperReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return n, err
}
