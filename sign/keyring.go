package sign

import (
	"bufio"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA modulus a keyring accepts.
const MinRSABits = 3072

// maxKeyringLine bounds one keyring line: an RSA key of 16384 bits is about
// 2,800 characters.
const maxKeyringLine = 16 << 10

// acceptedKeyTypes are the key types a keyring accepts, in the order the
// error message lists them.
var acceptedKeyTypes = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoECDSA256,
	ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSA,
}

// Entry is one line of a keyring: a staff member, their roles and their key.
type Entry struct {
	Name       string // unique in the keyring; [a-z0-9][a-z0-9._-]{0,31}
	Roles      Role
	TelegramID int64 // 0 when the line has no telegram= option
	Line       int   // line number in the keyring file, from 1

	key ssh.PublicKey
}

// Has reports whether the entry has role r.
func (e Entry) Has(r Role) bool { return e.Roles&r == r && r != 0 }

// PublicKey returns the entry's key in the form of a .pub file without its
// comment ("ssh-ed25519 AAAA…"), as FromAgent takes it.
func (e Entry) PublicKey() string {
	if e.key == nil {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.key)))
}

// Fingerprint returns the key's fingerprint as `ssh-keygen -l` prints it
// ("SHA256:…").
func (e Entry) Fingerprint() string {
	if e.key == nil {
		return ""
	}
	return ssh.FingerprintSHA256(e.key)
}

// Keyring is the set of staff keys the bot trusts. It is read once and not
// changed, so it is safe for concurrent use; to change it, load a new one.
type Keyring struct {
	entries    []Entry
	byName     map[string]int
	byKey      map[string]int // key's wire bytes
	byTelegram map[int64]int
}

// KeyringError is a keyring line that cannot be used. Its message is one
// line that names the file (when known), the line number and the entry.
type KeyringError struct {
	File   string // empty when parsed from a reader
	Line   int
	Name   string // the entry's name, as written (possibly invalid)
	Reason string
}

func (e *KeyringError) Error() string {
	where := "sign: keyring"
	if e.File != "" {
		where += " " + strconv.Quote(e.File)
	}
	name := e.Name
	if !validName(name) {
		name = strconv.Quote(name)
	}
	return fmt.Sprintf("%s line %d (%s): %s", where, e.Line, name, e.Reason)
}

// LoadKeyring reads the keyring file at path; see ParseKeyring for its
// format. A file that group or others can write is refused, since whoever
// can write it can add a key; so is anything but a regular file.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sign: open keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sign: keyring %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sign: keyring %q is not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("sign: keyring %q is writable by group or others, and whoever can write it can add a key: run chmod 644 %s (or chmod 600)",
			path, shellQuote(path))
	}
	return parseKeyring(f, path)
}

// ParseKeyring reads a keyring: one entry per line,
//
//	NAME ROLES KEYTYPE BASE64KEY [telegram=ID] [# comment]
//
// for example
//
//	anna staff,coordinator ssh-ed25519 AAAAC3Nza… telegram=801 # laptop
//
// Fields are separated by spaces or tabs. NAME is 1 to 32 characters of
// a-z, 0-9, '.', '_' and '-', starting with a letter or digit, and unique.
// ROLES is a comma-separated set of staff and coordinator. KEYTYPE and
// BASE64KEY are the first two fields of an OpenSSH .pub line; the key types
// accepted are listed in the package documentation, and each key may appear
// once. After the key come options (only telegram=ID, a positive Telegram
// user id, unique) and then, optionally, a comment starting with '#'; the
// trailing comment of a .pub line must be put after '#'. Blank lines and
// lines starting with '#' are ignored. A keyring with no entry is refused.
//
// Errors are *KeyringError, one per file: the first bad line.
func ParseKeyring(r io.Reader) (*Keyring, error) { return parseKeyring(r, "") }

