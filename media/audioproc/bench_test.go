package audioproc

// The bench of BENCHMARKS.md, "Audio processing": a simulated room
// (room_test.go) with real speech, the figures logged and asserted
// against the goals with the margins named below.
//
//	go test -run 'Bench|ERLE|DoubleTalk|Noise|GainControl' -v ./media/audioproc/
//	go test -run '^$' -bench . -benchtime 2000x ./media/audioproc/

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	mdopus "github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// Goals (the issue's) and the asserted floors. Where a floor is below its
// goal the goal is missed by that much on this bench (BENCHMARKS.md says
// why); the floor catches regressions.
const (
	goalERLE = 25.0 // dB, far-end only, after 2 s and 2 s after a +40 ms delay jump
	// floorERLERoom is for a change of the whole room response (not a
	// goal of the issue): the filter must learn again.
	floorERLERoom = 18.0
	goalDoubleDB  = 3.0  // dB of segmental SNR lost to echo in double talk
	goalNSDB      = 15.0 // dB of stationary noise removed
	goalAGCDBFS   = -20.0
	goalAGCTol    = 3.0
	goalPumpingDB = 3.0 // rise of the output level over a pause
)

// echoScene is far-end speech (at −22 dBFS while talking) through a room:
// delay d1 until switchAt, then d2 (an echo path change). The echo
// arrives at the microphone about 4 dB below the far-end level played,
// like laptop speakers next to their microphone.
func echoScene(t testing.TB, d1, d2, switchAt float64) (far, echo []float32) {
	return echoSceneRooms(t, d1, d2, switchAt, 1)
}

// echoSceneRooms is echoScene whose second room is room2 (1: the same
// room, only the delay changes).
func echoSceneRooms(t testing.TB, d1, d2, switchAt float64, room2 uint64) (far, echo []float32) {
	far = load48(t, "far16k.wav")
	scaleActiveTo(far, -22)
	e1 := convolve(far, roomIR(d1, 0.25, 0.25, 0.6, 1))
	if switchAt <= 0 {
		return far, e1
	}
	e2 := convolve(far, roomIR(d2, 0.25, 0.25, 0.6, room2))
	echo = append(e1[:sec(switchAt)], e2[sec(switchAt):]...)
	return far, echo
}

// erle is 10·log10 of the microphone's power over the output's in
// [from, to).
func erle(mic, out []float32, from, to int) float64 {
	return powToDB(power(mic[from:to])) - powToDB(power(out[from:to]))
}

func echoConfig() Config {
	return Config{EchoCancellation: true, NoiseSuppression: true, HighPass: true}
}

// highPassed is x through the same high-pass filter the processor
// applies: the clean signal the near end should come out as.
func highPassed(x []float32) []float32 {
	y := append([]float32(nil), x...)
	newHighPass(SampleRate).process(y)
	return y
}

func TestERLE(t *testing.T) {
	for _, d := range []float64{0.030, 0.080, 0.150} {
		t.Run(fmt.Sprintf("delay=%.0fms", d*1000), func(t *testing.T) {
			far, echo := echoScene(t, d, d+0.040, 6)
			mic := add(echo, whiteNoise(len(echo), -70, 3))
			out := run(t, echoConfig(), mic, far)
			before := erle(mic, out, sec(2), sec(6))
			after := erle(mic, out, sec(8), sec(12))
			t.Logf("ERLE after 2 s: %.1f dB; 2 s after the +40 ms path change: %.1f dB", before, after)
			if before < goalERLE {
				t.Errorf("ERLE %.1f dB after 2 s, goal %.0f dB", before, goalERLE)
			}
			if after < goalERLE {
				t.Errorf("ERLE %.1f dB after the path change, goal %.0f dB", after, goalERLE)
			}
		})
	}
	t.Run("room change", func(t *testing.T) {
		// The delay jumps and the whole response changes (someone moved
		// the laptop): the shifted filter no longer fits and adapts.
		far, echo := echoSceneRooms(t, 0.080, 0.120, 6, 2)
		mic := add(echo, whiteNoise(len(echo), -70, 3))
		out := run(t, echoConfig(), mic, far)
		after := erle(mic, out, sec(8), sec(12))
		t.Logf("ERLE 2 s after the room changed: %.1f dB", after)
		if after < floorERLERoom {
			t.Errorf("ERLE %.1f dB after the room changed, floor %.0f dB", after, floorERLERoom)
		}
	})
}

func TestERLEFullPipeline(t *testing.T) {
	// All stages on, AGC included: the gain must not undo the echo
	// suppression.
	far, echo := echoScene(t, 0.080, 0, 0)
	mic := add(echo, whiteNoise(len(echo), -70, 3))
	out := run(t, Defaults(nil), mic, far)
	e := erle(mic, out, sec(2), len(mic))
	t.Logf("ERLE with every stage on (80 ms): %.1f dB", e)
	if e < goalERLE {
		t.Errorf("ERLE %.1f dB with AGC on, goal %.0f dB", e, goalERLE)
	}
}

