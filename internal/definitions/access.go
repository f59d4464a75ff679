package definitions

import (
	"errors"
	"fmt"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// Roles of users (store.User.Role).
const (
	// RoleViewer reads definitions and runs; it changes no table.
	RoleViewer = "viewer"
	// RoleEditor creates, changes and deletes the tables of its own group.
	RoleEditor = "editor"
	// RoleAdmin changes every table, and gives tables to groups.
	RoleAdmin = "admin"
)

// ErrForbidden: the acting user may not make the change. A *PermissionError says why.
var ErrForbidden = errors.New("forbidden")

// Actions on a table.
const (
	ActionCreate = "create"
	ActionChange = "change"
	ActionDelete = "delete"
)

// PermissionError is a change the user may not make.
type PermissionError struct {
	User  store.User
	Table string
	// Action is ActionCreate, ActionChange or ActionDelete.
	Action string
	// Reason completes "may not ACTION TABLE: ".
	Reason string
	// what, when Table is empty, names what else was refused.
	what string
}

func (e *PermissionError) Error() string {
	who := fmt.Sprintf("user %q (%s", e.User.Email, roleName(e.User.Role))
	if e.User.Group != "" {
		who += " of group " + e.User.Group
	}
	what := "table " + e.Table
	if e.Table == "" {
		what = e.what
	}
	return fmt.Sprintf("%s) may not %s %s: %s", who, e.Action, what, e.Reason)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *PermissionError) Is(target error) bool { return target == ErrForbidden }

func roleName(r string) string {
	if r == "" {
		return "no role"
	}
	return r
}

// Check says whether u may make a change to the table name: current is the stored definition
// (nil: the table is new), next the new one (nil: the table is deleted). An admin may do
// anything; an editor may change only tables of its own group, which must not be empty, and may
// not give a table to another group; a viewer, or a user of another role, changes nothing. It
// returns nil or a *PermissionError.
//
// next's group must be filled in already (WithGroup): a table that sets none keeps its group.
func Check(u store.User, name string, current, next *spec.Table) error {
	action := ActionChange
	switch {
	case current == nil:
		action = ActionCreate
	case next == nil:
		action = ActionDelete
	}
	deny := func(format string, args ...any) error {
		return &PermissionError{User: u, Table: name, Action: action, Reason: fmt.Sprintf(format, args...)}
	}
	// The rule itself is access.CanWriteTable, which the API's table routes use too; here each
	// refusal also says why.
	switch access.RoleOf(&u) {
	case access.Admin:
		return nil
	case access.Editor:
	case access.Viewer:
		return deny("viewers change no table")
	default:
		return deny("only editors and admins change tables")
	}
	if u.Group == "" {
		return deny("an editor without a group changes no table; an admin can set the user's group")
	}
	if current != nil && !access.CanWriteTable(&u, current.Group) {
		return deny("it belongs to %s, and an editor changes only the tables of their own group", groupName(current.Group))
	}
	if next != nil && !access.CanWriteTable(&u, next.Group) {
		if current == nil {
			return deny("an editor creates tables in their own group, not in %s", groupName(next.Group))
		}
		return deny("only an admin gives a table to another group (%s)", groupName(next.Group))
	}
	return nil
}

func groupName(g string) string {
	if g == "" {
		return "no group"
	}
	return "group " + g
}

// WithGroup returns next with the group it will be saved with: its own, else the stored
// table's (current, nil for a new table), else, for a new table, the acting user's. A sidecar
// that names no group thus never takes a table away from its group.
func WithGroup(u store.User, current *spec.Table, next spec.Table) spec.Table {
	if next.Group != "" {
		return next
	}
	if current != nil {
		next.Group = current.Group
	} else {
		next.Group = u.Group
	}
	return next
}
