package meeting

import (
	"slices"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// withhold withholds everything the host sends to n until the returned
// function is called.
func withhold(w *world, h, n *node) (resume func()) {
	on := true
	w.tap = func(p pkt) []pkt {
		if on && p.from == h.sid && p.to == n.sid {
			return nil
		}
		return []pkt{p}
	}
	return func() { on = false }
}

// §6.4 "Heartbeat": a heartbeat counts only from the host, for the roster
// held, echoing a message this member sent recently.
func TestHeartbeatChecks(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	resume := withhold(w, h, b)
	w.run(HeartbeatStale + HeartbeatInterval)
	if !b.m.Paused() || !b.hasAlert(AlertHostSilent, h.sid) || b.sender != nil {
		t.Fatal("b kept sending without heartbeats")
	}
	resume()
	w.tap = func(p pkt) []pkt { // from now on b hears only what the test injects
		if p.from == h.sid && p.to == b.sid {
			return nil
		}
		return []pkt{p}
	}
	// b's latest message to the host, which an honest heartbeat echoes.
	if err := b.m.SendChat("still here?"); err != nil {
		t.Fatal(err)
	}
	b.drain()
	echo := b.m.beat.sent[len(b.m.beat.sent)-1].seq
	beat := func(epoch uint64, hash [hashSize]byte, echo uint64) []byte {
		return format.AppendHeartbeat(nil, epoch, hash, echo)
	}
	// A message b sent before its freshest heartbeat's echo.
	var older uint64
	for _, s := range b.m.beat.sent {
		if !s.at.After(b.m.beat.freshAt) {
			older = s.seq
		}
	}
	if older == 0 {
		t.Fatal("test setup: no message older than the freshest echo")
	}
	r := b.m.roster
	other := r.hash
	other[0] ^= 1
	for _, c := range []struct {
		name string
		from *node
		body []byte
		want func(d Counters) bool
	}{
		{"from a member", a, beat(r.epoch, r.hash, echo), func(d Counters) bool { return d.Malformed == 1 }},
		{"another roster at this epoch", h, beat(r.epoch, other, echo), func(d Counters) bool { return d.RosterRejected == 1 }},
		{"an earlier epoch", h, beat(r.epoch-1, r.hash, echo), func(d Counters) bool { return d.StaleBeats == 1 }},
		{"an echo never sent", h, beat(r.epoch, r.hash, echo+1000), func(d Counters) bool { return d.StaleBeats == 1 }},
		{"an echo older than the freshest", h, beat(r.epoch, r.hash, older), func(d Counters) bool { return d.StaleBeats == 1 }},
	} {
		before := b.m.Counters()
		b.m.Receive(c.from.sid, forge(t, c.from, b, forgery{kind: format.KindHeartbeat, body: c.body}), w.now)
		b.drain()
		if !b.m.Paused() {
			t.Fatalf("%s: b resumed", c.name)
		}
		if d := delta(before, b.m.Counters()); !c.want(d) {
			t.Fatalf("%s: counted %+v", c.name, d)
		}
	}
	b.m.Receive(h.sid, forge(t, h, b, forgery{kind: format.KindHeartbeat, body: beat(r.epoch, r.hash, echo)}), w.now)
	b.drain()
	if b.m.Paused() || b.sender == nil {
		t.Fatal("the honest heartbeat did not resume b")
	}
	w.run(100 * time.Millisecond)
	w.requireAllDecode(t, h, a, b)
}

// The relay stores heartbeats and releases them later, one a second, as if
// they were live: each echoes a message sent long ago, so none is fresh.
func TestHeartbeatDelayedIsStale(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	var stored []pkt
	w.tap = func(p pkt) []pkt {
		if p.from == h.sid && p.to == a.sid {
			stored = append(stored, p)
			return nil
		}
		return []pkt{p}
	}
	w.run(HeartbeatStale + HeartbeatInterval)
	if !a.m.Paused() {
		t.Fatal("a kept sending")
	}
	pausedAt := len(a.events)
	for i := 0; i < 8 && i < len(stored); i++ {
		w.inject(stored[i])
		w.run(HeartbeatInterval)
		if !a.m.Paused() {
			t.Fatalf("a resumed on a heartbeat held back %v", w.now.Sub(stored[i].at))
		}
	}
	// Not even for a moment: no key went to the media engine again.
	for _, e := range a.events[pausedAt:] {
		if _, ok := e.(SendKey); ok {
			t.Fatal("a handed its key to the media engine on a held-back heartbeat")
		}
	}
	if n := a.m.Counters().Paused; n != 1 {
		t.Fatalf("a paused %d times", n)
	}
	if len(stored) < 4 {
		t.Fatalf("only %d envelopes stored", len(stored))
	}
}

// §6.6: every member draws a new key every RekeyInterval, roster change
// or not, and nobody loses a frame.
func TestPeriodicRekey(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	first := map[*node]uint64{h: mustKID(t, h), a: mustKID(t, a)}
	w.run(RekeyInterval + JoinSwitchTimeout + time.Second)
	for _, n := range []*node{h, a} {
		kid := mustKID(t, n)
		if KIDEpoch(kid) != KIDEpoch(first[n]) || kidGeneration(kid) != kidGeneration(first[n])+1 {
			t.Fatalf("%s sends under %x, was %x", n.name, kid, first[n])
		}
	}
	w.requireAllDecode(t, h, a)
}

// §6.3: an envelope of protocol v1 is refused with its own counter and an
// alert telling the user the peer must update.
func TestOldVersionRejected(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	env := forge(t, h, a, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, "v1")})
	env[0] = format.VersionV1
	before := a.m.Counters()
	a.m.Receive(h.sid, env, w.now)
	a.drain()
	d := delta(before, a.m.Counters())
	if a.m.Counters().OldVersion != before.OldVersion+1 || d.Malformed != 0 || len(a.chats) != 0 {
		t.Fatalf("v1 envelope: %+v", d)
	}
	if !a.hasAlert(AlertOldVersion, h.sid) {
		t.Fatal("no alert for the v1 peer")
	}
	// A v1 hello at the host likewise.
	g := w.ghost()
	hello := forgeHello(t, newIdentity(t), g.sid, h.m.Invite(), helloForgery{})
	hello[0] = format.VersionV1
	h.m.Receive(g.sid, hello, w.now)
	h.drain()
	if !h.hasAlert(AlertOldVersion, g.sid) || len(h.m.Waiting()) != 0 {
		t.Fatal("v1 hello not reported")
	}
}