func TestDoubleTalk(t *testing.T) {
	far, echo := echoScene(t, 0.080, 0, 0)
	near := delayed(pad(load48(t, "near16k.wav"), len(far)), sec(3))
	scaleActiveTo(near, -24)
	noise := whiteNoise(len(far), -70, 5)
	with := run(t, echoConfig(), add(echo, near, noise), far)
	without := run(t, echoConfig(), add(near, noise), far)
	clean := highPassed(near)
	from, to := sec(3), len(far)-sec(0.1)
	snrWith, snrWithout := segSNR(clean, with, from, to), segSNR(clean, without, from, to)
	snrIn := segSNR(clean, add(echo, near, noise), from, to)
	t.Logf("double talk: near-end segmental SNR %.1f dB with echo, %.1f dB without (unprocessed microphone: %.1f dB)", snrWith, snrWithout, snrIn)
	if snrWithout-snrWith > goalDoubleDB {
		t.Errorf("double talk costs %.1f dB of segmental SNR, goal ≤ %.0f dB", snrWithout-snrWith, goalDoubleDB)
	}
	if snrWith <= snrIn {
		t.Errorf("processing made double talk worse: %.1f dB, microphone %.1f dB", snrWith, snrIn)
	}
}

func TestNoiseSuppression(t *testing.T) {
	near := delayed(load48(t, "near16k.wav"), sec(3))
	scaleActiveTo(near, -24)
	noise := fanNoise(len(near), -40, 9) // fan and 50 Hz hum, 16 dB below speech
	mic := add(near, noise)
	out := run(t, Config{NoiseSuppression: true, HighPass: true}, mic, nil)
	// Noise alone from 1 s (the estimator's learning) to 3 s.
	reduction := erle(mic, out, sec(1), sec(3))
	clean := highPassed(near)
	from, to := sec(3), len(near)-sec(0.1)
	snrIn, snrOut := segSNR(clean, mic, from, to), segSNR(clean, out, from, to)
	t.Logf("noise suppression: %.1f dB less fan and hum; near-end segmental SNR %.1f dB → %.1f dB", reduction, snrIn, snrOut)
	if reduction < goalNSDB {
		t.Errorf("noise reduced by %.1f dB, goal ≥ %.0f dB", reduction, goalNSDB)
	}
	if snrOut <= snrIn {
		t.Errorf("speech not kept: segmental SNR %.1f dB after, %.1f before", snrOut, snrIn)
	}
}

func TestGainControl(t *testing.T) {
	// A quiet talker (−35 dBFS while talking), a 3 s pause, and the
	// same again over a room noise floor at −60 dBFS. Noise suppression
	// is off so the pause shows the gain.
	speech := load48(t, "near16k.wav")
	scaleActiveTo(speech, -35)
	pause := sec(3)
	mic := make([]float32, 2*len(speech)+pause)
	copy(mic, speech)
	copy(mic[len(speech)+pause:], speech)
	mic = add(mic, whiteNoise(len(mic), -60, 21))
	out := run(t, Config{GainControl: true, HighPass: true}, mic, nil)
	second := out[len(speech)+pause:]
	level := activeRMSDB(second)
	// Pumping: the output in the pause, its first and last second.
	p0 := rmsDB(out[len(speech)+sec(0.5) : len(speech)+sec(1.5)])
	p1 := rmsDB(out[len(speech)+pause-sec(1) : len(speech)+pause])
	t.Logf("AGC: talker at %.1f dBFS → %.1f dBFS; pause level %.1f → %.1f dBFS", activeRMSDB(speech), level, p0, p1)
	if math.Abs(level-goalAGCDBFS) > goalAGCTol {
		t.Errorf("speech level %.1f dBFS, goal %.0f ± %.0f", level, goalAGCDBFS, goalAGCTol)
	}
	if p1-p0 > goalPumpingDB {
		t.Errorf("gain pumps in the pause: %.1f → %.1f dBFS", p0, p1)
	}
}

func TestProcessorErrors(t *testing.T) {
	if _, err := New(Config{EchoCancellation: true}); err == nil {
		t.Error("echo cancellation without a reference accepted")
	}
	if _, err := New(Config{NoiseSuppression: true, ProcessRate: 44100}); err == nil {
		t.Error("unsupported processing rate accepted")
	}
	// Everything off is a pass-through.
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x := []float32{0.1, -0.2, 0.3}
	p.Process(x)
	if x[0] != 0.1 || x[1] != -0.2 || x[2] != 0.3 {
		t.Errorf("disabled processor changed samples: %v", x)
	}
}

