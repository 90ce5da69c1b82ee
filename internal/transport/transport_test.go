package transport_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

func dial(t *testing.T, r *relay.Relay, meeting signal.ID) (*transport.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return transport.Dial(ctx, transport.Config{Conn: relaytest.Pipe(r), MeetingID: meeting, SettingEngine: signal.LoopbackOnly})
}

func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := transport.Dial(ctx, transport.Config{Conn: failingConn{t}}); err == nil {
		t.Fatal("dial without a meeting id succeeded")
	}
	if _, err := transport.Dial(ctx, transport.Config{MeetingID: signal.NewID()}); err == nil {
		t.Fatal("dial without url or connection succeeded")
	}
	// A full meeting: the relay's refusal surfaces with its code.
	r := relaytest.New(t, relay.Config{Limits: relay.Limits{MaxSessionsPerMeeting: 1}})
	m := signal.NewID()
	c, err := dial(t, r, m)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := dial(t, r, m); err == nil || !strings.Contains(err.Error(), signal.CodeMeetingFull) {
		t.Fatalf("second join: %v, want %s", err, signal.CodeMeetingFull)
	}
}

func TestPeersAndEnvelopeChecks(t *testing.T) {
	r := relaytest.New(t, relay.Config{})
	m := signal.NewID()
	a, err := dial(t, r, m)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Peers()) != 0 || a.SessionID().IsZero() {
		t.Fatalf("first session: peers %v, id %q", a.Peers(), a.SessionID())
	}
	b, err := dial(t, r, m)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Peers(); len(p) != 1 || p[0] != a.SessionID() {
		t.Fatalf("second session sees %v", p)
	}
	if err := a.SendEnvelope(signal.ID{}, make([]byte, signal.MaxEnvelopePayload+1)); err == nil {
		t.Fatal("oversized envelope accepted")
	}
	// Peers follow joins and leaves.
	timeout := time.After(5 * time.Second)
	for len(a.Peers()) != 1 {
		select {
		case <-timeout:
			t.Fatal("peer-joined not reflected in Peers")
		case <-a.Events():
		}
	}
	b.Close()
	for {
		select {
		case e := <-a.Events():
			if l, ok := e.(transport.PeerLeft); ok {
				if l.ID != b.SessionID() || len(a.Peers()) != 0 {
					t.Fatalf("peer-left %s, peers now %v", l.ID, a.Peers())
				}
				return
			}
		case <-timeout:
			t.Fatal("no peer-left")
		}
	}
}

// When the relay shuts down, Events ends with Closed carrying the reason,
// and operations fail with ErrClosed.
func TestClosedOnShutdown(t *testing.T) {
	r := relaytest.New(t, relay.Config{})
	a, err := dial(t, r, signal.NewID())
	if err != nil {
		t.Fatal(err)
	}
	go r.Shutdown(context.Background())
	var last transport.Event
	for e := range a.Events() {
		last = e
	}
	if c, ok := last.(transport.Closed); !ok || c.Reason != signal.CodeShutdown {
		t.Fatalf("last event %#v", last)
	}
	<-a.Done()
	if err := a.SendEnvelope(signal.ID{}, []byte("late")); err != transport.ErrClosed {
		t.Fatalf("send after close: %v", err)
	}
}

// failingConn is a signaling connection that fails the test when used.
type failingConn struct{ t *testing.T }

func (f failingConn) Read(context.Context) ([]byte, error) {
	f.t.Error("signaling read before the meeting id was checked")
	return nil, context.Canceled
}

func (f failingConn) Write(context.Context, []byte) error {
	f.t.Error("signaling write before the meeting id was checked")
	return context.Canceled
}

func (failingConn) Close(string) error { return nil }

// hostileRelay plays a relay on the other end of a pipe: it answers the
// join, then sends msgs.
func hostileRelay(t *testing.T, msgs func(send func(signal.Message))) *transport.Conn {
	return hostileRelayRaw(t, func(send func(signal.Message), _ func([]byte)) { msgs(send) })
}

// hostileRelayRaw is hostileRelay that may also write raw bytes.
func hostileRelayRaw(t *testing.T, msgs func(send func(signal.Message), raw func([]byte))) *transport.Conn {
	t.Helper()
	cli, srv := signal.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	go func() {
		if _, err := srv.Read(ctx); err != nil {
			return
		}
		send := func(m signal.Message) {
			b, err := signal.Encode(m)
			if err != nil {
				panic(err)
			}
			_ = srv.Write(ctx, b)
		}
		send(signal.Joined{Session: signal.NewID()})
		msgs(send, func(b []byte) { _ = srv.Write(ctx, b) })
		send(signal.Bye{Reason: "done"})
	}()
	c, err := transport.Dial(ctx, transport.Config{Conn: cli, MeetingID: signal.NewID(), SettingEngine: signal.LoopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// drain reads events until Closed.
func drain(t *testing.T, c *transport.Conn) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				return
			}
			if _, ok := e.(transport.Closed); ok {
				return
			}
		case <-timeout:
			t.Fatal("connection did not close")
		}
	}
}

