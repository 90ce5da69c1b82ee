package meeting

// Unit tests of the parts Member is composed of, each on its own.

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// The re-send schedule of §6.3: RetransmitInitial, doubling to
// RetransmitMax, given up at RetransmitGiveUp; an Ack or the recipient
// leaving stops it.
func TestOutboxSchedule(t *testing.T) {
	o := newOutbox()
	a, b := MemberKey{1}, MemberKey{2}
	o.add(a, 2, SessionID{1}, []byte("two"), t0)
	o.add(a, 1, SessionID{1}, []byte("one"), t0)
	o.add(b, 3, SessionID{2}, []byte("three"), t0)
	if got, _ := o.due(t0.Add(RetransmitInitial - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("re-sent %d before RetransmitInitial", len(got))
	}
	got, gaveUp := o.due(t0.Add(RetransmitInitial))
	if gaveUp != 0 || len(got) != 3 || string(got[0].Payload) != "one" || string(got[1].Payload) != "two" || got[2].To != (SessionID{2}) {
		t.Fatalf("first re-sends %+v, gave up %d", got, gaveUp)
	}
	o.ack(a, 2)
	o.dropRecipient(b)
	// Re-send times of seq 1: 250 ms, then +500, +1000, +2000, +2000, ...
	var times []time.Duration
	for d := RetransmitInitial + time.Millisecond; d <= 6*time.Second; d += time.Millisecond {
		got, _ := o.due(t0.Add(d))
		for _, g := range got {
			if string(g.Payload) != "one" {
				t.Fatalf("re-sent %q after its ack or its recipient left", g.Payload)
			}
			times = append(times, d)
		}
	}
	want := []time.Duration{750 * time.Millisecond, 1750 * time.Millisecond, 3750 * time.Millisecond, 5750 * time.Millisecond}
	if !slices.Equal(times, want) {
		t.Fatalf("re-sent at %v, want %v", times, want)
	}
	got, gaveUp = o.due(t0.Add(RetransmitGiveUp))
	if len(got) != 0 || gaveUp != 1 || len(o.pending) != 0 {
		t.Fatalf("at RetransmitGiveUp: %d re-sent, %d given up, %d left", len(got), gaveUp, len(o.pending))
	}
}

func TestOutboxBound(t *testing.T) {
	o := newOutbox()
	for i := range maxOutbox {
		if !o.add(MemberKey{1}, uint64(i+1), SessionID{1}, nil, t0) {
			t.Fatalf("message %d refused", i+1)
		}
	}
	if o.add(MemberKey{1}, maxOutbox+1, SessionID{1}, nil, t0) {
		t.Fatal("a full outbox took another message")
	}
	o.reset()
	if !o.add(MemberKey{1}, 1, SessionID{1}, nil, t0) {
		t.Fatal("reset outbox refused a message")
	}
}

// The send side of the key ring: switch when the last awaited recipient
// acknowledges, or at the deadline; the ring's copy of a key is zeroed.
func TestKeyRingSendSwitch(t *testing.T) {
	k := newKeyRing()
	a, b := MemberKey{1}, MemberKey{2}
	key := bytes.Repeat([]byte{7}, format.BaseKeySize)
	kid := makeKID(2, 0, 0)
	k.begin(kid, key, t0.Add(SwitchTimeout))
	k.await(a, 10)
	k.await(b, 11)
	if k.acked(a, 11) || k.acked(MemberKey{3}, 10) || k.awaiting() != 2 {
		t.Fatal("an acknowledgement of another message counted")
	}
	if k.acked(a, 10) || k.awaiting() != 1 {
		t.Fatal("switch before every recipient acknowledged")
	}
	if k.timedOut(t0.Add(SwitchTimeout-time.Nanosecond)) || !k.timedOut(t0.Add(SwitchTimeout)) {
		t.Fatal("deadline wrong")
	}
	if !k.acked(b, 11) {
		t.Fatal("no switch after the last acknowledgement")
	}
	e := k.switchSend()
	if e.KID != kid || !bytes.Equal(e.Key, bytes.Repeat([]byte{7}, format.BaseKeySize)) {
		t.Fatal("switch event wrong")
	}
	// The ring keeps the send key to hand it again after a pause (§6.4).
	if again, ok := k.resend(); !ok || again.KID != kid || !bytes.Equal(again.Key, e.Key) {
		t.Fatal("resend wrong")
	}
	if k.sendKID != kid || !k.hasSend || k.timedOut(t0.Add(time.Hour)) || k.acked(a, 10) {
		t.Fatal("state after the switch wrong")
	}
	if k.generation() != 0 {
		t.Fatal("generation wrong")
	}
	next := make([]byte, format.BaseKeySize)
	next[0] = 1
	k.begin(makeKID(2, 0, 1), next, t0)
	if k.generation() != 1 {
		t.Fatal("generation ignores the drawn key")
	}
	if !k.stopSending() || !allZero(next) || !allZero(key) || k.hasSend || k.stopSending() {
		t.Fatal("stopSending wrong or a key left behind")
	}
	if _, ok := k.resend(); ok {
		t.Fatal("resend after stopSending")
	}
}

// A retired key goes ReceiveGrace later even when no successor arrives
// (§6.6 step 4): a sender whose next key is withheld is not decrypted
// under the old one for ever.
func TestKeyRingRetireWithoutSuccessor(t *testing.T) {
	k := newKeyRing()
	a := MemberKey{1}
	k.install(a, makeKID(1, 1, 0), t0)
	k.retire(a, t0)
	if got := k.expire(t0.Add(ReceiveGrace - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("dropped %x within the grace", got)
	}
	if got := k.expire(t0.Add(ReceiveGrace)); !slices.Equal(got, []uint64{makeKID(1, 1, 0)}) {
		t.Fatalf("dropped %x at the end of the grace", got)
	}
	// A current key that was never retired stays.
	k.install(a, makeKID(2, 1, 0), t0)
	if got := k.expire(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("dropped the current key %x", got)
	}
}

// The receive side: an older key goes ReceiveGrace after its successor
// arrived; dropping a sender drops all of its keys at once.
func TestKeyRingReceiveGrace(t *testing.T) {
	k := newKeyRing()
	a, b := MemberKey{1}, MemberKey{2}
	if _, has := k.current(a); has {
		t.Fatal("a key before any was installed")
	}
	k.install(a, makeKID(1, 1, 0), t0)
	k.install(b, makeKID(1, 2, 0), t0)
	k.retire(a, t0.Add(time.Second))
	if kid, has := k.current(a); has || kid != makeKID(1, 1, 0) {
		t.Fatal("retire lost the previous KID or kept it current")
	}
	k.install(a, makeKID(2, 1, 0), t0.Add(time.Second))
	if kid, has := k.current(a); !has || kid != makeKID(2, 1, 0) {
		t.Fatal("new key not current")
	}
	if got := k.expire(t0.Add(time.Second + ReceiveGrace - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("dropped %x within the grace", got)
	}
	if got := k.expire(t0.Add(time.Second + ReceiveGrace)); !slices.Equal(got, []uint64{makeKID(1, 1, 0)}) {
		t.Fatalf("dropped %x at the end of the grace", got)
	}
	if got := k.expire(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("dropped %x twice", got)
	}
	k.install(b, makeKID(2, 2, 0), t0)
	if got := k.dropSender(b); !slices.Equal(got, []uint64{makeKID(1, 2, 0), makeKID(2, 2, 0)}) {
		t.Fatalf("dropSender returned %x", got)
	}
	if got := k.expire(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("a dropped sender's key expired again: %x", got)
	}
	if _, has := k.current(b); has {
		t.Fatal("a dropped sender still has a key")
	}
}

func TestWaitingRoom(t *testing.T) {
	r := newWaitingRoom()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	w := func(mk byte, sid byte) *waiter {
		return &waiter{rosterMember: rosterMember{Session: SessionID{sid}, Identity: id.Public(), MemberKey: MemberKey{mk}, Name: "j"}}
	}
	r.add(w(1, 9))
	r.add(w(2, 3))
	r.add(w(3, 9)) // session 9 knocks again with a new member key
	if r.knocking(MemberKey{1}) || !r.knocking(MemberKey{3}) || r.bySession(SessionID{9}).MemberKey != (MemberKey{3}) {
		t.Fatal("a session's new knock did not replace its old one")
	}
	l := r.list(func([identity.FingerprintSize]byte) string { return "sn" })
	if len(l) != 2 || l[0].Session != (SessionID{3}) || l[1].Session != (SessionID{9}) || l[0].Safety != "sn" {
		t.Fatalf("list %+v", l)
	}
	if !r.holds(SessionID{3}) || r.holds(SessionID{4}) {
		t.Fatal("holds wrong for the host's own room")
	}
	if !r.leave(SessionID{3}) || r.leave(SessionID{3}) || r.holds(SessionID{3}) {
		t.Fatal("leave wrong")
	}
	r.deny(MemberKey{3}, SessionID{9})
	if sid, ok := r.deniedAt(MemberKey{3}); !ok || sid != (SessionID{9}) {
		t.Fatal("deny not remembered")
	}
	r.close()
	if r.full() || len(r.list(nil)) != 0 {
		t.Fatal("close left joiners")
	}
	if _, ok := r.deniedAt(MemberKey{3}); !ok {
		t.Fatal("close forgot a deny")
	}
	// A member's view: the host's Lobby.
	r.setLobby([][format.SIDSize]byte{{5}, {6}})
	r.admitted([]rosterMember{{Session: SessionID{5}}})
	if r.holds(SessionID{5}) || !r.holds(SessionID{6}) {
		t.Fatal("Lobby not updated by admission")
	}
	for i := range maxWaiting {
		r.add(w(byte(i), byte(i)))
		r.deny(MemberKey{byte(i), 1}, SessionID{byte(i)})
	}
	if !r.full() {
		t.Fatal("a room of maxWaiting joiners is not full")
	}
	if r.deny(MemberKey{0xff, 0xff}, SessionID{1}); len(r.denied) > maxWaiting {
		t.Fatal("the deny list is unbounded")
	}
}

func TestPresenceGhosts(t *testing.T) {
	p := newPresence()
	p.join(SessionID{2}, t0)
	p.join(SessionID{1}, t0.Add(time.Second))
	p.join(SessionID{2}, t0.Add(time.Hour)) // a repeat keeps the first time
	p.join(SessionID{3}, t0)
	known := func(sid SessionID) bool { return sid == SessionID{3} }
	if g := p.ghosts(t0.Add(GhostGrace-time.Nanosecond), known); len(g) != 0 {
		t.Fatalf("ghosts %v before GhostGrace", g)
	}
	if g := p.ghosts(t0.Add(GhostGrace), known); !slices.Equal(g, []SessionID{{2}}) {
		t.Fatalf("ghosts %v", g)
	}
	if g := p.ghosts(t0.Add(time.Hour), known); !slices.Equal(g, []SessionID{{1}, {2}}) {
		t.Fatalf("ghosts %v, want session order", g)
	}
	p.leave(SessionID{2})
	if g := p.ghosts(t0.Add(time.Hour), known); !slices.Equal(g, []SessionID{{1}}) {
		t.Fatalf("ghosts %v after a leave", g)
	}
	for i := range 2 * maxPresent {
		p.join(SessionID{byte(i), byte(i >> 8), 1}, t0)
	}
	if len(p.since) != maxPresent {
		t.Fatalf("%d sessions tracked, want the bound %d", len(p.since), maxPresent)
	}
}

func TestHoldQueue(t *testing.T) {
	var q holdQueue
	for i := range maxHeld {
		if q.push(held{from: SessionID{byte(i)}, at: t0.Add(time.Duration(i) * time.Millisecond)}) {
			t.Fatalf("dropped at %d", i)
		}
	}
	if !q.push(held{from: SessionID{0xff}, at: t0.Add(time.Second)}) || q.items[0].from != (SessionID{1}) {
		t.Fatal("a full queue did not drop its oldest message")
	}
	gone := q.expire(t0.Add(HoldTTL + 10*time.Millisecond))
	if len(gone) != 10 || gone[0].from != (SessionID{1}) || len(q.items) != maxHeld-10 {
		t.Fatalf("expired %d, %d left", len(gone), len(q.items))
	}
	items := q.take()
	if len(items) != maxHeld-10 || len(q.items) != 0 || items[len(items)-1].from != (SessionID{0xff}) {
		t.Fatal("take wrong")
	}
}

func TestAlertLimiter(t *testing.T) {
	l := newAlertLimiter()
	if !l.allow(AlertForged, SessionID{1}, t0) || l.allow(AlertForged, SessionID{1}, t0.Add(alertEvery-time.Nanosecond)) {
		t.Fatal("the same alert raised twice within alertEvery")
	}
	if !l.allow(AlertReplay, SessionID{1}, t0) || !l.allow(AlertForged, SessionID{2}, t0) {
		t.Fatal("another kind or session was limited")
	}
	if !l.allow(AlertForged, SessionID{1}, t0.Add(alertEvery)) {
		t.Fatal("the alert not raised again after alertEvery")
	}
	for i := range 8 * maxHeld {
		l.allow(AlertForged, SessionID{byte(i), byte(i >> 8), 1}, t0)
	}
	if len(l.last) > 4*maxHeld+1 {
		t.Fatalf("%d alerts remembered", len(l.last))
	}
}
