package meeting

// Meeting link format, docs/PROTOCOL.md §6.2:
//
//	sotto://HOST[:PORT]/MEETING#FRAGMENT
//	sotto+insecure://HOST[:PORT]/MEETING#FRAGMENT
//	FRAGMENT = base64url-nopad(version (1) ‖ host fingerprint (32) ‖ invite key (32))

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sottohq/sotto/crypto/identity"
)

const (
	// SchemeTLS is the link scheme for a relay reached over wss.
	SchemeTLS = "sotto"
	// SchemeInsecure is the link scheme for a relay reached over plain ws
	// (loopback and tests only).
	SchemeInsecure = "sotto+insecure"
	// linkVersion is the first byte of the fragment.
	linkVersion = 0x01
	// fragmentBytes is version, fingerprint and invite key.
	fragmentBytes = 1 + identity.FingerprintSize + keySize
	// relayPath is the relay's signaling path appended to the address.
	relayPath = "/ws"
)

// ErrLink is wrapped by every link parsing error.
var ErrLink = errors.New("meeting: invalid meeting link")

// Invite is what a joiner needs to knock: the meeting ID, the fingerprint of
// the host who created the meeting and the invite key (§6.2).
type Invite struct {
	MeetingID       MeetingID
	HostFingerprint [identity.FingerprintSize]byte
	InviteKey       [keySize]byte
}

// Link is a parsed meeting link.
type Link struct {
	// Relay is the relay's HOST[:PORT].
	Relay string
	// Insecure selects plain ws instead of wss.
	Insecure bool
	Invite
}

// RelayURL returns the relay's signaling URL.
func (l Link) RelayURL() string {
	if l.Insecure {
		return "ws://" + l.Relay + relayPath
	}
	return "wss://" + l.Relay + relayPath
}

// String formats the link.
func (l Link) String() string {
	scheme := SchemeTLS
	if l.Insecure {
		scheme = SchemeInsecure
	}
	frag := make([]byte, 0, fragmentBytes)
	frag = append(frag, linkVersion)
	frag = append(frag, l.HostFingerprint[:]...)
	frag = append(frag, l.InviteKey[:]...)
	return scheme + "://" + l.Relay + "/" + l.MeetingID.String() + "#" + base64.RawURLEncoding.EncodeToString(frag)
}

func linkErr(part string) error { return fmt.Errorf("%w: %s", ErrLink, part) }

// ParseLink parses a meeting link strictly (§6.2). Errors name the faulty
// part, never its content.
func ParseLink(s string) (Link, error) {
	var l Link
	rest, ok := strings.CutPrefix(s, SchemeInsecure+"://")
	if ok {
		l.Insecure = true
	} else if rest, ok = strings.CutPrefix(s, SchemeTLS+"://"); !ok {
		return Link{}, linkErr("scheme must be sotto:// or sotto+insecure://")
	}
	addrPath, frag, ok := strings.Cut(rest, "#")
	if !ok {
		return Link{}, linkErr("missing fragment")
	}
	if strings.ContainsAny(addrPath, "?") {
		return Link{}, linkErr("query not allowed")
	}
	addr, path, ok := strings.Cut(addrPath, "/")
	if !ok {
		return Link{}, linkErr("missing meeting id")
	}
	if err := checkRelayAddr(addr); err != nil {
		return Link{}, err
	}
	l.Relay = addr
	id, err := ParseMeetingID(path)
	if err != nil {
		return Link{}, linkErr("meeting id must be 32 lower-case hex digits")
	}
	l.MeetingID = id
	if len(frag) != base64.RawURLEncoding.EncodedLen(fragmentBytes) {
		return Link{}, linkErr("fragment has wrong length")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(frag)
	if err != nil || len(raw) != fragmentBytes {
		return Link{}, linkErr("fragment is not base64url")
	}
	if raw[0] != linkVersion {
		return Link{}, linkErr("unsupported link version")
	}
	copy(l.HostFingerprint[:], raw[1:])
	copy(l.InviteKey[:], raw[1+identity.FingerprintSize:])
	if subtle.ConstantTimeCompare(l.InviteKey[:], make([]byte, keySize)) == 1 {
		return Link{}, linkErr("invite key is zero")
	}
	return l, nil
}

// checkRelayAddr accepts HOST or HOST:PORT with a port in 1–65535, and
// rejects user info and empty hosts.
func checkRelayAddr(addr string) error {
	if addr == "" {
		return linkErr("empty relay address")
	}
	if strings.ContainsAny(addr, "@ \t\r\n\\%") {
		return linkErr("relay address has forbidden characters")
	}
	host := addr
	if strings.HasPrefix(addr, "[") || strings.Count(addr, ":") == 1 {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
				h, port = addr[1:len(addr)-1], ""
			} else {
				return linkErr("relay address is not host[:port]")
			}
		}
		if port != "" || strings.HasSuffix(addr, ":") {
			p, err := strconv.Atoi(port)
			if err != nil || p < 1 || p > 65535 || port[0] == '0' || port[0] == '+' {
				return linkErr("relay port must be 1-65535")
			}
		}
		host = h
	} else if strings.Contains(addr, ":") {
		return linkErr("ipv6 relay address needs brackets")
	}
	if host == "" {
		return linkErr("empty relay host")
	}
	return nil
}
