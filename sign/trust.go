package sign

import (
	"fmt"
	"sync/atomic"
)

// Trust is the keyring a bot process trusts now. The bot reads it from its
// own disk at start and again when told to (SIGHUP: Reload); nothing in
// Redis can change it. A reload that fails keeps the keyring in force, so
// a mistyped edit never leaves the bot trusting nobody or anybody. It is
// safe for concurrent use.
type Trust struct {
	path string
	cur  atomic.Pointer[Keyring]
}

// LoadTrust reads the keyring file at path (see LoadKeyring).
func LoadTrust(path string) (*Trust, error) {
	k, err := LoadKeyring(path)
	if err != nil {
		return nil, err
	}
	t := &Trust{path: path}
	t.cur.Store(k)
	return t, nil
}

// Trusting returns a Trust that holds k and has no file to reload from.
func Trusting(k *Keyring) *Trust {
	t := &Trust{}
	t.cur.Store(k)
	return t
}

// Keyring returns the keyring in force; nil when t is nil (no keyring:
// nobody is trusted).
func (t *Trust) Keyring() *Keyring {
	if t == nil {
		return nil
	}
	return t.cur.Load()
}

// Reload reads the keyring file again and, when it is valid, puts it in
// force. On error the keyring in force stays.
func (t *Trust) Reload() (*Keyring, error) {
	if t.path == "" {
		return nil, fmt.Errorf("sign: reload keyring: it was not read from a file")
	}
	k, err := LoadKeyring(t.path)
	if err != nil {
		return nil, err
	}
	t.cur.Store(k)
	return k, nil
}
