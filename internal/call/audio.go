package call

// Microphone processing and the far-end reference of one call:
//
//  1. the mix the call plays (playout) is tapped as it reaches the device
//     (OutputOptions.OnPlayed) and written to an audioproc.Reference;
//  2. capture runs the audioproc.Processor on each microphone chunk
//     before Opus, cancelling the echo of that reference, suppressing
//     noise and controlling the gain;
//  3. a headless call (sotto-bot) that records plays on no device: its
//     mix is pulled at the device rate by a goroutine instead.

import (
	"time"

	"github.com/sottohq/sotto/media/audioproc"
	"github.com/sottohq/sotto/media/capture"
)

// AudioProcessing switches microphone processing stages off. The zero
// value keeps every stage on, the default: echo cancellation, noise
// suppression and automatic gain control (and, while any is on, the
// high-pass filter).
type AudioProcessing struct {
	NoEchoCancellation bool `json:"no_echo_cancellation,omitempty"`
	NoNoiseSuppression bool `json:"no_noise_suppression,omitempty"`
	NoGainControl      bool `json:"no_gain_control,omitempty"`
}

// config is the audioproc configuration these switches choose.
func (a AudioProcessing) config(ref *audioproc.Reference) audioproc.Config {
	c := audioproc.Config{
		EchoCancellation: !a.NoEchoCancellation,
		NoiseSuppression: !a.NoNoiseSuppression,
		GainControl:      !a.NoGainControl,
		Reference:        ref,
	}
	c.HighPass = c.EchoCancellation || c.NoiseSuppression || c.GainControl
	return c
}

// openProcessing builds the microphone processor into the capture
// options (before capture opens). Microphones and recorded audio are
// processed; the synthetic test tone is not (a steady sine is exactly
// what noise suppression removes, and the demo and the tests that
// measure it want it as sent).
func (c *Call) openProcessing() error {
	c.ref = audioproc.NewReference()
	pc := c.cfg.Processing.config(c.ref)
	switch k := c.cfg.Capture.Audio.Kind; {
	case !pc.Enabled(), k != capture.SourceMicrophone && k != capture.SourcePCM:
		return nil
	}
	p, err := audioproc.New(pc)
	if err != nil {
		return err
	}
	c.proc = p
	c.cfg.Capture.AudioProcessor = p
	return nil
}

// onPlayed sees each period of the mix as it is played (device thread).
func (c *Call) onPlayed(mono []float32) {
	if c.ref != nil { // nil for an output opened outside Start
		c.ref.Write(mono)
	}
	if c.cfg.Record != nil {
		c.cfg.Record(mono)
	}
}

// headlessPeriod is the period at which a headless call pulls its mix.
const headlessPeriod = 10 * time.Millisecond

// playHeadless pulls the mix in real time, as a device would, until
// stopPlay is closed.
func (c *Call) playHeadless() {
	defer close(c.playDone)
	const n = audioproc.SampleRate / 100
	buf := make([]float32, n)
	tick := time.NewTicker(headlessPeriod)
	defer tick.Stop()
	start := time.Now()
	var pulled int64
	for {
		select {
		case <-c.stopPlay:
			return
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*audioproc.SampleRate) - pulled
		for ; due >= n; due -= n {
			c.mixer.Read(buf)
			c.onPlayed(buf)
			pulled += n
		}
	}
}

// closeAudio stops the headless playout and frees the processor (after
// capture has closed).
func (c *Call) closeAudio() {
	if c.stopPlay != nil {
		close(c.stopPlay)
		<-c.playDone
		c.stopPlay = nil
	}
	if c.proc != nil {
		c.proc.Close()
	}
}

// processingStats returns the processor's counters, nil without one.
func (c *Call) processingStats() *audioproc.Stats {
	if c.proc == nil {
		return nil
	}
	st := c.proc.Stats()
	return &st
}
