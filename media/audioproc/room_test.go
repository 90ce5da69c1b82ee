package audioproc

// The simulated room of the bench: far-end speech played through a
// synthetic impulse response, added to near-end speech and noise at the
// microphone. Everything is deterministic (fixed seeds).

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sottohq/sotto/internal/dsp"
	"github.com/sottohq/sotto/media/wavfile"
)

// load48 reads a 16 kHz testdata recording and resamples it to 48 kHz.
func load48(t testing.TB, name string) []float32 {
	t.Helper()
	a, err := wavfile.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate == SampleRate {
		return a.Samples
	}
	rs, err := newResampler(a.SampleRate, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	in := make([]int16, len(a.Samples)+a.SampleRate/10) // flush the filter
	toInt16(in, a.Samples)
	out := make([]int16, len(in)*SampleRate/a.SampleRate+64)
	n := rs.process(in, out)
	f := make([]float32, n)
	fromInt16(f, out[:n])
	return f
}

// roomIR is a deterministic room impulse response at 48 kHz: silence for
// delay, a direct path, then exponentially decaying noise (reverberation
// time rt60) for tail, about as strong as the direct path (a laptop's
// speakers a few centimetres from its microphone in a furnished room);
// the whole response has gain g (root of its energy).
func roomIR(delay, rt60, tail float64, g float64, seed uint64) []float64 {
	d := int(delay * SampleRate)
	n := d + int(tail*SampleRate)
	h := make([]float64, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	h[d] = 1
	for i := d + 48; i < n; i++ { // reflections from 1 ms on
		t := float64(i-d) / SampleRate
		h[i] = 0.03 * rng.NormFloat64() * math.Exp(-6.9*t/rt60)
	}
	var e float64
	for _, v := range h {
		e += v * v
	}
	for i := range h {
		h[i] *= g / math.Sqrt(e)
	}
	return h
}

// convolve returns x*h truncated to len(x), by FFT.
func convolve(x []float32, h []float64) []float32 {
	n := 1
	for n < len(x)+len(h) {
		n <<= 1
	}
	a := make([]complex128, n)
	b := make([]complex128, n)
	for i, v := range x {
		a[i] = complex(float64(v), 0)
	}
	for i, v := range h {
		b[i] = complex(v, 0)
	}
	dsp.FFT(a, false)
	dsp.FFT(b, false)
	for i := range a {
		a[i] *= b[i]
	}
	dsp.FFT(a, true)
	out := make([]float32, len(x))
	for i := range out {
		out[i] = float32(real(a[i]))
	}
	return out
}

// fanNoise is stationary fan noise (low-passed white noise) plus 50 Hz
// mains hum and its harmonics, with RMS level rmsDBFS.
func fanNoise(n int, rmsDBFS float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]float32, n)
	var lp1, lp2 float64
	const a = 0.12 // one-pole low-pass, about 1 kHz at 48 kHz
	for i := range out {
		lp1 += a * (rng.NormFloat64() - lp1)
		lp2 += a * (lp1 - lp2)
		t := float64(i) / SampleRate
		hum := 0.6*math.Sin(2*math.Pi*50*t) + 0.25*math.Sin(2*math.Pi*100*t+0.3) + 0.1*math.Sin(2*math.Pi*150*t+1)
		out[i] = float32(lp2*4 + hum*0.05)
	}
	scaleTo(out, rmsDBFS)
	return out
}

func whiteNoise(n int, rmsDBFS float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 13))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	scaleTo(out, rmsDBFS)
	return out
}

func rmsDB(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return powToDB(s / float64(max(len(x), 1)))
}

