package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// What the staff tools (triage, broadcast, guidance) share.

// parseAnywhere parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// connectStaff opens the Redis the staff tools work on: REDIS_URL (or its
// file, or REDIS_ADDRS), the local default otherwise.
func connectStaff(ctx context.Context, getenv func(string) string) (redis.UniversalClient, error) {
	redisURL, err := secretSetting(getenv, "REDIS_URL")
	if err != nil {
		return nil, err
	}
	target, err := redisTarget(getenv, or(redisURL, "redis://127.0.0.1:6379/0"))
	if err != nil {
		return nil, err
	}
	rdb, err := store.ConnectTo(ctx, target)
	if err != nil {
		return nil, redisError(target, err)
	}
	return rdb, nil
}

// loadIdentities reads the staff identity files given with -i, or
// VIGIL_IDENTITY when none was. A hardware key's plugin talks to the staff
// member through terminal (standard error; never a log) and /dev/tty.
func loadIdentities(paths []string, getenv func(string) string, terminal io.Writer) ([]seal.Identity, error) {
	if len(paths) == 0 && getenv("VIGIL_IDENTITY") != "" {
		paths = []string{getenv("VIGIL_IDENTITY")}
	}
	var ids []seal.Identity
	term := seal.NewTerminal(terminal)
	for _, p := range paths {
		more, err := seal.LoadIdentities(p, term)
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	return ids, nil
}

// openSigner opens the key a staff member signs their actions with: the
// path given by flag, or VIGIL_SIGNING_KEY. A public key file (NAME.pub,
// or any file holding an OpenSSH public key line) means "the key the
// ssh-agent at SSH_AUTH_SOCK holds", which is how a FIDO2 or other
// hardware key is used; a private key file is used directly (it must be
// mode 0600). The caller closes the signer.
func openSigner(path string, getenv func(string) string) (*sign.Signer, error) {
	setting := "--sign-key"
	if path == "" {
		path, setting = getenv("VIGIL_SIGNING_KEY"), "VIGIL_SIGNING_KEY"
	}
	if path == "" {
		return nil, settingError("VIGIL_SIGNING_KEY", "not set: staff actions that reach defenders are signed with your own SSH key; "+
			"give its file (or its .pub, to sign through ssh-agent) with --sign-key or VIGIL_SIGNING_KEY (see docs/signing.md)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, settingError(setting, "%v", err)
	}
	var s *sign.Signer
	if _, _, _, _, perr := ssh.ParseAuthorizedKey(raw); perr == nil {
		s, err = sign.FromAgent(getenv("SSH_AUTH_SOCK"), string(raw))
	} else {
		s, err = sign.FromFile(path, nil)
	}
	if err != nil {
		return nil, settingError(setting, "%v", err)
	}
	return s, nil
}
