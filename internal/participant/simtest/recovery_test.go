package simtest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v5/vnet"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// videoLink drops packets from the relay to one receiver: a fraction at
// random, everything during an outage, or (dropMarker) the last packet of
// every video frame, whose marker bit SRTP leaves in clear, and the
// packets after it with its timestamp (the relay's parity, relay/fec,
// which would rebuild it).
type videoLink struct {
	mu         sync.Mutex
	rng        *rand.Rand
	from, to   net.IP
	rate       float64
	outage     bool
	dropMarker bool
	markerTS   uint32 // timestamp of the last marker packet dropped
	dropped    int
	// sent counts the UDP payload bytes the relay sent to each host,
	// lost ones included.
	sent map[string]int64
}

func (l *videoLink) filter(c vnet.Chunk) bool {
	src, ok1 := c.SourceAddr().(*net.UDPAddr)
	dst, ok2 := c.DestinationAddr().(*net.UDPAddr)
	if !ok1 || !ok2 || !src.IP.Equal(l.from) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = make(map[string]int64)
	}
	l.sent[dst.IP.String()] += int64(len(c.UserData()))
	if !dst.IP.Equal(l.to) {
		return true
	}
	b := c.UserData()
	video := len(b) >= 12 && b[0]&0xc0 == 0x80 && b[1]&0x7f == signal.PayloadTypeVP8
	marker := video && b[1]&0x80 != 0
	var ts uint32
	if video {
		ts = binary.BigEndian.Uint32(b[4:8])
	}
	if l.dropMarker && marker {
		l.markerTS = ts
	}
	afterMarker := l.dropMarker && video && !marker && ts == l.markerTS
	if l.outage || (l.dropMarker && marker) || afterMarker || l.rng.Float64() < l.rate {
		l.dropped++
		return false
	}
	return true
}

func (l *videoLink) set(rate float64, outage bool) {
	l.mu.Lock()
	l.rate, l.outage = rate, outage
	l.mu.Unlock()
}

// videoCall is one publisher sending video through the relay to one
// receiver, on a virtual network whose every hop takes rtt/2, and whose
// relay→receiver link loses what link decides.
type videoCall struct {
	t        *testing.T
	m        *simMeeting
	relay    *relay.Relay
	link     *videoLink
	pub, sub *participant.Participant
	clean    *participant.Participant // a second receiver without loss, or nil
	pubID    signal.ID

	mu      sync.Mutex
	decoded []receive.FrameInfo
}

func newVideoCall(t *testing.T, rtt time.Duration, until time.Time) *videoCall {
	return newVideoCallWith(t, rtt, until, false)
}

