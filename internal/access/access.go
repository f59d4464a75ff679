// Package access holds who may do what: the roles of Maestro's users and the rule deciding who
// may change a table. The API and the project sync both ask it, so the rule exists once.
package access

import (
	"fmt"
	"strings"

	"github.com/maestro-sql/maestro/internal/store"
)

// Role orders what a user may do; each role may do everything the lower ones may.
type Role int

const (
	// None is an anonymous caller: only public routes.
	None Role = iota
	// Viewer reads everything (never a secret: connections hold references only).
	Viewer
	// Editor also writes the tables of their own group and starts, cancels and resumes runs.
	Editor
	// Admin may do everything: any table, schedules, connections, users and anyone's tokens.
	Admin
)

var roleNames = [...]string{None: "", Viewer: "viewer", Editor: "editor", Admin: "admin"}

// String is the role's name as stored in store.User.Role ("" for None).
func (r Role) String() string {
	if r < None || r > Admin {
		return fmt.Sprintf("Role(%d)", int(r))
	}
	return roleNames[r]
}

// ParseRole reads a stored role name; an unknown name is an error, never a role.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return Viewer, nil
	case "editor":
		return Editor, nil
	case "admin":
		return Admin, nil
	}
	return None, fmt.Errorf("unknown role %q: it must be viewer, editor or admin", s)
}

// RoleOf is the role of a stored user; a user whose role does not parse gets None, so a typo
// in the store grants nothing.
func RoleOf(u *store.User) Role {
	if u == nil {
		return None
	}
	r, err := ParseRole(u.Role)
	if err != nil {
		return None
	}
	return r
}

// CanWriteTable says whether u may create, change or delete a table of group: admins any table;
// editors the tables of their own group (compared case-insensitively), and only when both have
// a group, so an editor without a group writes nothing and a table without a group is the
// admins'. A change that moves a table to another group needs the right on both groups.
func CanWriteTable(u *store.User, group string) bool {
	switch RoleOf(u) {
	case Admin:
		return true
	case Editor:
		return u.Group != "" && group != "" && strings.EqualFold(strings.TrimSpace(u.Group), strings.TrimSpace(group))
	}
	return false
}
