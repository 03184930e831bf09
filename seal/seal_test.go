package seal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/plugin"

	"github.com/vigil-hrd/vigil/seal"
)

type staff struct {
	file, recipient, path string
}

func newStaff(t *testing.T) staff {
	t.Helper()
	file, pub, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "staff.key")
	if err := seal.WriteNewFile(path, []byte(file)); err != nil {
		t.Fatal(err)
	}
	return staff{file: file, recipient: pub, path: path}
}

func recipients(t *testing.T, ss ...staff) *seal.Recipients {
	t.Helper()
	var b strings.Builder
	b.WriteString("# mission staff\n\n")
	for _, s := range ss {
		b.WriteString(s.recipient + "\n")
	}
	rs, err := seal.ParseRecipients(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func identities(t *testing.T, s staff) []seal.Identity {
	t.Helper()
	ids, err := seal.LoadIdentities(s.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSealOpensOnlyForRecipients(t *testing.T) {
	alice, bob, eve := newStaff(t), newStaff(t), newStaff(t)
	rs := recipients(t, alice, bob)
	msg := []byte(`{"description":"they came at night"}`)
	sealed, err := rs.Seal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("came at night")) {
		t.Fatal("plaintext visible in sealed output")
	}
	for _, s := range []staff{alice, bob} {
		got, err := seal.Open(sealed, identities(t, s)...)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("recipient cannot open: %v", err)
		}
	}
	if _, err := seal.Open(sealed, identities(t, eve)...); !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("outsider: got %v, want ErrWrongIdentity", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-5] ^= 1
	if _, err := seal.Open(tampered, identities(t, alice)...); !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("tampered: got %v, want ErrTampered", err)
	}
}

func TestParseRecipientsRefusesEmptyAndGarbage(t *testing.T) {
	secret := strings.Split(newStaff(t).file, "\n")[1]
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "no recipients"},
		{"only comments", "# nobody\n\n", "no recipients"},
		{"garbage", "not-a-key\n", "line 1: not an age public key"},
		{"a secret key", "# staff\n" + secret + "\n", "line 2: not an age public key"},
		{"a damaged key", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n", "line 1: not a valid age public key"},
		{"a damaged post-quantum key", "age1pq1qqqq\n", "line 1: not a valid post-quantum public key"},
		{"a plugin not installed", plugin.EncodeRecipient("nosuchplugin", []byte("key")) + "\n", "line 1: the key belongs to the age plugin nosuchplugin: install age-plugin-nosuchplugin"},
	} {
		_, err := seal.ParseRecipients(strings.NewReader(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error quotes a secret key", tc.name)
		}
	}
}

func TestKeysBindValuesToTheirName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "bot.secret")
	k, created, err := seal.LoadOrCreateKeys(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v", fi.Mode().Perm(), err)
	}
	sealed := k.Seal("draft:a", []byte("secret words"))
	if bytes.Contains(sealed, []byte("secret words")) {
		t.Fatal("plaintext visible")
	}
	again, created, err := seal.LoadOrCreateKeys(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	if got, err := again.Open("draft:a", sealed); err != nil || string(got) != "secret words" {
		t.Fatalf("reopen after reload: %q %v", got, err)
	}
	if _, err := again.Open("draft:b", sealed); !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("moved value opened: %v", err)
	}
	if _, err := again.Open("draft:a", sealed[:10]); !errors.Is(err, seal.ErrTampered) {
		t.Fatalf("short value: %v", err)
	}
	if k.Hash("chat", 42) != again.Hash("chat", 42) || k.Hash("chat", 42) == k.Hash("chat", 43) || k.Hash("chat", 42) == k.Hash("user", 42) {
		t.Fatal("hash is not a stable, separated handle")
	}
	if strings.Contains(k.Hash("chat", 123456789), "123456789") {
		t.Fatal("hash leaks the id")
	}

	other, _, err := seal.LoadOrCreateKeys(filepath.Join(t.TempDir(), "other.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open("draft:a", sealed); err == nil {
		t.Fatal("another bot's key opened the value")
	}
	if other.Hash("chat", 42) == k.Hash("chat", 42) {
		t.Fatal("hash does not depend on the secret")
	}
}

func TestSecretFileChecks(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.secret")
	if _, _, err := seal.LoadOrCreateKeys(open); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o644)
	if _, _, err := seal.LoadOrCreateKeys(open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable secret accepted: %v", err)
	}
	wrong := filepath.Join(dir, "wrong.secret")
	os.WriteFile(wrong, []byte("AGE-SECRET-KEY-1XYZ\n"), 0o600)
	if _, _, err := seal.LoadOrCreateKeys(wrong); err == nil {
		t.Fatal("foreign file accepted as secret")
	}
	if err := seal.WriteNewFile(wrong, []byte("x")); err == nil {
		t.Fatal("WriteNewFile overwrote a file")
	}
}

func BenchmarkSealReport(b *testing.B) {
	file, pub, _ := seal.NewIdentity()
	_ = file
	rs, _ := seal.ParseRecipients(strings.NewReader(pub + "\n"))
	msg := bytes.Repeat([]byte("a"), 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.Seal(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeysSealOpenDraft(b *testing.B) {
	secret := bytes.Repeat([]byte{7}, 32)
	k, _ := seal.NewKeys(secret)
	msg := bytes.Repeat([]byte("a"), 1024)
	b.ReportAllocs()
	for b.Loop() {
		s := k.Seal("draft:x", msg)
		if _, err := k.Open("draft:x", s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIdentityFileOpenToOthersIsRefused: as ssh with a private key, an
// identity file that its group or others may read or change is refused,
// naming the file and the chmod that fixes it.
func TestIdentityFileOpenToOthersIsRefused(t *testing.T) {
	file, _, err := seal.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		mode os.FileMode
		ok   bool
		fix  string // the command shown, for a file called name in dir
	}{
		{"owner.key", 0o600, true, ""},
		{"read-only.key", 0o400, true, ""},
		{"group.key", 0o640, false, "chmod 600 " + filepath.Join(dir, "group.key")},
		{"world.key", 0o644, false, "chmod 600 " + filepath.Join(dir, "world.key")},
		{"others.key", 0o604, false, "chmod 600 " + filepath.Join(dir, "others.key")},
		{"group-writes.key", 0o620, false, "chmod 600 " + filepath.Join(dir, "group-writes.key")},
		{"my staff's.key", 0o644, false, `chmod 600 '` + filepath.Join(dir, `my staff'\''s.key`) + `'`},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		ids, err := seal.LoadIdentities(path, nil)
		if tc.ok {
			if err != nil || len(ids) != 1 {
				t.Errorf("%s (%#o): %v", tc.name, tc.mode, err)
			}
			continue
		}
		var exposed *seal.ExposedError
		if !errors.As(err, &exposed) || ids != nil || !strings.HasSuffix(err.Error(), tc.fix) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s (%#o): %v; want it refused, ending with %q", tc.name, tc.mode, err, tc.fix)
		}
	}
}
