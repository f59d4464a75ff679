package callback

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// The socket check is unreachable through Send (the dialer checks first), so it is tested alone:
// it must hold even if a future code path dials without going through guardedDialer.
func TestSocketControlRefusesWhatThePolicyRefuses(t *testing.T) {
	t.Parallel()
	p := addressPolicy{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	require.ErrorIs(t, p.socketControl("tcp4", "169.254.169.254:80", nil), ErrRefusedAddress)
	require.ErrorIs(t, p.socketControl("tcp6", "[::ffff:169.254.169.254]:80", nil), ErrRefusedAddress)
	require.ErrorIs(t, p.socketControl("tcp6", "[fe80::1%eth0]:80", nil), ErrRefusedAddress)
	require.ErrorIs(t, p.socketControl("tcp4", "10.0.0.1:443", nil), ErrRefusedAddress)
	require.NoError(t, p.socketControl("tcp4", "127.0.0.1:8080", nil))
	require.NoError(t, p.socketControl("tcp4", "203.0.113.10:443", nil))
}
