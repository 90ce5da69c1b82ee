package transport

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestSendHostCandidatesByRelayAddress(t *testing.T) {
	for url, want := range map[string]bool{
		"ws://127.0.0.1:8080/ws":   true,
		"ws://localhost:8080/ws":   true,
		"ws://192.168.1.5/ws":      true,
		"ws://[fd00::1]:443/ws":    true,
		"ws://[fe80::1]/ws":        true,
		"wss://203.0.113.9/ws":     false,
		"wss://[2001:db8::1]/ws":   false,
		"wss://relay.invalid./ws":  false, // cannot be looked up: withheld
		"::not a url":              false,
		"wss://10.1.2.3:8443/ws?x": true,
	} {
		if got := sendHostCandidates(context.Background(), Config{URL: url}); got != want {
			t.Errorf("%s: send host candidates %v, want %v", url, got, want)
		}
	}
	if !sendHostCandidates(context.Background(), Config{}) {
		t.Error("no relay address (in-memory signaling): host candidates withheld")
	}
	if sendHostCandidates(context.Background(), Config{RelayIP: net.ParseIP("198.51.100.7")}) {
		t.Error("public RelayIP: host candidates sent")
	}
}

func TestWithoutHostCandidates(t *testing.T) {
	sdp := "v=0\r\n" +
		"a=candidate:1 1 udp 2130706431 192.168.1.5 50000 typ host\r\n" +
		"a=candidate:2 1 udp 1694498815 198.51.100.7 50000 typ srflx raddr 0.0.0.0 rport 50000\r\n" +
		"a=candidate:3 1 tcp 1518280447 10.8.0.2 9 typ host tcptype active\r\n" +
		"a=end-of-candidates\r\n"
	got := withoutHostCandidates(sdp)
	if strings.Contains(got, "typ host") || !strings.Contains(got, "typ srflx") || !strings.HasSuffix(got, "a=end-of-candidates\r\n") {
		t.Fatalf("stripped SDP:\n%s", got)
	}
}
