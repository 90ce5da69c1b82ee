package transport_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/vnettest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// tap records what a client writes on its signaling connection.
type tap struct {
	signal.Conn
	mu  sync.Mutex
	out []string
}

func (t *tap) Write(ctx context.Context, b []byte) error {
	t.mu.Lock()
	t.out = append(t.out, string(b))
	t.mu.Unlock()
	return t.Conn.Write(ctx, b)
}

func (t *tap) sent() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.out, "\n")
}

// A relay on the open internet never learns the client's host addresses
// (LAN, VPN): they are neither trickled nor in the answer, and the media
// connection still forms, from the client's checks (peer-reflexive). A
// relay on the client's own network gets them, as they are what connects
// there.
func TestHostCandidatesOnlyToANearbyRelay(t *testing.T) {
	for _, tc := range []struct {
		name, cidr string
		withheld   bool
	}{
		{"relay on the internet", "203.0.113.0/24", true},
		{"relay on the LAN", "10.0.0.0/24", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: tc.cidr, LoggerFactory: logging.NewDefaultLoggerFactory()})
				if err != nil {
					t.Fatal(err)
				}
				base := strings.TrimSuffix(tc.cidr, "0/24")
				relayNet := vnettest.Host(t, router, base+"1")
				clientNet := vnettest.Host(t, router, base+"2")
				if err := router.Start(); err != nil {
					t.Fatal(err)
				}
				defer router.Stop()
				r, err := relay.New(relay.Config{Net: relayNet})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Shutdown(context.Background())
				cli, srv := signal.Pipe()
				go r.ServeConn(context.Background(), srv)
				tp := &tap{Conn: cli}
				conn, err := transport.Dial(context.Background(), transport.Config{
					Conn: tp, MeetingID: signal.NewID(), Net: clientNet, RelayIP: net.ParseIP(base + "1"),
				})
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				// A track makes the relay offer, so ICE runs.
				track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "s")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.AddTrack(track); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(20 * time.Second)
				for conn.PeerConnection().ICEConnectionState() != webrtc.ICEConnectionStateConnected && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if s := conn.PeerConnection().ICEConnectionState(); s != webrtc.ICEConnectionStateConnected {
					t.Fatalf("ICE %v", s)
				}
				sent := tp.sent()
				hostSent := strings.Contains(sent, "typ host")
				t.Logf("host candidates sent: %v, withheld %d", hostSent, conn.HostCandidatesWithheld())
				if hostSent == tc.withheld {
					t.Fatalf("host candidates sent to the relay: %v", hostSent)
				}
				if tc.withheld && conn.HostCandidatesWithheld() == 0 {
					t.Fatal("no host candidate was withheld: the test proves nothing")
				}
			})
		})
	}
}
