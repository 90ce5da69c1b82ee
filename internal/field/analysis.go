package field

import (
	"math"
	"math/cmplx"
	"slices"
	"time"

	"github.com/sottohq/sotto/internal/dsp"
)

// FreezeThreshold is the longest interval between two shown video frames
// that does not count as frozen.
const FreezeThreshold = 200 * time.Millisecond

// videoMetrics returns the frame rate and the share of [from, to] spent in
// intervals longer than FreezeThreshold without a new frame (the whole
// interval counts, from the last frame shown).
func videoMetrics(frames []time.Time, from, to time.Time) (fps, frozenPct float64) {
	span := to.Sub(from)
	if span <= 0 {
		return 0, 0
	}
	prev := from
	var frozen time.Duration
	n := 0
	for _, f := range frames {
		if f.Before(from) || f.After(to) {
			continue
		}
		n++
		if g := f.Sub(prev); g > FreezeThreshold {
			frozen += g
		}
		prev = f
	}
	if g := to.Sub(prev); g > FreezeThreshold {
		frozen += g
	}
	return float64(n) / span.Seconds(), 100 * float64(frozen) / float64(span)
}

// Audio alignment parameters.
const (
	// alignWindow is the stretch of input aligned on its own: after a
	// re-buffering the playout delay changes, and each window finds its own.
	alignWindow = SampleRate
	// maxLag bounds the search (mouth to ear, 0–1 s).
	maxLag = SampleRate
	// voicedRMS is the input level below which a window counts as silence
	// and takes the previous window's alignment.
	voicedRMS = 0.01
)

// audioResult compares what the device played with what was spoken.
type audioResult struct {
	SNRdB       float64
	MouthToEar  time.Duration // median over voiced windows
	LagSpreadMs float64       // max − min lag over voiced windows
	Windows     int
}

// compareAudio aligns out against in window by window and returns the
// SNR of the played speech over the voiced windows, and the delay. in[k]
// is spoken at inStart + k/SampleRate; out[i] is heard at outStart +
// i/SampleRate. Windows of in from firstIn on are compared.
func compareAudio(in []float32, inStart time.Time, out []float32, outStart time.Time, firstIn, lastIn int) audioResult {
	// Offset of out relative to in on the common time axis, in samples:
	// in[k] and out[k-base] are at the same instant.
	base := int(outStart.Sub(inStart) * SampleRate / time.Second)
	var sig, noise float64
	var lags []int
	prevLag := -1
	res := audioResult{}
	for w := firstIn; w+alignWindow <= lastIn; w += alignWindow {
		x := in[w : w+alignWindow]
		if rms(x) < voicedRMS {
			continue
		}
		// Candidate out samples for lag l (0…maxLag): out[w-base+l+i].
		o0 := w - base
		if o0 < 0 || o0+maxLag+alignWindow > len(out) {
			break
		}
		y := out[o0 : o0+maxLag+alignWindow]
		lag := bestLag(x, y, maxLag)
		if lag < 0 {
			lag = prevLag
		}
		if lag < 0 {
			continue
		}
		prevLag = lag
		lags = append(lags, lag)
		for i, v := range x {
			e := float64(v) - float64(y[lag+i])
			sig += float64(v) * float64(v)
			noise += e * e
		}
		res.Windows++
	}
	if res.Windows == 0 {
		return audioResult{SNRdB: math.Inf(-1)}
	}
	res.SNRdB = 10 * math.Log10(sig/math.Max(noise, 1e-12))
	slices.Sort(lags)
	med := lags[len(lags)/2]
	res.MouthToEar = time.Duration(med) * time.Second / SampleRate
	res.LagSpreadMs = float64(lags[len(lags)-1]-lags[0]) * 1000 / SampleRate
	return res
}

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// bestLag returns the lag l in [0, maxLag] maximising the normalised
// correlation of x with y[l : l+len(x)], or −1 when y is silent there.
func bestLag(x, y []float32, maxLag int) int {
	n := 1
	for n < len(y)+len(x) {
		n <<= 1
	}
	a := make([]complex128, n)
	b := make([]complex128, n)
	for i, v := range x {
		a[i] = complex(float64(v), 0)
	}
	for i, v := range y {
		b[i] = complex(float64(v), 0)
	}
	dsp.FFT(a, false)
	dsp.FFT(b, false)
	for i := range a {
		a[i] = cmplx.Conj(a[i]) * b[i]
	}
	dsp.FFT(a, true)
	// Energy of each y window, by prefix sums.
	pre := make([]float64, len(y)+1)
	for i, v := range y {
		pre[i+1] = pre[i] + float64(v)*float64(v)
	}
	best, bestScore := -1, 0.0
	for l := 0; l <= maxLag && l+len(x) <= len(y); l++ {
		e := pre[l+len(x)] - pre[l]
		if e < 1e-9 {
			continue
		}
		c := real(a[l])
		if s := c / math.Sqrt(e); s > bestScore {
			best, bestScore = l, s
		}
	}
	return best
}
