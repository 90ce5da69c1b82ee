package meeting

// The malicious relay: each test makes the in-memory relay misbehave in one
// way and shows the attack is detected or harmless. Every assertion fails if
// the corresponding defence is taken out: docs/MUTATION.md lists each check
// of the core with the test that fails without it (here, in checks_test.go
// and heartbeat_test.go).

import (
	"errors"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
	"github.com/sottohq/sotto/crypto/sframe"
)

func TestAdversaryGhostInjection(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	g := w.ghost()
	// A real joiner waiting at the same time must not be mistaken for a ghost.
	waiting := w.join("waiting", h.m.Invite())
	w.run(GhostGrace + time.Second)

	for _, n := range []*node{h, a, b} {
		if !n.hasAlert(AlertUnknownSession, g.sid) {
			t.Fatalf("%s was not told about the ghost", n.name)
		}
		if n.hasAlert(AlertUnknownSession, waiting.sid) {
			t.Fatalf("%s took a waiting joiner for a ghost", n.name)
		}
		if u := n.m.Unknown(); len(u) != 1 || u[0] != g.sid {
			t.Fatalf("%s lists unknown sessions %v", n.name, u)
		}
	}
	// The only envelopes the ghost ever got are the joiner's broadcast
	// hellos: no member addressed anything to it.
	for _, p := range g.inbox {
		if p.from != waiting.sid {
			t.Fatalf("a member sent the ghost an envelope")
		}
	}
	for _, n := range []*node{h, a, b} {
		if res := n.frame(); !errors.Is(res[g], sframe.ErrUnknownKey) {
			t.Fatalf("ghost decoding %s: %v", n.name, res[g])
		}
	}

	// The ghost makes up a member key and identity and talks to a.
	gid, _ := identity.Generate()
	priv, pub, _ := newKeyPair(randReader{})
	ga, _ := deriveAEAD(&priv, a.m.MemberKey(), h.m.cfg.MeetingID, format.LabelPairwise, pub, a.m.MemberKey())
	in := encodeInner(gid, h.m.cfg.MeetingID, pub, a.m.MemberKey(), format.KindSenderKey, g.sid, a.sid, 1, make([]byte, 40))
	env, _ := format.SealEnvelope(ga, randReader{}, pub, a.m.MemberKey(), in)
	w.inject(pkt{from: g.sid, to: a.sid, payload: env})
	// And it knocks with a hello it cannot seal to the invite key.
	fake := append([]byte{format.Version, format.TypeHello}, make([]byte, format.HelloHeaderSize-2+format.PadBlock+format.TagSize)...)
	w.inject(pkt{from: g.sid, to: h.sid, payload: fake})
	before := len(a.events)
	w.run(HoldTTL + time.Second)
	if !a.hasAlert(AlertUnverifiedSender, g.sid) {
		t.Fatal("a was not told about messages from an unverified member key")
	}
	for _, e := range a.events[before:] {
		if rk, ok := e.(ReceiveKey); ok && rk.Session == g.sid {
			t.Fatal("a installed a key from the ghost")
		}
	}
	if h.m.Counters().AuthFailed == 0 || !h.hasAlert(AlertForged, g.sid) {
		t.Fatal("forged hello not counted and reported")
	}
	if len(h.m.Waiting()) != 1 {
		t.Fatal("the forged hello reached the waiting room")
	}
}

// randReader is crypto/rand for helpers that take an io.Reader.
type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return cryptoRandRead(p) }

func TestAdversarySplitViewWithheldRoster(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	hold := true
	w.tap = func(p pkt) []pkt {
		if hold && p.from == h.sid && p.to == b.sid {
			return nil
		}
		return []pkt{p}
	}
	c := w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	requireSameCode(t, h, a, c)
	if b.m.SecurityCode() == a.m.SecurityCode() {
		t.Fatal("members holding different rosters show the same security code")
	}
	hold = false
	w.run(3 * time.Second)
	requireSameCode(t, h, a, b, c)
	w.requireAllDecode(t, h, a, b, c)
}

