package sign

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTrustReloadKeepsTheKeyringOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring")
	line := func(name string) string {
		return name + " staff " + keygen(t, "ed25519", 0, "").Pub + "\n"
	}
	if err := os.WriteFile(path, []byte(line("ana")), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrust(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Keyring().ByName("ana"); !ok {
		t.Fatal("ana is not trusted after the first load")
	}
	// A broken edit: the keyring in force stays.
	if err := os.WriteFile(path, []byte("ana staff ssh-ed25519 AAAA-not-base64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Reload(); err == nil {
		t.Fatal("a malformed keyring was accepted on reload")
	}
	if _, ok := tr.Keyring().ByName("ana"); !ok {
		t.Fatal("a failed reload dropped the keyring in force")
	}
	// A good edit replaces it.
	if err := os.WriteFile(path, []byte(line("ben")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Keyring().ByName("ana"); ok {
		t.Fatal("ana is still trusted after she was removed")
	}
	if _, ok := tr.Keyring().ByName("ben"); !ok {
		t.Fatal("ben is not trusted after the reload")
	}
}
