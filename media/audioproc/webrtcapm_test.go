//go:build webrtcapm

package audioproc

import (
	"testing"
	"time"
)

// runWebRTC is run (room_test.go) through webrtc-audio-processing.
func runWebRTC(t testing.TB, cfg Config, mic, ref []float32) []float32 {
	t.Helper()
	w, err := newWebrtcAPM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	out := append([]float32(nil), mic...)
	zero := make([]float32, frame48)
	for i := 0; i+frame48 <= len(out); i += frame48 {
		r := zero
		if ref != nil {
			r = ref[i : i+frame48]
		}
		if err := w.process(out[i:i+frame48], r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestWebRTCComparison runs the bench's scenes through both libraries and
// logs the figures side by side; it asserts nothing about webrtc.
func TestWebRTCComparison(t *testing.T) {
	for _, d := range []float64{0.030, 0.080, 0.150} {
		far, echo := echoScene(t, d, d+0.040, 6)
		mic := add(echo, whiteNoise(len(echo), -70, 3))
		s := run(t, echoConfig(), mic, far)
		w := runWebRTC(t, echoConfig(), mic, far)
		t.Logf("ERLE %3.0f ms: speexdsp %.1f / %.1f dB, webrtc %.1f / %.1f dB (after 2 s / after +40 ms)", d*1000,
			erle(mic, s, sec(2), sec(6)), erle(mic, s, sec(8), sec(12)), erle(mic, w, sec(2), sec(6)), erle(mic, w, sec(8), sec(12)))
	}
	far, echo := echoScene(t, 0.080, 0, 0)
	near := delayed(pad(load48(t, "near16k.wav"), len(far)), sec(3))
	scaleActiveTo(near, -24)
	noise := whiteNoise(len(far), -70, 5)
	clean := highPassed(near)
	from, to := sec(3), len(far)-sec(0.1)
	for name, f := range map[string]func(testing.TB, Config, []float32, []float32) []float32{"speexdsp": run, "webrtc": runWebRTC} {
		with := segSNR(clean, f(t, echoConfig(), add(echo, near, noise), far), from, to)
		without := segSNR(clean, f(t, echoConfig(), add(near, noise), far), from, to)
		t.Logf("double talk %s: %.1f dB with echo, %.1f dB without", name, with, without)

		nmic := add(delayed(near[sec(3):], sec(3)), fanNoise(len(near), -40, 9))
		nout := f(t, Config{NoiseSuppression: true, HighPass: true}, nmic, nil)
		t.Logf("noise suppression %s: %.1f dB less noise, segmental SNR %.1f dB", name, erle(nmic, nout, sec(1), sec(3)),
			segSNR(highPassed(delayed(near[sec(3):], sec(3))), nout, sec(3), len(nmic)-sec(0.1)))

		speech := load48(t, "near16k.wav")
		scaleActiveTo(speech, -35)
		amic := make([]float32, 2*len(speech)+sec(3))
		copy(amic, speech)
		copy(amic[len(speech)+sec(3):], speech)
		amic = add(amic, whiteNoise(len(amic), -60, 21))
		aout := f(t, Config{GainControl: true, HighPass: true}, amic, nil)
		t.Logf("AGC %s: −35 dBFS talker → %.1f dBFS; pause %.1f → %.1f dBFS", name, activeRMSDB(aout[len(speech)+sec(3):]),
			rmsDB(aout[len(speech)+sec(0.5):len(speech)+sec(1.5)]), rmsDB(aout[len(speech)+sec(2):len(speech)+sec(3)]))
	}
}

func BenchmarkWebRTC10ms(b *testing.B) {
	far, echo := echoScene(b, 0.080, 0, 0)
	near := delayed(pad(load48(b, "near16k.wav"), len(far)), sec(3))
	mic := add(echo, near)
	w, err := newWebrtcAPM(Defaults(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	buf := make([]float32, frame48)
	frames := len(mic) / frame48
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		k := (i % frames) * frame48
		copy(buf, mic[k:k+frame48])
		if err := w.process(buf, far[k:k+frame48]); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/frame")
	b.ReportMetric(100*per.Seconds()/FrameDuration.Seconds(), "%core")
}
