// Package simtest runs the relay and its clients on pion's virtual network
// inside testing/synctest bubbles: deterministic time, injected loss, no
// real sockets. It is a separate package so that nothing it starts shares a
// test binary with real-time tests.
package simtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
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
	"github.com/sottohq/sotto/relay/signal"
)

// tailLen is how many final packets of a stream a loss test does not
// count: a lost packet is only NACKed once a later packet reveals the gap.
const tailLen = 5

// lossyMedia drops a share of media-sized packets (ICE, DTLS and RTCP are
// smaller and pass) sent to one address, or on every link when to is empty.
// Its generator is seeded so that runs repeat.
type lossyMedia struct {
	mu      sync.Mutex
	rng     *rand.Rand
	rate    float64
	to      string
	dropped int
}

func newLossyMedia(seed uint64, rate float64, to string) *lossyMedia {
	return &lossyMedia{rng: rand.New(rand.NewPCG(seed, seed+1)), rate: rate, to: to}
}

func (l *lossyMedia) filter(c vnet.Chunk) bool {
	if len(c.UserData()) < 300 {
		return true
	}
	if l.to != "" && c.DestinationAddr().(*net.UDPAddr).IP.String() != l.to {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rng.Float64() < l.rate {
		l.dropped++
		return false
	}
	return true
}

func (l *lossyMedia) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// vnetMeeting is a relay at 10.0.0.1 on a virtual network whose packets
// pass through loss, and the hosts its clients use (10.0.0.2 onwards).
type vnetMeeting struct {
	t       *testing.T
	relay   *relay.Relay
	meeting signal.ID
	hosts   []*vnet.Net
}

func newVNetMeeting(t *testing.T, loss *lossyMedia, hosts int) *vnetMeeting {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	router.AddChunkFilter(loss.filter)
	relayNet := vnettest.Host(t, router, "10.0.0.1")
	m := &vnetMeeting{t: t, meeting: signal.NewID()}
	for i := range hosts {
		m.hosts = append(m.hosts, vnettest.Host(t, router, fmt.Sprintf("10.0.0.%d", i+2)))
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	m.relay, err = relay.New(relay.Config{Net: relayNet})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dial joins the meeting from host n over in-memory signaling.
func (m *vnetMeeting) dial(n *vnet.Net, onTrack func(transport.RemoteTrack)) *transport.Conn {
	cli, srv := signal.Pipe()
	go m.relay.ServeConn(context.Background(), srv)
	c, err := transport.Dial(context.Background(), transport.Config{Conn: cli, MeetingID: m.meeting, Net: n, OnTrack: onTrack})
	if err != nil {
		m.t.Fatalf("dial: %v", err)
	}
	return c
}

// Two clients meet through a relay on a virtual network that drops 5% of
// media-sized packets on every link. NACKs answered by the publisher
// (upstream) and by the relay (downstream) recover every packet.
func TestVNetMeetingWithLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loss := newLossyMedia(1, 0.05, "")
		m := newVNetMeeting(t, loss, 2)
		r, dial := m.relay, m.dial
		netA, netB := m.hosts[0], m.hosts[1]

		const total = 300 // 3 s of 100 packets/s
		got := make(map[uint16]bool)
		var bad int
		var gotMu sync.Mutex
		var readers sync.WaitGroup
		b := dial(netB, func(rt transport.RemoteTrack) {
			readers.Add(1)
			defer readers.Done()
			for {
				p, _, err := rt.Track.ReadRTP()
				if err != nil {
					return
				}
				gotMu.Lock()
				if len(p.Payload) != 1000 || binary.BigEndian.Uint16(p.Payload) != p.SequenceNumber {
					bad++
				}
				got[p.SequenceNumber] = true
				gotMu.Unlock()
			}
		})
		a := dial(netA, nil)
		defer func() {
			a.Close()
			b.Close()
			readers.Wait()
			if err := r.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}()

		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "a")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := a.AddTrack(track)
		if err != nil {
			t.Fatalf("add track: %v", err)
		}
		var plis int
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						plis++
					}
				}
			}
		}()
		// Wait for the media path, then send paced packets.
		for a.PeerConnection().ConnectionState() != webrtc.PeerConnectionStateConnected {
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < total; i++ {
			payload := make([]byte, 1000)
			binary.BigEndian.PutUint16(payload, uint16(i))
			if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 900}, Payload: payload}); err != nil {
				t.Fatalf("write: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // let retransmissions finish

		gotMu.Lock()
		n := len(got)
		gotMu.Unlock()
		d := loss.count()
		st := r.Stats()
		_ = n
		t.Logf("sent %d, received %d distinct, %d media packets dropped by the network, relay in=%d out=%d", total, n, d, st.PacketsIn, st.PacketsOut)
		if d == 0 {
			t.Fatal("the loss filter dropped nothing; the test proves nothing")
		}
		if bad != 0 {
			t.Fatalf("%d packets arrived altered", bad)
		}
		// Packets sent before the receiver's track was bound are not
		// expected; everything after the first received one must arrive.
		first := uint16(total)
		for s := range got {
			first = min(first, s)
		}
		// A lost packet is noticed (and NACKed) only when a later one
		// arrives, so the last tailLen packets may stay lost: they are sent
		// but not counted.
		var missing []int
		gotMu.Lock()
		for s := int(first); s < total-tailLen; s++ {
			if !got[uint16(s)] {
				missing = append(missing, s)
			}
		}
		gotMu.Unlock()
		if len(missing) != 0 {
			t.Fatalf("packets %v lost after NACK recovery (first received %d)", missing, first)
		}
		if first > 50 {
			t.Fatalf("first packet received was %d: the receiver joined the stream late", first)
		}
	})
}

