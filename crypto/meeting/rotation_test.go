package meeting

// Rotation timing (docs/PROTOCOL.md §6.6), on the harness's virtual clock:
// every bound is checked to the tick, whatever the load or the race
// detector do to real time. The harness ticks every step, so a timer due
// at t fires at the first tick at or after t: "within d" is checked as
// d + step at most.

import (
	"errors"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/sframe"
)

// silence drops everything n sends from now on: it receives, installs keys
// and acknowledges, but nobody hears its acknowledgements.
func silence(w *world, n *node) {
	w.tap = func(p pkt) []pkt {
		if p.from == n.sid {
			return nil
		}
		return []pkt{p}
	}
}

// switchAt returns when n first sent under a key of epoch, and when it
// accepted that epoch's roster.
func switchAt(t *testing.T, n *node, epoch uint64) (switched, accepted time.Time) {
	t.Helper()
	for i, e := range n.events {
		switch e := e.(type) {
		case RosterChanged:
			if e.Roster.Epoch == epoch && accepted.IsZero() {
				accepted = n.eventAt[i]
			}
		case SendKey:
			if KIDEpoch(e.KID) == epoch && switched.IsZero() {
				switched = n.eventAt[i]
			}
		}
	}
	if accepted.IsZero() || switched.IsZero() {
		t.Fatalf("%s: no roster or no send key for epoch %d", n.name, epoch)
	}
	return switched, accepted
}

// requireLag checks lo ≤ switch − acceptance ≤ hi for every node.
func requireLag(t *testing.T, epoch uint64, lo, hi time.Duration, ns ...*node) {
	t.Helper()
	for _, n := range ns {
		sw, acc := switchAt(t, n, epoch)
		if lag := sw.Sub(acc); lag < lo || lag > hi {
			t.Errorf("%s switched to epoch %d %v after accepting it, want %v to %v", n.name, epoch, lag, lo, hi)
		}
	}
}

// Bound: after a roster change that removed someone, a sender switches to
// its new key within SwitchTimeout of accepting the roster even when a
// member never acknowledges (§6.6 step 3), and from then on the removed
// member decodes nothing.
func TestRotationRemovalSwitchTimeout(t *testing.T) {
	w, h, js := setup(t, "a", "b", "c")
	a, b, c := js[0], js[1], js[2]
	w.latency = 10 * time.Millisecond
	silence(w, c)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	epoch := h.m.Epoch()
	w.run(SwitchTimeout + 10*w.latency)
	// c's acknowledgements never arrive, so the switch is the timeout's:
	// not before SwitchTimeout, and not later than the next tick.
	requireLag(t, epoch, SwitchTimeout, SwitchTimeout+step, h, a)
	for _, n := range []*node{h, a} {
		if got := n.m.Counters().SwitchTimeouts; got != 1 {
			t.Errorf("%s: %d switch timeouts, want 1", n.name, got)
		}
		if res := n.frame(); !errors.Is(res[b], sframe.ErrUnknownKey) || res[c] != nil {
			t.Errorf("%s's frame after the switch: removed b got %v, c got %v", n.name, res[b], res[c])
		}
	}
}

// Bound: after a change that only added a member, a sender keeps its
// previous key up to JoinSwitchTimeout when the joiner never acknowledges,
// and switches by then (§6.6 step 3).
func TestRotationJoinSwitchTimeout(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	w.latency = 10 * time.Millisecond
	j := w.join("silent", h.m.Invite())
	w.run(50 * time.Millisecond)
	silence(w, j)
	w.admitAll(t, h)
	epoch := h.m.Epoch()
	w.run(JoinSwitchTimeout + 10*w.latency)
	requireLag(t, epoch, JoinSwitchTimeout, JoinSwitchTimeout+step, h, a)
	for _, n := range []*node{h, a} {
		if got := n.m.Counters().SwitchTimeouts; got != 1 {
			t.Errorf("%s: %d switch timeouts, want 1", n.name, got)
		}
	}
}

