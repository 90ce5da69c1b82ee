package audioproc

import (
	"math"
	"math/cmplx"

	"github.com/sottohq/sotto/internal/dsp"
)

// delayEstimator finds how far the microphone's echo lags the far-end
// reference, so the echo canceller's filter can be spent on the room's
// response rather than on the pure delay of buffers and air. It runs a
// generalised cross-correlation with phase transform (GCC-PHAT) on both
// signals decimated to 4 kHz: every update it correlates the last
// delayWindow of microphone against the reference over lags 0…maxLag,
// averages the phase-normalised cross-spectra of recent updates, and
// takes the correlation peak when it clearly stands out.
type delayEstimator struct {
	decim  int  // input samples per decimated sample
	mic    ring // decimated microphone, delayWindow long
	ref    ring // decimated reference, delayWindow+delayMaxLag long
	accMic float64
	accRef float64
	accN   int
	since  int // decimated samples since the last update

	cross  []complex128 // smoothed PHAT cross-spectrum
	warm   int          // updates accumulated
	buf    []complex128
	buf2   []complex128
	lag    int // current estimate in input samples, -1 unknown
	stable int
	cand   int
}

const (
	delayRateHz    = 4000
	delayWindow    = 2048 // decimated samples (512 ms)
	delayMaxLag    = 2000 // decimated samples (500 ms)
	delayFFT       = 4096 // ≥ delayWindow + delayMaxLag
	delayUpdate    = 500  // decimated samples between updates (125 ms)
	delaySmoothing = 0.6  // weight of the past cross-spectrum
	// delayPeakRatio is how far the correlation peak must stand above
	// the mean magnitude to be believed.
	delayPeakRatio = 7.0
	// delayMinRefDBFS: updates need far-end speech in the window.
	delayMinRefDBFS = -50.0
)

func newDelayEstimator(rate int) *delayEstimator {
	return &delayEstimator{
		decim: rate / delayRateHz,
		mic:   newRing(delayWindow),
		ref:   newRing(delayWindow + delayMaxLag),
		cross: make([]complex128, delayFFT),
		buf:   make([]complex128, delayFFT),
		buf2:  make([]complex128, delayFFT),
		lag:   -1,
	}
}

// push adds one frame of microphone and reference (same rate, same
// length) and returns the current delay estimate in input samples (−1 while
// unknown) and whether it changed.
func (d *delayEstimator) push(mic, ref []int16) (int, bool) {
	changed := false
	for i := range mic {
		d.accMic += float64(mic[i])
		d.accRef += float64(ref[i])
		d.accN++
		if d.accN < d.decim {
			continue
		}
		d.mic.push(d.accMic / float64(d.decim) / 32768)
		d.ref.push(d.accRef / float64(d.decim) / 32768)
		d.accMic, d.accRef, d.accN = 0, 0, 0
		d.since++
		if d.since >= delayUpdate && d.ref.full() {
			d.since = 0
			if d.update() {
				changed = true
			}
		}
	}
	return d.lag, changed
}

// ring keeps the last len(v) samples.
type ring struct {
	v   []float64
	pos int // next write
	n   int // samples held
}

func newRing(n int) ring { return ring{v: make([]float64, n)} }

func (r *ring) push(x float64) {
	r.v[r.pos] = x
	r.pos = (r.pos + 1) % len(r.v)
	r.n = min(r.n+1, len(r.v))
}

func (r *ring) full() bool { return r.n == len(r.v) }

// at returns the i-th oldest sample held.
func (r *ring) at(i int) float64 { return r.v[(r.pos+i)%len(r.v)] }

// update runs one GCC-PHAT step; it reports whether the estimate changed.
func (d *delayEstimator) update() bool {
	var e float64
	for i := delayMaxLag; i < d.ref.n; i++ {
		v := d.ref.at(i)
		e += v * v
	}
	if powToDB(e/delayWindow) < delayMinRefDBFS {
		return false // no far-end speech: nothing to learn
	}
	m, r := d.buf, d.buf2
	clear(m)
	clear(r)
	for i := range d.mic.n {
		m[i] = complex(d.mic.at(i), 0)
	}
	for i := range d.ref.n {
		r[i] = complex(d.ref.at(i), 0)
	}
	dsp.FFT(m, false)
	dsp.FFT(r, false)
	for k := range m {
		c := cmplx.Conj(m[k]) * r[k]
		if a := cmplx.Abs(c); a > 1e-12 {
			c /= complex(a, 0)
		} else {
			c = 0
		}
		d.cross[k] = complex(delaySmoothing, 0)*d.cross[k] + complex(1-delaySmoothing, 0)*c
	}
	d.warm++
	copy(m, d.cross)
	dsp.FFT(m, true)
	// m[k] = Σ mic[i]·ref[i+k]; the echo lag is delayMaxLag − k.
	best, bestK, sum := 0.0, 0, 0.0
	for k := 0; k <= delayMaxLag; k++ {
		a := math.Abs(real(m[k]))
		sum += a
		if a > best {
			best, bestK = a, k
		}
	}
	mean := sum / (delayMaxLag + 1)
	if d.warm < 2 || mean == 0 || best/mean < delayPeakRatio {
		return false
	}
	lag := (delayMaxLag - bestK) * d.decim
	// Believe a new value after it was seen twice in a row (one update
	// in double talk can peak anywhere).
	if abs(lag-d.cand) > 2*d.decim {
		d.cand, d.stable = lag, 1
		return false
	}
	d.stable++
	if d.stable < 2 || abs(lag-d.lag) <= 2*d.decim {
		return false
	}
	d.lag = lag
	return true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
