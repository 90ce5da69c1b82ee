package meeting

// replayWindowBits is the width of the per-sender replay window, as the
// anti-replay window of RFC 4303 §3.4.3.
const replayWindowBits = 1024

// replayWindow tracks accepted sequence numbers of one sender.
type replayWindow struct {
	top  uint64 // highest accepted seq (0: none yet)
	bits [replayWindowBits / 64]uint64
}

type replayVerdict int

const (
	seqFresh replayVerdict = iota
	seqDuplicate
	seqTooOld
)

func (w *replayWindow) bit(seq uint64) (int, uint64) {
	i := seq % replayWindowBits
	return int(i / 64), 1 << (i % 64)
}

// check classifies seq without recording it.
func (w *replayWindow) check(seq uint64) replayVerdict {
	if seq == 0 {
		return seqTooOld
	}
	if seq > w.top {
		return seqFresh
	}
	if w.top-seq >= replayWindowBits {
		return seqTooOld
	}
	i, b := w.bit(seq)
	if w.bits[i]&b != 0 {
		return seqDuplicate
	}
	return seqFresh
}

// mark records seq as accepted; check must have returned seqFresh.
func (w *replayWindow) mark(seq uint64) {
	if seq > w.top {
		if seq-w.top >= replayWindowBits {
			clear(w.bits[:])
		} else {
			for s := w.top + 1; s < seq; s++ {
				i, b := w.bit(s)
				w.bits[i] &^= b
			}
		}
		w.top = seq
	}
	i, b := w.bit(seq)
	w.bits[i] |= b
}