// One receiver behind a lossy link costs nobody else: the relay answers its
// NACKs from its own buffer, so the publisher sees no NACK at all, and a
// second receiver on a clean link is unaffected.
func TestVNetLossyReceiverIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 % loss on media toward B only.
		loss := newLossyMedia(3, 0.10, "10.0.0.3")
		m := newVNetMeeting(t, loss, 3)
		r := m.relay
		netA, netB, netC := m.hosts[0], m.hosts[1], m.hosts[2]
		var readers sync.WaitGroup
		type rx struct {
			mu  sync.Mutex
			got map[uint16]bool
		}
		dial := func(n *vnet.Net, into *rx) *transport.Conn {
			var onTrack func(transport.RemoteTrack)
			if into != nil {
				onTrack = func(rt transport.RemoteTrack) {
					readers.Add(1)
					defer readers.Done()
					for {
						p, _, err := rt.Track.ReadRTP()
						if err != nil {
							return
						}
						into.mu.Lock()
						into.got[p.SequenceNumber] = true
						into.mu.Unlock()
					}
				}
			}
			return m.dial(n, onTrack)
		}
		rxB := &rx{got: map[uint16]bool{}}
		rxC := &rx{got: map[uint16]bool{}}
		b := dial(netB, rxB)
		c := dial(netC, rxC)
		a := dial(netA, nil)
		defer func() {
			a.Close()
			b.Close()
			c.Close()
			readers.Wait()
			if err := r.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "a")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := a.AddTrack(track)
		if err != nil {
			t.Fatal(err)
		}
		var nacks sync.WaitGroup
		var nackCount int
		nacks.Add(1)
		go func() {
			defer nacks.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.TransportLayerNack); ok {
						nackCount++
					}
				}
			}
		}()
		for a.PeerConnection().ConnectionState() != webrtc.PeerConnectionStateConnected {
			time.Sleep(10 * time.Millisecond)
		}
		// Both receivers must be bound before counting from packet 0.
		time.Sleep(500 * time.Millisecond)
		const total = 300
		for i := 0; i < total; i++ {
			payload := make([]byte, 1000)
			if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 900}, Payload: payload}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		d := loss.count()
		rxB.mu.Lock()
		nb := len(rxB.got)
		rxB.mu.Unlock()
		rxC.mu.Lock()
		nc := len(rxC.got)
		rxC.mu.Unlock()
		t.Logf("dropped toward B: %d; B got %d, C got %d of %d", d, nb, nc, total)
		if d == 0 {
			t.Fatal("nothing dropped toward B")
		}
		// Forwarding starts when the relay sees the publisher's first
		// packet; count from the first packet each receiver got.
		for name, x := range map[string]*rx{"B": rxB, "C": rxC} {
			x.mu.Lock()
			first := uint16(total)
			for s := range x.got {
				first = min(first, s)
			}
			var missing []uint16
			for s := first; s < total-tailLen; s++ {
				if !x.got[s] {
					missing = append(missing, s)
				}
			}
			x.mu.Unlock()
			if first > 10 || len(missing) > 0 {
				t.Errorf("%s: first packet %d, missing %v", name, first, missing)
			}
		}
		a.Close()
		nacks.Wait()
		if nackCount != 0 {
			t.Errorf("publisher received %d NACKs for a receiver's loss", nackCount)
		}
	})
}
