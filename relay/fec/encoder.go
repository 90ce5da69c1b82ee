package fec

import (
	"math"
	"time"
)

// Policy: when parity is sent and how much (docs/RELAY.md, "Forward error
// correction").
//
// Retransmission repairs a loss in about one round trip; below MinRTT that
// is within a frame interval or two and costs only the lost packets again,
// so parity (which costs its rate on every packet, lost or not) is not
// worth it. Above it, a repair takes longer than the 200 ms after which a
// picture counts as frozen once the wait for a retransmission is added, so
// the further the receiver, the more of its losses parity should repair:
// the share of parity is a base that grows from RatioBase at MinRTT to
// RatioBase + RatioFar at FarRTT and beyond, plus RatioPerLoss × loss, at
// most MaxRatio. Parity turns on at OnLoss and off below OffLoss
// (hysteresis, so a receiver near the threshold does not flip every
// report).
const (
	MinRTT       = 40 * time.Millisecond
	FarRTT       = 200 * time.Millisecond
	OnLoss       = 0.01
	OffLoss      = 0.005
	RatioBase    = 0.1
	RatioFar     = 0.1
	RatioPerLoss = 2.5
	MaxRatio     = 0.5
	// MaxBlockFrames bounds the frames one block spans: a lost packet in
	// a block's first frame is rebuilt when the block closes, so a block
	// of two frames delays that by one frame interval at most.
	MaxBlockFrames = 2
)

// Ratio returns the parity share for a receiver whose link loses the
// fraction loss of its packets (0…1) at round trip rtt, given whether
// parity is on now (for the hysteresis); 0 means off.
func Ratio(loss float64, rtt time.Duration, on bool) float64 {
	threshold := OnLoss
	if on {
		threshold = OffLoss
	}
	if rtt < MinRTT || loss < threshold || math.IsNaN(loss) {
		return 0
	}
	far := min(float64(rtt-MinRTT)/float64(FarRTT-MinRTT), 1)
	return min(RatioBase+RatioFar*far+RatioPerLoss*loss, MaxRatio)
}

// ParityCount is M for a block of n media packets at ratio: ⌈n × ratio⌉,
// at least 1 and at most min(n, MaxParity).
func ParityCount(n int, ratio float64) int {
	m := int(math.Ceil(float64(n)*ratio - 1e-9))
	return min(max(m, 1), n, MaxParity)
}

// Encoder builds the parity of one receiver's copy of a video stream. It
// is fed the media packets in the order they are forwarded, with the
// sequence numbers the receiver sees, and closes a block at a frame's last
// packet (marker bit) once the block holds ⌈1/ratio⌉ packets or
// MaxBlockFrames frames, so parity never splits a frame. A block with a
// hole (a packet forwarded late, out of order) is given up: its parity
// could not describe the packets the receiver misses. An Encoder is not
// safe for concurrent use.
type Encoder struct {
	pkts   []Packet
	bufs   [][]byte // payload copies, reused
	base   uint16
	next   uint16
	frames int
	broken bool
	out    []byte
}

// Add records one in-order media packet and, when it closes a block at
// ratio (> 0), calls emit with each parity payload, in group order; the
// parity packets take the sequence numbers after seq. The payload passed
// to emit is reused after it returns. ratio ≤ 0 sends no parity and
// drops any open block.
func (e *Encoder) Add(seq uint16, ts uint32, marker bool, payload []byte, ratio float64, emit func(parity []byte)) {
	if ratio <= 0 {
		e.reset()
		return
	}
	if len(e.pkts) > 0 && seq != e.next {
		e.broken = true
	}
	if len(e.pkts) == 0 {
		e.base, e.broken, e.frames = seq, false, 0
	}
	e.next = seq + 1
	if len(e.pkts) >= MaxBlock || len(payload) > MaxPayload {
		e.broken = true
	}
	if !e.broken {
		i := len(e.pkts)
		if i == len(e.bufs) {
			e.bufs = append(e.bufs, nil)
		}
		e.bufs[i] = append(e.bufs[i][:0], payload...)
		e.pkts = append(e.pkts, Packet{Timestamp: ts, Marker: marker, Payload: e.bufs[i]})
	}
	if !marker {
		return
	}
	e.frames++
	target := int(math.Ceil(1/ratio - 1e-9))
	if e.broken {
		e.reset()
		return
	}
	if len(e.pkts) < target && e.frames < MaxBlockFrames {
		return
	}
	m := ParityCount(len(e.pkts), ratio)
	for j := range m {
		e.out = Encode(e.out[:0], e.base, e.pkts, m, j)
		emit(e.out)
	}
	e.reset()
}

func (e *Encoder) reset() {
	e.pkts = e.pkts[:0]
	e.broken = false
	e.frames = 0
}
