package sign

import (
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseKeyring(t *testing.T) {
	anna, bob := newEd25519(t), newECDSA(t, elliptic.P256())
	_, carl := newRSA(t, MinRSABits)
	tok := authorized(t, newToken(t, ssh.KeyAlgoSKED25519, 1).PublicKey())
	text := strings.Join([]string{
		"# Vigil staff keyring",
		"",
		"anna staff,coordinator " + anna + " telegram=801 # laptop",
		"  bob\tstaff " + bob + "\r",
		"carl coordinator,staff " + carl + " #",
		"d.e_f-9 coordinator " + tok,
		"   # the end",
	}, "\n")
	k, err := ParseKeyring(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	for _, tc := range []struct {
		name     string
		roles    Role
		telegram int64
		line     int
		pub      string
	}{
		{"anna", RoleStaff | RoleCoordinator, 801, 3, anna},
		{"bob", RoleStaff, 0, 4, bob},
		{"carl", RoleStaff | RoleCoordinator, 0, 5, carl},
		{"d.e_f-9", RoleCoordinator, 0, 6, tok},
	} {
		e, ok := k.ByName(tc.name)
		if !ok {
			t.Fatalf("ByName(%q): not found", tc.name)
		}
		if e.Roles != tc.roles || e.TelegramID != tc.telegram || e.Line != tc.line || e.PublicKey() != tc.pub {
			t.Errorf("ByName(%q) = {%v %d line %d %s}, want {%v %d line %d %s}",
				tc.name, e.Roles, e.TelegramID, e.Line, e.PublicKey(), tc.roles, tc.telegram, tc.line, tc.pub)
		}
		if got, ok := k.ByKey(tc.pub + " someone@laptop"); !ok || got.Name != tc.name {
			t.Errorf("ByKey(%s's key) = %q, %v", tc.name, got.Name, ok)
		}
	}
	if e, ok := k.ByTelegram(801); !ok || e.Name != "anna" {
		t.Errorf("ByTelegram(801) = %q, %v; want anna", e.Name, ok)
	}
	for _, id := range []int64{0, 802, -801} {
		if e, ok := k.ByTelegram(id); ok {
			t.Errorf("ByTelegram(%d) = %q, want none", id, e.Name)
		}
	}
	if _, ok := k.ByName("eve"); ok {
		t.Error("ByName(eve) found an entry")
	}
	if _, ok := k.ByKey(newEd25519(t)); ok {
		t.Error("ByKey(a key not in the keyring) found an entry")
	}
	if _, ok := k.ByKey("ssh-ed25519 not-base64"); ok {
		t.Error("ByKey(a malformed key) found an entry")
	}
	if staff, coord := k.Counts(); staff != 3 || coord != 3 {
		t.Errorf("Counts() = %d staff, %d coordinators; want 3, 3", staff, coord)
	}
	if n := len(k.Entries()); n != 4 {
		t.Errorf("Entries() has %d entries, want 4", n)
	}
}

// TestParseKeyringErrors: every bad line is refused with one line that
// names its number and its entry.
func TestParseKeyringErrors(t *testing.T) {
	anna, bob := newEd25519(t), newEd25519(t)
	annaType, annaB64, _ := strings.Cut(anna, " ")
	ecdsa := newECDSA(t, elliptic.P256())
	_, ecdsaB64, _ := strings.Cut(ecdsa, " ")
	_, small := newRSA(t, 2048)
	first := "anna staff " + anna + " telegram=801"
	for _, tc := range []struct {
		name     string
		lines    []string
		wantLine int
		wantName string // as the message shows it
		want     string
	}{
		{"too few fields", []string{"anna staff " + annaType}, 1, "anna", "too few fields"},
		{"key not base64", []string{"anna staff ssh-ed25519 AAAA!!!!"}, 1, "anna", "malformed key"},
		{"key cut short", []string{"anna staff " + annaType + " " + annaB64[:30]}, 1, "anna", "malformed key"},
		{"key of another type than said", []string{"anna staff ssh-ed25519 " + ecdsaB64}, 1, "anna", "the line says ssh-ed25519, the key is ecdsa-sha2-nistp256"},
		{"key type not accepted", []string{"anna staff " + newECDSA(t, elliptic.P384())}, 1, "anna", `key type "ecdsa-sha2-nistp384" is not accepted`},
		{"DSA", []string{"anna staff ssh-dss AAAAB3NzaC1kc3M="}, 1, "anna", `key type "ssh-dss" is not accepted`},
		{"RSA too small", []string{"anna staff " + small}, 1, "anna", "RSA key of 2048 bits: at least 3072"},
		{"duplicate name", []string{first, "", "bob staff " + bob, "anna coordinator " + newEd25519(t)}, 4, "anna", "duplicate name: also on line 1"},
		{"same key under two names", []string{first, "# bob", "bob staff " + anna}, 3, "bob", "the same key as anna on line 1"},
		{"same key with another comment", []string{first, "bob staff " + anna + " # bob's"}, 2, "bob", "the same key as anna on line 1"},
		{"unknown role", []string{first, "bob admin " + bob}, 2, "bob", `unknown role "admin"`},
		{"role in capitals", []string{"bob Staff " + bob}, 1, "bob", `unknown role "Staff"`},
		{"empty role", []string{"bob staff, " + bob}, 1, "bob", `unknown role ""`},
		{"role twice", []string{"bob staff,staff " + bob}, 1, "bob", "role staff given twice"},
		{"unknown option", []string{"bob staff " + bob + " from=10.0.0.1"}, 1, "bob", `unknown option "from"`},
		{"pub comment not after #", []string{"bob staff " + bob + " bob@laptop"}, 1, "bob", `"bob@laptop" after the key is not an option`},
		{"telegram id not a number", []string{"bob staff " + bob + " telegram=abc"}, 1, "bob", `bad telegram id "abc"`},
		{"telegram id empty", []string{"bob staff " + bob + " telegram="}, 1, "bob", `bad telegram id ""`},
		{"telegram id zero", []string{"bob staff " + bob + " telegram=0"}, 1, "bob", `bad telegram id "0"`},
		{"telegram id negative", []string{"bob staff " + bob + " telegram=-801"}, 1, "bob", `bad telegram id "-801"`},
		{"telegram id with a leading zero", []string{"bob staff " + bob + " telegram=0801"}, 1, "bob", `bad telegram id "0801"`},
		{"telegram id too large", []string{"bob staff " + bob + " telegram=9223372036854775808"}, 1, "bob", "bad telegram id"},
		{"telegram id twice", []string{"bob staff " + bob + " telegram=1 telegram=2"}, 1, "bob", "telegram= given twice"},
		{"telegram id of another", []string{first, "bob staff " + bob + " telegram=801"}, 2, "bob", "telegram id 801 is also anna's (line 1)"},
		{"name in capitals", []string{"Anna staff " + anna}, 1, `"Anna"`, "bad name"},
		{"name starting with a dot", []string{".anna staff " + anna}, 1, `".anna"`, "bad name"},
		{"name too long", []string{strings.Repeat("a", 33) + " staff " + anna}, 1, `"` + strings.Repeat("a", 33) + `"`, "bad name"},
		{"name with a control character", []string{"an\x1bna staff " + anna}, 1, `"an\x1bna"`, "bad name"},
		{"line too long", []string{first, "bob staff " + strings.Repeat("A", maxKeyringLine)}, 2, `""`, "line longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyring(strings.NewReader(strings.Join(tc.lines, "\n")))
			var ke *KeyringError
			if !errors.As(err, &ke) {
				t.Fatalf("ParseKeyring: %v, want a *KeyringError", err)
			}
			msg := err.Error()
			if ke.Line != tc.wantLine {
				t.Errorf("error on line %d, want %d: %s", ke.Line, tc.wantLine, msg)
			}
			where := "line " + strconv.Itoa(tc.wantLine) + " (" + tc.wantName + "): "
			if !strings.HasPrefix(msg, "sign: keyring "+where) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to start with %q and hold %q", msg, "sign: keyring "+where, tc.want)
			}
			if strings.ContainsAny(msg, "\n\r\x1b") {
				t.Errorf("error is not one printable line: %q", msg)
			}
		})
	}
}

