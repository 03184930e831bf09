package main

import (
	"github.com/vigil-hrd/vigil/sign"
)

// staffKeyring reads the staff keyring named by VIGIL_STAFF_KEYRING on a
// staff member's machine, where it is optional: with it, the staff tools
// check a signing key against --as before the bot would refuse it. Unset,
// it returns nil.
func staffKeyring(getenv func(string) string) (*sign.Trust, error) {
	path := getenv("VIGIL_STAFF_KEYRING")
	if path == "" {
		return nil, nil
	}
	t, err := sign.LoadTrust(path)
	if err != nil {
		return nil, settingError("VIGIL_STAFF_KEYRING", "%v", err)
	}
	return t, nil
}
