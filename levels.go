package main

import (
	"math"
	"sync"

	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/participant"
)

// speechThreshold is the RMS (of full scale) above which a member counts
// as speaking.
const speechThreshold = 0.02

// levelSmoothing weights the newest packet in the running level.
const levelSmoothing = 0.3

// levelMeter is the participant's audio output: it tracks each remote
// member's speech level (for the active-speaker highlight) and passes the
// audio on to the speaker output, when there is one.
type levelMeter struct {
	out participant.AudioOutput // nil: no playback device

	mu     sync.Mutex
	levels map[string]float64
}

func newLevelMeter() *levelMeter { return &levelMeter{levels: map[string]float64{}} }

// Play implements participant.AudioOutput.
func (l *levelMeter) Play(session string, pcm []float32, fi receive.FrameInfo) {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	rms := 0.0
	if len(pcm) > 0 {
		rms = math.Sqrt(sum / float64(len(pcm)))
	}
	l.mu.Lock()
	l.levels[session] = (1-levelSmoothing)*l.levels[session] + levelSmoothing*rms
	l.mu.Unlock()
	if l.out != nil {
		l.out.Play(session, pcm, fi)
	}
}

// Remove implements participant.AudioOutput.
func (l *levelMeter) Remove(session string) {
	l.mu.Lock()
	delete(l.levels, session)
	l.mu.Unlock()
	if l.out != nil {
		l.out.Remove(session)
	}
}

func (l *levelMeter) snapshot() map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]float64, len(l.levels)+1)
	for k, v := range l.levels {
		out[k] = v
	}
	return out
}