func TestParseKeyringEmpty(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only a comment\n   \n"} {
		_, err := ParseKeyring(strings.NewReader(text))
		if err == nil || !strings.Contains(err.Error(), "no entry") {
			t.Errorf("ParseKeyring(%q) = %v, want a 'no entry' error", text, err)
		}
	}
}

// TestLoadKeyringPermissions: a keyring that group or others can write is
// refused, since whoever can write it can add a key.
func TestLoadKeyringPermissions(t *testing.T) {
	line := "anna staff " + newEd25519(t) + "\n"
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o644, true},
		{0o600, true},
		{0o444, true},
		{0o664, false},
		{0o646, false},
		{0o666, false},
		{0o622, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "staff keyring")
			write(t, path, line, tc.mode)
			k, err := LoadKeyring(path)
			if tc.ok {
				if err != nil {
					t.Fatalf("LoadKeyring: %v", err)
				}
				if _, ok := k.ByName("anna"); !ok {
					t.Fatal("anna not in the keyring")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKeyring accepted a keyring others can write")
			}
			msg := err.Error()
			for _, want := range []string{path, "writable by group or others", "chmod 644 '" + path + "'", "chmod 600"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not hold %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestLoadKeyringErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	write(t, path, "# staff\nanna staff "+newEd25519(t)+" telegram=x\n", 0o644)
	_, err := LoadKeyring(path)
	var ke *KeyringError
	if !errors.As(err, &ke) || ke.File != path || ke.Line != 2 {
		t.Fatalf("LoadKeyring = %v, want a *KeyringError for %s line 2", err, path)
	}
	if want := `sign: keyring "` + path + `" line 2 (anna): bad telegram id "x"`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeyring(missing file) = %v, want os.ErrNotExist", err)
	}
	if _, err := LoadKeyring(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadKeyring(a directory) = %v, want 'not a regular file'", err)
	}
}

func TestLoadKeyringEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	write(t, path, "# no one yet\n", 0o644)
	_, err := LoadKeyring(path)
	if want := `sign: keyring "` + path + `" has no entry`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("LoadKeyring = %v, want %q…", err, want)
	}
}
