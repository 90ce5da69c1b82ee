package sframe

// Anti-replay, RFC 9605 §7.4 and §9.3: a receiver accepts each CTR of a KID
// at most once. This is the sliding-window scheme of RFC 3711 §3.3.2 with
// the SFrame CTR as the index: the highest authenticated CTR and a bitmap
// of the ReplayWindow counters at and below it.
const (
	// ReplayWindow is the number of counters, ending at the highest CTR
	// accepted for a KID, that the receiver remembers. A frame whose CTR is
	// ReplayWindow or more below the highest accepted one is rejected as too
	// old. 1024 frames is over 10 s of audio and video at Sotto's rates.
	ReplayWindow = 1024
	// windowWords is the bitmap size in 64-bit words.
	windowWords = ReplayWindow / 64
)

// replayWindow tracks accepted counters of one KID. Bit (ctr mod
// ReplayWindow) is set when ctr has been accepted and lies in the window.
type replayWindow struct {
	started bool
	top     uint64
	bits    [windowWords]uint64
}

func bitOf(ctr uint64) (word int, mask uint64) {
	return int(ctr/64) % windowWords, 1 << (ctr % 64)
}

// check reports whether ctr may be accepted: it is newer than every
// accepted counter, or inside the window and not yet seen. It changes
// nothing; call accept only after the frame has authenticated.
func (w *replayWindow) check(ctr uint64) bool {
	if !w.started || ctr > w.top {
		return true
	}
	if w.top-ctr >= ReplayWindow {
		return false
	}
	i, m := bitOf(ctr)
	return w.bits[i]&m == 0
}

// accept records an authenticated ctr, sliding the window forward if ctr
// is the new highest counter.
func (w *replayWindow) accept(ctr uint64) {
	switch {
	case !w.started:
		w.started = true
		w.top = ctr
		clear(w.bits[:])
	case ctr > w.top:
		if d := ctr - w.top; d >= ReplayWindow {
			clear(w.bits[:])
		} else {
			// Forget the counters that the window slides over.
			for j := uint64(1); j <= d; j++ {
				i, m := bitOf(w.top + j)
				w.bits[i] &^= m
			}
		}
		w.top = ctr
	}
	i, m := bitOf(ctr)
	w.bits[i] |= m
}