// newVideoCallWith adds, if clean, a second receiver (10.0.0.4) on a link
// without loss.
func newVideoCallWith(t *testing.T, rtt time.Duration, until time.Time, clean bool) *videoCall {
	c := &videoCall{t: t,
		link: &videoLink{rng: rand.New(rand.NewPCG(11, 13)), from: net.ParseIP("10.0.0.1"), to: net.ParseIP("10.0.0.3")}}
	hosts := 3
	if clean {
		hosts = 4 // the clean receiver at 10.0.0.4
	}
	c.m = newSimMeeting(t, newSimNet(t, vnet.RouterConfig{MinDelay: rtt / 2}, hosts, c.link.filter))
	c.relay = c.m.relay
	join := func(host int, cfg participant.Config) (*participant.Participant, signal.ID) {
		p, conn := c.m.join(host, cfg)
		return p, conn.SessionID()
	}
	key := []byte("a test base key of 32 bytes.....")
	c.pub, c.pubID = join(1, participant.Config{Video: newVideoGen(t, until)})
	c.sub, _ = join(2, participant.Config{OnDecoded: func(_ signal.ID, fi receive.FrameInfo) {
		if fi.Kind == framing.KindVideo {
			c.mu.Lock()
			c.decoded = append(c.decoded, fi)
			c.mu.Unlock()
		}
	}})
	if err := c.sub.SetReceiveKey(c.pubID, 5, key); err != nil {
		t.Fatal(err)
	}
	if clean {
		c.clean, _ = join(3, participant.Config{})
		if err := c.clean.SetReceiveKey(c.pubID, 5, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.pub.SetSendKey(5, key); err != nil {
		t.Fatal(err)
	}
	for c.video().FramesDecoded == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

func (c *videoCall) video() receive.Stats {
	if v := c.sub.Stats().Remotes[c.pubID.String()].Video; v != nil {
		return *v
	}
	return receive.Stats{}
}

func (c *videoCall) sentKeyframes() uint64 { return c.pub.Stats().Sent.Video.Keyframes }

func (c *videoCall) decodedSince(t time.Time) []receive.FrameInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, _ := slices.BinarySearchFunc(c.decoded, t, func(fi receive.FrameInfo, t time.Time) int { return fi.Decoded.Compare(t) })
	return slices.Clone(c.decoded[i:])
}

// frozen is the share of [from, to] spent more than 200 ms after the last
// decoded frame, counted whole (as the field benchmark counts it).
func frozen(fis []receive.FrameInfo, from, to time.Time) (float64, time.Duration) {
	var stalled, worst time.Duration
	prev := from
	for _, fi := range append(fis, receive.FrameInfo{Decoded: to}) {
		if fi.Decoded.After(to) {
			fi.Decoded = to
		}
		if g := fi.Decoded.Sub(prev); g > 200*time.Millisecond {
			stalled += g
			worst = max(worst, g)
		}
		prev = fi.Decoded
	}
	return float64(stalled) / float64(to.Sub(from)), worst
}

func (c *videoCall) close() { c.m.close() }

// A receiver cut off for 3 s, or one whose every frame misses its last
// packet for 3 s (it receives, but nothing completes), is showing video
// again within 1 s of the network healing: it gave the frames up and
// asked for a keyframe, even though it decrypted nothing meanwhile.
func TestStuckReceiverRecoversByKeyframeWithin1s(t *testing.T) {
	for _, stuck := range []string{"outage", "no frame completes"} {
		t.Run(stuck, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newVideoCall(t, 40*time.Millisecond, time.Now().Add(12*time.Second))
				defer c.close()
				time.Sleep(time.Second)
				if stuck == "outage" {
					c.link.set(0, true)
				} else {
					c.link.mu.Lock()
					c.link.dropMarker = true
					c.link.mu.Unlock()
				}
				time.Sleep(3 * time.Second)
				before := c.video()
				healed := time.Now()
				c.link.mu.Lock()
				c.link.outage, c.link.dropMarker = false, false
				c.link.mu.Unlock()
				time.Sleep(2 * time.Second)
				after := c.video()

				fis := c.decodedSince(healed)
				if len(fis) == 0 {
					t.Fatalf("no video within 2 s of healing: %+v", after)
				}
				back := fis[0].Decoded.Sub(healed)
				t.Logf("%s: video back %v after healing (first frame keyframe %v); keyframe requests %d → %d, gaps %d",
					stuck, back, fis[0].Keyframe, before.KeyframeRequests, after.KeyframeRequests, after.Dropped.Gap)
				if back > time.Second {
					t.Errorf("video back %v after the network healed, want ≤ 1 s", back)
				}
				if !fis[0].Keyframe {
					t.Error("recovered without a keyframe")
				}
				if stuck != "outage" && before.KeyframeRequests == 0 {
					t.Error("a receiver whose frames never completed asked for no keyframe")
				}
			})
		})
	}
}

