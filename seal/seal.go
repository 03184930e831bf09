// Package seal is the only package that encrypts, and it says who can read
// what it writes.
//
//   - Reports, notes and evidence are sealed with age (filippo.io/age) to the
//     mission's recipients (Recipients.Seal). The output is a standard binary
//     age file: `age -d -i staff.key` decrypts it. The bot holds only public
//     keys, so once a report is sealed the bot server cannot read it again;
//     only a holder of a staff identity can (Open).
//   - Drafts, settings and reply routing, which the bot itself must read back,
//     are sealed with the bot's own secret (Keys.Seal): XChaCha20-Poly1305
//     under a key derived from the secret file, bound to the name of the place
//     the value is stored in, so a value moved to another key does not open.
//   - Chat ids are never stored; Keys.Hash gives a keyed hash (HMAC-SHA256) to
//     use as a stable handle instead.
//
// Errors from Open distinguish a wrong identity (ErrWrongIdentity) from a
// damaged or tampered file (ErrTampered).
package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// ErrWrongIdentity means none of the identities given can open the file: it
// was sealed to other recipients.
var ErrWrongIdentity = errors.New("seal: none of the identities can open this file")

// ErrTampered means the file is damaged or was changed after it was sealed.
var ErrTampered = errors.New("seal: the file is damaged or was tampered with")

// Recipients are the public keys of the mission staff that reports are
// sealed to.
type Recipients struct {
	list []age.Recipient
	keys []string
}

// ParseRecipients reads recipients in the format of `age -R`: one per line,
// blank lines and lines starting with # ignored. At least one is required.
func ParseRecipients(r io.Reader) (*Recipients, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("seal: read recipients: %w", err)
	}
	list, err := age.ParseRecipients(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("seal: parse recipients: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("seal: no recipients: add at least one staff public key (age1…)")
	}
	rs := &Recipients{list: list}
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			rs.keys = append(rs.keys, line)
		}
	}
	return rs, nil
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

// LoadIdentities reads an identity file as `age -i` does. A file its group
// or others may read or change is refused (an *ExposedError, which names
// the chmod that fixes it), as ssh refuses such a private key: the
// identity opens every report sealed to it.
func LoadIdentities(path string) ([]Identity, error) {
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
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("seal: read identity file %s: %w", path, err)
	}
	return ids, nil
}

// Open decrypts an age file with any of the identities.
func Open(sealed []byte, ids ...Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		var none *age.NoIdentityMatchError
		if errors.As(err, &none) {
			return nil, ErrWrongIdentity
		}
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
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
	r, err := age.Decrypt(src, ids...)
	if err != nil {
		var none *age.NoIdentityMatchError
		if errors.As(err, &none) {
			return nil, ErrWrongIdentity
		}
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return tamperReader{r}, nil
}

type tamperReader struct{ r io.Reader }

func (t tamperReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return n, err
}
