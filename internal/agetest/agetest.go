// Package agetest gives tests a hardware key without the hardware: it
// builds age-plugin-vigiltest (an age plugin that keeps an X25519 key in
// its identity and asks for a touch on each decryption), puts it on PATH,
// and makes its keys, as age-plugin-yubikey makes a YubiKey's.
package agetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Plugin is age-plugin-vigiltest, built for this test and on its PATH.
type Plugin struct {
	Dir string // the directory holding the binary
}

// Install builds age-plugin-vigiltest into a temporary directory and puts
// that directory first on PATH until the test ends (so the test must not
// be parallel).
func Install(tb testing.TB) *Plugin {
	tb.Helper()
	return &Plugin{Dir: Build(tb, "github.com/vigil-hrd/vigil/internal/agetest/age-plugin-vigiltest")}
}

// Build builds the main package pkg (of this module or one it requires)
// into a temporary directory, puts the directory first on PATH until the
// test ends, and returns it.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatal("the go command is needed to build an age plugin for the test: ", err)
	}
	dir := tb.TempDir()
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(dir, filepath.Base(pkg)), pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	tb.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

// NewKey writes a new identity file (mode 0600) as age-plugin-vigiltest
// --generate prints it, and returns its path and the public key to put in
// a recipients file (age1vigiltest1…).
func (p *Plugin) NewKey(tb testing.TB) (identityFile, recipient string) {
	tb.Helper()
	out, err := exec.Command(filepath.Join(p.Dir, "age-plugin-vigiltest"), "--generate").Output()
	if err != nil {
		tb.Fatalf("age-plugin-vigiltest --generate: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[1] == "Recipient:" {
			recipient = f[2]
		}
	}
	if !strings.HasPrefix(recipient, "age1vigiltest1") {
		tb.Fatalf("age-plugin-vigiltest --generate printed no recipient:\n%s", out)
	}
	identityFile = filepath.Join(tb.TempDir(), "hardware.key")
	if err := os.WriteFile(identityFile, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return identityFile, recipient
}