// Bound: when every recipient acknowledges, a sender switches as soon as
// the last acknowledgement arrives: one round trip after accepting the
// roster, long before any timeout (§6.6 step 3).
func TestRotationSwitchOnAcknowledgement(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	w.latency = 20 * time.Millisecond
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	epoch := h.m.Epoch()
	w.run(SwitchTimeout)
	// SenderKey there, Ack back: two latencies, each delivered at the next
	// tick at most.
	requireLag(t, epoch, 2*w.latency, 2*(w.latency+step), h, a)
	for _, n := range []*node{h, a} {
		if got := n.m.Counters().SwitchTimeouts; got != 0 {
			t.Errorf("%s: %d switch timeouts, want 0", n.name, got)
		}
	}
}

// Bound: a sender's previous receive key is dropped ReceiveGrace after the
// roster change that retired it (which comes before its newer key), and
// frames under it still decode until then (§6.6 step 4).
func TestRotationReceiveGrace(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	w.latency = 10 * time.Millisecond
	old := mustKID(t, a)
	// A copy of a's sender under the previous key, far ahead in CTR: the
	// frames a had in flight when it switched.
	var late *sframe.Sender
	for _, e := range a.events {
		if sk, ok := e.(SendKey); ok && sk.KID == old {
			var err error
			if late, err = sframe.NewSenderAt(testSuite, old, sk.Key, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.join("b", h.m.Invite())
	w.run(50 * time.Millisecond)
	w.admitAll(t, h)
	w.run(100 * time.Millisecond)
	var installed time.Time
	for i, e := range h.events {
		if rk, ok := e.(ReceiveKey); ok && rk.Session == a.sid && KIDEpoch(rk.KID) == h.m.Epoch() {
			installed = h.eventAt[i]
		}
	}
	if installed.IsZero() {
		t.Fatal("h did not install a's new key")
	}
	dropped := func() (time.Time, bool) {
		for i, e := range h.events {
			if d, ok := e.(DropReceiveKey); ok && d.KID == old {
				return h.eventAt[i], true
			}
		}
		return time.Time{}, false
	}
	for {
		if _, ok := dropped(); ok {
			break
		}
		if w.now.Sub(installed) > ReceiveGrace+time.Second {
			t.Fatal("the previous key was never dropped")
		}
		// Until the drop, a late frame under the previous key decodes.
		ct, err := late.Seal(nil, []byte("late"), frameMD)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.rx.Open(nil, ct, frameMD); err != nil {
			t.Fatalf("a frame under the previous key failed %v after the new key: %v", w.now.Sub(installed), err)
		}
		w.run(step)
	}
	at, _ := dropped()
	if grace := at.Sub(h.rosterAt); grace < ReceiveGrace || grace > ReceiveGrace+step {
		t.Fatalf("previous key dropped %v after the roster change, want %v", grace, ReceiveGrace)
	}
	ct, err := late.Seal(nil, []byte("late"), frameMD)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.rx.Open(nil, ct, frameMD); !errors.Is(err, sframe.ErrUnknownKey) {
		t.Fatalf("previous key still installed after the grace: %v", err)
	}
}

// Bound: no frame key gap. Frames sent every tick through a removal whose
// switch waits for the timeout decode at every member that acknowledged
// the sender's key: a sender switches only once the key was delivered, or
// at the timeout, by when the grace keeps the old key on every receiver.
func TestRotationNoKeyGap(t *testing.T) {
	w, h, js := setup(t, "a", "b", "c")
	a, b, c := js[0], js[1], js[2]
	w.latency = 10 * time.Millisecond
	silence(w, c)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	epoch := h.m.Epoch()
	frames := 0
	for end := w.now.Add(SwitchTimeout + ReceiveGrace + time.Second); w.now.Before(end); w.run(step) {
		for _, s := range []*node{h, a} {
			res := s.frame()
			for _, r := range []*node{h, a, c} {
				if r == s {
					continue
				}
				frames++
				if res[r] != nil {
					t.Fatalf("%s lost a frame of %s at %v into the rotation: %v", r.name, s.name, w.now.Sub(h.rosterAt), res[r])
				}
			}
		}
	}
	for _, n := range []*node{h, a} {
		if kid, _ := n.m.SendKID(); KIDEpoch(kid) != epoch {
			t.Fatalf("%s never switched", n.name)
		}
	}
	if frames < 1000 {
		t.Fatalf("only %d frames checked", frames)
	}
}
