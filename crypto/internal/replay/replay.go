// Package replay is the one sliding anti-replay window of the crypto core,
// shared by SFrame receivers (a window per KID over CTR, RFC 9605 §7.4 and
// §9.3) and meeting members (a window per sender over the envelope seq,
// docs/PROTOCOL.md §6.3).
//
// It is the scheme of RFC 3711 §3.3.2 and RFC 4303 §3.4.3: the highest
// accepted index and a bitmap of the Size indices at and below it. Checking
// and accepting are separate steps so that a caller records an index only
// after the message carrying it authenticated: a forgery must not move the
// window.
package replay

const (
	// Size is the number of indices, ending at the highest accepted one,
	// that a Window remembers. An index Size or more below the highest
	// accepted one is too old. 1024 is over 10 s of audio and video at
	// Sotto's frame rates, and far more than the envelopes one member has
	// in flight.
	Size = 1024
	// words is the bitmap size in 64-bit words.
	words = Size / 64
)

// Verdict classifies an index against a Window.
type Verdict int

const (
	// Fresh: the index was never accepted and lies in or above the window.
	Fresh Verdict = iota
	// Duplicate: the index was already accepted.
	Duplicate
	// TooOld: the index is below the window; whether it was seen is no
	// longer known.
	TooOld
)

// Window tracks the accepted indices of one stream. The zero Window has
// accepted nothing. A Window is not safe for concurrent use.
type Window struct {
	started bool
	top     uint64 // highest accepted index, when started
	// bits has bit (i mod Size) set when index i was accepted and lies in
	// the window.
	bits [words]uint64
}

func bitOf(i uint64) (word int, mask uint64) {
	return int(i/64) % words, 1 << (i % 64)
}

// Behind returns how far i lies below the highest accepted index (0 when i
// is at or above it, or nothing was accepted).
func (w *Window) Behind(i uint64) uint64 {
	if !w.started || i >= w.top {
		return 0
	}
	return w.top - i
}

// Check classifies i without recording it.
func (w *Window) Check(i uint64) Verdict {
	if !w.started || i > w.top {
		return Fresh
	}
	if w.top-i >= Size {
		return TooOld
	}
	word, mask := bitOf(i)
	if w.bits[word]&mask != 0 {
		return Duplicate
	}
	return Fresh
}

// Accept records i, which Check classified Fresh, sliding the window
// forward when i is the new highest index.
func (w *Window) Accept(i uint64) {
	switch {
	case !w.started:
		w.started = true
		w.top = i
		clear(w.bits[:])
	case i > w.top:
		if d := i - w.top; d >= Size {
			clear(w.bits[:])
		} else {
			// Forget the indices the window slides over.
			for j := uint64(1); j <= d; j++ {
				word, mask := bitOf(w.top + j)
				w.bits[word] &^= mask
			}
		}
		w.top = i
	}
	word, mask := bitOf(i)
	w.bits[word] |= mask
}