func TestAdversaryEquivocatingHostCodesDiffer(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	cur := h.m.roster
	fork := func(name string) []byte {
		r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: cur.host, origin: cur.origin, certs: cur.certs}
		for _, e := range cur.members {
			if e.Session == a.sid || e.Session == b.sid {
				e.Name = name
			}
			r.members = append(r.members, e)
		}
		return r.sign(h.id)
	}
	h.m.sendReliable(h.m.peers[a.m.MemberKey()], format.KindRoster, fork("left"))
	h.m.sendReliable(h.m.peers[b.m.MemberKey()], format.KindRoster, fork("right"))
	h.drain()
	w.run(100 * time.Millisecond)
	if a.m.Epoch() != b.m.Epoch() || a.m.Epoch() != cur.epoch+1 {
		t.Fatalf("epochs %d and %d", a.m.Epoch(), b.m.Epoch())
	}
	if a.m.SecurityCode() == b.m.SecurityCode() {
		t.Fatal("forked rosters give the same security code")
	}
	// The other branch of the fork is never accepted on top.
	h.m.sendReliable(h.m.peers[a.m.MemberKey()], format.KindRoster, fork("right"))
	h.drain()
	w.run(100 * time.Millisecond)
	if a.m.Roster().Members[1].Name != "left" {
		t.Fatal("a switched branches")
	}
}

func TestAdversaryForgedRosterRejected(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	g := w.ghost()
	gid, _ := identity.Generate()
	cur := h.m.roster
	withGhost := func() *roster {
		r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: cur.host, origin: cur.origin, certs: cur.certs}
		r.members = append(append(r.members, cur.members...), rosterMember{Session: g.sid, Identity: gid.Public(), MemberKey: MemberKey{1}, Name: "ghost"})
		return r
	}
	pb := a.m.peers[b.m.MemberKey()]
	epoch, code := b.m.Epoch(), b.m.SecurityCode()
	// 1. A member signs a roster adding the ghost.
	a.m.sendReliable(pb, format.KindRoster, withGhost().sign(a.id))
	// 2. A host-signed roster with one byte changed.
	r := withGhost()
	enc := r.sign(h.id)
	enc[len(enc)-format.SigSize-200] ^= 1
	a.m.sendReliable(pb, format.KindRoster, enc)
	// 3. A roster that skips the hash chain.
	r = withGhost()
	r.prev[0] ^= 1
	hp := h.m.peers[b.m.MemberKey()]
	h.m.sendReliable(hp, format.KindRoster, r.sign(h.id))
	a.drain()
	h.drain()
	w.run(time.Second)
	if b.m.Epoch() != epoch || b.m.SecurityCode() != code {
		t.Fatal("a forged roster was accepted")
	}
	if got := b.m.Counters().RosterRejected; got != 3 {
		t.Fatalf("RosterRejected = %d, want 3", got)
	}
	if !b.hasAlert(AlertRosterRejected, a.sid) || !b.hasAlert(AlertRosterRejected, h.sid) {
		t.Fatal("rejections not reported")
	}
	for _, p := range w.log {
		if p.to == g.sid {
			t.Fatal("someone sent the ghost an envelope")
		}
	}
	// 4. A member sends a frame key in another member's name.
	body := append(beUint64(makeKID(b.m.Epoch(), h.m.selfIndex, 9)), make([]byte, format.BaseKeySize)...)
	a.m.sendReliable(pb, format.KindSenderKey, body)
	a.drain()
	w.run(100 * time.Millisecond)
	if b.m.Counters().KeyRejected != 1 || !b.hasAlert(AlertKeyRejected, a.sid) {
		t.Fatal("a key in another member's name was not rejected")
	}
}

func beUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[7-i] = byte(v >> (8 * i))
	}
	return b
}

