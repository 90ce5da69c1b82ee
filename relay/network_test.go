package relay_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// candidateTypes returns the local candidate types and protocols of the
// selected ICE pair of c.
func selectedPair(t *testing.T, c *transport.Conn) string {
	t.Helper()
	for _, s := range c.PeerConnection().GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.Nominated {
			for _, s2 := range c.PeerConnection().GetStats() {
				if l, ok := s2.(webrtc.ICECandidateStats); ok && l.ID == p.LocalCandidateID {
					return l.CandidateType.String() + "/" + l.Protocol
				}
			}
		}
	}
	return ""
}

// A client that cannot use UDP reaches the relay over ICE-TCP.
func TestICETCPFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, url := relaytest.Start(t, relay.Config{ICETCP: ln})
	meeting := signal.NewID()
	tcpOnly := func(se *webrtc.SettingEngine) {
		signal.LoopbackOnly(se)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	pub := newClient(t, transport.Config{URL: url, MeetingID: meeting})
	sub := newClientWith(t, transport.Config{URL: url, MeetingID: meeting, SettingEngine: tcpOnly})
	pub.publish()
	waittest.Until(t, "media over ICE-TCP", 20*time.Second, func() bool { return sub.receivedAtLeast(20, pub) })
	if p := selectedPair(t, sub.conn); !strings.HasSuffix(p, "/tcp") {
		t.Fatalf("selected candidate %q, want tcp", p)
	}
}

// A client restricted to relayed candidates gets media through the
// embedded TURN server, with credentials the relay handed out.
func TestEmbeddedTURN(t *testing.T) {
	tn, err := relay.StartTURN(relay.TURNConfig{Listen: "127.0.0.1:0", Host: "127.0.0.1", RelayIP: "127.0.0.1", PortMin: 40000, PortMax: 40999}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	_, url := relaytest.Start(t, relay.Config{ICEServersFor: tn.ICEServers})
	meeting := signal.NewID()
	pub := newClient(t, transport.Config{URL: url, MeetingID: meeting})
	sub := newClient(t, transport.Config{URL: url, MeetingID: meeting, ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	pub.publish()
	waittest.Until(t, "media through TURN", 20*time.Second, func() bool { return sub.receivedAtLeast(20, pub) })
	if p := selectedPair(t, sub.conn); !strings.HasPrefix(p, "relay/") {
		t.Fatalf("selected candidate %q, want relay", p)
	}
}

// The relay's ICE candidates use the configured UDP port range and announce
// the configured public address instead of the local one.
func TestPortRangeAndPublicIP(t *testing.T) {
	r := relaytest.New(t, relay.Config{UDPPortMin: 41000, UDPPortMax: 41009, PublicIPs: []string{"203.0.113.9"}})
	c := &raw{t: t, conn: relaytest.Pipe(r)}
	c.join(signal.NewID())
	c.send(`{"type":"publish","kind":"audio"}`)
	var cands []string
	deadline := time.Now().Add(5 * time.Second)
	for len(cands) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no candidates from the relay")
		}
		switch m := c.next().(type) {
		case signal.Offer:
			for _, line := range strings.Split(m.SDP, "\n") {
				if strings.HasPrefix(line, "a=candidate:") {
					cands = append(cands, strings.TrimPrefix(strings.TrimSpace(line), "a="))
				}
			}
		case signal.Candidate:
			cands = append(cands, m.Candidate)
		}
	}
	t.Logf("candidates: %q", cands)
	for _, cand := range cands {
		f := strings.Fields(cand) // candidate:foundation component proto prio addr port typ host
		if len(f) < 8 {
			t.Fatalf("odd candidate %q", cand)
		}
		if f[4] != "203.0.113.9" {
			t.Errorf("candidate announces %s, want the public IP", f[4])
		}
		if strings.EqualFold(f[2], "udp") {
			if p, _ := strconv.Atoi(f[5]); p < 41000 || p > 41009 {
				t.Errorf("udp candidate on port %d, outside 41000-41009", p)
			}
		}
	}
}

// The embedded TURN server is not an open proxy: with valid credentials a
// client may relay to this host's addresses, but not to anyone else; and
// made-up credentials get no allocation.
func TestTURNIsNotAnOpenProxy(t *testing.T) {
	tn, err := relay.StartTURN(relay.TURNConfig{Listen: "127.0.0.1:0", Host: "127.0.0.1", RelayIP: "127.0.0.1", PortMin: 41100, PortMax: 41199}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	srv := strings.TrimSuffix(strings.TrimPrefix(tn.URL(), "turn:"), "?transport=udp")
	newTURNClient := func(user, pass string) *turn.Client {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: srv, STUNServerAddr: srv, Username: user, Password: pass, Realm: "sotto", Conn: conn, RTO: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := newTURNClient("1999999999", "guessed").Allocate(); err == nil {
		t.Fatal("allocation with made-up credentials succeeded")
	}
	ice := tn.ICEServers()[0]
	c := newTURNClient(ice.Username, ice.Credential)
	if _, err := c.Allocate(); err != nil {
		t.Fatalf("allocate with issued credentials: %v", err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}); err != nil {
		t.Fatalf("permission to this host refused: %v", err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}); err == nil {
		t.Fatal("permission to a foreign address granted: open proxy")
	}
}