// activeRMSDB is the RMS over 20 ms frames within 30 dB of the loudest
// (speech level, pauses excluded).
func activeRMSDB(x []float32) float64 {
	const fl = SampleRate / 50
	var pw []float64
	peak := 0.0
	for i := 0; i+fl <= len(x); i += fl {
		var s float64
		for _, v := range x[i : i+fl] {
			s += float64(v) * float64(v)
		}
		p := s / fl
		pw = append(pw, p)
		peak = max(peak, p)
	}
	var sum float64
	var n int
	for _, p := range pw {
		if p > peak/1000 {
			sum += p
			n++
		}
	}
	return powToDB(sum / float64(max(n, 1)))
}

func scaleTo(x []float32, db float64) {
	g := math.Pow(10, (db-rmsDB(x))/20)
	for i := range x {
		x[i] = float32(float64(x[i]) * g)
	}
}

func scaleActiveTo(x []float32, db float64) {
	g := math.Pow(10, (db-activeRMSDB(x))/20)
	for i := range x {
		x[i] = float32(float64(x[i]) * g)
	}
}

func add(dst []float32, srcs ...[]float32) []float32 {
	out := append([]float32(nil), dst...)
	for _, s := range srcs {
		for i := range min(len(out), len(s)) {
			out[i] += s[i]
		}
	}
	return out
}

func pad(x []float32, n int) []float32 {
	out := make([]float32, n)
	copy(out, x)
	return out
}

// delayed returns x shifted later by d samples (length kept).
func delayed(x []float32, d int) []float32 {
	out := make([]float32, len(x))
	copy(out[d:], x)
	return out
}

// run processes mic against the far-end reference ref (played at the
// same moment the microphone frame is captured) in 10 ms steps, the way
// capture and playout interleave.
func run(t testing.TB, cfg Config, mic, ref []float32) []float32 {
	t.Helper()
	if cfg.Reference == nil {
		cfg.Reference = NewReference()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := append([]float32(nil), mic...)
	for i := 0; i+frame48 <= len(out); i += frame48 {
		if ref != nil {
			cfg.Reference.Write(ref[i : i+frame48])
		}
		p.Process(out[i : i+frame48])
	}
	return out
}

// sec converts seconds to a sample index.
func sec(s float64) int { return int(s * SampleRate) }

// segSNR is the segmental SNR (dB) of y against the clean signal x over
// 20 ms frames where x is active, each frame's SNR clipped to
// [−10, 35] dB. y is first aligned to x (lag search up to 40 ms) and
// scaled by the least-squares gain, so level and latency are not counted
// as noise.
func segSNR(x, y []float32, from, to int) float64 {
	lag := bestLag(x[from:to], y[from:to], sec(0.04))
	var xy, yy float64
	for i := from; i < to && i+lag < len(y); i++ {
		xy += float64(x[i]) * float64(y[i+lag])
		yy += float64(y[i+lag]) * float64(y[i+lag])
	}
	g := xy / math.Max(yy, 1e-20)
	const fl = SampleRate / 50
	peak := 0.0
	for i := from; i+fl <= to; i += fl {
		peak = max(peak, power(x[i:i+fl]))
	}
	var sum float64
	var n int
	for i := from; i+fl <= to && i+fl+lag <= len(y); i += fl {
		px := power(x[i : i+fl])
		if px < peak/1000 {
			continue
		}
		var e float64
		for j := i; j < i+fl; j++ {
			d := float64(x[j]) - g*float64(y[j+lag])
			e += d * d
		}
		snr := 10 * math.Log10(px*fl/math.Max(e, 1e-20))
		sum += min(max(snr, -10), 35)
		n++
	}
	return sum / float64(max(n, 1))
}

func power(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x))
}

// bestLag is the lag (0…maxLag) of y behind x with the largest
// correlation.
func bestLag(x, y []float32, maxLag int) int {
	best, bl := math.Inf(-1), 0
	for l := 0; l <= maxLag; l += 1 {
		var c float64
		for i := 0; i+l < len(y) && i < len(x); i += 4 {
			c += float64(x[i]) * float64(y[i+l])
		}
		if c > best {
			best, bl = c, l
		}
	}
	return bl
}
