package callback_test

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
)

// fakeDNS answers from a map and counts lookups per host, so a test can make a name change its
// answer between two lookups (DNS rebinding).
type fakeDNS struct {
	answers map[string][][]netip.Addr // host -> answer per lookup; the last repeats
	lookups map[string]*atomic.Int32
}

func newFakeDNS(answers map[string][][]netip.Addr) *fakeDNS {
	d := &fakeDNS{answers: answers, lookups: map[string]*atomic.Int32{}}
	for host := range answers {
		d.lookups[host] = &atomic.Int32{}
	}
	return d
}

func (d *fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	answers, ok := d.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := int(d.lookups[host].Add(1))
	return answers[min(n, len(answers))-1], nil
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// dialSpy is a Config.Dial that counts connection attempts and never connects.
type dialSpy struct{ dials atomic.Int32 }

func (s *dialSpy) Dial(context.Context, string, string) (net.Conn, error) {
	s.dials.Add(1)
	return nil, &net.OpError{Op: "dial", Err: errSpyRefused}
}

var errSpyRefused = &net.AddrError{Err: "the spy does not connect"}

func TestAddressGuard(t *testing.T) {
	t.Parallel()
	secret := []byte("s")

	refusedURLs := map[string]string{
		"http://169.254.169.254/computeMetadata/v1/": "link-local",
		"http://[::ffff:169.254.169.254]/latest":     "link-local",
		"http://[fe80::1]/":                          "link-local",
		"http://[fe80::1%25eth0]/":                   "link-local",
		"http://[fd00:ec2::254]/":                    "metadata",
		"http://0.0.0.0:8080/":                       "unspecified",
		"http://[::]/":                               "unspecified",
		"http://127.0.0.1:9000/":                     "loopback",
		"http://[::1]/":                              "loopback",
		"http://10.1.2.3/":                           "private",
		"http://172.20.0.1/":                         "private",
		"http://192.168.1.1/":                        "private",
		"http://[fd12:3456::1]/":                     "private",
		"http://100.64.0.1/":                         "carrier-grade NAT",
		"ftp://example.com/file":                     `scheme "ftp"`,
		"file:///etc/passwd":                         `scheme "file"`,
		"http:///nohost":                             "no host",
		"http://user:pass@example.com/":              "password",
	}

	t.Run("RefusesBeforeConnecting", func(t *testing.T) {
		t.Parallel()
		for url, reason := range refusedURLs {
			spy := &dialSpy{}
			rec := &attempts{}
			c := callback.New(callback.Config{Dial: spy.Dial, Recorder: rec, Resolver: newFakeDNS(nil)})
			err := c.Send(t.Context(), callback.Target{URL: url, Secret: secret}, testPayload())
			require.ErrorIs(t, err, callback.ErrRefusedAddress, url)
			require.ErrorContains(t, err, reason, url)
			require.ErrorIs(t, c.CheckURL(t.Context(), url), callback.ErrRefusedAddress, url)
			require.Zero(t, spy.dials.Load(), "%s: no connection may be attempted", url)
			require.Empty(t, rec.list, "%s: a URL refused outright makes no attempt", url)
		}
	})

	t.Run("RefusesANameThatResolvesToTheMetadataServer", func(t *testing.T) {
		t.Parallel()
		dns := newFakeDNS(map[string][][]netip.Addr{
			"metadata.google.internal": {addrs("169.254.169.254")},
			"mixed.example":            {addrs("203.0.113.10", "169.254.169.254")},
			"intranet.example":         {addrs("10.0.0.7")},
		})
		for host, reason := range map[string]string{
			"metadata.google.internal": "resolves to 169.254.169.254, a link-local address",
			"mixed.example":            "resolves to 169.254.169.254",
			"intranet.example":         "resolves to 10.0.0.7, a private address",
		} {
			spy := &dialSpy{}
			rec := &attempts{}
			c := callback.New(callback.Config{Dial: spy.Dial, Resolver: dns, Recorder: rec, MaxAttempts: 3})
			err := c.Send(t.Context(), callback.Target{URL: "http://" + host + "/hook", Secret: secret}, testPayload())
			require.ErrorIs(t, err, callback.ErrRefusedAddress, host)
			require.ErrorContains(t, err, reason, host)
			require.Zero(t, spy.dials.Load(), "%s: no connection may be attempted", host)
			require.Len(t, rec.list, 1, "%s: refused at dial time, recorded once, never retried", host)
			require.ErrorIs(t, rec.list[0].Err, callback.ErrRefusedAddress)
			require.ErrorIs(t, c.CheckURL(t.Context(), "http://"+host+"/hook"), callback.ErrRefusedAddress)
		}
	})

	t.Run("ChecksTheAddressActuallyDialledSoRebindingFails", func(t *testing.T) {
		t.Parallel()
		// Public when the URL is saved, the metadata server when the callback is sent.
		dns := newFakeDNS(map[string][][]netip.Addr{
			"rebind.example": {addrs("203.0.113.10"), addrs("169.254.169.254")},
		})
		spy := &dialSpy{}
		c := callback.New(callback.Config{Dial: spy.Dial, Resolver: dns, MaxAttempts: 1})
		require.NoError(t, c.CheckURL(t.Context(), "https://rebind.example/hook"))
		err := c.Send(t.Context(), callback.Target{URL: "https://rebind.example/hook", Secret: secret}, testPayload())
		require.ErrorIs(t, err, callback.ErrRefusedAddress)
		require.ErrorContains(t, err, "169.254.169.254")
		require.Zero(t, spy.dials.Load())
	})

	t.Run("DialsTheCheckedAddressByIP", func(t *testing.T) {
		t.Parallel()
		dns := newFakeDNS(map[string][][]netip.Addr{"public.example": {addrs("203.0.113.10", "2001:db8::10")}})
		var dialled []string
		dial := func(_ context.Context, _, address string) (net.Conn, error) {
			dialled = append(dialled, address)
			return nil, &net.OpError{Op: "dial", Err: errSpyRefused}
		}
		c := callback.New(callback.Config{Dial: dial, Resolver: dns, MaxAttempts: 1})
		err := c.Send(t.Context(), callback.Target{URL: "http://public.example:8080/hook", Secret: secret}, testPayload())
		require.ErrorContains(t, err, "the spy does not connect")
		require.NotErrorIs(t, err, callback.ErrRefusedAddress)
		require.Equal(t, []string{"203.0.113.10:8080", "[2001:db8::10]:8080"}, dialled)
	})

	t.Run("AllowListOpensOnlyTheListedRanges", func(t *testing.T) {
		t.Parallel()
		r := newReceiver(t, response{status: 200})
		c := callback.New(callback.Config{Allow: loopback})
		require.NoError(t, c.Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload()))
		for _, url := range []string{"http://169.254.169.254/", "http://10.0.0.1/"} {
			require.ErrorIs(t, c.CheckURL(t.Context(), url), callback.ErrRefusedAddress, url)
		}
		metadata := callback.New(callback.Config{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}})
		require.NoError(t, metadata.CheckURL(t.Context(), "http://169.254.169.254/"))
		require.ErrorIs(t, metadata.CheckURL(t.Context(), "http://169.254.1.1/"), callback.ErrRefusedAddress)
	})

	t.Run("RefusesLoopbackWithoutAnAllowList", func(t *testing.T) {
		t.Parallel()
		// No allow list: the test server on 127.0.0.1 is out of reach.
		r := newReceiver(t, response{status: 200})
		err := callback.New(callback.Config{MaxAttempts: 1}).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorIs(t, err, callback.ErrRefusedAddress)
		require.Empty(t, r.got())
	})
}
