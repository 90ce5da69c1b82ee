package receive_test

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/relay/fec"
)

// A parity packet is the longest packet on the wire: its header plus the
// longest media payload the packetizer makes still fit the MTU.
func TestParityFitsTheMTU(t *testing.T) {
	if fec.HeaderLen+framing.MaxVideoPayload+12 > framing.MTU {
		t.Fatalf("parity of a %d-byte payload exceeds the %d-byte MTU", framing.MaxVideoPayload, framing.MTU)
	}
}

// parityRelay is what the relay does for a lossy receiver: it numbers the
// packets past the parity it inserts (relay/fecout.go) and adds parity at
// ratio. Then it loses, alternately, the first media packet of a block and
// the first parity packet of a block whose media all arrive.
type parityRelay struct {
	enc        fec.Encoder
	shift      uint16
	block      int
	blockStart bool
	dropped    int
	lostParity int
}

func (r *parityRelay) forward(p *rtp.Packet) []*rtp.Packet {
	p.SequenceNumber += r.shift
	var out []*rtp.Packet
	if r.blockStart && r.block >= 2 && r.block%2 == 0 {
		r.dropped++
	} else {
		out = append(out, p)
	}
	r.blockStart = false
	k := uint16(0)
	r.enc.Add(p.SequenceNumber, p.Timestamp, p.Marker, p.Payload, 0.5, func(par []byte) {
		k++
		q := p.Clone()
		q.SequenceNumber = p.SequenceNumber + k
		q.Marker = false
		q.Payload = append([]byte(nil), par...)
		if k == 1 && r.block >= 2 && r.block%2 == 1 {
			r.lostParity++
			return
		}
		out = append(out, q)
	})
	if k > 0 {
		r.shift += k
		r.block++
		r.blockStart = true
	}
	return out
}

func TestPipelineRebuildsLostPacketsFromParity(t *testing.T) {
	h := newHarness(t, 90)
	relay := &parityRelay{blockStart: true}
	h.link.mitm = relay.forward
	maxLag := 0
	prev := h.link.to
	h.link.to = func(p *rtp.Packet) {
		prev(p)
		maxLag = max(maxLag, h.src.n-h.decoded)
	}
	st := h.run(t)
	if relay.dropped < 10 || relay.lostParity < 10 {
		t.Fatalf("the relay lost %d media and %d parity packets; the test needs more", relay.dropped, relay.lostParity)
	}
	if h.decoded != 90 || st.Dropped.Gap != 0 || h.plis != 0 {
		t.Fatalf("decoded %d of 90, %d gaps, %d keyframe requests", h.decoded, st.Dropped.Gap, h.plis)
	}
	if st.Recovered != uint64(relay.dropped) || st.ParityPackets == 0 {
		t.Fatalf("rebuilt %d of %d lost packets (%d parity)", st.Recovered, relay.dropped, st.ParityPackets)
	}
	// A lost packet waits at most for its block's parity (two frames);
	// a lost parity packet holds nothing back.
	if maxLag > 2 {
		t.Fatalf("a frame waited %d frames", maxLag)
	}
}

// Without parity the same losses need a retransmission or a keyframe: the
// test above fails for the reason it claims.
func TestPipelineWithoutParityLosesThoseFrames(t *testing.T) {
	h := newHarness(t, 90)
	relay := &parityRelay{blockStart: true}
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		var out []*rtp.Packet
		for _, q := range relay.forward(p) {
			if !fec.IsParity(q.Payload) {
				out = append(out, q)
			}
		}
		return out
	}
	st := h.run(t)
	if h.decoded == 90 || st.Recovered != 0 {
		t.Fatalf("decoded all 90 frames (%d rebuilt) without parity", st.Recovered)
	}
}
