package participant

import (
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/media/receive"
)

// AudioOutput is stage 5 for audio: a jitter buffer per remote session
// that orders, decodes and conceals, the mix of all of them and the output
// device. *playout.Mixer is one. Push must not block: a slow or silent
// participant never holds up the others.
type AudioOutput interface {
	// Push queues one authenticated Opus packet of a remote session with
	// its RTP timestamp (48 kHz) and arrival time; it copies the packet.
	// Packets come in arrival order, reordered or not.
	Push(session string, ts uint32, packet []byte, arrival time.Time) error
	// Remove forgets a session whose audio track ended.
	Remove(session string)
}

// playoutStats is what an AudioOutput may also report per session
// (*playout.Mixer does).
type playoutStats interface {
	Stats(session string) (playout.JitterStats, bool)
}

// audioPlay is the check and play stages of one remote audio track.
type audioPlay struct {
	out     AudioOutput // nil: decode in arrival order and count only
	session string
	dec     *opus.Decoder // only without out
	pcm     []float32
	// final receives the jitter buffer's last counters when the track
	// ends, before AudioOut forgets the session.
	final func(playout.JitterStats)
}

func newAudioPlay(out AudioOutput, session string, final func(playout.JitterStats)) (*audioPlay, error) {
	a := &audioPlay{out: out, session: session, final: final}
	if out == nil {
		dec, err := opus.NewDecoder(1)
		if err != nil {
			return nil, err
		}
		a.dec, a.pcm = dec, make([]float32, opus.MaxPacketSamples)
	}
	return a, nil
}

// Decode is stage 4. With an output it only bounds the packet (RFC 6716
// limits): the jitter buffer decodes at playout time, in timestamp order.
func (a *audioPlay) Decode(packet []byte) ([]byte, error) {
	if len(packet) > opus.MaxPacketSize {
		return nil, opus.ErrPacketTooBig
	}
	if _, err := opus.PacketSamples(packet); err != nil {
		return nil, err
	}
	if a.dec != nil {
		if _, err := a.dec.Decode(packet, a.pcm); err != nil {
			return nil, err
		}
	}
	return packet, nil
}

// Play is stage 5. A packet the jitter buffer refuses (late, duplicate)
// is counted there.
func (a *audioPlay) Play(packet []byte, fi receive.FrameInfo) {
	if a.out != nil {
		_ = a.out.Push(a.session, fi.RTPTimestamp, packet, fi.Arrived)
	}
}

func (a *audioPlay) Close() {
	if ps, ok := a.out.(playoutStats); ok && a.final != nil {
		if js, ok := ps.Stats(a.session); ok {
			a.final(js)
		}
	}
	if a.out != nil {
		a.out.Remove(a.session)
	}
	if a.dec != nil {
		a.dec.Close()
	}
}
