package callback

import (
	"net/netip"
	"strings"
)

// metadataHosts are the names the cloud metadata servers answer to.
var metadataHosts = map[string]bool{
	"metadata":                 true,
	"metadata.google.internal": true,
	"metadata.goog":            true,
}

// neverRanges are refused when a URL is saved, whatever a deployment allows: no receiver lives
// on a link-local or metadata address, and a URL pointing there is an attempt to read the
// instance's credentials.
var neverRanges = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
}

// CheckSavedURL refuses, without resolving anything, a callback or webhook URL that can never be
// sent to: not http(s), no host, credentials in the URL, or the cloud metadata server or a
// link-local address. Loopback and private addresses pass: whether they may be reached depends
// on the sending service's allowed ranges, which Send checks on every connection.
func CheckSavedURL(raw string) error {
	u, err := (addressPolicy{allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}).checkURL(raw)
	if err != nil {
		return err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if metadataHosts[host] {
		return &AddressError{Host: u.Hostname(), Reason: "the cloud metadata server"}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		addr = addr.Unmap().WithZone("")
		for _, p := range neverRanges {
			if p.Contains(addr) {
				return &AddressError{Host: u.Hostname(), Reason: "a link-local, cloud metadata or unspecified address, where no receiver lives"}
			}
		}
	}
	return nil
}
