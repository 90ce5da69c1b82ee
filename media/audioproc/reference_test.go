package audioproc

import "testing"

func ramp(from, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(from+i) / 1e6
	}
	return x
}

func TestReferenceFIFO(t *testing.T) {
	r := NewReference()
	got := make([]float32, 480)
	r.read(got) // the first read: nothing played yet
	if r.missing.Load() != 480 {
		t.Fatalf("missing %d", r.missing.Load())
	}
	r.Write(ramp(0, 300))
	r.Write(ramp(300, 300))
	r.read(got)
	for i, v := range got {
		if v != float32(i)/1e6 {
			t.Fatalf("sample %d = %v", i, v)
		}
	}
	r.read(got) // 120 left, then silence
	if got[119] != float32(599)/1e6 || got[120] != 0 || r.missing.Load() != 480+360 {
		t.Fatalf("tail %v %v, missing %d", got[119], got[120], r.missing.Load())
	}
}

func TestReferenceBoundsBacklogAndCapacity(t *testing.T) {
	r := NewReference()
	// 1.5 s written before the first read: the buffer keeps one second,
	// the first read takes the newest samples.
	for i := 0; i < 150; i++ {
		r.Write(ramp(i*480, 480))
	}
	if r.dropped.Load() != uint64(150*480-referenceCap) {
		t.Fatalf("dropped %d on overflow", r.dropped.Load())
	}
	got := make([]float32, 480)
	r.read(got)
	wantFirst := 149 * 480
	if got[0] != float32(wantFirst)/1e6 || r.n != 0 {
		t.Fatalf("first sample %v (want %v), backlog %d", got[0]*1e6, wantFirst, r.n)
	}
	// From then on a FIFO, until the backlog passes maxBacklog (capture
	// stalled): then the newest again.
	r.Write(ramp(0, 960))
	r.read(got)
	if got[0] != 0 {
		t.Fatalf("FIFO read %v", got[0])
	}
	for i := 0; i < 50; i++ {
		r.Write(ramp(1000+i*480, 480))
	}
	r.read(got)
	if want := float32(1000+49*480) / 1e6; got[0] != want || r.n != 0 {
		t.Fatalf("after a stall: first %v, want %v; backlog %d", got[0], want, r.n)
	}
}
