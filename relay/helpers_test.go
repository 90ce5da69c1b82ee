package relay_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// payloadFor is the deterministic payload of packet n of a track: the
// receiver recomputes it to check that forwarding left it byte-identical.
func payloadFor(trackID string, n uint32) []byte {
	size := 60 + int(n%7)*150 // 60 … 960 bytes
	out := make([]byte, 0, size+32)
	out = binary.BigEndian.AppendUint32(out, n)
	var ctr uint32
	for len(out) < size {
		h := sha256.New()
		fmt.Fprintf(h, "%s/%d/%d", trackID, n, ctr)
		out = h.Sum(out)
		ctr++
	}
	return out[:size]
}

// client is a test participant publishing one video and one audio track.
type client struct {
	t    *testing.T
	conn *transport.Conn
	stop chan struct{}
	wg   sync.WaitGroup

	plis atomic.Int64 // keyframe requests that reached this publisher

	mu       sync.Mutex
	received map[recvKey]*recvStats
	trackIDs []string
	senders  []*webrtc.RTPSender // by trackIDs
}

// recvKey names a received track: its publisher's session and track ID.
type recvKey struct {
	session signal.ID
	trackID string
}

type recvStats struct {
	session   signal.ID
	trackID   string
	ssrc      webrtc.SSRC
	good, bad atomic.Int64
	ended     atomic.Bool

	srMu sync.Mutex
	srs  []rtcp.SenderReport // sender reports received for the track
}

func (st *recvStats) reports() []rtcp.SenderReport {
	st.srMu.Lock()
	defer st.srMu.Unlock()
	return append([]rtcp.SenderReport(nil), st.srs...)
}

func newClient(t *testing.T, cfg transport.Config) *client {
	t.Helper()
	cfg.SettingEngine = signal.LoopbackOnly
	return newClientWith(t, cfg)
}

// newClientWith dials with cfg's own SettingEngine hook.
func newClientWith(t *testing.T, cfg transport.Config) *client {
	t.Helper()
	c := &client{t: t, stop: make(chan struct{}), received: make(map[recvKey]*recvStats)}
	cfg.OnTrack = c.onTrack
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.conn = conn
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.conn.Close()
	c.wg.Wait()
}

// publish adds a VP8 and an Opus track and sends paced packets on both.
func (c *client) publish() {
	c.t.Helper()
	for _, k := range []struct {
		id    string
		codec webrtc.RTPCodecCapability
		every time.Duration
	}{
		{"video-" + c.conn.SessionID().String()[:6], webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, 10 * time.Millisecond},
		{"audio-" + c.conn.SessionID().String()[:6], webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 20 * time.Millisecond},
	} {
		track, err := webrtc.NewTrackLocalStaticRTP(k.codec, k.id, "local")
		if err != nil {
			c.t.Fatalf("new track: %v", err)
		}
		sender, err := c.conn.AddTrack(track)
		if err != nil {
			c.t.Fatalf("add track: %v", err)
		}
		c.trackIDs = append(c.trackIDs, k.id)
		c.senders = append(c.senders, sender)
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						c.plis.Add(1)
					}
				}
			}
		}()
		go func(id string, every time.Duration) {
			defer c.wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			var n uint32
			for {
				select {
				case <-c.stop:
					return
				case <-tick.C:
				}
				p := &rtp.Packet{
					Header:  rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: n%3 == 2},
					Payload: payloadFor(id, n),
				}
				// Errors only mean the connection is going away; the loop
				// ends with c.stop.
				_ = track.WriteRTP(p)
				n++
			}
		}(k.id, k.every)
	}
}

func (c *client) onTrack(rt transport.RemoteTrack) {
	st := &recvStats{session: rt.SessionID, trackID: rt.Track.ID(), ssrc: rt.Track.SSRC()}
	c.mu.Lock()
	c.received[recvKey{rt.SessionID, rt.Track.ID()}] = st
	c.mu.Unlock()
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		for {
			pkts, _, err := rt.Receiver.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					st.srMu.Lock()
					st.srs = append(st.srs, *sr)
					st.srMu.Unlock()
				}
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		defer st.ended.Store(true)
		for {
			p, _, err := rt.Track.ReadRTP()
			if err != nil {
				return
			}
			if len(p.Payload) < 4 {
				st.bad.Add(1)
				continue
			}
			n := binary.BigEndian.Uint32(p.Payload)
			if string(p.Payload) == string(payloadFor(st.trackID, n)) && p.SequenceNumber == uint16(n) && p.Timestamp == n*3000 {
				st.good.Add(1)
			} else {
				st.bad.Add(1)
			}
		}
	}()
}

func (c *client) stats(session signal.ID, trackID string) *recvStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received[recvKey{session, trackID}]
}

// receivedAtLeast reports whether c got n good packets on every track of
// every publisher in pubs.
func (c *client) receivedAtLeast(n int64, pubs ...*client) bool {
	for _, p := range pubs {
		for _, id := range p.trackIDs {
			st := c.stats(p.conn.SessionID(), id)
			if st == nil || st.good.Load() < n {
				return false
			}
		}
	}
	return true
}

// nextEvent returns the next event of a type, skipping others.
func nextEvent[T transport.Event](t *testing.T, c *transport.Conn, timeout time.Duration) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				var zero T
				t.Fatalf("events closed while waiting for %T", zero)
			}
			if v, ok := e.(T); ok {
				return v
			}
		case <-timer.C:
			var zero T
			t.Fatalf("no %T within %v", zero, timeout)
		}
	}
}
