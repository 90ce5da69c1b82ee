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
	// vp8DescriptorLen is the VP8 payload descriptor (RFC 7741 §4.2):
	// the first byte with X = 1, the extension byte with I = 1, and a
	// 15-bit picture ID (M = 1), the same on every packet of a frame and
	// one more on the next frame. The picture ID tells a receiver that
	// the sequence numbers between two consecutive frames held no media
	// (the relay's parity packets, relay/fec), so a lost parity packet
	// never holds the next frame back.
	vp8DescriptorLen = 4
	vp8X             = 0x80 // first byte: extension byte follows
	vp8S             = 0x10 // first byte: start of a VP8 partition (PID 0)
	vp8I             = 0x80 // extension byte: picture ID present
	vp8M             = 0x80 // picture ID's first byte: 15-bit form
	// parityHeaderLen is relay/fec.HeaderLen: a parity packet carries its
	// header before the XOR of the payloads it protects, so a media
	// payload leaves that much room under MTU (checked by a test in
	// media/receive, which sees both packages).
	parityHeaderLen = 13
	// MaxVideoChunk is the ciphertext carried by one full video packet.
	MaxVideoChunk = MTU - rtpHeaderLen - parityHeaderLen - vp8DescriptorLen
	// MaxVideoPayload is the longest video RTP payload the packetizer
	// makes.
	MaxVideoPayload = vp8DescriptorLen + MaxVideoChunk
)

// Packetizer splits encrypted frames into RTP payloads without allocating:
// video as RFC 7741 §4.2 with a four-byte descriptor carrying a 15-bit
// picture ID, audio as one payload per frame (RFC 7587 §4.2). A Packetizer
// is not safe for concurrent use.
type Packetizer struct {
	Kind      Kind
	pictureID uint16
	buf       [MTU]byte
}

// Packetize calls emit for each payload of frame in order; last marks the
// frame's final packet (the RTP marker bit). The payload is only valid
// during the call. It returns emit's first error.
func (pk *Packetizer) Packetize(frame []byte, emit func(payload []byte, last bool) error) error {
	if pk.Kind != KindVideo {
		return emit(frame, true)
	}
	pid := pk.pictureID & 0x7fff
	pk.pictureID++
	pk.buf[1] = vp8I
	pk.buf[2] = vp8M | byte(pid>>8)
	pk.buf[3] = byte(pid)
	for first := true; len(frame) > 0; first = false {
		n := min(len(frame), MaxVideoChunk)
		pk.buf[0] = vp8X
		if first {
			pk.buf[0] |= vp8S
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
