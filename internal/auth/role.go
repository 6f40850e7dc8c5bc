package auth

import "fmt"

// Role is a user's role. Roles are ordered: admin > standard > read-only.
type Role string

// The three roles.
const (
	RoleReadOnly Role = "read-only"
	RoleStandard Role = "standard"
	RoleAdmin    Role = "admin"
)

// Roles lists every role from least to most privileged.
var Roles = []Role{RoleReadOnly, RoleStandard, RoleAdmin}

// Rank orders roles; an unknown role ranks 0, below every real role.
func (r Role) Rank() int {
	switch r {
	case RoleReadOnly:
		return 1
	case RoleStandard:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return r.Rank() > 0 && r.Rank() >= min.Rank() }

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.Rank() == 0 {
		return "", fmt.Errorf("unknown role %q (want admin, standard or read-only)", s)
	}
	return r, nil
}
