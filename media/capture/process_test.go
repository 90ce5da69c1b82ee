package capture

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
)

// recorder is a Processor that keeps what it saw and silences it.
type recorder struct {
	mu  sync.Mutex
	got []float32
}

func (r *recorder) Process(pcm []float32) {
	r.mu.Lock()
	r.got = append(r.got, pcm...)
	r.mu.Unlock()
	clear(pcm)
}

func TestPCMAudioPacedAndProcessed(t *testing.T) {
	tone := make([]float32, audioSampleRate) // 1 s of 440 Hz
	for i := range tone {
		tone[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i)/audioSampleRate))
	}
	rec := &recorder{}
	src, err := Open(Options{Audio: PCMAudio(tone), AudioProcessor: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const frames = 15
	var loud float64
	pcm := make([]float32, 5760)
	for range frames {
		f, err := src.Audio().ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		n, err := dec.Decode(f.Data, pcm)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range pcm[:n] {
			loud = max(loud, math.Abs(float64(v)))
		}
	}
	// Paced in real time: 15 packets of 20 ms take at least 14 periods.
	if el := time.Since(start); el < 14*audioFrameDuration {
		t.Errorf("15 packets in %v: not paced in real time", el)
	}
	rec.mu.Lock()
	n := len(rec.got)
	same := n > 960 && math.Abs(float64(rec.got[480]-tone[480])) < 1e-6
	rec.mu.Unlock()
	if n < frames*960 || !same {
		t.Errorf("processor saw %d samples (want ≥ %d) of the file (match %v)", n, frames*960, same)
	}
	// The processor silenced the stream, so the encoder got silence.
	if loud > 0.01 {
		t.Errorf("encoded audio peaks at %.3f: the processor's output was not encoded", loud)
	}
}
