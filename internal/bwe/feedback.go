package bwe

import (
	"errors"
	"time"

	"github.com/pion/rtcp"
)

// Sizes of the transport-cc bookkeeping.
const (
	// historySize is how many sent packets are remembered for feedback,
	// by transport-wide sequence number: at 200 packets/s, 20 s.
	historySize = 4096
	// maxStatuses bounds the packet statuses one feedback may carry: a
	// feedback covering more than the history could match nothing more,
	// and a hostile one must not cost unbounded work.
	maxStatuses = historySize
	// refUnit is the feedback's reference time unit
	// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): 64 ms.
	refUnit = 64 * time.Millisecond
	// refWrap is the 24-bit reference time's period, in units.
	refWrap = 1 << 24
)

// Result is what feedback said of one packet sent.
type Result struct {
	// Sent is when the packet left, on the sender's clock; Size is its
	// RTP size (header and payload) in bytes.
	Sent time.Time
	Size int
	// Received reports the packet arrived; Arrival is when, on the
	// receiver's clock (an arbitrary origin: only differences count).
	Received bool
	Arrival  time.Duration
}

// History remembers the packets sent, by transport-wide sequence
// number, and turns transport-cc feedback into Results. It is not safe
// for concurrent use.
type History struct {
	ring [historySize]sent
	// Reference time unwrapping: the first feedback's reference is the
	// origin of Arrival.
	haveRef bool
	lastRef uint32
	ref     int64 // unwrapped reference of the last feedback, in units
	// Rejected counts feedback that could not be used (ErrFeedback).
	Rejected uint64
}

type sent struct {
	seq   uint16
	valid bool
	// A packet is reported received once; reported lost once, unless it
	// is then reported received (it came late).
	acked, lost bool
	at          time.Time
	size        int
}

// Sent records a packet as it leaves.
func (h *History) Sent(seq uint16, at time.Time, size int) {
	h.ring[int(seq)%historySize] = sent{seq: seq, valid: true, at: at, size: size}
}

// ErrFeedback is returned for transport-cc feedback whose statuses do
// not match its chunks and deltas, or that covers too many packets.
var ErrFeedback = errors.New("bwe: malformed transport-cc feedback")

// Feedback appends to out the Results of the packets fb reports, in
// sequence order. Packets not in the history (never sent, too old, or
// already reported) are skipped. A malformed feedback changes nothing
// and returns ErrFeedback.
func (h *History) Feedback(fb *rtcp.TransportLayerCC, out []Result) ([]Result, error) {
	n := int(fb.PacketStatusCount)
	if n > maxStatuses {
		h.Rejected++
		return out, ErrFeedback
	}
	// Statuses first, so that a malformed packet is refused whole.
	var statuses [maxStatuses]uint8
	k := 0
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for j := 0; j < int(c.RunLength) && k < n; j++ {
				statuses[k] = uint8(c.PacketStatusSymbol)
				k++
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if k == n {
					break
				}
				if c.SymbolSize == rtcp.TypeTCCSymbolSizeOneBit && s != 0 {
					s = rtcp.TypeTCCPacketReceivedSmallDelta
				}
				statuses[k] = uint8(s)
				k++
			}
		default:
			h.Rejected++
			return out, ErrFeedback
		}
	}
	deltas := 0
	for _, s := range statuses[:k] {
		if s == uint8(rtcp.TypeTCCPacketReceivedSmallDelta) || s == uint8(rtcp.TypeTCCPacketReceivedLargeDelta) {
			deltas++
		}
	}
	if k != n || deltas != len(fb.RecvDeltas) {
		h.Rejected++
		return out, ErrFeedback
	}
	// The reference time is 24 bits of 64 ms: unwrap it against the last
	// feedback's (a difference of up to half the period either way).
	ref := fb.ReferenceTime % refWrap
	if !h.haveRef {
		h.haveRef, h.ref = true, 0
	} else {
		d := int64((ref - h.lastRef) % refWrap)
		if d >= refWrap/2 {
			d -= refWrap
		}
		h.ref += d
	}
	h.lastRef = ref
	arrival := time.Duration(h.ref) * refUnit
	di := 0
	for i, s := range statuses[:k] {
		seq := fb.BaseSequenceNumber + uint16(i)
		received := s == uint8(rtcp.TypeTCCPacketReceivedSmallDelta) || s == uint8(rtcp.TypeTCCPacketReceivedLargeDelta)
		if received {
			arrival += time.Duration(fb.RecvDeltas[di].Delta) * time.Microsecond
			di++
		}
		if s == uint8(rtcp.TypeTCCPacketReceivedWithoutDelta) {
			continue // arrived, but no time to learn from
		}
		e := &h.ring[int(seq)%historySize]
		if !e.valid || e.seq != seq || e.acked || (!received && e.lost) {
			continue
		}
		e.acked, e.lost = e.acked || received, e.lost || !received
		out = append(out, Result{Sent: e.at, Size: e.size, Received: received, Arrival: arrival})
	}
	return out, nil
}
