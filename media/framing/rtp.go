package framing

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

const (
	// rtpHeaderLen is the fixed RTP header (RFC 3550 §5.1); the send path
	// adds no CSRCs or extensions.
	rtpHeaderLen = 12
	// vp8DescriptorLen is the one-byte VP8 payload descriptor (RFC 7741
	// §4.2): X = 0, so no picture ID or other extensions.
	vp8DescriptorLen = 1
	// vp8StartOfFrame is the descriptor of a frame's first packet: S = 1,
	// PID = 0. Later packets carry 0x00.
	vp8StartOfFrame = 0x10
	// MaxVideoChunk is the ciphertext carried by one full video packet.
	MaxVideoChunk = MTU - rtpHeaderLen - vp8DescriptorLen
)

// Packetizer splits encrypted frames into RTP payloads without allocating:
// video as RFC 7741 §4.2 with a one-byte descriptor (the same packets as
// pion's VP8 payloader without picture IDs), audio as one payload per
// frame (RFC 7587 §4.2). A Packetizer is not safe for concurrent use.
type Packetizer struct {
	Kind Kind
	buf  [MTU]byte
}

// Packetize calls emit for each payload of frame in order; last marks the
// frame's final packet (the RTP marker bit). The payload is only valid
// during the call. It returns emit's first error.
func (pk *Packetizer) Packetize(frame []byte, emit func(payload []byte, last bool) error) error {
	if pk.Kind != KindVideo {
		return emit(frame, true)
	}
	for first := true; len(frame) > 0; first = false {
		n := min(len(frame), MaxVideoChunk)
		pk.buf[0] = 0
		if first {
			pk.buf[0] = vp8StartOfFrame
		}
		copy(pk.buf[vp8DescriptorLen:], frame[:n])
		frame = frame[n:]
		if err := emit(pk.buf[:vp8DescriptorLen+n], len(frame) == 0); err != nil {
			return err
		}
	}
	return nil
}

// ClockRate returns the RTP clock of a kind.
func ClockRate(kind Kind) uint32 {
	if kind == KindVideo {
		return VideoClockRate
	}
	return AudioClockRate
}
