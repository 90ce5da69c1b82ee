package waittest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	Until(t, "counter reached 3", 5*time.Second, func() bool { return n.Load() == 3 })
	if n.Load() != 3 {
		t.Fatalf("returned with counter %d", n.Load())
	}
}

// fatalRecorder records Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
}

func TestUntilFailsAfterTimeout(t *testing.T) {
	r := &fatalRecorder{TB: t}
	start := time.Now()
	Until(r, "never", 30*time.Millisecond, func() bool { return false })
	if r.msg == "" {
		t.Fatal("a condition that never holds did not fail the test")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", time.Since(start))
	}
}
