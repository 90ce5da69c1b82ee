package audioproc

import (
	"sync"
	"sync/atomic"
)

// Reference carries the far-end signal from the playout device to the
// processor: exactly the mix handed to the speakers, mono 48 kHz. The
// device callback Writes each period; the processor reads as many samples
// as each microphone frame holds. The n-th sample read pairs with the n-th
// microphone sample processed, so the remaining offset between the two is
// the device buffers' and the room's delay, which the delay estimator
// measures. That delay is the device buffers' and the room's only if the
// reference is read fresh: what was played before the microphone was
// first read, or piled up while capture stalled (more than maxBacklog),
// is dropped (counted), so the pairing starts from the newest samples and
// the echo always lags its reference. Reads beyond what was written give
// silence (counted); the pairing then shifts, which the estimator sees as
// a delay jump, and settles where the backlog covers the jitter between
// the device's and the microphone's periods.
type Reference struct {
	mu   sync.Mutex
	buf  []float32
	head int // next read
	n    int // samples held
	// started is set by the first read.
	started bool

	dropped atomic.Uint64
	missing atomic.Uint64
}

// referenceCap is one second at 48 kHz.
const referenceCap = SampleRate

// maxBacklog is the unread reference beyond which capture is taken to
// have stalled (200 ms); the jitter of device and microphone periods is
// far below it.
const maxBacklog = SampleRate / 5

// NewReference returns an empty Reference.
func NewReference() *Reference { return &Reference{buf: make([]float32, referenceCap)} }

// Write appends played samples (mono 48 kHz, −1…1). It never blocks for
// long: it is called on the audio device's thread.
func (r *Reference) Write(played []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(played) > len(r.buf) {
		r.dropped.Add(uint64(len(played) - len(r.buf)))
		played = played[len(played)-len(r.buf):]
	}
	if over := r.n + len(played) - len(r.buf); over > 0 {
		r.head = (r.head + over) % len(r.buf)
		r.n -= over
		r.dropped.Add(uint64(over))
	}
	tail := (r.head + r.n) % len(r.buf)
	k := copy(r.buf[tail:], played)
	copy(r.buf, played[k:])
	r.n += len(played)
}

// read fills dst with the oldest unread samples, silence where none.
func (r *Reference) read(dst []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || r.n > len(dst)+maxBacklog {
		if over := r.n - len(dst); over > 0 {
			r.head = (r.head + over) % len(r.buf)
			r.n -= over
			r.dropped.Add(uint64(over))
		}
		r.started = true
	}
	n := min(len(dst), r.n)
	k := copy(dst[:n], r.buf[r.head:])
	copy(dst[k:n], r.buf)
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
	if n < len(dst) {
		clear(dst[n:])
		r.missing.Add(uint64(len(dst) - n))
	}
}
