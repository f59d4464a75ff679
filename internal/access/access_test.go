package access_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/store"
)

func TestCanWriteTable(t *testing.T) {
	admin := &store.User{Email: "a@x", Role: "admin"}
	fin := &store.User{Email: "f@x", Role: "editor", Group: "finance"}
	noGroup := &store.User{Email: "n@x", Role: "editor"}
	viewer := &store.User{Email: "v@x", Role: "viewer", Group: "finance"}
	typo := &store.User{Email: "t@x", Role: "admn", Group: "finance"}
	for _, c := range []struct {
		u     *store.User
		group string
		want  bool
	}{
		{admin, "finance", true}, {admin, "", true},
		{fin, "finance", true}, {fin, "Finance", true}, {fin, "marketing", false}, {fin, "", false},
		{noGroup, "", false}, {noGroup, "finance", false},
		{viewer, "finance", false}, {typo, "finance", false}, {nil, "finance", false},
	} {
		require.Equal(t, c.want, access.CanWriteTable(c.u, c.group), "%+v on group %q", c.u, c.group)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []access.Role{access.Viewer, access.Editor, access.Admin} {
		got, err := access.ParseRole(r.String())
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := access.ParseRole("root")
	require.ErrorContains(t, err, "viewer, editor or admin")
	require.Equal(t, access.None, access.RoleOf(&store.User{Role: "owner"}))
}
