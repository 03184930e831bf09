package sign

import "strings"

// Role is what a keyring entry may sign; an entry holds a set of them.
type Role uint8

const (
	// RoleStaff may sign replies to defenders.
	RoleStaff Role = 1 << iota
	// RoleCoordinator may sign broadcasts, guidance pages, approvals and
	// stops. It does not include RoleStaff: list both to have both.
	RoleCoordinator
)

// String returns the role's name as written in the keyring.
func (r Role) String() string {
	var names []string
	if r&RoleStaff != 0 {
		names = append(names, "staff")
	}
	if r&RoleCoordinator != 0 {
		names = append(names, "coordinator")
	}
	return strings.Join(names, ",")
}
