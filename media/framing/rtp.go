package framing

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// RTP mapping of encrypted frames (docs/PROTOCOL.md §5). The payloaders see
// only ciphertext: an SFrame frame carries no cleartext VP8 header, so the
// relay learns neither the keyframe flag nor the frame size beyond what
// packet sizes show.
const (
	// MTU is the largest RTP packet (header included) the send path builds:
	// 1200 bytes keeps SRTP + UDP + IPv6 + TURN framing under 1280.
	MTU = 1200
	// VideoClockRate is the VP8 RTP clock (RFC 7741 §6.1).
	VideoClockRate = 90000
	// AudioClockRate is the Opus RTP clock (RFC 7587 §4.1), whatever the
	// sampling rate inside the packets.
	AudioClockRate = 48000
)

// Payloader returns the RTP payloader of a kind: VP8 (RFC 7741 §4.2) splits
// one encrypted frame over packets, the last with the marker bit, the first
// with the S bit; Opus (RFC 7587 §4.2) puts one encrypted packet in one RTP
// packet.
func Payloader(kind Kind) rtp.Payloader {
	if kind == KindVideo {
		return &codecs.VP8Payloader{}
	}
	return &codecs.OpusPayloader{}
}

// ClockRate returns the RTP clock of a kind.
func ClockRate(kind Kind) uint32 {
	if kind == KindVideo {
		return VideoClockRate
	}
	return AudioClockRate
}
