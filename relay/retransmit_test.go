package relay_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/vnettest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/rtx"
	"github.com/sottohq/sotto/relay/signal"
)

// simNet is a relay and its clients on one virtual network.
type simNet struct {
	t       *testing.T
	router  *vnet.Router
	relay   *relay.Relay
	meeting signal.ID
	next    byte
}

func newSimNet(t *testing.T) *simNet {
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	relayNet := vnettest.Host(t, router, "10.0.0.1")
	r, err := relay.New(relay.Config{Net: relayNet})
	if err != nil {
		t.Fatal(err)
	}
	return &simNet{t: t, router: router, relay: r, meeting: signal.NewID(), next: 2}
}

func (s *simNet) host() *vnet.Net {
	ip := net.IPv4(10, 0, 0, s.next).String()
	s.next++
	return vnettest.Host(s.t, s.router, ip)
}

func (s *simNet) join(n *vnet.Net, onTrack func(transport.RemoteTrack)) *transport.Conn {
	cli, srv := signal.Pipe()
	go s.relay.ServeConn(context.Background(), srv)
	conn, err := transport.Dial(context.Background(), transport.Config{Conn: cli, MeetingID: s.meeting, Net: n, OnTrack: onTrack})
	if err != nil {
		s.t.Fatalf("join: %v", err)
	}
	go func() {
		for range conn.Events() {
		}
	}()
	return conn
}

// byteCounter counts what one receiver gets on a forwarded track.
type byteCounter struct {
	bytes, packets atomic.Int64
	ssrc           atomic.Uint32
	highest        atomic.Uint32 // highest sequence number seen, +1 (0: none)
}

func (b *byteCounter) onTrack(rt transport.RemoteTrack) {
	b.ssrc.Store(uint32(rt.Track.SSRC()))
	for {
		p, _, err := rt.Track.ReadRTP()
		if err != nil {
			return
		}
		b.packets.Add(1)
		b.bytes.Add(int64(p.MarshalSize()))
		if h := uint32(p.SequenceNumber) + 1; h > b.highest.Load() {
			b.highest.Store(h)
		}
	}
}

// A receiver that NACKs every packet it was sent (the last 250, all in the
// relay's history) every 5 ms draws from the relay no more than its stream
// plus the retransmission budget: (1 + rtx.DefaultBudgetRatio) × what a clean
// receiver of the same track gets, plus one packet a second; the publisher
// sees none of it.
func TestNackEverythingReceiverIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSimNet(t)
		pubNet, cleanNet, evilNet := sim.host(), sim.host(), sim.host()
		if err := sim.router.Start(); err != nil {
			t.Fatal(err)
		}
		defer sim.router.Stop()

		var clean, evil byteCounter
		pub := sim.join(pubNet, nil)
		cleanConn := sim.join(cleanNet, clean.onTrack)
		evilConn := sim.join(evilNet, evil.onTrack)

		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "local")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.AddTrack(track); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // 100 packets/s of 1000 bytes: 800 kbit/s
			defer wg.Done()
			payload := make([]byte, 1000)
			for n := uint16(0); ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				payload[0] = 0x10 // VP8 descriptor: start of partition 0
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 3000, Marker: true}, Payload: payload})
			}
		}()
		go func() { // the hostile receiver
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				h := uint16(evil.highest.Load())
				if h == 0 {
					continue
				}
				var seqs []uint16
				for s := h - 250; s != h; s++ {
					seqs = append(seqs, s)
				}
				_ = evilConn.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: evil.ssrc.Load(), Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
			}
		}()

		// Let both receivers get the track, then measure 10 s.
		for clean.packets.Load() == 0 || evil.packets.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		// The hostile receiver's SRTP drops most resends as replays, so
		// what the relay sent it is counted at the relay: its stream (what
		// the clean receiver got) plus every resend.
		cb0, rb0 := clean.bytes.Load(), sim.relay.Stats().Retransmission.ResentBytes
		time.Sleep(10 * time.Second)
		st := sim.relay.Stats().Retransmission
		cb, rb := clean.bytes.Load()-cb0, int64(st.ResentBytes-rb0)
		close(stop)
		wg.Wait()

		ratio := float64(cb+rb) / float64(cb)
		t.Logf("clean receiver %d B; to the NACK-everything receiver its stream plus %d B resent: ratio %.3f; relay resent %d packets, refused %d for the budget, %d as repeats",
			cb, rb, ratio, st.Resent, st.RefusedBudget, st.RefusedRepeat)
		bound := 1 + rtx.DefaultBudgetRatio + float64(rtx.DefaultBudgetBurst)/float64(cb/10)
		if ratio > bound+0.02 { // header sizes differ slightly between the two counts
			t.Errorf("the hostile receiver drew %.3f× a clean one's bytes, bound %.3f", ratio, bound)
		}
		if ratio < 1+rtx.DefaultBudgetRatio/2 {
			t.Errorf("ratio %.3f: NACKs were hardly answered, the test proves nothing", ratio)
		}
		if st.RefusedBudget == 0 {
			t.Error("no NACK refused for the budget")
		}
		if ps := pub.RetransmissionStats(); ps.Resent != 0 {
			t.Errorf("the publisher resent %d packets: the relay passed NACKs upstream", ps.Resent)
		}

		for _, c := range []*transport.Conn{pub, cleanConn, evilConn} {
			c.Close()
		}
		if err := sim.relay.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Receivers asking for keyframes every 50 ms get the publisher at most one
