package relay_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
	"github.com/sottohq/sotto/transport"
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
	_, url := startRelay(t, relay.Config{ICETCP: ln})
	meeting := signal.NewID()
	tcpOnly := func(se *webrtc.SettingEngine) {
		transport.LoopbackOnly(se)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	pub := newClient(t, transport.Config{URL: url, MeetingID: meeting})
	sub := newClientWith(t, transport.Config{URL: url, MeetingID: meeting, SettingEngine: tcpOnly})
	pub.publish()
	waitFor(t, 20*time.Second, "media over ICE-TCP", func() bool { return sub.receivedAtLeast(20, pub) })
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
	_, url := startRelay(t, relay.Config{ICEServersFor: tn.ICEServers})
	meeting := signal.NewID()
	pub := newClient(t, transport.Config{URL: url, MeetingID: meeting})
	sub := newClient(t, transport.Config{URL: url, MeetingID: meeting, ICETransportPolicy: webrtc.ICETransportPolicyRelay})
	pub.publish()
	waitFor(t, 20*time.Second, "media through TURN", func() bool { return sub.receivedAtLeast(20, pub) })
	if p := selectedPair(t, sub.conn); !strings.HasPrefix(p, "relay/") {
		t.Fatalf("selected candidate %q, want relay", p)
	}
}
