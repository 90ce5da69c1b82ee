package call

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sottohq/sotto/crypto/meeting"
)

// ParseRelay reads a relay address as people and scripts write it — the
// app's relay setting and sotto-bot's -relay flag — and returns the
// HOST[:PORT] an invite link carries and whether it is plain WebSocket:
//
//	host:port  or wss://host:port[/ws]   TLS
//	ws://host:port[/ws]                  plain, for a relay on a trusted network
//
// It is the one conversion from a relay address to a link's; the link's
// own RelayURL goes back.
func ParseRelay(s string) (addr string, insecure bool, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", false, errors.New("no relay address is set: add one in Settings, or host on this computer")
	case strings.HasPrefix(s, "ws://"):
		s, insecure = strings.TrimPrefix(s, "ws://"), true
	case strings.HasPrefix(s, "wss://"):
		s = strings.TrimPrefix(s, "wss://")
	case strings.Contains(s, "://"):
		return "", false, fmt.Errorf("the relay address %q is not valid: use host:port, ws:// or wss://", s)
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), "/ws")
	// Let the link parser judge the address, so a relay that can be
	// hosted can also be joined.
	var probe meeting.Link
	probe.Relay, probe.InviteKey[0] = s, 1
	if _, err := meeting.ParseLink(probe.String()); err != nil {
		return "", false, fmt.Errorf("the relay address %q is not valid", s)
	}
	return s, insecure, nil
}