func TestAdversaryReplay(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	ms := w.members()
	codes := map[*node]Code{}
	count := map[*node]int{}
	replays := map[*node]uint64{}
	for _, n := range ms {
		codes[n], count[n], replays[n] = n.m.SecurityCode(), len(n.events), n.m.Counters().Replayed+n.m.Counters().TooOld
	}
	// Replay everything ever sent, to everyone, twice.
	old := append([]pkt(nil), w.log...)
	for range 2 {
		for _, p := range old {
			for _, n := range ms {
				w.inject(pkt{from: p.from, to: n.sid, payload: p.payload})
			}
		}
	}
	w.run(100 * time.Millisecond)
	for _, n := range ms {
		if n.m.SecurityCode() != codes[n] {
			t.Fatalf("%s changed roster on replays", n.name)
		}
		for _, e := range n.events[count[n]:] {
			switch e.(type) {
			case ReceiveKey, RosterChanged, ChatMessage, SendKey:
				t.Fatalf("%s acted on a replay: %T", n.name, e)
			}
		}
		c := n.m.Counters()
		if c.Replayed+c.TooOld-replays[n] < 10 {
			t.Fatalf("%s counted %d replays", n.name, c.Replayed+c.TooOld-replays[n])
		}
	}
	w.requireAllDecode(t, ms...)

	// A hello replayed from another session never makes a second entry.
	j := w.join("d", h.m.Invite())
	w.run(20 * time.Millisecond)
	g := w.ghost()
	for _, p := range w.log {
		if p.from == j.sid && p.to == h.sid {
			w.inject(pkt{from: g.sid, to: h.sid, payload: p.payload})
		}
	}
	w.run(20 * time.Millisecond)
	if wr := h.m.Waiting(); len(wr) != 1 || wr[0].Session != j.sid {
		t.Fatalf("waiting room after hello replay: %d entries", len(wr))
	}

	// Media: SFrame's replay window rejects a replayed frame.
	ct, err := a.sender.Seal(nil, []byte("once"), frameMD)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.rx.Open(nil, ct, frameMD); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.rx.Open(nil, ct, frameMD); !errors.Is(err, sframe.ErrReplay) {
		t.Fatalf("replayed frame: %v", err)
	}
}

func TestAdversaryTampering(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	// Capture one envelope of each kind the host sends a.
	var captured []pkt
	w.tap = func(p pkt) []pkt {
		if p.from == h.sid && p.to == a.sid {
			captured = append(captured, p)
			return nil
		}
		return []pkt{p}
	}
	j := w.join("b", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	if err := h.m.SendChat("chat"); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(10 * time.Millisecond)
	w.tap = nil
	if len(captured) < 3 {
		t.Fatalf("captured %d envelopes", len(captured))
	}
	before := len(a.events)
	counters := a.m.Counters()
	tampered := 0
	for _, p := range captured {
		for i := range p.payload {
			bad := append([]byte(nil), p.payload...)
			bad[i] ^= 0x40
			a.m.Receive(p.from, bad, w.now)
			a.drain()
			tampered++
		}
		// Truncated and extended.
		a.m.Receive(p.from, p.payload[:len(p.payload)-1], w.now)
		a.m.Receive(p.from, append(append([]byte(nil), p.payload...), 0), w.now)
		a.drain()
		tampered += 2
	}
	if len(a.events) != before {
		for _, e := range a.events[before:] {
			if _, ok := e.(Alert); !ok {
				t.Fatalf("a acted on tampered bytes: %T", e)
			}
		}
	}
	c := a.m.Counters()
	rejected := (c.AuthFailed - counters.AuthFailed) + (c.Malformed - counters.Malformed) + (c.Misaddressed - counters.Misaddressed)
	if rejected != uint64(tampered) {
		t.Fatalf("%d tampered envelopes, %d rejected", tampered, rejected)
	}
	if !a.hasAlert(AlertForged, h.sid) {
		t.Fatal("tampering not reported")
	}
	// The originals still work (retransmission heals the gap).
	w.run(2 * time.Second)
	requireSameCode(t, h, a, j)
	w.requireAllDecode(t, h, a, j)
	if len(a.chats) != 1 {
		t.Fatalf("a got %d chats", len(a.chats))
	}

	// Media: a tampered frame never decodes.
	ct, err := h.sender.Seal(nil, []byte("frame"), frameMD)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := append([]byte(nil), ct...)
		bad[i] ^= 0x01
		if pt, _, err := a.rx.Open(nil, bad, frameMD); err == nil {
			t.Fatalf("tampered frame (byte %d) decoded to %q", i, pt)
		}
	}
}