// The host tells, while a removal is pending, which remaining members have
// not switched; the list shrinks as their keys arrive.
func TestRemovalPendingShrinks(t *testing.T) {
	w, h, js := setup(t, "a", "b", "c")
	a, b, c := js[0], js[1], js[2]
	resume := withhold(w, h, c)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(500 * time.Millisecond)
	if p := h.m.PendingRemoval(); !slices.Equal(p, []SessionID{c.sid}) {
		t.Fatalf("pending %v, want c alone", p)
	}
	resume()
	w.run(2 * time.Second)
	if p := h.m.PendingRemoval(); len(p) != 0 {
		t.Fatalf("pending %v after c caught up", p)
	}
	w.requireAllDecode(t, h, a, c)
}

// A large meeting's host stays within the relay's envelope rate: the
// heartbeat interval, and the staleness bound with it, grow with the
// roster beyond 21 members.
func TestHeartbeatIntervalScales(t *testing.T) {
	for _, c := range []struct {
		n              int
		every, staleAt time.Duration
	}{
		{2, HeartbeatInterval, HeartbeatStale},
		{21, HeartbeatInterval, HeartbeatStale},
		{41, 2 * time.Second, 6 * time.Second},
		{MaxMembers, 6350 * time.Millisecond, 19050 * time.Millisecond},
	} {
		if got := beatInterval(c.n); got != c.every {
			t.Errorf("%d members: every %v, want %v", c.n, got, c.every)
		}
		if got := beatStale(c.n); got != c.staleAt {
			t.Errorf("%d members: stale after %v, want %v", c.n, got, c.staleAt)
		}
		if rate := float64(c.n-1) / beatInterval(c.n).Seconds(); rate > maxBeatRate {
			t.Errorf("%d members: %.1f heartbeats a second", c.n, rate)
		}
	}
}

// While paused, keys drawn and switched to are not handed to the media
// engine: a re-key does not resume sending behind the heartbeat's back.
func TestHeartbeatPausedThroughRekey(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	withhold(w, h, a)
	w.run(HeartbeatStale + HeartbeatInterval)
	if !a.m.Paused() {
		t.Fatal("a kept sending")
	}
	from := len(a.events)
	a.m.rekey(a.m.keys.generation()+1, SwitchTimeout)
	a.drain()
	w.run(2 * SwitchTimeout)
	for _, e := range a.events[from:] {
		if _, ok := e.(SendKey); ok {
			t.Fatal("a paused member handed a new key to the media engine")
		}
	}
	if kid, _ := a.m.SendKID(); kidGeneration(kid) == 0 {
		t.Fatal("test setup: a did not switch")
	}
}

// kindOf opens an envelope sent to n and returns its inner kind and body.
func kindOf(t *testing.T, n *node, from MemberKey, payload []byte) (byte, []byte) {
	t.Helper()
	raw, err := format.OpenSealed(n.m.peers[from].recv, payload)
	if err != nil {
		t.Fatal(err)
	}
	in, err := format.ParseInner(raw)
	if err != nil {
		t.Fatal(err)
	}
	return in.Kind, in.Body
}

// A relay delivers the heartbeat naming epoch e+1 (so a stops) and then one
// of epoch e it held back, fresh by its echo: a must not resume under its
// epoch-e key while e+1 is withheld.
func TestHeartbeatNoResumeWhileBehind(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	var stored [][]byte
	w.tap = func(p pkt) []pkt {
		if p.from == h.sid && p.to == a.sid {
			stored = append(stored, p.payload)
			return nil
		}
		return []pkt{p}
	}
	w.run(HeartbeatInterval + step)
	epoch := a.m.Epoch()
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(HeartbeatInterval + step)
	var old, next []byte
	for _, env := range stored {
		kind, body := kindOf(t, a, h.m.MemberKey(), env)
		if kind != format.KindHeartbeat {
			continue
		}
		switch e, _, _, _ := format.ParseHeartbeat(body); e {
		case epoch:
			old = env
		case epoch + 1:
			next = env
		}
	}
	if old == nil || next == nil {
		t.Fatal("test setup: heartbeats of both epochs not captured")
	}
	a.m.Receive(h.sid, next, w.now)
	a.drain()
	if !a.m.Paused() || !a.hasAlert(AlertRosterWithheld, h.sid) {
		t.Fatal("a kept sending after a heartbeat named a later epoch")
	}
	from := len(a.events)
	a.m.Receive(h.sid, old, w.now)
	a.drain()
	if !a.m.Paused() {
		t.Fatal("an older heartbeat resumed a while an epoch is withheld")
	}
	for _, e := range a.events[from:] {
		if _, ok := e.(SendKey); ok {
			t.Fatal("a handed its epoch-e key to the media engine again")
		}
	}
}