// Retransmission repairs loss however long the round trip: at 5 % loss
// with 100 ms RTT and at 2 % loss with 200 ms RTT, frames missing a packet
// still complete through NACK (a fixed 150 ms wait gave every repair up at
// 200 ms), and one lossy receiver does not push the publisher past one
// requested keyframe per relay.KeyframeInterval. At 100 ms video is frozen (no new frame
// for over 200 ms) at most 5 % of the time, the goal. At 200 ms
// every repair takes a round trip, more than 200 ms, so each lost packet
// freezes the picture: the 3 % needs forward error correction,
// which Sotto does not have (docs/RELAY.md); the test holds what NACK
// alone achieves there.
func TestNackRepairScalesWithRTT(t *testing.T) {
	for _, tc := range []struct {
		loss      float64
		rtt       time.Duration
		maxFrozen float64
	}{
		{0.05, 100 * time.Millisecond, 0.05},
		{0.02, 200 * time.Millisecond, 0.30},
	} {
		t.Run(fmt.Sprintf("loss=%g%%/rtt=%v", tc.loss*100, tc.rtt), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const run = 30 * time.Second
				c := newVideoCall(t, tc.rtt, time.Now().Add(run+3*time.Second))
				defer c.close()
				time.Sleep(500 * time.Millisecond)
				before, keys0, rs0 := c.video(), c.sentKeyframes(), c.relay.Stats()
				sent0 := c.pub.Stats().Sent.Video.Frames
				start := time.Now()
				c.link.set(tc.loss, false)
				time.Sleep(run)
				end := time.Now()
				c.link.set(0, false)
				after, keys1, rs1 := c.video(), c.sentKeyframes(), c.relay.Stats()
				sent := c.pub.Stats().Sent.Video.Frames - sent0

				fis := c.decodedSince(start)
				fr, worst := frozen(fis, start, end)
				decoded := after.FramesDecoded - before.FramesDecoded
				c.link.mu.Lock()
				dropped := c.link.dropped
				c.link.mu.Unlock()
				t.Logf("loss %.0f%% rtt %v: %d packets lost, decoded %d of %d frames, frozen %.1f%% (worst %v), gaps %d, receiver rtt %v; keyframes %d (relay asked %d, merged %d); resent %d, refused %d",
					tc.loss*100, tc.rtt, dropped, decoded, sent, fr*100, worst, after.Dropped.Gap-before.Dropped.Gap, c.m.conns[1].RTT(),
					keys1-keys0, rs1.KeyframeReqs-rs0.KeyframeReqs, rs1.KeyframeCoalesced-rs0.KeyframeCoalesced,
					rs1.Retransmission.Resent-rs0.Retransmission.Resent, rs1.Retransmission.RefusedBudget-rs0.Retransmission.RefusedBudget)
				if dropped < 20 {
					t.Fatalf("only %d packets lost: the test proves nothing", dropped)
				}
				if g := after.Dropped.Gap - before.Dropped.Gap; g > 1 {
					t.Errorf("%d runs of frames given up: repairs did not arrive in time", g)
				}
				if decoded < sent*95/100 {
					t.Errorf("decoded %d of %d frames: NACK did not repair the loss", decoded, sent)
				}
				if fr > tc.maxFrozen {
					t.Errorf("video frozen %.1f%% of the time, at most %.0f%% expected", fr*100, tc.maxFrozen*100)
				}
				if reqs := rs1.KeyframeReqs - rs0.KeyframeReqs; reqs > int64(run/relay.KeyframeInterval)+1 {
					t.Errorf("relay asked the publisher for %d keyframes in %v", reqs, run)
				}
			})
		})
	}
}

// A receiver losing 5 % of its packets at 100 ms RTT costs the relay at
// most 1.5 times what it sends a clean receiver of the same track
// (relay-tx-ratio, the goal), and does not raise the publisher's
// keyframe rate above its periodic keyframes plus one per
// relay.KeyframeInterval.
func TestLossyReceiverTxRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const run = 20 * time.Second
		c := newVideoCallWith(t, 100*time.Millisecond, time.Now().Add(run+3*time.Second), true)
		defer c.close()
		for c.clean.Stats().Remotes[c.pubID.String()].Video == nil {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		snap := func() (lossy, clean int64) {
			c.link.mu.Lock()
			defer c.link.mu.Unlock()
			return c.link.sent["10.0.0.3"], c.link.sent["10.0.0.4"]
		}
		l0, c0 := snap()
		k0, r0 := c.sentKeyframes(), c.relay.Stats()
		start := time.Now()
		c.link.set(0.05, false)
		time.Sleep(run)
		l1, c1 := snap()
		k1, r1 := c.sentKeyframes(), c.relay.Stats()
		fr, _ := frozen(c.decodedSince(start), start, time.Now())
		ratio := float64(l1-l0) / float64(c1-c0)
		t.Logf("relay sent %d B to the lossy receiver, %d B to the clean one: relay-tx-ratio %.3f; frozen %.1f%%; keyframes %d in %v (relay asked %d, merged %d); resent %d",
			l1-l0, c1-c0, ratio, fr*100, k1-k0, run, r1.KeyframeReqs-r0.KeyframeReqs, r1.KeyframeCoalesced-r0.KeyframeCoalesced,
			r1.Retransmission.Resent-r0.Retransmission.Resent)
		if ratio > 1.5 {
			t.Errorf("relay-tx-ratio %.3f, goal 1.5", ratio)
		}
		if ratio < 1.02 {
			t.Errorf("relay-tx-ratio %.3f: nothing was resent, the test proves nothing", ratio)
		}
		periodic := uint64(run/time.Second) / 3 // the encoder's keyframe every 90 frames
		if got := k1 - k0; got > periodic+uint64(run/relay.KeyframeInterval)+1 {
			t.Errorf("%d keyframes in %v", got, run)
		}
	})
}
