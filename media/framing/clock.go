package framing

import (
	"math"
	"time"
)

// Conversions between wall-clock durations and RTP media clocks. Every
// pipeline stage that stamps or reads media time goes through these two, so
// rounding is the same everywhere and no caller multiplies nanoseconds by a
// clock rate itself (at 90 kHz that product leaves int64 after 28 hours).

// Ticks returns d in units of a clockRate Hz clock, rounded to the nearest
// tick (halves away from zero). Intermediate products never overflow: the
// whole seconds and the remainder are scaled separately, so the result is
// exact whenever it fits in an int64.
func Ticks(d time.Duration, clockRate uint32) int64 {
	// The magnitude as uint64 is exact even for the most negative Duration.
	mag := uint64(d)
	if d < 0 {
		mag = -mag
	}
	const second = uint64(time.Second)
	rate := uint64(clockRate)
	t := (mag/second)*rate + ((mag%second)*rate+second/2)/second
	if d < 0 {
		return -int64(t)
	}
	return int64(t)
}

// RTPTicks is Ticks modulo 2³²: the increment of a 32-bit RTP timestamp
// (RFC 3550 §5.1) over d. Timestamps use serial-number arithmetic, so the
// wrap-around is the intended result for long calls, and a negative d
// gives the matching step backwards.
func RTPTicks(d time.Duration, clockRate uint32) uint32 {
	return uint32(Ticks(d, clockRate))
}

// DurationOfTicks is the inverse of Ticks: the time that ticks of a
// clockRate Hz clock span, rounded to the nearest nanosecond. It saturates
// at the largest time.Duration instead of overflowing, and a zero clock
// rate gives 0.
func DurationOfTicks(ticks uint64, clockRate uint32) time.Duration {
	if clockRate == 0 {
		return 0
	}
	rate := uint64(clockRate)
	sec, rem := ticks/rate, ticks%rate
	if sec > uint64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	d := time.Duration(sec) * time.Second
	frac := time.Duration((rem*uint64(time.Second) + rate/2) / rate)
	if d > math.MaxInt64-frac {
		return math.MaxInt64
	}
	return d + frac
}