func TestOddChunks(t *testing.T) {
	// Chunks that are not whole frames come out the same as whole frames.
	speech := load48(t, "near16k.wav")[:sec(2)]
	whole := run(t, Defaults(nil), speech, nil)
	p, err := New(Defaults(NewReference()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	odd := append([]float32(nil), speech...)
	for i := 0; i < len(odd); i += 333 {
		p.Process(odd[i:min(i+333, len(odd))])
	}
	for i := range sec(1.9) {
		if whole[i] != odd[i] {
			t.Fatalf("sample %d differs: %v vs %v", i, whole[i], odd[i])
		}
	}
}

// BenchmarkProcess10ms is the processor's cost per 10 ms frame with every
// stage on and far-end and near-end speech, next to the Opus encoder's
// cost for the same 10 ms of audio (half a 20 ms packet) in the same run.
func BenchmarkProcess10ms(b *testing.B) {
	for _, rate := range []int{16000, 24000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			far, echo := echoScene(b, 0.080, 0, 0)
			near := delayed(pad(load48(b, "near16k.wav"), len(far)), sec(3))
			mic := add(echo, near)
			ref := NewReference()
			cfg := Defaults(ref)
			cfg.ProcessRate = rate
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			buf := make([]float32, frame48)
			frames := len(mic) / frame48
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				k := (i % frames) * frame48
				ref.Write(far[k : k+frame48])
				copy(buf, mic[k:k+frame48])
				p.Process(buf)
			}
			per := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/frame")
			b.ReportMetric(100*per.Seconds()/FrameDuration.Seconds(), "%core")
		})
	}
	b.Run("opus-encode", func(b *testing.B) {
		speech := load48(b, "near16k.wav")
		const chunk = SampleRate / 50
		pos := 0
		src := audio.ReaderFunc(func() (wave.Audio, func(), error) {
			a := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: chunk, Channels: 1, SamplingRate: SampleRate})
			for i := range chunk {
				a.Data[i] = speech[(pos+i)%len(speech)]
			}
			pos += chunk
			return a, func() {}, nil
		})
		params, err := mdopus.NewParams()
		if err != nil {
			b.Fatal(err)
		}
		params.BitRate = 32000
		params.Latency = mdopus.Latency20ms
		enc, err := params.BuildAudioEncoder(src, prop.Media{Audio: prop.Audio{SampleRate: SampleRate, ChannelCount: 1, Latency: 20 * time.Millisecond}})
		if err != nil {
			b.Fatal(err)
		}
		defer enc.Close()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if _, rel, err := enc.Read(); err != nil && err != io.EOF {
				b.Fatal(err)
			} else if rel != nil {
				rel()
			}
		}
		per := time.Since(start) / time.Duration(b.N) / 2 // per 10 ms of audio
		b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/frame")
		b.ReportMetric(100*per.Seconds()/FrameDuration.Seconds(), "%core")
	})
}

func TestERLEPlayoutStartedFirst(t *testing.T) {
	// The speakers played 700 ms before the microphone was first read
	// (the meeting's output opens before capture is read): the reference
	// holds a backlog the microphone never heard.
	far, echo := echoScene(t, 0.080, 0, 0)
	lead := sec(0.7)
	ref := NewReference()
	ref.Write(far[:lead])
	mic := add(echo[lead:], whiteNoise(len(echo)-lead, -70, 3))
	cfg := echoConfig()
	cfg.Reference = ref
	out := run(t, cfg, mic, far[lead:])
	e := erle(mic, out, sec(2), sec(6))
	t.Logf("ERLE after 2 s with playout 700 ms ahead of capture: %.1f dB", e)
	if e < goalERLE {
		t.Errorf("ERLE %.1f dB, goal %.0f dB", e, goalERLE)
	}
}

func TestERLEBurstyCapture(t *testing.T) {
	// The device writes the reference every 10 ms; the microphone is
	// read in bursts (0–60 ms late, in chunks that are not whole
	// frames), as a capture queue does. The pairing settles where the
	// backlog covers the jitter.
	far, echo := echoScene(t, 0.080, 0, 0)
	mic := add(echo, whiteNoise(len(echo), -70, 3))
	ref := NewReference()
	p, err := New(Config{EchoCancellation: true, NoiseSuppression: true, HighPass: true, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := append([]float32(nil), mic...)
	rng := rand.New(rand.NewPCG(5, 5))
	done := 0
	for k := 0; k+frame48 <= len(far); k += frame48 {
		ref.Write(far[k : k+frame48])
		captured := k + frame48
		if rng.IntN(3) > 0 && captured-done < sec(0.06) {
			continue // the reader is late
		}
		for done < captured {
			n := min(captured-done, 100+rng.IntN(700))
			p.Process(out[done : done+n])
			done += n
		}
	}
	e := erle(mic, out, sec(3), sec(12))
	st := p.Stats()
	t.Logf("ERLE 3–12 s with bursty capture: %.1f dB (delay %d ms, %d re-alignments, reference missing %d, dropped %d)",
		e, st.DelayMillis, st.Realigned, st.ReferenceMissing, st.ReferenceDropped)
	if e < goalERLE {
		t.Errorf("ERLE %.1f dB, goal %.0f dB", e, goalERLE)
	}
}