func TestAdversaryWithholdKeys(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	withhold := true
	w.tap = func(p pkt) []pkt {
		if withhold && p.from == a.sid && p.to == b.sid {
			return nil
		}
		return []pkt{p}
	}
	c := w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(MissingKeyAfter + time.Second)
	if miss := b.m.MissingKeys(); len(miss) != 1 || miss[0] != a.sid {
		t.Fatalf("b reports missing keys from %v, want a", miss)
	}
	if !b.hasAlert(AlertMissingKey, a.sid) {
		t.Fatal("no missing-key alert")
	}
	var sawKeysChanged bool
	for _, e := range b.events {
		if kc, ok := e.(KeysChanged); ok && len(kc.Missing) == 1 && kc.Missing[0] == a.sid {
			sawKeysChanged = true
		}
	}
	if !sawKeysChanged {
		t.Fatal("no KeysChanged event")
	}
	if res := a.frame(); res[b] == nil {
		t.Fatal("b decoded a without a's key")
	}
	for _, mv := range b.m.Roster().Members {
		if mv.Session == a.sid && mv.HasKey {
			t.Fatal("roster view claims b holds a's key")
		}
	}
	withhold = false
	w.run(3 * time.Second)
	if miss := b.m.MissingKeys(); len(miss) != 0 {
		t.Fatalf("still missing %v after delivery resumed", miss)
	}
	w.requireAllDecode(t, h, a, b, c)
	requireSameCode(t, h, a, b, c)
}

func TestAdversaryRemovedMemberKeepsReceivingMedia(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	// The relay hides the removal from b and keeps forwarding it everything.
	w.tap = func(p pkt) []pkt {
		if p.to == b.sid && p.from == h.sid {
			return nil
		}
		return []pkt{p}
	}
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(2 * SwitchTimeout)
	if b.m.State() != StateMember {
		t.Fatal("test setup: b learned of its removal")
	}
	for i := 0; i < 50; i++ {
		w.run(step)
		for _, n := range []*node{h, a} {
			if res := n.frame(); res[b] == nil {
				t.Fatalf("removed member decoded a frame of %s sent after the rotation", n.name)
			}
		}
	}
	epoch := h.m.Epoch()
	for _, e := range b.events {
		if rk, ok := e.(ReceiveKey); ok {
			if ep, _, _ := splitKID(rk.KID); ep >= epoch {
				t.Fatal("removed member received a key of the new epoch")
			}
		}
	}
	w.requireAllDecode(t, h, a)
}

// A false "left" from the relay while the host is present must not stop a
// member from sending keys to a member the roster still lists.
func TestAdversaryFalsePeerLeft(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	kid := mustKID(t, a)
	a.m.PeerLeft(b.sid, w.now)
	a.drain()
	w.run(time.Second)
	if got := mustKID(t, a); got != kid {
		t.Fatalf("a re-keyed on a relay's word alone (%x → %x)", kid, got)
	}
	c := w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	requireSameCode(t, h, a, b, c)
	w.requireAllDecode(t, h, a, b, c)
}

