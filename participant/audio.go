package participant

import (
	"github.com/pion/opus"

	"github.com/sottohq/sotto/media/receive"
)

const (
	// AudioSampleRate is the rate of the PCM handed to AudioOutput.
	AudioSampleRate = 48000
	// maxOpusSamples is the longest Opus packet, 120 ms, at 48 kHz (RFC
	// 6716 §3.2.5).
	maxOpusSamples = AudioSampleRate * 120 / 1000
)

// AudioOutput is stage 5 for audio: the jitter buffer, the mixer of all
// remote speakers and the output device. Play must not block: a slow or
// silent participant must never hold up the others.
type AudioOutput interface {
	// Play queues one decoded packet of a remote session: mono float32
	// samples at AudioSampleRate, valid only during the call.
	Play(session string, pcm []float32, fi receive.FrameInfo)
	// Remove forgets a session whose audio track ended.
	Remove(session string)
}

// audioPlay is the decode and play stages of one remote audio track.
type audioPlay struct {
	p       *Participant
	session string
	dec     opus.Decoder
	pcm     []float32
}

func (p *Participant) newAudioPlay(session string) (*audioPlay, error) {
	dec, err := opus.NewDecoderWithOutput(AudioSampleRate, 1)
	if err != nil {
		return nil, err
	}
	return &audioPlay{p: p, session: session, dec: dec, pcm: make([]float32, maxOpusSamples)}, nil
}

// Decode is stage 4: one authenticated Opus packet to PCM.
func (a *audioPlay) Decode(packet []byte) ([]float32, error) {
	n, err := a.dec.DecodeToFloat32(packet, a.pcm)
	if err != nil {
		return nil, err
	}
	return a.pcm[:n], nil
}

// Play is stage 5.
func (a *audioPlay) Play(pcm []float32, fi receive.FrameInfo) {
	if out := a.p.cfg.AudioOut; out != nil {
		out.Play(a.session, pcm, fi)
	}
}

func (a *audioPlay) Close() {
	if out := a.p.cfg.AudioOut; out != nil {
		out.Remove(a.session)
	}
}
