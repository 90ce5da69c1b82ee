package transport

import (
	"context"
	"net"
	"net/url"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Host candidates (docs/PROTOCOL.md §4.3, docs/THREAT_MODEL.md).
//
// A host candidate is one of this machine's own addresses: LAN and VPN
// addresses, IPv6 addresses that embed a device's identity. A relay on the
// open internet cannot use them to reach the client and would only learn
// them, so they are sent only when the relay itself is on the loopback or
// a private or link-local network, where they are what connects. Without
// them the connection still forms: the client's connectivity checks reach
// the relay's candidates, and the relay answers the address they came from
// (a peer-reflexive candidate, RFC 8445 §7.3.1.3), which is the address it
// sees anyway. Server-reflexive and TURN candidates, which show only what
// the relay sees, are always sent.

// sendHostCandidates reports whether this side should tell the relay its
// host candidates: when the relay's address is unknown (a test's in-memory
// signaling), or loopback, private or link-local.
func sendHostCandidates(ctx context.Context, cfg Config) bool {
	if cfg.Conn != nil || cfg.URL == "" {
		return cfg.RelayIP == nil || nearby(cfg.RelayIP)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return nearby(ip)
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, a := range ips {
		if !nearby(a.IP) {
			return false
		}
	}
	return true
}

// nearby reports whether ip is on the loopback or a private or link-local
// network (RFC 1918, RFC 4193, RFC 3927, RFC 4291 §2.5.6).
func nearby(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
}

// isHostCandidate reports whether an ICE candidate line (RFC 8839 §5.1)
// is of type host.
func isHostCandidate(line string) bool {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "typ" {
			return f[i+1] == string(webrtc.ICECandidateTypeHost.String())
		}
	}
	return false
}

// withoutHostCandidates removes the host candidate lines from an SDP.
func withoutHostCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && isHostCandidate(strings.TrimRight(l, "\r\n")) {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "")
}
