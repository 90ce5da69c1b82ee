// Package fec is Sotto's forward error correction for video: XOR parity
// packets the relay adds to one receiver's copy of a video track when that
// receiver's link loses packets and its round trip makes retransmission
// slow, and the receiver uses to rebuild a lost packet without waiting for
// a NACK round trip.
//
// Parity is computed over the RTP payloads as they are forwarded, which
// are SFrame ciphertext behind the VP8 payload descriptor: making or using
// parity needs no key, and a packet rebuilt from hostile parity is only
// another untrusted packet (the frame it belongs to must still pass
// SFrame's tag). The scheme is the one-dimensional interleaved parity of
// FlexFEC (RFC 8627 §1.1.2, "1-D interleaved FEC protection"): a block of N
// consecutive media packets is protected by M parity packets, parity j
// covering the packets i with i mod M = j, so a burst of up to M
// consecutive losses costs one packet per group and each group repairs
// one. Like ULPFEC and FlexFEC the parity also carries the XOR of the
// protected packets' lengths, timestamps and marker bits (RFC 8627 §6.3),
// so a block may span several frames.
//
// It differs from FlexFEC on the wire because the relay forwards a track
// as one SSRC and one payload type, negotiated once: parity packets travel
// in the media stream itself, take the sequence numbers after the block
// they protect, and are told apart by the first byte of their payload
// (Format). docs/PROTOCOL.md §5.6 has the byte layout and docs/RELAY.md
// the policy that turns parity on.
package fec

import (
	"encoding/binary"
	"errors"
)

// Wire layout of a parity payload (docs/PROTOCOL.md §5.6).
const (
	// Flag is the first byte of every parity payload: in a VP8 payload
	// descriptor (RFC 7741 §4.2) it is X = 0, S = 0 with the first
	// reserved bit set, which no Sotto sender ever sends; media payloads
	// keep that bit zero.
	Flag = 0x40
	// flagMask selects the bits a parity payload's first byte must match:
	// all of them (reserved bits other than the flag are zero).
	flagMask = 0xff
	// HeaderLen is the parity header before the XORed payloads:
	// flag (1) ‖ base sequence number (2) ‖ N (1) ‖ M (1) ‖ j (1) ‖
	// marker XOR (1) ‖ length XOR (2) ‖ timestamp XOR (4).
	HeaderLen = 13
	// MaxBlock bounds the media packets one block protects (N); with
	// MaxPayload it bounds what a relay keeps per track while a block
	// fills, and what a receiver accepts.
	MaxBlock = 64
	// MaxParity bounds the parity packets of one block (M).
	MaxParity = 16
	// MaxPayload bounds a protected media payload; parity longer than
	// HeaderLen + MaxPayload is malformed.
	MaxPayload = 1500
)

// Header is the parsed parity header.
type Header struct {
	Base       uint16 // sequence number of the block's first media packet
	N          int    // media packets in the block, 1…MaxBlock
	M          int    // parity packets of the block, 1…min(N, MaxParity)
	J          int    // this packet's group, 0…M−1
	MarkerXOR  bool
	LengthXOR  uint16
	TimeXOR    uint32
	PayloadXOR []byte // aliases the parsed payload
}

// ErrMalformed is returned for a parity payload that breaks the layout.
var ErrMalformed = errors.New("fec: malformed parity packet")

// IsParity reports whether an RTP payload of a video track is a parity
// packet rather than media.
func IsParity(payload []byte) bool {
	return len(payload) > 0 && payload[0]&flagMask == Flag
}

// Parse reads a parity payload and checks its bounds.
func Parse(payload []byte) (Header, error) {
	if len(payload) < HeaderLen || !IsParity(payload) || len(payload) > HeaderLen+MaxPayload {
		return Header{}, ErrMalformed
	}
	h := Header{
		Base:       binary.BigEndian.Uint16(payload[1:3]),
		N:          int(payload[3]),
		M:          int(payload[4]),
		J:          int(payload[5]),
		MarkerXOR:  payload[6]&1 == 1,
		LengthXOR:  binary.BigEndian.Uint16(payload[7:9]),
		TimeXOR:    binary.BigEndian.Uint32(payload[9:13]),
		PayloadXOR: payload[HeaderLen:],
	}
	if h.N < 1 || h.N > MaxBlock || h.M < 1 || h.M > min(h.N, MaxParity) || h.J >= h.M || payload[6]&^1 != 0 {
		return Header{}, ErrMalformed
	}
	return h, nil
}

// Protects reports whether parity group j of a block with m parity packets
// covers the block's i-th media packet.
func Protects(i, m, j int) bool { return i%m == j }

// Packet is one media packet of a block, as Encode and Recover see it.
type Packet struct {
	Timestamp uint32
	Marker    bool
	Payload   []byte
}

// Encode appends to dst the parity payload of group j of the block
// (base, pkts) protected by m parity packets, and returns it. It panics on
// arguments outside the bounds Parse enforces: they come from the caller,
// never from the network.
func Encode(dst []byte, base uint16, pkts []Packet, m, j int) []byte {
	n := len(pkts)
	if n < 1 || n > MaxBlock || m < 1 || m > min(n, MaxParity) || j < 0 || j >= m {
		panic("fec: block out of bounds")
	}
	var marker bool
	var length uint16
	var ts uint32
	longest := 0
	for i := j; i < n; i += m {
		p := pkts[i]
		if len(p.Payload) > MaxPayload {
			panic("fec: payload out of bounds")
		}
		marker = marker != p.Marker
		length ^= uint16(len(p.Payload))
		ts ^= p.Timestamp
		longest = max(longest, len(p.Payload))
	}
	start := len(dst)
	dst = append(dst, Flag, byte(base>>8), byte(base), byte(n), byte(m), byte(j), 0, byte(length>>8), byte(length))
	dst = binary.BigEndian.AppendUint32(dst, ts)
	if marker {
		dst[start+6] = 1
	}
	body := start + HeaderLen
	dst = append(dst, make([]byte, longest)...)
	for i := j; i < n; i += m {
		xorInto(dst[body:], pkts[i].Payload)
	}
	return dst
}

// Recover rebuilds the one packet of h's group that is missing from
// present (the group's other packets, in any order) into dst. It returns
// ErrMalformed when the parity cannot describe such a packet (a recovered
// length beyond the parity's payload, or an empty one).
func Recover(dst []byte, h Header, present []Packet) (Packet, error) {
	length := h.LengthXOR
	ts := h.TimeXOR
	marker := h.MarkerXOR
	for _, p := range present {
		length ^= uint16(len(p.Payload))
		ts ^= p.Timestamp
		marker = marker != p.Marker
	}
	if length == 0 || int(length) > len(h.PayloadXOR) {
		return Packet{}, ErrMalformed
	}
	dst = append(dst[:0], h.PayloadXOR[:length]...)
	for _, p := range present {
		xorInto(dst, p.Payload)
	}
	return Packet{Timestamp: ts, Marker: marker, Payload: dst}, nil
}

// xorInto XORs src into the start of dst; bytes of src beyond dst are
// ignored (they were zero padding in the parity).
func xorInto(dst, src []byte) {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] ^= src[i]
	}
}
