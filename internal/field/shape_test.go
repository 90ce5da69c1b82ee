package field

import (
	"encoding/binary"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// rtpPacket is a minimal RTP packet of size bytes (RFC 3550 §5.1).
func rtpPacket(pt uint8, seq uint16, ssrc uint32, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x80
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

type arrivals struct {
	mu    sync.Mutex
	at    []time.Time
	bytes int
	seqs  []uint16
}

// snapshot returns copies of what arrived.
func (a *arrivals) snapshot() (at []time.Time, bytes int, seqs []uint16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...), a.bytes, append([]uint16(nil), a.seqs...)
}

func (a *arrivals) out(b []byte) {
	a.mu.Lock()
	a.at = append(a.at, time.Now())
	a.bytes += len(b)
	a.seqs = append(a.seqs, binary.BigEndian.Uint16(b[2:]))
	a.mu.Unlock()
}

// A 300 kbit/s token bucket fed 1 Mbit/s: it passes 300 kbit/s (plus its
// burst), queues at most QueueBytes (so at most 400 ms of delay at this
// rate) and drops the rest; it keeps the order.
func TestLinkRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, size = 300_000, 1000
		p := newPipe(Link{RateBps: rate}, 1, &origins{first: map[uint8]uint16{}}, true)
		defer p.close()
		var a arrivals
		start := time.Now()
		const n = 1250 // 10 s at 1 Mbit/s
		for i := range n {
			p.send(rtpPacket(96, uint16(i), 1, size), a.out)
			time.Sleep(8 * time.Millisecond)
		}
		time.Sleep(time.Second) // drain
		st := p.snapshot()
		at, total, seqs := a.snapshot()
		span := at[len(at)-1].Sub(start).Seconds()
		got := float64(total*8) / span
		t.Logf("delivered %d of %d packets, %.0f bit/s, %d dropped at the queue, max delay %v", st.Delivered, n, got, st.QueueDrops, st.MaxDelay)
		if got > rate*1.05 || got < rate*0.9 {
			t.Errorf("throughput %.0f bit/s, want about %d", got, rate)
		}
		if st.QueueDrops == 0 || st.Delivered+st.QueueDrops != n {
			t.Errorf("delivered %d + dropped %d of %d", st.Delivered, st.QueueDrops, n)
		}
		if st.MaxDelay > 400*time.Millisecond+tieSpread+time.Millisecond {
			t.Errorf("queueing delay %v beyond the 400 ms queue", st.MaxDelay)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Fatalf("rate limiter reordered: %d after %d", seqs[i], seqs[i-1])
			}
		}
	})
}

// Loss is a function of the packet's place in its stream: the same
// packets are lost whatever order two streams' packets reach the link in,
// and a retransmission of a lost packet gets its own draw.
func TestLinkLossIsPerPacket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lost := func(interleave bool) map[[2]uint16]bool {
			p := newPipe(Link{Loss: 0.2}, 7, &origins{first: map[uint8]uint16{}}, true)
			defer p.close()
			var a, v arrivals
			for i := range 500 {
				if interleave {
					p.send(rtpPacket(111, uint16(1000+i), 1, 100), a.out)
					p.send(rtpPacket(96, uint16(5000+i), 2, 100), v.out)
				} else {
					p.send(rtpPacket(96, uint16(5000+i), 2, 100), v.out)
					p.send(rtpPacket(111, uint16(1000+i), 1, 100), a.out)
				}
			}
			time.Sleep(time.Second) // past the tie-breaking delay
			got := map[[2]uint16]bool{}
			for i := range 500 {
				got[[2]uint16{111, uint16(1000 + i)}] = true
				got[[2]uint16{96, uint16(5000 + i)}] = true
			}
			_, _, as := a.snapshot()
			_, _, vs := v.snapshot()
			for _, s := range as {
				delete(got, [2]uint16{111, s})
			}
			for _, s := range vs {
				delete(got, [2]uint16{96, s})
			}
			return got
		}
		x, y := lost(true), lost(false)
		if len(x) < 150 || len(x) > 250 {
			t.Errorf("lost %d of 1000 at 20 %%", len(x))
		}
		if len(x) != len(y) {
			t.Fatalf("lost %d, then %d in another order", len(x), len(y))
		}
		for k := range x {
			if !y[k] {
				t.Fatalf("packet %v lost in one order only", k)
			}
		}
		// Retransmissions: each lost packet sent again is lost again
		// only about 20 % of the time.
		p := newPipe(Link{Loss: 0.2}, 7, &origins{first: map[uint8]uint16{}}, true)
		defer p.close()
		var a arrivals
		for i := range 500 {
			p.send(rtpPacket(111, uint16(1000+i), 1, 100), a.out)
		}
		before := p.snapshot().Lost
		for k := range x {
			if k[0] == 111 {
				p.send(rtpPacket(111, k[1], 1, 100), a.out)
			}
		}
		again := p.snapshot().Lost - before
		if again*2 > before {
			t.Errorf("%d of %d retransmissions lost again", again, before)
		}
	})
}
