package call

import "testing"

// ParseRelay reads every form people and scripts write, and refuses what an
// invite link could not carry.
func TestParseRelay(t *testing.T) {
	for _, c := range []struct {
		in       string
		addr     string
		insecure bool
	}{
		{"relay.example.org:443", "relay.example.org:443", false},
		{"  relay.example.org:443  ", "relay.example.org:443", false},
		{"wss://relay.example.org:8443/ws", "relay.example.org:8443", false},
		{"wss://relay.example.org:8443/", "relay.example.org:8443", false},
		{"ws://127.0.0.1:8080/ws", "127.0.0.1:8080", true},
		{"ws://127.0.0.1:8080", "127.0.0.1:8080", true},
	} {
		addr, insecure, err := ParseRelay(c.in)
		if err != nil || addr != c.addr || insecure != c.insecure {
			t.Errorf("ParseRelay(%q) = %q, %v, %v; want %q, %v", c.in, addr, insecure, err, c.addr, c.insecure)
		}
	}
	for _, bad := range []string{"", "http://relay/ws", "ws://relay/other", "ws:///ws", "ws://relay:99999/ws", "relay example.org"} {
		if addr, _, err := ParseRelay(bad); err == nil {
			t.Errorf("ParseRelay(%q) accepted as %q", bad, addr)
		}
	}
}
