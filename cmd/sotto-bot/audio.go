package main

// The bot's speech: -audio wav:FILE as its microphone (paced in real
// time by capture) and -record FILE.wav, the mix of the others it would
// play, pulled at the device rate.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sottohq/sotto/internal/call"
	"github.com/sottohq/sotto/media/audioproc"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/wavfile"
)

// wavMicrophone reads a WAV file for -audio wav:FILE: 16-bit PCM or
// 32-bit float, mono or stereo (mixed down), 48 kHz.
func wavMicrophone(path string) (capture.AudioSource, error) {
	a, err := wavfile.ReadFile(path)
	if err != nil {
		return capture.AudioSource{}, fmt.Errorf("-audio wav: %w", err)
	}
	if a.SampleRate != audioproc.SampleRate {
		return capture.AudioSource{}, fmt.Errorf("-audio wav: %s: %w: sample rate %d Hz, need %d (convert it: sox IN.wav -r %d OUT.wav)",
			path, wavfile.ErrFormat, a.SampleRate, audioproc.SampleRate, audioproc.SampleRate)
	}
	return capture.PCMAudio(a.Samples), nil
}

// recorder writes the mix to a WAV file.
type recorder struct {
	mu  sync.Mutex
	w   *wavfile.Writer
	err error
}

func newRecorder(path string) (*recorder, error) {
	w, err := wavfile.Create(path, audioproc.SampleRate)
	if err != nil {
		return nil, fmt.Errorf("-record: %w", err)
	}
	return &recorder{w: w}, nil
}

func (r *recorder) write(mix []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && r.w != nil {
		r.err = r.w.Write(mix)
	}
}

// close finishes the file; it reports the first write error.
func (r *recorder) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return r.err
	}
	err := errors.Join(r.err, r.w.Close())
	r.w = nil
	if err != nil {
		return fmt.Errorf("-record: %w", err)
	}
	return nil
}

// processing turns -aec, -ns and -agc into the call's switches.
func processing(o options) call.AudioProcessing {
	return call.AudioProcessing{NoEchoCancellation: !o.aec, NoNoiseSuppression: !o.ns, NoGainControl: !o.agc}
}