// parseKeyring is ParseKeyring naming file in its errors.
func parseKeyring(r io.Reader, file string) (*Keyring, error) {
	where := "sign: keyring"
	if file != "" {
		where += " " + strconv.Quote(file)
	}
	k := &Keyring{byName: map[string]int{}, byKey: map[string]int{}, byTelegram: map[int64]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKeyringLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		e, err := k.parseLine(n, line)
		if err != nil {
			err.File = file
			return nil, err
		}
		i := len(k.entries)
		k.entries = append(k.entries, e)
		k.byName[e.Name] = i
		k.byKey[string(e.key.Marshal())] = i
		if e.TelegramID != 0 {
			k.byTelegram[e.TelegramID] = i
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, &KeyringError{File: file, Line: n + 1, Reason: fmt.Sprintf("line longer than %d bytes", maxKeyringLine)}
	} else if err != nil {
		return nil, fmt.Errorf("%s: read: %w", where, err)
	}
	if len(k.entries) == 0 {
		return nil, fmt.Errorf("%s has no entry: add one line per staff member (NAME ROLES KEYTYPE BASE64KEY), see docs/signing.md", where)
	}
	return k, nil
}

// parseLine parses one non-blank, non-comment line, checking it against the
// entries before it.
func (k *Keyring) parseLine(n int, line string) (Entry, *KeyringError) {
	fields := strings.Fields(line)
	e := Entry{Name: fields[0], Line: n}
	fail := func(format string, args ...any) (Entry, *KeyringError) {
		return Entry{}, &KeyringError{Line: n, Name: e.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if !validName(e.Name) {
		return fail("bad name: use 1 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
	}
	if i, ok := k.byName[e.Name]; ok {
		return fail("duplicate name: also on line %d; one line per name", k.entries[i].Line)
	}
	if len(fields) < 4 {
		return fail("too few fields: want NAME ROLES KEYTYPE BASE64KEY [telegram=ID] [# comment]")
	}
	roles, err := parseRoles(fields[1])
	if err != nil {
		return fail("%v", err)
	}
	e.Roles = roles
	if e.key, err = parseKey(fields[2], fields[3]); err != nil {
		return fail("%v", err)
	}
	if i, ok := k.byKey[string(e.key.Marshal())]; ok {
		other := k.entries[i]
		return fail("the same key as %s on line %d: one key belongs to one name", other.Name, other.Line)
	}
	for _, f := range fields[4:] {
		if f[0] == '#' {
			break
		}
		opt, val, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return fail("%q after the key is not an option: options are telegram=ID; put a comment after #", f)
		case opt != "telegram":
			return fail("unknown option %q: the only option is telegram=ID", opt)
		case e.TelegramID != 0:
			return fail("telegram= given twice")
		}
		id, err := strconv.ParseInt(val, 10, 64)
		if err != nil || id <= 0 || strconv.FormatInt(id, 10) != val {
			return fail("bad telegram id %q: want the staff member's Telegram user id, a positive number", val)
		}
		if i, ok := k.byTelegram[id]; ok {
			other := k.entries[i]
			return fail("telegram id %d is also %s's (line %d)", id, other.Name, other.Line)
		}
		e.TelegramID = id
	}
	return e, nil
}

func parseRoles(s string) (Role, error) {
	var r Role
	for name := range strings.SplitSeq(s, ",") {
		var one Role
		switch name {
		case "staff":
			one = RoleStaff
		case "coordinator":
			one = RoleCoordinator
		default:
			return 0, fmt.Errorf("unknown role %q: roles are staff and coordinator, comma-separated", name)
		}
		if r&one != 0 {
			return 0, fmt.Errorf("role %s given twice", name)
		}
		r |= one
	}
	return r, nil
}

// parseKey parses the KEYTYPE and BASE64KEY fields and checks that the key
// is of an accepted type and size.
func parseKey(typ, b64 string) (ssh.PublicKey, error) {
	if !slices.Contains(acceptedKeyTypes, typ) {
		return nil, fmt.Errorf("key type %q is not accepted: use one of %s (RSA of at least %d bits)",
			typ, strings.Join(acceptedKeyTypes, ", "), MinRSABits)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("malformed key: not base64")
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("malformed key: %v", err)
	}
	if key.Type() != typ {
		return nil, fmt.Errorf("malformed key: the line says %s, the key is %s", typ, key.Type())
	}
	if typ == ssh.KeyAlgoRSA {
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return nil, errors.New("malformed key: not an RSA key")
		}
		pk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("malformed key: not an RSA key")
		}
		if bits := pk.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d are needed (ssh-keygen -t rsa -b %d, or better -t ed25519)", bits, MinRSABits, MinRSABits)
		}
	}
	return key, nil
}

// ByName returns the entry named name.
func (k *Keyring) ByName(name string) (Entry, bool) {
	i, ok := k.byName[name]
	if !ok {
		return Entry{}, false
	}
	return k.entries[i], true
}

// ByKey returns the entry of a public key given as in a .pub file
// ("ssh-ed25519 AAAA… [comment]"). A malformed key matches no entry.
func (k *Keyring) ByKey(pub string) (Entry, bool) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return Entry{}, false
	}
	return k.byWire(key.Marshal())
}

func (k *Keyring) byWire(blob []byte) (Entry, bool) {
	i, ok := k.byKey[string(blob)]
	if !ok {
		return Entry{}, false
	}
	return k.entries[i], true
}

// ByTelegram returns the entry whose telegram= option is id.
func (k *Keyring) ByTelegram(id int64) (Entry, bool) {
	i, ok := k.byTelegram[id]
	if !ok || id == 0 {
		return Entry{}, false
	}
	return k.entries[i], true
}

// Entries returns the entries in file order.
func (k *Keyring) Entries() []Entry { return slices.Clone(k.entries) }

// Counts returns how many entries have the staff role and how many the
// coordinator role (an entry with both counts in each), for the bot's
// start-up log line.
func (k *Keyring) Counts() (staff, coordinators int) {
	for _, e := range k.entries {
		if e.Has(RoleStaff) {
			staff++
		}
		if e.Has(RoleCoordinator) {
			coordinators++
		}
	}
	return staff, coordinators
}

// shellQuote quotes a path for a command the user is told to run, so that
// one with spaces or quotes can be pasted as it is. A path with a control
// character is Go-quoted instead, so that the message stays one line.
func shellQuote(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
