package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// ErrRefusedAddress is wrapped by every error that refuses a callback URL or the address it
// resolves to (see AddressError).
var ErrRefusedAddress = errors.New("callback address refused")

// AddressError says why a callback host or address was refused.
type AddressError struct {
	Host   string     // the host as written in the URL
	Addr   netip.Addr // the refused address; invalid when the URL itself was refused
	Reason string
}

func (e *AddressError) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("callback address refused: %s resolves to %s, %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("callback address refused: %s: %s", e.Host, e.Reason)
}

func (e *AddressError) Unwrap() error { return ErrRefusedAddress }

// refusedRanges are never dialled unless an allowed prefix covers the address. Order matters only
// for the reason given: the first match names it.
var refusedRanges = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (cloud metadata lives at 169.254.169.254)"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("fc00::/7"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
}

// addressPolicy decides which addresses a Client may connect to.
type addressPolicy struct {
	allow []netip.Prefix
}

// check returns nil when addr may be dialled, else an *AddressError.
func (p addressPolicy) check(host string, addr netip.Addr) error {
	// An IPv4 address written as IPv6 (::ffff:169.254.169.254) reaches the IPv4 host.
	addr = addr.Unmap().WithZone("")
	for _, allowed := range p.allow {
		if allowed.Contains(addr) {
			return nil
		}
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(addr) {
			return &AddressError{Host: host, Addr: addr, Reason: r.reason}
		}
	}
	return nil
}

// checkURL refuses what can be refused without resolving the host: schemes other than http and
// https, URLs without a host, credentials in the URL, and IP-literal hosts in refused ranges.
func (p addressPolicy) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("error parsing callback URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &AddressError{Host: u.Host, Reason: fmt.Sprintf("scheme %q is not http or https", u.Scheme)}
	}
	if u.Hostname() == "" {
		return nil, &AddressError{Host: raw, Reason: "the URL has no host"}
	}
	if u.User != nil {
		// Credentials would be sent on every attempt and recorded with the URL; the signature
		// is how a receiver authenticates Maestro.
		return nil, &AddressError{Host: u.Host, Reason: "the URL carries a user name or password"}
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := p.check(u.Hostname(), addr); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Resolver looks up the addresses of a host; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to address ("ip:port", already checked); net.Dialer.DialContext satisfies it.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// guardedDialer resolves a host itself, refuses the whole host if any of its addresses is refused
// (a name with one public and one metadata address is not a callback target), and then dials the
// checked addresses by IP so nothing can resolve the name differently between check and connect.
type guardedDialer struct {
	policy   addressPolicy
	resolver Resolver
	dial     DialFunc
}

func (d guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("error splitting callback address %q: %w", address, err)
	}
	var addrs []netip.Addr
	if addr, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{addr}
	} else {
		ipNetwork := "ip"
		switch network {
		case "tcp4":
			ipNetwork = "ip4"
		case "tcp6":
			ipNetwork = "ip6"
		}
		addrs, err = d.resolver.LookupNetIP(ctx, ipNetwork, host)
		if err != nil {
			return nil, fmt.Errorf("error resolving callback host %q: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("error resolving callback host %q: no addresses", host)
		}
	}
	for _, addr := range addrs {
		if err := d.policy.check(host, addr); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, addr := range addrs {
		conn, err := d.dial(ctx, network, net.JoinHostPort(addr.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("error connecting to callback host %q: %w", host, errors.Join(errs...))
}

// socketControl is the last line of defence: the kernel is about to connect this socket to
// address, whatever code path produced it.
func (p addressPolicy) socketControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("error parsing dialled address %q: %w", address, err)
	}
	return p.check(address, ap.Addr())
}
