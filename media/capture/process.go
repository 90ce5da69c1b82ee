package capture

// The audio processing insertion point (echo cancellation, noise
// suppression, gain control: media/audioproc) and the recorded
// microphone (PCMAudio). Both sit between the audio source and the Opus
// encoder:
//
//	driver chunks → [mono float32 → Processor.Process] → Opus encoder
//	PCM samples, paced in real time → [Processor] → Opus encoder

import (
	"io"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/wave"
)

// Processor processes microphone audio before it is encoded:
// *audioproc.Processor is one. Process gets each chunk as mono 48 kHz
// samples in −1…1 and changes them in place; it is called from the
// goroutine that reads the audio stream.
type Processor interface {
	Process(pcm []float32)
}

// PCMAudio is a recorded microphone: mono 48 kHz samples (−1…1) delivered
// in real time, 20 ms per chunk, once, then silence (sotto-bot's
// -audio wav:FILE).
func PCMAudio(samples []float32) AudioSource {
	return AudioSource{Kind: SourcePCM, PCM: samples}
}

// processAudio wraps r: every chunk is mixed to mono float32 (a copy:
// driver chunks are shared between subscribers) and processed.
func processAudio(r audio.Reader, p Processor) audio.Reader {
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a, release, err := r.Read()
		if err != nil {
			return a, release, err
		}
		info := a.ChunkInfo()
		mono := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: info.Len, Channels: 1, SamplingRate: info.SamplingRate})
		for i := range info.Len {
			var s float32
			for c := range info.Channels {
				s += float32(wave.Float32SampleFormat.Convert(a.At(i, c)).(wave.Float32Sample))
			}
			mono.Data[i] = s / float32(max(info.Channels, 1))
		}
		if release != nil {
			release()
		}
		p.Process(mono.Data)
		return mono, func() {}, nil
	})
}

// pcmReader delivers samples in 20 ms chunks on the wall clock.
type pcmReader struct {
	samples []float32
	pos     int
	next    time.Time
	done    chan struct{}
}

func newPCMReader(samples []float32) *pcmReader {
	return &pcmReader{samples: samples, done: make(chan struct{})}
}

func (p *pcmReader) Read() (wave.Audio, func(), error) {
	const n = audioSampleRate * int(audioFrameDuration/time.Millisecond) / 1000
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	if wait := p.next.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			return nil, func() {}, io.EOF
		}
	}
	select {
	case <-p.done:
		return nil, func() {}, io.EOF
	default:
	}
	p.next = p.next.Add(audioFrameDuration)
	a := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: n, Channels: 1, SamplingRate: audioSampleRate})
	if p.pos < len(p.samples) {
		p.pos += copy(a.Data, p.samples[p.pos:])
	}
	return a, func() {}, nil
}