// The relay hides a removal by withholding: the remaining member a never
// gets roster e+1 and the removed member b never gets its notice, so
// nobody would rotate. The host's heartbeats bound it (§6.4 "Heartbeat"):
// withheld too, a finds them stale and stops sending; let through, they
// name an epoch a does not hold, and a stops at once and retires every
// epoch-e receive key. Either way b decrypts nothing a sends after the
// bound, a alerts, and the host shows the removal pending until a has
// caught up.
func TestAdversaryWithheldRemoval(t *testing.T) {
	for _, passBeats := range []bool{false, true} {
		name := "heartbeats withheld"
		if passBeats {
			name = "heartbeats delivered"
		}
		t.Run(name, func(t *testing.T) {
			w, h, js := setup(t, "a", "b")
			a, b := js[0], js[1]
			// b's epoch-e send key, kept by a b that never stops.
			var forged *sframe.Sender
			for _, e := range b.events {
				if sk, ok := e.(SendKey); ok {
					var err error
					if forged, err = sframe.NewSenderAt(testSuite, sk.KID, sk.Key, 1<<20); err != nil {
						t.Fatal(err)
					}
				}
			}
			withheld := map[string]bool{} // envelopes never delivered, by content
			hiding, capture := true, true
			w.tap = func(p pkt) []pkt {
				if !hiding || p.from != h.sid {
					return []pkt{p}
				}
				switch {
				case p.to == b.sid:
					return nil // b hears nothing more from the host
				case p.to == a.sid && capture:
					capture = false // the first envelope after Remove: roster e+1
					withheld[string(p.payload)] = true
					return nil
				case p.to == a.sid && (withheld[string(p.payload)] || !passBeats):
					return nil
				}
				return []pkt{p}
			}
			removedAt := w.now
			if err := h.m.Remove(b.sid); err != nil {
				t.Fatal(err)
			}
			h.drain()
			if p := h.m.PendingRemoval(); len(p) != 1 || p[0] != a.sid {
				t.Fatalf("host shows pending %v, want a", p)
			}
			// bound: a's heartbeats go stale and a stops; or the next one
			// names e+1 and a stops at once.
			bound := HeartbeatStale + HeartbeatInterval + 2*step
			if passBeats {
				bound = HeartbeatInterval + 2*step
			}
			var lastDecoded time.Time
			for w.now.Sub(removedAt) < ReceiveGrace+2*HeartbeatInterval {
				w.run(step)
				if res := a.frame(); res[b] == nil {
					lastDecoded = w.now
				}
				if res := h.frame(); res[b] == nil && w.now.Sub(removedAt) > SwitchTimeout+step {
					t.Fatal("b decoded the host after its switch")
				}
			}
			if lastDecoded.Sub(removedAt) > bound {
				t.Fatalf("b still decoded a %v after the removal", lastDecoded.Sub(removedAt))
			}
			if !a.m.Paused() {
				t.Fatal("a did not stop sending")
			}
			kind := AlertHostSilent
			if passBeats {
				kind = AlertRosterWithheld
			}
			if !a.hasAlert(kind, h.sid) {
				t.Fatalf("a did not raise %v", kind)
			}
			if p := h.m.PendingRemoval(); len(p) != 1 || p[0] != a.sid {
				t.Fatalf("host shows pending %v while a is behind", p)
			}
			// Retired receive keys: with heartbeats delivered, a learned of
			// e+1 and refuses frames under b's epoch-e key ReceiveGrace
			// later, even from a b that keeps sending (with them withheld
			// a still holds epoch e, but has stopped sending).
			if passBeats {
				ct, err := forged.Seal(nil, []byte("as b"), frameMD)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := a.rx.Open(nil, ct, frameMD); !errors.Is(err, sframe.ErrUnknownKey) {
					t.Fatalf("a still accepts frames under b's epoch-e key: %v", err)
				}
			}
			// The relay relents: a catches up and the removal completes.
			hiding = false
			w.run(3 * time.Second)
			if a.m.Paused() || a.m.Epoch() != h.m.Epoch() {
				t.Fatalf("a did not resume: paused %v, epoch %d of %d", a.m.Paused(), a.m.Epoch(), h.m.Epoch())
			}
			if p := h.m.PendingRemoval(); len(p) != 0 {
				t.Fatalf("host still shows pending %v", p)
			}
			var done bool
			for _, e := range h.events {
				if rp, ok := e.(RemovalPending); ok && len(rp.Members) == 0 && rp.Epoch == h.m.Epoch() {
					done = true
				}
			}
			if !done {
				t.Fatal("no RemovalPending event ending the removal")
			}
			w.requireAllDecode(t, h, a)
			for _, n := range []*node{h, a} {
				if res := n.frame(); res[b] == nil {
					t.Fatalf("b decoded %s after the removal completed", n.name)
				}
			}
		})
	}
}

