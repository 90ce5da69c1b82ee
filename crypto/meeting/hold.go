package meeting

// The hold queue (docs/PROTOCOL.md §6.3): authentic-looking messages that
// cannot be processed yet (from a member key in no roster yet, or for a
// later epoch) wait here, unacknowledged and not marked seen, and run again
// after the next roster change.

import "time"

// holdQueue keeps at most maxHeld messages, each for at most HoldTTL.
type holdQueue struct {
	items []held
	// running and again make re-processing non-reentrant: a roster change
	// while held messages run asks for one more pass instead.
	running, again bool
}

type held struct {
	from    SessionID
	payload []byte
	at      time.Time
	unknown bool // from a member key in no roster
}

// push holds h, dropping the oldest message when full; it reports whether
// one was dropped.
func (q *holdQueue) push(h held) (dropped bool) {
	if len(q.items) >= maxHeld {
		q.items = q.items[1:]
		dropped = true
	}
	q.items = append(q.items, h)
	return dropped
}

// expire drops the messages held for HoldTTL at now and returns them.
func (q *holdQueue) expire(now time.Time) []held {
	var gone []held
	kept := q.items[:0]
	for _, h := range q.items {
		if now.Sub(h.at) < HoldTTL {
			kept = append(kept, h)
			continue
		}
		gone = append(gone, h)
	}
	q.items = kept
	return gone
}

// take empties the queue and returns what it held, oldest first.
func (q *holdQueue) take() []held {
	items := q.items
	q.items = nil
	return items
}
