package audioproc

import "math"

// highPass is a 4th-order Butterworth high-pass filter (two biquads) that
// removes DC, handling rumble and mains hum below speech before the echo
// canceller and the noise suppressor see it: hum at 50 Hz loses about
// 24 dB at a 100 Hz corner, and the linear echo filter need not model it.
type highPass struct {
	s [2]biquad
}

// highPassHz is the corner frequency: below the fundamental of nearly all
// voices, above mains hum.
const highPassHz = 100

func newHighPass(rate int) *highPass {
	// The two sections of a 4th-order Butterworth: Q = 1/(2 cos(π/8)) and
	// 1/(2 cos(3π/8)).
	return &highPass{s: [2]biquad{
		newHighPassBiquad(highPassHz, float64(rate), 0.5411961),
		newHighPassBiquad(highPassHz, float64(rate), 1.3065630),
	}}
}

func (h *highPass) process(x []float32) {
	for i := range h.s {
		h.s[i].process(x)
	}
}

// biquad is a direct form I section (RBJ cookbook coefficients).
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func newHighPassBiquad(f0, fs, q float64) biquad {
	w := 2 * math.Pi * f0 / fs
	alpha := math.Sin(w) / (2 * q)
	cw := math.Cos(w)
	a0 := 1 + alpha
	return biquad{
		b0: (1 + cw) / 2 / a0, b1: -(1 + cw) / a0, b2: (1 + cw) / 2 / a0,
		a1: -2 * cw / a0, a2: (1 - alpha) / a0,
	}
}

func (b *biquad) process(x []float32) {
	for i, v := range x {
		in := float64(v)
		y := b.b0*in + b.b1*b.x1 + b.b2*b.x2 - b.a1*b.y1 - b.a2*b.y2
		b.x2, b.x1 = b.x1, in
		b.y2, b.y1 = b.y1, y
		x[i] = float32(y)
	}
	// Flush denormals after silence.
	if math.Abs(b.y1) < 1e-20 {
		b.y1 = 0
	}
	if math.Abs(b.y2) < 1e-20 {
		b.y2 = 0
	}
}
