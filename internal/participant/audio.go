package participant

import (
	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/receive"
)

// AudioOutput is stage 5 for audio: a jitter buffer per remote session, the
// mix of all of them and the output device. *playout.Mixer is one. PushPCM
// must not block: a slow or silent participant never holds up the others.
type AudioOutput interface {
	// PushPCM queues one decoded packet of a remote session: mono float32
	// samples at 48 kHz starting at RTP timestamp ts; it copies pcm.
	PushPCM(session string, ts uint32, pcm []float32) error
	// Remove forgets a session whose audio track ended.
	Remove(session string)
}

// audioPlay is the decode and play stages of one remote audio track.
type audioPlay struct {
	out     AudioOutput // nil: decode and count only
	session string
	dec     *opus.Decoder
	pcm     []float32
}

func newAudioPlay(out AudioOutput, session string) (*audioPlay, error) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		return nil, err
	}
	return &audioPlay{out: out, session: session, dec: dec, pcm: make([]float32, opus.MaxPacketSamples)}, nil
}

// Decode is stage 4: one authenticated Opus packet to PCM.
func (a *audioPlay) Decode(packet []byte) ([]float32, error) {
	n, err := a.dec.Decode(packet, a.pcm)
	if err != nil {
		return nil, err
	}
	return a.pcm[:n], nil
}

// Play is stage 5. A packet the jitter buffer refuses (late, duplicate) is
// counted there.
func (a *audioPlay) Play(pcm []float32, fi receive.FrameInfo) {
	if a.out != nil {
		_ = a.out.PushPCM(a.session, fi.RTPTimestamp, pcm)
	}
}

func (a *audioPlay) Close() {
	if a.out != nil {
		a.out.Remove(a.session)
	}
}