// request per relay.KeyframeInterval between them; a request inside the
// interval is merged, not lost: it reaches the publisher when the interval
// ends.
func TestKeyframeRequestsCoalescedPerPublisher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newSimNet(t)
		pubNet, aNet, bNet := sim.host(), sim.host(), sim.host()
		if err := sim.router.Start(); err != nil {
			t.Fatal(err)
		}
		defer sim.router.Stop()
		var ra, rb byteCounter
		pub := sim.join(pubNet, nil)
		a := sim.join(aNet, ra.onTrack)
		b := sim.join(bNet, rb.onTrack)
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "local")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := pub.AddTrack(track)
		if err != nil {
			t.Fatal(err)
		}
		var plis []time.Time
		var mu sync.Mutex
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						mu.Lock()
						plis = append(plis, time.Now())
						mu.Unlock()
					}
				}
			}
		}()
		stop := make(chan struct{})
		go func() {
			for n := uint16(0); ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(33 * time.Millisecond):
				}
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 3000, Marker: true}, Payload: []byte{0x10, 1, 2, 3}})
			}
		}()
		for ra.packets.Load() == 0 || rb.packets.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(plis) }
		before, st0 := count(), sim.relay.Stats()
		const storm = 10 * time.Second
		for end := time.Now().Add(storm); time.Now().Before(end); {
			_ = a.RequestKeyframe(webrtc.SSRC(ra.ssrc.Load()))
			_ = b.RequestKeyframe(webrtc.SSRC(rb.ssrc.Load()))
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(relay.KeyframeInterval + 100*time.Millisecond) // the last merged request goes out
		perStorm := int(storm / relay.KeyframeInterval)
		got, st := count()-before, sim.relay.Stats()
		t.Logf("%d keyframe requests from receivers in %v: the publisher got %d, relay sent %d, merged %d", 2*storm/(50*time.Millisecond), storm, got, st.KeyframeReqs-st0.KeyframeReqs, st.KeyframeCoalesced-st0.KeyframeCoalesced)
		if got > perStorm+2 {
			t.Errorf("publisher got %d keyframe requests in %v", got, storm)
		}
		if got < perStorm-1 {
			t.Errorf("publisher got only %d keyframe requests in %v: requests were dropped, not merged", got, storm)
		}
		mu.Lock()
		for i := 1; i < len(plis); i++ {
			if d := plis[i].Sub(plis[i-1]); d < relay.KeyframeInterval-10*time.Millisecond {
				t.Errorf("two keyframe requests %v apart", d)
			}
		}
		mu.Unlock()
		if st.KeyframeCoalesced == st0.KeyframeCoalesced {
			t.Error("no request counted as merged")
		}
		close(stop)
		for _, c := range []*transport.Conn{pub, a, b} {
			c.Close()
		}
		if err := sim.relay.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
