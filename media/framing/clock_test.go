package framing

import (
	"math"
	"testing"
	"time"
)

func TestTicksRounding(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate uint32
		want int64
	}{
		{0, VideoClockRate, 0},
		{20 * time.Millisecond, AudioClockRate, 960},
		{time.Second / 30, VideoClockRate, 3000},
		{time.Second, VideoClockRate, 90000},
		// 1 tick at 90 kHz is 11111.1 ns: below half rounds down, from
		// half on rounds up.
		{5555, VideoClockRate, 0},
		{5556, VideoClockRate, 1},
		{16666, VideoClockRate, 1},
		{16667, VideoClockRate, 2},
		{-5556, VideoClockRate, -1},
		{-20 * time.Millisecond, AudioClockRate, -960},
		// 30 hours at 90 kHz: d×rate is past int64, the result is not.
		{30 * time.Hour, VideoClockRate, 30 * 3600 * 90000},
		{30*time.Hour + 20*time.Millisecond, AudioClockRate, 30*3600*48000 + 960},
		// The longest Duration at the highest rate the type allows.
		{math.MaxInt64, 1, 9223372037},
		{math.MinInt64, 1, -9223372037},
	} {
		if got := Ticks(c.d, c.rate); got != c.want {
			t.Errorf("Ticks(%v, %d) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

func TestRTPTicksWraps(t *testing.T) {
	// 13 h 15 min 21 s at 90 kHz is just past 2³² ticks.
	d := 47721*time.Second + 2*time.Second
	want := uint32(uint64(47723*90000) % (1 << 32))
	if got := RTPTicks(d, VideoClockRate); got != want {
		t.Fatalf("RTPTicks(%v) = %d, want %d", d, got, want)
	}
	// A step back is the serial-number negative of the step forward.
	if back, fwd := RTPTicks(-time.Second, VideoClockRate), RTPTicks(time.Second, VideoClockRate); back+fwd != 0 {
		t.Fatalf("back %d + forward %d ≠ 0 mod 2³²", back, fwd)
	}
	if int32(RTPTicks(-time.Second, VideoClockRate)) != -90000 {
		t.Fatal("one second back is not −90000 ticks")
	}
}

func TestDurationOfTicks(t *testing.T) {
	for _, c := range []struct {
		ticks uint64
		rate  uint32
		want  time.Duration
	}{
		{0, VideoClockRate, 0},
		{960, AudioClockRate, 20 * time.Millisecond},
		{3000, VideoClockRate, time.Second / 30},
		{1, VideoClockRate, 11111}, // 11111.1 ns
		{2, VideoClockRate, 22222}, // 22222.2 ns
		{5, VideoClockRate, 55556}, // 55555.6 ns rounds up
		// A week of 90 kHz ticks: ticks×1e9 is past uint64, the result is not.
		{7 * 24 * 3600 * 90000, VideoClockRate, 7 * 24 * time.Hour},
		{math.MaxUint64, 1, math.MaxInt64},
		{5, 0, 0},
	} {
		if got := DurationOfTicks(c.ticks, c.rate); got != c.want {
			t.Errorf("DurationOfTicks(%d, %d) = %d, want %d", c.ticks, c.rate, got, c.want)
		}
	}
}

// Round trips agree to within half a tick either way.
func TestTicksRoundTrip(t *testing.T) {
	for _, rate := range []uint32{VideoClockRate, AudioClockRate, 8000} {
		half := time.Second / time.Duration(rate) / 2
		for _, d := range []time.Duration{1, 999, time.Millisecond, 33333333, time.Hour + 7, 100 * time.Hour} {
			back := DurationOfTicks(uint64(Ticks(d, rate)), rate)
			if diff := back - d; diff > half+1 || diff < -half-1 {
				t.Errorf("rate %d: %v → %v", rate, d, back)
			}
			if got := Ticks(DurationOfTicks(uint64(Ticks(d, rate)), rate), rate); got != Ticks(d, rate) {
				t.Errorf("rate %d: ticks of %v not stable: %d vs %d", rate, d, got, Ticks(d, rate))
			}
		}
	}
}
