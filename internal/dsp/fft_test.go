package dsp

import (
	"math"
	"math/cmplx"
	"testing"
)

// The transform matches the textbook DFT, and the inverse undoes it.
func TestFFTMatchesDFT(t *testing.T) {
	const n = 64
	x := make([]complex128, n)
	for i := range x {
		x[i] = complex(math.Sin(float64(i)*0.7)+0.3*float64(i%5), math.Cos(float64(i)*1.3))
	}
	want := make([]complex128, n)
	for k := range want {
		for j, v := range x {
			want[k] += v * cmplx.Rect(1, -2*math.Pi*float64(j*k)/n)
		}
	}
	got := append([]complex128(nil), x...)
	FFT(got, false)
	for k := range got {
		if cmplx.Abs(got[k]-want[k]) > 1e-9 {
			t.Fatalf("bin %d: %v, want %v", k, got[k], want[k])
		}
	}
	FFT(got, true)
	for i := range got {
		if cmplx.Abs(got[i]-x[i]) > 1e-12 {
			t.Fatalf("sample %d after the inverse: %v, want %v", i, got[i], x[i])
		}
	}
}
