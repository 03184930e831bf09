package seal

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// secretHeader starts a secret file, so that a file of the wrong kind is
// refused instead of being used as a key.
const secretHeader = "VIGIL-BOT-SECRET-V1:"

// Keys are the bot's own keys, derived from one 32-byte secret.
type Keys struct {
	aead    cipher.AEAD
	hashKey []byte
	macs    sync.Pool
}

// NewKeys derives the bot's keys from a 32-byte secret.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) != 32 {
		return nil, fmt.Errorf("seal: bot secret must be 32 bytes, got %d", len(secret))
	}
	boxKey := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte("vigil box v1")), boxKey); err != nil {
		return nil, fmt.Errorf("seal: derive box key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(boxKey)
	if err != nil {
		return nil, fmt.Errorf("seal: box cipher: %w", err)
	}
	k := &Keys{aead: aead, hashKey: make([]byte, 32)}
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte("vigil handle v1")), k.hashKey); err != nil {
		return nil, fmt.Errorf("seal: derive hash key: %w", err)
	}
	k.macs.New = func() any { return hmac.New(sha256.New, k.hashKey) }
	return k, nil
}

// LoadOrCreateKeys reads the bot's secret file, creating it (mode 0600, in a
// new 0700 directory if needed) with a fresh random secret when it does not
// exist. created tells which happened. A file readable by others is refused.
func LoadOrCreateKeys(path string) (k *Keys, created bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, false, fmt.Errorf("seal: generate bot secret: %w", err)
		}
		if err := writeNew(path, []byte(secretHeader+base64.RawURLEncoding.EncodeToString(secret)+"\n")); err != nil {
			return nil, false, err
		}
		k, err := NewKeys(secret)
		return k, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("seal: read bot secret: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		if err := checkPrivate(fi, path, "bot secret"); err != nil {
			return nil, false, err
		}
	}
	text := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(text, secretHeader) {
		return nil, false, fmt.Errorf("seal: %s is not a Vigil bot secret file", path)
	}
	secret, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(text, secretHeader))
	if err != nil {
		return nil, false, fmt.Errorf("seal: %s is not a Vigil bot secret file: bad encoding", path)
	}
	k, err = NewKeys(secret)
	return k, false, err
}

// writeNew creates path with mode 0600, refusing to overwrite.
func writeNew(path string, content []byte) error {
	if dir := dirOf(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("seal: create directory for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: create %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	return f.Close()
}

// WriteNewFile creates path with mode 0600 and writes content, refusing to
// overwrite an existing file. It is how key material is written.
func WriteNewFile(path string, content []byte) error { return writeNew(path, content) }

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return ""
}

// Seal encrypts plaintext for the bot alone, bound to name (the place it will
// be stored under): Open with another name fails.
func (k *Keys) Seal(name string, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("seal: system random source failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return k.aead.Seal(nonce, nonce, plaintext, []byte(name))
}

// Open decrypts what Seal wrote under the same name.
func (k *Keys) Open(name string, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, ErrTampered
	}
	out, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(name))
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

var handleEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Hash returns a stable handle for an identifier of the given kind (for
// example "chat"): the first 128 bits of HMAC-SHA256 under the bot's key, in
// base32. Without the bot's secret a handle cannot be linked to its id.
func (k *Keys) Hash(kind string, id int64) string {
	m := k.macs.Get().(hash.Hash)
	defer k.macs.Put(m)
	m.Reset()
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write(strconv.AppendInt(nil, id, 10))
	sum := m.Sum(nil)
	return strings.ToLower(handleEncoding.EncodeToString(sum[:16]))
}

// MAC returns an HMAC-SHA256 of msg under a key derived from the bot's
// secret for domain (a name of what is authenticated, such as
// "vigil telegram approval v1"): whoever lacks the bot's secret file cannot
// make one, and a MAC made for one domain is useless in another. Check one
// with hmac.Equal against MAC of the same message.
func (k *Keys) MAC(domain string, msg []byte) []byte {
	// The domain's key is HMAC(hashKey, "mac\x00" domain): apart from the
	// handles Hash makes, which hash a kind, a NUL and a number.
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte("mac\x00" + domain))
	key := m.Sum(nil)
	k.macs.Put(m)
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)
}
