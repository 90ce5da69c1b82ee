package participant

import "testing"

type bitrateRecorder struct {
	Stream
	set []int
}

func (b *bitrateRecorder) SetTargetBitrate(bps int) { b.set = append(b.set, bps) }

func TestVideoBudget(t *testing.T) {
	for _, c := range []struct {
		estimate int
		audio    bool
		want     int
	}{
		{300_000, true, int((300_000 - audioReserve) * videoShare)},
		{300_000, false, int(300_000 * videoShare)},
		{1_000_000, true, int((1_000_000 - audioReserve) * videoShare)},
		{120_000, true, videoFloor}, // below the floor
		{0, true, videoFloor},
	} {
		if got := videoBudget(c.estimate, c.audio); got != c.want {
			t.Errorf("videoBudget(%d, %v) = %d, want %d", c.estimate, c.audio, got, c.want)
		}
	}
}

// Small changes of the estimate do not reconfigure the encoder; a new
// stream gets the current target at once; a stream that cannot follow
// is skipped.
func TestBitrateControl(t *testing.T) {
	a := &bitrateRecorder{}
	b := &bitrateControl{audio: true}
	b.setStream(a)
	b.estimate(500_000)
	b.estimate(505_000) // under 3 %: kept
	b.estimate(600_000)
	if len(a.set) != 2 || a.set[0] != videoBudget(500_000, true) || a.set[1] != videoBudget(600_000, true) {
		t.Fatalf("targets set %v", a.set)
	}
	if b.target() != videoBudget(600_000, true) {
		t.Fatalf("target %d", b.target())
	}
	other := &bitrateRecorder{}
	b.setStream(other)
	if len(other.set) != 1 || other.set[0] != b.target() {
		t.Fatalf("new stream got %v", other.set)
	}
	b.setStream(nil) // a stream that is not BitrateAware
	b.estimate(900_000)
	if len(other.set) != 1 || b.target() != videoBudget(900_000, true) {
		t.Fatalf("after switching to a plain stream: %v, target %d", other.set, b.target())
	}
}