// A relay cannot grow a client's state without bound: announcing endless
// peers or sending endless candidates before its offer.
func TestHostileRelayGrowthIsBounded(t *testing.T) {
	const extra = 500
	c := hostileRelay(t, func(send func(signal.Message)) {
		for i := 0; i < signal.MaxPeers+extra; i++ {
			send(signal.PeerJoined{Session: signal.NewID()})
		}
		for i := 0; i < 1000; i++ {
			send(signal.Candidate{Candidate: fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 10000+i)})
		}
	})
	drain(t, c)
	if n := len(c.Peers()); n > signal.MaxPeers {
		t.Fatalf("%d peers held, want at most %d", n, signal.MaxPeers)
	}
	// 500 peers and 1000-64 candidates over the bounds.
	if got, want := c.Dropped(), uint64(extra+1000-64); got != want {
		t.Fatalf("dropped %d relay messages, want %d", got, want)
	}
}

// Undecodable messages from the relay are dropped and counted; the
// connection carries on.
func TestHostileRelayBadMessagesAreCounted(t *testing.T) {
	peer := signal.NewID()
	c := hostileRelayRaw(t, func(send func(signal.Message), raw func([]byte)) {
		raw([]byte("not json"))
		raw([]byte(`{"type":"teleport"}`))
		raw([]byte(`{"type":"peer-joined","session":"../x"}`))
		send(signal.PeerJoined{Session: peer})
	})
	drain(t, c)
	if got := c.Dropped(); got != 3 {
		t.Fatalf("dropped %d relay messages, want 3", got)
	}
	if p := c.Peers(); len(p) != 1 || p[0] != peer {
		t.Fatalf("peers %v after bad messages, want [%s]", p, peer)
	}
}

// mediaRelay plays a relay that forwards one VP8 track whose stream ID is
// streamID: it answers the join, offers the track (all its candidates in
// the offer), applies the client's answer and candidates, and sends
// packets until the test ends.
func mediaRelay(t *testing.T, streamID string) signal.Conn {
	t.Helper()
	cli, srv := signal.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	api, err := transport.NewAPI(transport.Config{SettingEngine: signal.LoopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", streamID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	send := func(m signal.Message) {
		if b, err := signal.Encode(m); err == nil {
			_ = srv.Write(ctx, b)
		}
	}
	go func() {
		if _, err := srv.Read(ctx); err != nil { // the join
			return
		}
		send(signal.Joined{Session: signal.NewID()})
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Error(err)
			return
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Error(err)
			return
		}
		<-gathered
		send(signal.Offer{SDP: pc.LocalDescription().SDP})
		var early []webrtc.ICECandidateInit
		for {
			b, err := srv.Read(ctx)
			if err != nil {
				return
			}
			m, err := signal.Decode(b)
			if err != nil {
				t.Errorf("client sent %v", err)
				return
			}
			switch v := m.(type) {
			case signal.Answer:
				if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.SDP}); err != nil {
					t.Error(err)
					return
				}
				for _, c := range early {
					_ = pc.AddICECandidate(c)
				}
				go func() {
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					for n := uint16(0); ; n++ {
						select {
						case <-ctx.Done():
							return
						case <-tick.C:
						}
						_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 3000}, Payload: []byte{1, 2, 3}})
					}
				}()
			case signal.Candidate:
				c := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
				if pc.RemoteDescription() == nil {
					early = append(early, c)
				} else {
					_ = pc.AddICECandidate(c)
				}
			}
		}
	}()
	return cli
}

// A forwarded track is surfaced with the session its stream ID names; a
// track whose stream ID names no session cannot be attributed to anyone
// and is dropped and counted instead.
func TestRemoteTrackSession(t *testing.T) {
	dialMedia := func(t *testing.T, streamID string) (*transport.Conn, chan transport.RemoteTrack) {
		tracks := make(chan transport.RemoteTrack, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := transport.Dial(ctx, transport.Config{Conn: mediaRelay(t, streamID), MeetingID: signal.NewID(), SettingEngine: signal.LoopbackOnly,
			OnTrack: func(rt transport.RemoteTrack) { tracks <- rt }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, tracks
	}
	t.Run("named", func(t *testing.T) {
		pub := signal.NewID()
		c, tracks := dialMedia(t, pub.String())
		select {
		case rt := <-tracks:
			if rt.SessionID != pub {
				t.Fatalf("track attributed to %v, want %v", rt.SessionID, pub)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no track")
		}
		if c.Dropped() != 0 {
			t.Fatalf("dropped %d", c.Dropped())
		}
	})
	t.Run("unnamed", func(t *testing.T) {
		c, tracks := dialMedia(t, "not-a-session")
		waittest.Until(t, "the track to be dropped", 10*time.Second, func() bool { return c.Dropped() == 1 })
		select {
		case rt := <-tracks:
			t.Fatalf("track of no session surfaced as %v", rt.SessionID)
		default:
		}
	})
}
