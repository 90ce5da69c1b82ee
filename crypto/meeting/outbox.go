package meeting

// The outbox: reliable messages waiting for an Ack (docs/PROTOCOL.md §6.3
// "Reliability and replay"). The identical envelope is re-sent
// RetransmitInitial after the first send, the delay doubling up to
// RetransmitMax, until it is acknowledged, its recipient leaves the roster,
// or RetransmitGiveUp passed.

import (
	"cmp"
	"slices"
	"time"
)

// outbox holds the unacknowledged envelopes, at most maxOutbox.
type outbox struct {
	pending map[outKey]*pendingMsg
}

type outKey struct {
	to  MemberKey
	seq uint64
}

type pendingMsg struct {
	to       SessionID
	payload  []byte
	first    time.Time
	next     time.Time
	interval time.Duration
}

func newOutbox() outbox { return outbox{pending: make(map[outKey]*pendingMsg)} }

// add keeps env, sent at now to mk at session sid as seq, for re-sending.
// It reports false, keeping nothing, when the outbox is full.
func (o *outbox) add(mk MemberKey, seq uint64, sid SessionID, env []byte, now time.Time) bool {
	if len(o.pending) >= maxOutbox {
		return false
	}
	o.pending[outKey{mk, seq}] = &pendingMsg{to: sid, payload: env, first: now, next: now.Add(RetransmitInitial), interval: RetransmitInitial}
	return true
}

// ack forgets the message seq to mk.
func (o *outbox) ack(mk MemberKey, seq uint64) { delete(o.pending, outKey{mk, seq}) }

// due returns the envelopes to re-send at now, oldest first, and schedules
// their next re-send; messages older than RetransmitGiveUp are dropped and
// counted in gaveUp instead.
func (o *outbox) due(now time.Time) (resend []Outgoing, gaveUp int) {
	var keys []outKey
	for k, pm := range o.pending {
		if !now.Before(pm.next) {
			keys = append(keys, k)
		}
	}
	// seq is unique per sender, so this order is total.
	slices.SortFunc(keys, func(a, b outKey) int { return cmp.Compare(a.seq, b.seq) })
	for _, k := range keys {
		pm := o.pending[k]
		if now.Sub(pm.first) >= RetransmitGiveUp {
			gaveUp++
			delete(o.pending, k)
			continue
		}
		resend = append(resend, Outgoing{To: pm.to, Payload: pm.payload})
		pm.interval = min(2*pm.interval, RetransmitMax)
		pm.next = now.Add(pm.interval)
	}
	return resend, gaveUp
}

// dropRecipient forgets everything waiting for mk: nothing more is sent to
// a member that left the roster.
func (o *outbox) dropRecipient(mk MemberKey) {
	for k := range o.pending {
		if k.to == mk {
			delete(o.pending, k)
		}
	}
}

// reset forgets everything.
func (o *outbox) reset() { o.pending = make(map[outKey]*pendingMsg) }
