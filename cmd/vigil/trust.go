package main

import (
	"github.com/vigil-hrd/vigil/sign"
)

// loadTrust reads the staff keyring named by VIGIL_STAFF_KEYRING, which the
// bot checks broadcasts, guidance pages and their approvals against. Unset,
// it returns nil: the bot then sends no broadcast and shows no guidance
// page, since it trusts no coordinator.
func loadTrust(getenv func(string) string) (*sign.Trust, error) {
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
