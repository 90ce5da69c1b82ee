// Package dsp holds the signal processing that more than one part of
// Sotto measures with: the echo canceller's delay estimator
// (media/audioproc) and the field benchmark's speech alignment
// (internal/field) both cross-correlate through an FFT.
package dsp

import (
	"math"
	"math/cmplx"
)

// FFT is an in-place iterative radix-2 transform; len(x) must be a power
// of two. The inverse is scaled by 1/len(x), so FFT(FFT(x), inverse)
// gives x back.
func FFT(x []complex128, inverse bool) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Rect(1, sign*2*math.Pi/float64(size))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := 0; k < size/2; k++ {
				a, b := x[start+k], w*x[start+k+size/2]
				x[start+k], x[start+k+size/2] = a+b, a-b
				w *= step
			}
		}
	}
	if inverse {
		s := complex(1/float64(n), 0)
		for i := range x {
			x[i] *= s
		}
	}
}
