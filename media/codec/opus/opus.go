// Package opus decodes the Opus packets of remote participants.
//
// Decision: the decoder is github.com/pion/opus v0.1.0, pure Go, rather than
// libopus through cgo. Encoding already links mediadevices' bundled static
// libopus, but its decoder is not exposed, and a second cgo binding would
// need libopus-dev on every build machine and in every package. Measured on
// mediadevices' own Opus output (hybrid, fullband, 20 ms): 67 dB SNR
// against libopus's decoder, about 77 µs per frame (libopus 37 µs), which is
// under 0.4 % of one core per remote speaker. Pure Go also means memory
// safety for a decoder that parses data from other meeting members, and it
// is wrapped here so a panic inside it on hostile input becomes an error.
//
// Output is float32 (or int16 through pion/opus directly) at 48 kHz. The
// tests feed it mediadevices' Opus at 12, 32 and 64 kbit/s, which covers
// the SILK-only, hybrid and CELT modes, and check the decoded tone's level
// and frequency. pion/opus has no packet-loss concealment; media/playout
// conceals lost packets itself.
package opus

import (
	"errors"
	"fmt"

	pionopus "github.com/pion/opus"
)

// Limits from RFC 6716.
const (
	// SampleRate is the rate Sotto decodes at.
	SampleRate = 48000
	// MaxPacketSize bounds one packet: 120 ms of 1275-byte frames plus
	// framing (RFC 6716 §3.2.1, §3.4 R5: at most 1275 bytes per frame and
	// 120 ms per packet).
	MaxPacketSize = 48 * 1275
	// MaxPacketSamples is 120 ms at 48 kHz, the longest packet's duration
	// per channel (RFC 6716 §3.2.5).
	MaxPacketSamples = 5760
)

// Errors.
var (
	ErrEmptyPacket    = errors.New("opus: empty packet")
	ErrPacketTooBig   = errors.New("opus: packet too large")
	ErrMalformed      = errors.New("opus: malformed packet")
	ErrBufferTooSmall = errors.New("opus: output buffer too small")
)

// Decoder decodes one Opus stream to float32 PCM at 48 kHz. It is not safe
// for concurrent use.
type Decoder struct {
	dec      pionopus.Decoder
	channels int
}

// NewDecoder returns a 48 kHz decoder producing channels (1 or 2)
// interleaved output channels.
func NewDecoder(channels int) (*Decoder, error) {
	d, err := pionopus.NewDecoderWithOutput(SampleRate, channels)
	if err != nil {
		return nil, fmt.Errorf("opus: new decoder: %w", err)
	}
	return &Decoder{dec: d, channels: channels}, nil
}

// Channels is the number of interleaved output channels.
func (d *Decoder) Channels() int { return d.channels }

// Decode decodes one packet into pcm (interleaved, −1…1) and returns the
// number of samples per channel. pcm needs room for the packet's duration
// (MaxPacketSamples×channels always suffices). Invalid packets return an
// error and leave the decoder usable.
func (d *Decoder) Decode(packet []byte, pcm []float32) (n int, err error) {
	if len(packet) == 0 {
		return 0, ErrEmptyPacket
	}
	if len(packet) > MaxPacketSize {
		return 0, ErrPacketTooBig
	}
	samples, err := PacketSamples(packet)
	if err != nil {
		return 0, err
	}
	if len(pcm) < samples*d.channels {
		return 0, ErrBufferTooSmall
	}
	defer func() {
		if r := recover(); r != nil {
			// A bug in the decoder on hostile input must not take the
			// client down: reset its state and report a bad packet.
			_ = d.dec.Init(SampleRate, d.channels)
			n, err = 0, fmt.Errorf("%w: decoder fault", ErrMalformed)
		}
	}()
	n, err = d.dec.DecodeToFloat32(packet, pcm)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, nil
}

// Reset forgets the decoder's history (after a long gap).
func (d *Decoder) Reset() {
	_ = d.dec.Init(SampleRate, d.channels)
}

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