// A false "left" at the host (§6.8): the relay reports a present member
// gone. The host keeps it, because it goes on acknowledging heartbeats;
// a member that is really gone, silent, is removed after MemberSilence.
func TestAdversaryFalsePeerLeftAtHost(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	h.m.PeerLeft(a.sid, w.now)
	h.drain()
	w.run(3 * MemberSilence)
	if len(h.m.Roster().Members) != 3 || a.m.State() != StateMember {
		t.Fatal("a false leave removed a member")
	}
	requireSameCode(t, h, a, b)
	w.requireAllDecode(t, h, a, b)

	// b's connection really drops, without a Leave.
	w.disconnect(b)
	w.run(MemberSilence - 2*HeartbeatInterval)
	if len(h.m.Roster().Members) != 3 {
		t.Fatal("b removed before its silence was long enough")
	}
	w.run(2*HeartbeatInterval + time.Second)
	if len(h.m.Roster().Members) != 2 {
		t.Fatal("a silent departed member was not removed")
	}
	requireSameCode(t, h, a)
	w.requireAllDecode(t, h, a)
}

// The relay reorders one sender's chat (§6.9): "do NOT go to the square"
// must not be shown before "go to the square". A chat it drops for good
// holds the next one back at most ChatHold, which is then marked as
// following a gap.
func TestAdversaryChatReorder(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	var first []byte
	hold, drop := true, false
	w.tap = func(p pkt) []pkt {
		if p.from != h.sid || p.to != a.sid {
			return []pkt{p}
		}
		switch {
		case first == nil:
			first = p.payload
			return nil
		case string(p.payload) == string(first) && (hold || drop):
			return nil
		}
		return []pkt{p}
	}
	for _, text := range []string{"go to the square", "do NOT go to the square"} {
		if err := h.m.SendChat(text); err != nil {
			t.Fatal(err)
		}
		h.drain()
		w.run(10 * time.Millisecond)
	}
	if len(a.chats) != 0 {
		t.Fatalf("a showed %q before the message sent first", a.chats[0].Text)
	}
	hold = false
	w.inject(pkt{from: h.sid, to: a.sid, payload: first})
	w.run(100 * time.Millisecond)
	if len(a.chats) != 2 || a.chats[0].Text != "go to the square" || a.chats[1].Text != "do NOT go to the square" || a.chats[1].Gap {
		t.Fatalf("a shows %v", a.chats)
	}
	if a.m.Counters().ChatReordered != 1 {
		t.Fatalf("ChatReordered = %d", a.m.Counters().ChatReordered)
	}

	// Dropped for good: the next one waits ChatHold, then shows with a gap.
	first, drop = nil, true
	for _, text := range []string{"lost", "after the lost one"} {
		if err := h.m.SendChat(text); err != nil {
			t.Fatal(err)
		}
		h.drain()
		w.run(10 * time.Millisecond)
	}
	w.run(ChatHold - time.Second)
	if len(a.chats) != 2 {
		t.Fatal("a showed a chat before its predecessor or ChatHold")
	}
	w.run(2 * time.Second)
	if len(a.chats) != 3 || a.chats[2].Text != "after the lost one" || !a.chats[2].Gap {
		t.Fatalf("a shows %v", a.chats)
	}
}
