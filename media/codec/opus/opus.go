// Package opus is Sotto's Opus codec: a small cgo binding to the system
// libopus (the reference implementation, the decoder every browser uses)
// for 48 kHz mono speech in 20 ms packets.
//
// Decision: libopus rather than the pure-Go decoder (pion/opus) Sotto used
// before. pion/opus has neither in-band FEC nor packet-loss concealment, so
// a lost packet was a hole that the jitter buffer papered over by repeating
// the previous frame at halving gain. On the same speech stream at 10 %
// random loss libopus with FEC and concealment is far closer to the
// original (BENCHMARKS.md, "Audio under loss"), which decided it: pion/opus
// was removed. libopus also encodes, so one library serves both ends and
// media/capture no longer links a second, bundled copy.
//
// The encoder runs constant bitrate with DTX off (so packet sizes do not
// tell speech from silence, docs/THREAT_MODEL.md) and in-band FEC on, with
// the expected loss settable while it runs (SetPacketLossPercent). The
// decoder decodes a packet (Decode), recovers a lost packet from the LBRR
// data the next one carries (DecodeFEC, RFC 6716 §4.2.4 and decode_fec in
// opus_decode) and conceals a packet that is gone for good (Conceal, the
// decoder's own PLC).
//
// Safety of the binding: codec state lives in C memory allocated by libopus
// and freed by Close (and by a cleanup if the owner forgets); Go slices are
// passed to C only for the duration of one call and never retained; every
// length is checked against RFC 6716 limits before C sees it; libopus
// error codes become Go errors. The decoder parses bytes from other
// meeting members (authenticated, but possibly malicious): it is fuzzed
// with real packets as seeds.
package opus

import (
	"errors"
	"fmt"
)

// Limits from RFC 6716.
const (
	// SampleRate is the rate Sotto encodes and decodes at.
	SampleRate = 48000
	// FrameSamples is one 20 ms frame at SampleRate, Sotto's packet size.
	FrameSamples = SampleRate / 50
	// MaxPacketSize bounds one packet: 120 ms of 1275-byte frames plus
	// framing (RFC 6716 §3.2.1, §3.4 R5: at most 1275 bytes per frame and
	// 120 ms per packet).
	MaxPacketSize = 48 * 1275
	// MaxPacketSamples is 120 ms at 48 kHz, the longest packet's duration
	// per channel (RFC 6716 §3.2.5).
	MaxPacketSamples = 5760
	// concealStep is the granularity of concealment: libopus conceals in
	// multiples of 2.5 ms (120 samples at 48 kHz).
	concealStep = 120
)

// Errors.
var (
	ErrEmptyPacket    = errors.New("opus: empty packet")
	ErrPacketTooBig   = errors.New("opus: packet too large")
	ErrMalformed      = errors.New("opus: malformed packet")
	ErrBufferTooSmall = errors.New("opus: output buffer too small")
	ErrBadArgument    = errors.New("opus: invalid argument")
	ErrClosed         = errors.New("opus: codec closed")
	ErrInternal       = errors.New("opus: internal codec error")
)

// frameSamples48k is the frame duration at 48 kHz for each TOC
// configuration number (RFC 6716 §3.1, Table 2).
var frameSamples48k = [32]int{
	// SILK NB, MB, WB: 10, 20, 40, 60 ms
	480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
	// Hybrid SWB, FB: 10, 20 ms
	480, 960, 480, 960,
	// CELT NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
	120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
}

// PacketSamples returns a packet's duration in samples per channel at
// 48 kHz from its TOC byte and frame count (RFC 6716 §3.1–§3.2), without
// decoding it.
func PacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, ErrEmptyPacket
	}
	toc := packet[0]
	per := frameSamples48k[toc>>3]
	var frames int
	switch toc & 0x3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3: // frame count byte follows (RFC 6716 §3.2.5)
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: missing frame count", ErrMalformed)
		}
		frames = int(packet[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: zero frames", ErrMalformed)
		}
	}
	if n := per * frames; n <= MaxPacketSamples {
		return n, nil
	}
	return 0, fmt.Errorf("%w: longer than 120 ms", ErrMalformed)
}

// checkPacket applies the bounds every packet passes before libopus sees
// it and returns its duration.
func checkPacket(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, ErrEmptyPacket
	}
	if len(packet) > MaxPacketSize {
		return 0, ErrPacketTooBig
	}
	return PacketSamples(packet)
}
