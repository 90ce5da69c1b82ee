package meeting

// One test per acceptance check of §6.3–§6.5: each builds the one input
// the check exists for, authentic in every other respect, and shows it
// rejected and counted; a control input differing only in that field is
// accepted, so the test cannot pass for another reason. Deleting the check
// makes the test fail (docs/MUTATION.md).

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// §6.5 step 2: the host admits to its waiting room only a hello that is
// signed by the identity it names, addressed to nobody, from the session
// that sent it, of the hello kind, with a valid name.
func TestCheckHelloFields(t *testing.T) {
	other := newIdentity(t)
	otherPub := other.Public()
	cases := []struct {
		name  string
		f     func(g SessionID) helloForgery
		check func(d Counters) bool
	}{
		{"honest", func(SessionID) helloForgery { return helloForgery{} }, nil},
		{"signed by another identity", func(SessionID) helloForgery { return helloForgery{signer: other} },
			func(d Counters) bool { return d.AuthFailed == 1 }},
		{"names another identity", func(SessionID) helloForgery { return helloForgery{pub: &otherPub} },
			func(d Counters) bool { return d.AuthFailed == 1 }},
		{"inner sender is another session", func(SessionID) helloForgery { return helloForgery{from: SessionID{9}} },
			func(d Counters) bool { return d.AuthFailed == 1 }},
		{"addressed to a session", func(g SessionID) helloForgery { return helloForgery{to: g} },
			func(d Counters) bool { return d.AuthFailed == 1 }},
		{"not of the hello kind", func(SessionID) helloForgery { return helloForgery{kind: format.KindRoster} },
			func(d Counters) bool { return d.Malformed == 1 }},
		{"control character in the name", func(SessionID) helloForgery { return helloForgery{name: "eve\x07"} },
			func(d Counters) bool { return d.Malformed == 1 }},
		{"invisible character in the name", func(SessionID) helloForgery { return helloForgery{name: "A\u200bda"} },
			func(d Counters) bool { return d.Malformed == 1 }},
		{"right-to-left override in the name", func(SessionID) helloForgery { return helloForgery{name: "Ada\u202e"} },
			func(d Counters) bool { return d.Malformed == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			h := w.host("host")
			g := w.ghost()
			before := h.m.Counters()
			w.inject(pkt{from: g.sid, to: h.sid, payload: forgeHello(t, newIdentity(t), g.sid, h.m.Invite(), c.f(h.sid))})
			w.deliver()
			d := delta(before, h.m.Counters())
			if c.check == nil {
				if len(h.m.Waiting()) != 1 {
					t.Fatal("the honest hello did not reach the waiting room")
				}
				return
			}
			if len(h.m.Waiting()) != 0 {
				t.Fatal("the hello reached the waiting room")
			}
			if !c.check(d) {
				t.Fatalf("counted %+v", d)
			}
		})
	}
}

// §6.5: a hello from a session already in the roster is not a joiner.
func TestCheckHelloFromMemberSession(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	before := h.m.Counters()
	w.inject(pkt{from: a.sid, to: h.sid, payload: forgeHello(t, newIdentity(t), a.sid, h.m.Invite(), helloForgery{})})
	w.deliver()
	if len(h.m.Waiting()) != 0 || delta(before, h.m.Counters()).AuthFailed != 1 {
		t.Fatal("a hello from a member's session reached the waiting room")
	}
}

// §6.10: the waiting room holds 64 joiners; the 65th is dropped and counted.
func TestCheckWaitingRoomBound(t *testing.T) {
	w := newWorld(t)
	h := w.host("host")
	for i := range maxWaiting + 1 {
		sid := SessionID{byte(i), 1}
		h.m.Receive(sid, forgeHello(t, newIdentity(t), sid, h.m.Invite(), helloForgery{}), w.now)
		h.drain()
	}
	if n := len(h.m.Waiting()); n != maxWaiting {
		t.Fatalf("waiting room holds %d", n)
	}
	if h.m.Counters().LobbyFull != 1 {
		t.Fatalf("LobbyFull = %d", h.m.Counters().LobbyFull)
	}
}

// §6.3: a sealed envelope is processed only when it is sealed to this
// member's key, its inner sids are the relay's sender and this member, the
// sender's inner sid is its roster entry's (except a host's roster, §6.8),
// and the signature is the roster identity's.
func TestCheckSealedFields(t *testing.T) {
	stranger := newIdentity(t)
	cases := []struct {
		name string
		// build returns the envelope, the relay's sender and the recipient.
		build func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node)
		check func(d Counters) bool
	}{
		{"honest", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, b, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), a, b
		}, nil},
		{"sealed to another member", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, h, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), a, b
		}, func(d Counters) bool { return d.Misaddressed == 1 && d.AuthFailed == 0 }},
		{"inner recipient is another session", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, b, forgery{to: h.sid, kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), a, b
		}, func(d Counters) bool { return d.AuthFailed == 1 }},
		{"relabelled sender", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, b, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), g, b
		}, func(d Counters) bool { return d.AuthFailed == 1 }},
		{"member speaking from another session", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, b, forgery{from: g.sid, kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), g, b
		}, func(d Counters) bool { return d.AuthFailed == 1 }},
		{"host chat from another session", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, h, b, forgery{from: g.sid, kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), g, b
		}, func(d Counters) bool { return d.AuthFailed == 1 }},
		{"signed by another identity", func(t *testing.T, h, a, b, g *node) ([]byte, *node, *node) {
			return forge(t, a, b, forgery{signer: stranger, kind: format.KindChat, body: format.AppendChat(nil, 0, "x")}), a, b
		}, func(d Counters) bool { return d.AuthFailed == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, h, js := setup(t, "a", "b")
			a, b := js[0], js[1]
			g := w.ghost()
			env, from, to := c.build(t, h, a, b, g)
			before, chats := to.m.Counters(), len(to.chats)
			w.inject(pkt{from: from.sid, to: to.sid, payload: env})
			w.deliver()
			d := delta(before, to.m.Counters())
			if c.check == nil {
				if len(to.chats) != chats+1 {
					t.Fatal("the honest chat was not shown")
				}
				return
			}
			if len(to.chats) != chats {
				t.Fatal("the chat was shown")
			}
			if !c.check(d) {
				t.Fatalf("counted %+v", d)
			}
		})
	}
}

// §6.10: a Leave removes its sender only when its body is empty.
func TestCheckLeaveBody(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	w.inject(pkt{from: a.sid, to: h.sid, payload: forge(t, a, h, forgery{kind: format.KindLeave, body: []byte{0}})})
	w.run(100 * time.Millisecond)
	if len(h.m.Roster().Members) != 2 {
		t.Fatal("a Leave with a body removed its sender")
	}
	w.inject(pkt{from: a.sid, to: h.sid, payload: forge(t, a, h, forgery{kind: format.KindLeave})})
	w.run(100 * time.Millisecond)
	if len(h.m.Roster().Members) != 1 {
		t.Fatal("the control Leave did not remove its sender")
	}
}

// knock makes a joiner wait at h's meeting and returns it with its roster
// entry as the host would write it.
func knock(t *testing.T, w *world, h *node) (*node, rosterMember) {
	t.Helper()
	j := w.join("j", h.m.Invite())
	w.run(20 * time.Millisecond)
	if j.m.State() != StateWaiting || len(h.m.Waiting()) != 1 {
		t.Fatal("test setup: the joiner is not waiting")
	}
	return j, rosterMember{Session: j.sid, Identity: j.id.Public(), MemberKey: j.m.MemberKey(), Name: "j"}
}

// nextRoster is the host's current roster with members appended, at the
// next epoch, unsigned.
func nextRoster(h *node, extra ...rosterMember) *roster {
	cur := h.m.roster
	r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: cur.host, origin: cur.origin, certs: cur.certs}
	r.members = append(append(r.members, cur.members...), extra...)
	return r
}

// §6.5 step 4: a waiting joiner accepts a roster only if its host lineage
// verifies from the link, it comes from the host entry's member key and
// session signed by the host's identity, and it lists the joiner exactly
// as it knocked.
func TestCheckWelcome(t *testing.T) {
	eve := newIdentity(t)
	evePriv, eveMK, _ := newKeyPair(randReader{})
	cases := []struct {
		name string
		// build returns the envelope and the relay's sender.
		build func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID)
		alert AlertKind
	}{
		{"honest", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			return forge(t, h, j, forgery{kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, 0},
		// The relay knows the joiner's public identity and name and signs
		// a meeting of its own: the link's fingerprint is not its origin.
		{"roster of another origin", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			r := &roster{meetingID: h.m.cfg.MeetingID, epoch: 1, origin: eve.Public(),
				members: []rosterMember{{Session: h.sid, Identity: eve.Public(), MemberKey: eveMK, Name: "host"}, me}}
			return forge(t, h, j, forgery{signer: eve, mkPriv: &evePriv, mkPub: &eveMK, kind: format.KindRoster, body: r.sign(eve)}), h.sid
		}, AlertRosterRejected},
		// The same with the real origin named: its host is not reached
		// by any certificate.
		{"host outside the lineage", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			r := nextRoster(h, me)
			r.members[r.host] = rosterMember{Session: h.sid, Identity: eve.Public(), MemberKey: eveMK, Name: "host"}
			return forge(t, h, j, forgery{signer: eve, mkPriv: &evePriv, mkPub: &eveMK, kind: format.KindRoster, body: r.sign(eve)}), h.sid
		}, AlertRosterRejected},
		{"from another member key than the host entry's", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			return forge(t, h, j, forgery{mkPriv: &evePriv, mkPub: &eveMK, kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, AlertForged},
		{"from another session than the host entry's", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			return forge(t, h, j, forgery{from: SessionID{7}, kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), SessionID{7}
		}, AlertForged},
		{"not signed by the host", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			return forge(t, h, j, forgery{signer: eve, kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, AlertForged},
		{"joiner listed at another session", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			me.Session = SessionID{7}
			return forge(t, h, j, forgery{kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, AlertRosterRejected},
		{"joiner's key listed with another identity", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			me.Identity = eve.Public()
			return forge(t, h, j, forgery{kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, AlertRosterRejected},
		{"joiner listed under another name", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			me.Name = "someone else"
			return forge(t, h, j, forgery{kind: format.KindRoster, body: nextRoster(h, me).sign(h.id)}), h.sid
		}, AlertRosterRejected},
		{"joiner not listed", func(t *testing.T, h, j *node, me rosterMember) ([]byte, SessionID) {
			return forge(t, h, j, forgery{kind: format.KindRoster, body: nextRoster(h).sign(h.id)}), h.sid
		}, AlertRosterRejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			h := w.host("host")
			w.tap = func(p pkt) []pkt { // the host never answers the joiner
				if p.from == h.sid {
					return nil
				}
				return []pkt{p}
			}
			j, me := knock(t, w, h)
			env, from := c.build(t, h, j, me)
			j.m.Receive(from, env, w.now)
			j.drain()
			if c.alert == 0 {
				if j.m.State() != StateMember {
					t.Fatalf("the honest roster was not accepted: %v", j.m.State())
				}
				return
			}
			if j.m.State() != StateWaiting {
				t.Fatalf("joiner is %v", j.m.State())
			}
			if !j.hasAlert(c.alert, from) {
				t.Fatalf("no %v alert", c.alert)
			}
		})
	}
}

// §6.5 step 4: a waiting joiner stops on a Deny only if it is signed by a
// host the link's lineage reaches.
func TestCheckDeny(t *testing.T) {
	eve := newIdentity(t)
	evePub := eve.Public()
	cases := []struct {
		name          string
		signer        Signer
		named, origin *identity.Public
		denied        bool
	}{
		{"honest", nil, nil, nil, true},
		{"signer outside the lineage", eve, &evePub, nil, false},
		{"another origin", eve, &evePub, &evePub, false},
		{"names the host, signed by another", eve, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			h := w.host("host")
			w.tap = func(p pkt) []pkt {
				if p.from == h.sid {
					return nil
				}
				return []pkt{p}
			}
			j, _ := knock(t, w, h)
			named, origin := h.id.Public(), h.id.Public()
			if c.named != nil {
				named = *c.named
			}
			if c.origin != nil {
				origin = *c.origin
			}
			body := format.AppendDeny(nil, named, origin, nil)
			j.m.Receive(h.sid, forge(t, h, j, forgery{signer: c.signer, kind: format.KindDeny, body: body}), w.now)
			j.drain()
			if got := j.m.State() == StateDenied; got != c.denied {
				t.Fatalf("joiner is %v", j.m.State())
			}
			if !c.denied && !j.hasAlert(AlertForged, h.sid) {
				t.Fatal("the forged deny was not reported")
			}
		})
	}
}

// §6.10: Roster and Deny from an unknown member key are the joiner's
// business only. A member holds them; a Deny signed by the host's identity
// from a member key outside the roster (a former host session, §6.8) does
// not end its membership.
func TestCheckDenyToMember(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	priv, mk, _ := newKeyPair(randReader{})
	body := format.AppendDeny(nil, h.id.Public(), h.id.Public(), nil)
	a.m.Receive(h.sid, forge(t, h, a, forgery{mkPriv: &priv, mkPub: &mk, kind: format.KindDeny, body: body}), w.now)
	a.drain()
	if a.m.State() != StateMember {
		t.Fatalf("a member is %v after a deny", a.m.State())
	}
}

// rosterEvents counts the RosterChanged events n applied.
func rosterEvents(n *node) int {
	c := 0
	for _, e := range n.events {
		if _, ok := e.(RosterChanged); ok {
			c++
		}
	}
	return c
}

// §6.4 rule 1: the roster's own signature. A member that knows the host's
// public identity names it as host next to its own member key and sends
// the roster from that key: lineage, chain and sender checks all pass;
// only the signature stops it.
func TestCheckRosterSignature(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	cur := h.m.roster
	r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: 0, origin: cur.origin, certs: cur.certs}
	for _, e := range cur.members {
		switch e.Session {
		case h.sid:
			e.MemberKey = a.m.MemberKey() // the "host" speaks from a's key
		case a.sid:
			continue
		}
		r.members = append(r.members, e)
	}
	epoch := b.m.Epoch()
	b.m.Receive(a.sid, forge(t, a, b, forgery{kind: format.KindRoster, body: r.sign(a.id)}), w.now)
	b.drain()
	if b.m.Epoch() != epoch || b.m.Counters().RosterRejected != 1 || !b.hasAlert(AlertRosterRejected, a.sid) {
		t.Fatalf("b accepted a roster a signed in the host's name (epoch %d → %d)", epoch, b.m.Epoch())
	}
}

// §6.4 "Host lineage": every link of the chain from the link fingerprint
// to the roster's host is checked.
func TestCheckLineage(t *testing.T) {
	h0, h1, h2, eve := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	var mid MeetingID
	mid[0] = 1
	cert := func(s Signer, epoch uint64, to *identity.Identity) hostCert {
		return signHostCert(s, mid, epoch, to.Public())
	}
	build := func(epoch uint64, origin *identity.Identity, host *identity.Identity, certs ...hostCert) *roster {
		return &roster{meetingID: mid, epoch: epoch, origin: origin.Public(), certs: certs,
			members: []rosterMember{{Identity: host.Public()}}}
	}
	fp := h0.Public().Fingerprint()
	cases := []struct {
		name string
		r    *roster
		ok   bool
	}{
		{"origin host", build(3, h0, h0), true},
		{"two hand-overs", build(9, h0, h2, cert(h0, 4, h1), cert(h1, 7, h2)), true},
		{"origin not the link's", build(3, eve, eve), false},
		{"host not the last certified", build(9, h0, eve, cert(h0, 4, h1)), false},
		{"no certificate for the host", build(9, h0, h1), false},
		{"certificate signed by the wrong host", build(9, h0, h2, cert(h0, 4, h1), cert(eve, 7, h2)), false},
		{"certificate epochs not increasing", build(9, h0, h2, cert(h0, 4, h1), cert(h1, 4, h2)), false},
		{"certificate after the roster's epoch", build(5, h0, h1, cert(h0, 6, h1)), false},
	}
	for _, c := range cases {
		if got := c.r.verifyLineage(fp); got != c.ok {
			t.Errorf("%s: lineage %v, want %v", c.name, got, c.ok)
		}
	}
}

// §6.4 rule 2: a roster for an epoch already held is acknowledged and
// ignored (counted stale, not rejected); one for a later epoch is held
// until the missing one arrives.
func TestCheckRosterEpochs(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	before := a.m.Counters()
	a.m.Receive(h.sid, forge(t, h, a, forgery{kind: format.KindRoster, body: h.m.roster.encoded()}), w.now)
	a.drain()
	if d := delta(before, a.m.Counters()); d.Stale != 1 || d.RosterRejected != 0 {
		t.Fatalf("the current roster again: %+v", d)
	}

	// b misses the first send of roster e+1 and gets e+2 first.
	w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	dropNext := true
	w.tap = func(p pkt) []pkt {
		if dropNext && p.from == h.sid && p.to == b.sid {
			dropNext = false
			return nil
		}
		return []pkt{p}
	}
	w.admitAll(t, h)
	if err := h.m.Remove(a.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(2 * time.Second)
	if b.m.Epoch() != h.m.Epoch() || b.m.Counters().RosterRejected != 0 {
		t.Fatalf("b is at epoch %d of %d, %d rosters rejected", b.m.Epoch(), h.m.Epoch(), b.m.Counters().RosterRejected)
	}
}

// §6.4 rule 3: a hand-over certificate is for exactly the next epoch.
func TestCheckHandOverCertEpoch(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	cur := a.m.roster
	for _, epoch := range []uint64{cur.epoch, cur.epoch + 1} {
		r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: 1, origin: cur.origin,
			members: cur.members, certs: append(cur.certs[:len(cur.certs):len(cur.certs)], signHostCert(h.id, cur.meetingID, epoch, a.id.Public()))}
		b.m.Receive(a.sid, forge(t, a, b, forgery{kind: format.KindRoster, body: r.sign(a.id)}), w.now)
		b.drain()
		if accepted := b.m.Epoch() == cur.epoch+1; accepted != (epoch == cur.epoch+1) {
			t.Fatalf("certificate for epoch %d at roster %d: accepted %v", epoch, cur.epoch+1, accepted)
		}
	}
}

// A roster may list a member key that is a low-order point (a host
// admitting garbage): members leave it out and report it.
func TestCheckLowOrderMemberKey(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	members := append(append([]rosterMember(nil), h.m.roster.members...), rosterMember{Session: SessionID{5}, Identity: newIdentity(t).Public(), Name: "zero"})
	h.m.publish(members, h.m.roster.host, h.m.roster.certs)
	h.drain()
	w.run(time.Second)
	if a.m.Epoch() != h.m.Epoch() || !a.hasAlert(AlertRosterRejected, SessionID{5}) {
		t.Fatal("the low-order member key was not reported")
	}
	w.requireAllDecode(t, h, a)
}

// §6.6 step 1: the receive keys of a member no longer in the roster go at
// once, so frames it keeps sealing under its old key are not accepted.
func TestCheckRemovedSenderKeysDropped(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	w.tap = func(p pkt) []pkt { // b never learns it was removed
		if p.to == b.sid {
			return nil
		}
		return []pkt{p}
	}
	// A chat b never acknowledges is still awaiting its Ack at the removal.
	if err := h.m.SendChat("before"); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(10 * time.Millisecond)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(100 * time.Millisecond)
	for _, n := range []*node{h, a} {
		if res := b.frame(); res[n] == nil {
			t.Fatalf("%s accepted a frame of the removed member", n.name)
		}
	}
	// Nothing more goes to b than the one removal notice.
	sent := 0
	for _, p := range w.log {
		if p.to == b.sid && p.from == h.sid && !p.at.Before(w.now.Add(-100*time.Millisecond)) {
			sent++
		}
	}
	w.run(5 * time.Second)
	for _, p := range w.log {
		if p.to == b.sid && (p.from == h.sid || p.from == a.sid) && p.at.After(w.now.Add(-5*time.Second)) {
			t.Fatal("an envelope went to the removed member after the rotation")
		}
	}
	if sent != 1 {
		t.Fatalf("host sent %d envelopes to b at the removal, want the one notice", sent)
	}
}

// §6.6: a SenderKey is installed only for the sender's own index, the
// current epoch (a later one is held) and a generation above the one held.
func TestCheckSenderKey(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	epoch, idx := b.m.Epoch(), a.m.selfIndex
	cur, _ := b.m.keys.current(a.m.MemberKey())
	send := func(kid uint64) {
		body := append(beUint64(kid), make([]byte, format.BaseKeySize)...)
		body[len(body)-1] = 1
		b.m.Receive(a.sid, forge(t, a, b, forgery{kind: format.KindSenderKey, body: body}), w.now)
		b.drain()
	}
	installed := func() bool {
		for _, e := range b.m.Events() {
			b.apply(e)
		}
		n := b.events[len(b.events)-1]
		_, ok := n.(ReceiveKey)
		return ok
	}
	for _, c := range []struct {
		name string
		kid  uint64
	}{
		{"an older epoch", makeKID(epoch-1, idx, 7)},
		{"the generation held", cur},
		{"a lower generation", makeKID(epoch, idx, kidGeneration(cur))},
	} {
		before := b.m.Counters()
		send(c.kid)
		if installed() || delta(before, b.m.Counters()).Stale != 1 {
			t.Fatalf("%s: installed or not counted stale", c.name)
		}
	}
	// A later epoch waits for its roster.
	send(makeKID(epoch+1, idx, 0))
	if installed() {
		t.Fatal("a key for a later epoch was installed before its roster")
	}
	// A higher generation is a re-key.
	send(makeKID(epoch, idx, kidGeneration(cur)+1))
	if !installed() {
		t.Fatal("the control key was not installed")
	}
	_ = h
}

// §6.5: only the host's Lobby exempts a waiting session from the ghost
// alert.
func TestCheckLobbyOnlyFromHost(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	g := w.ghost()
	b.m.Receive(a.sid, forge(t, a, b, forgery{kind: format.KindLobby, body: format.AppendLobby(nil, b.m.Epoch(), g.sid)}), w.now)
	b.drain()
	w.run(GhostGrace + time.Second)
	if !b.hasAlert(AlertUnknownSession, g.sid) || b.m.Counters().Malformed != 1 {
		t.Fatal("a member's Lobby hid a ghost")
	}
	_ = h
}

// §6.8: a HandOver is taken only from the host, for the next epoch,
// naming this member, signed by the host.
func TestCheckHandOver(t *testing.T) {
	var key [keySize]byte
	key[0] = 9
	cases := []struct {
		name  string
		build func(h, a, b *node) (from *node, cert hostCert)
	}{
		{"from a member", func(h, a, b *node) (*node, hostCert) {
			return a, signHostCert(a.id, h.m.cfg.MeetingID, b.m.Epoch()+1, b.id.Public())
		}},
		{"from a member, signed by the host", func(h, a, b *node) (*node, hostCert) {
			return a, signHostCert(h.id, h.m.cfg.MeetingID, b.m.Epoch()+1, b.id.Public())
		}},
		{"for the current epoch", func(h, a, b *node) (*node, hostCert) {
			return h, signHostCert(h.id, h.m.cfg.MeetingID, b.m.Epoch(), b.id.Public())
		}},
		{"naming another member", func(h, a, b *node) (*node, hostCert) {
			return h, signHostCert(h.id, h.m.cfg.MeetingID, b.m.Epoch()+1, a.id.Public())
		}},
		{"signed by another", func(h, a, b *node) (*node, hostCert) {
			c := signHostCert(a.id, h.m.cfg.MeetingID, b.m.Epoch()+1, b.id.Public())
			return h, c
		}},
		{"honest", func(h, a, b *node) (*node, hostCert) {
			return h, signHostCert(h.id, h.m.cfg.MeetingID, b.m.Epoch()+1, b.id.Public())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, h, js := setup(t, "a", "b")
			a, b := js[0], js[1]
			from, cert := c.build(h, a, b)
			b.m.Receive(from.sid, forge(t, from, b, forgery{kind: format.KindHandOver, body: format.AppendHandOver(nil, cert, &key)}), w.now)
			b.drain()
			if c.name == "honest" {
				if !b.m.IsHost() {
					t.Fatal("the honest hand-over was refused")
				}
				return
			}
			if b.m.IsHost() || !b.hasAlert(AlertRosterRejected, from.sid) {
				t.Fatal("a forged hand-over made b host")
			}
		})
	}
}

// §6.10: host commands are refused unless this member is host.
func TestCheckHostCommands(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	epoch := b.m.Epoch()
	j := w.join("j", h.m.Invite())
	w.run(20 * time.Millisecond)
	for name, err := range map[string]error{
		"admit":     a.m.Admit(j.sid),
		"deny":      a.m.Deny(j.sid),
		"remove":    a.m.Remove(b.sid),
		"hand over": a.m.HandOver(b.sid),
	} {
		if err != ErrNotHost {
			t.Errorf("%s by a member: %v", name, err)
		}
	}
	a.drain()
	w.run(time.Second)
	if b.m.Epoch() != epoch || j.m.State() != StateWaiting {
		t.Fatal("a member's command changed the meeting")
	}
	if err := h.m.Remove(h.sid); err == nil {
		t.Fatal("the host removed itself")
	}
}

// §6.9: chat text is 1–2000 bytes of UTF-8, sent only by members, and a
// received message that is not is dropped and counted.
func TestCheckChat(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	long := make([]byte, MaxChat+1)
	for i := range long {
		long[i] = 'x'
	}
	for _, text := range []string{"", string(long), "\xff"} {
		if err := h.m.SendChat(text); err != ErrBadChat {
			t.Errorf("SendChat(%d bytes): %v", len(text), err)
		}
		before := a.m.Counters().BadChat
		a.m.Receive(h.sid, forge(t, h, a, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, text)}), w.now)
		a.drain()
		if a.m.Counters().BadChat != before+1 || len(a.chats) != 0 {
			t.Errorf("received chat of %d bytes shown or not counted", len(text))
		}
	}
	j := w.join("j", h.m.Invite())
	w.run(20 * time.Millisecond)
	if err := j.m.SendChat("hi"); err != ErrNotMember {
		t.Fatalf("a waiting joiner sent chat: %v", err)
	}
}

// Configuration: a name the roster would reject, and an invite for another
// meeting, are refused before anything is sent.
func TestCheckConfig(t *testing.T) {
	w := newWorld(t)
	h := w.host("host")
	id := newIdentity(t)
	inv := h.m.Invite()
	if _, err := NewJoiner(Config{MeetingID: inv.MeetingID, Session: SessionID{1}, Identity: id, Name: "a\x00"}, inv, w.now); err != ErrBadName {
		t.Fatalf("bad name: %v", err)
	}
	other := inv.MeetingID
	other[0] ^= 1
	if _, err := NewJoiner(Config{MeetingID: other, Session: SessionID{1}, Identity: id, Name: "a"}, inv, w.now); err == nil {
		t.Fatal("an invite for another meeting was taken")
	}
}

// §6.5 step 4: a Deny is not acknowledged; the host answers the same
// hello again with another, so a relay that drops the first one only
// delays it.
func TestCheckDenyResent(t *testing.T) {
	w := newWorld(t)
	h := w.host("host")
	j := w.join("j", h.m.Invite())
	w.run(20 * time.Millisecond)
	dropped := false
	w.tap = func(p pkt) []pkt {
		if !dropped && p.from == h.sid && p.to == j.sid {
			dropped = true
			return nil
		}
		return []pkt{p}
	}
	if err := h.m.Deny(j.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(100 * time.Millisecond)
	if !dropped || j.m.State() != StateWaiting {
		t.Fatal("test setup: the first deny arrived")
	}
	w.run(HelloInterval + 100*time.Millisecond)
	if j.m.State() != StateDenied {
		t.Fatalf("joiner is %v after its hello was answered again", j.m.State())
	}
}

// §6.4 rules 3 and 4 on a meeting whose lineage has history (the host
// handed over to a and a back to the host): a roster keeps exactly the
// certificates it had, plus one for a hand-over, and comes from its host
// entry's member key.
func TestCheckRosterLineageRules(t *testing.T) {
	type build func(h, a, b *node, cur *roster) (r *roster, signer, from *node)
	next := func(cur *roster, host int, certs []hostCert) *roster {
		return &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: host, origin: cur.origin,
			members: cur.members, certs: certs}
	}
	index := func(cur *roster, n *node) int {
		for i, e := range cur.members {
			if e.Session == n.sid {
				return i
			}
		}
		panic("not in roster")
	}
	plus := func(cur *roster, c hostCert) []hostCert {
		return append(append([]hostCert(nil), cur.certs...), c)
	}
	cases := []struct {
		name string
		b    build
		ok   bool
	}{
		{"same host, same certificates", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, cur.host, cur.certs), h, h
		}, true},
		{"hand-over appending one certificate", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, index(cur, b), plus(cur, signHostCert(h.id, cur.meetingID, cur.epoch+1, b.id.Public()))), b, b
		}, true},
		{"same host, history dropped", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, cur.host, nil), h, h
		}, false},
		{"same host, a certificate added", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, cur.host, plus(cur, signHostCert(h.id, cur.meetingID, cur.epoch+1, h.id.Public()))), h, h
		}, false},
		{"hand-over with the history dropped", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, index(cur, b), []hostCert{signHostCert(h.id, cur.meetingID, cur.epoch+1, b.id.Public())}), b, b
		}, false},
		{"history rewritten with other valid certificates", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			certs := []hostCert{
				signHostCert(h.id, cur.meetingID, cur.certs[0].Epoch, b.id.Public()),
				signHostCert(b.id, cur.meetingID, cur.certs[1].Epoch, h.id.Public()),
			}
			return next(cur, cur.host, certs), h, h
		}, false},
		{"a certificate rewritten under its signature", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			certs := append([]hostCert(nil), cur.certs...)
			certs[0].Host = b.id.Public()
			return next(cur, cur.host, certs), h, h
		}, false},
		{"the host's roster from a member's key", func(h, a, b *node, cur *roster) (*roster, *node, *node) {
			return next(cur, cur.host, cur.certs), h, a
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, h, js := setup(t, "a", "b", "c")
			a, b, m := js[0], js[1], js[2]
			for _, pair := range [][2]*node{{h, a}, {a, h}} {
				if err := pair[0].m.HandOver(pair[1].sid); err != nil {
					t.Fatal(err)
				}
				pair[0].drain()
				w.run(time.Second)
			}
			if !h.m.IsHost() || len(m.m.roster.certs) != 2 {
				t.Fatal("test setup: no hand-over history")
			}
			cur := m.m.roster
			r, signer, from := c.b(h, a, b, cur)
			epoch := m.m.Epoch()
			m.m.Receive(from.sid, forge(t, from, m, forgery{kind: format.KindRoster, body: r.sign(signer.id)}), w.now)
			m.drain()
			if accepted := m.m.Epoch() == epoch+1; accepted != c.ok {
				t.Fatalf("accepted %v, want %v", accepted, c.ok)
			}
		})
	}
}

// §6.5: a member key is admitted at most once, so a message from one that
// left the roster (an acknowledgement that crossed the removal) is dropped
// as stale, not held and later reported as an unverified sender.
func TestCheckFormerMemberDropped(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	env := forge(t, b, a, forgery{kind: format.KindChat, body: format.AppendChat(nil, 0, "late")})
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	before := a.m.Counters()
	a.m.Receive(b.sid, env, w.now)
	a.drain()
	w.run(HoldTTL + time.Second)
	if d := delta(before, a.m.Counters()); d.Stale != 1 || a.hasAlert(AlertUnverifiedSender, b.sid) || len(a.chats) != 0 {
		t.Fatalf("a former member's message: %+v", d)
	}
}

// §6.10: Denied, Removed and Left drop every key: the media engine stops
// sending and the member key is zeroed; a host that hands over zeroes the
// invite private key.
func TestCheckWipe(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	stopped := false
	for _, e := range b.events {
		if _, ok := e.(StopSending); ok {
			stopped = true
		}
	}
	if b.m.State() != StateRemoved || !stopped || b.sender != nil || !allZero(b.m.mkPriv[:]) {
		t.Fatal("the removed member kept a key")
	}
	ip := h.m.invitePriv
	if err := h.m.HandOver(a.sid); err != nil {
		t.Fatal(err)
	}
	if h.m.invitePriv != nil || !allZero(ip[:]) {
		t.Fatal("the former host kept the invite key")
	}
}

// §6.8: a host that applies a roster naming another host is host no more,
// and zeroes the invite private key. (Hand-over zeroes it first; this is
// the invariant the roster code keeps on its own.)
func TestCheckRosterNamingAnotherHostDropsInvite(t *testing.T) {
	_, h, js := setup(t, "a")
	a := js[0]
	cur := h.m.roster
	r := &roster{meetingID: cur.meetingID, epoch: cur.epoch + 1, prev: cur.hash, host: 1, origin: cur.origin, members: cur.members,
		certs: []hostCert{signHostCert(h.id, cur.meetingID, cur.epoch+1, a.id.Public())}}
	r.sign(a.id)
	ip := h.m.invitePriv
	h.m.applyRoster(r, false)
	if h.m.IsHost() || h.m.invitePriv != nil || !allZero(ip[:]) {
		t.Fatal("the invite key outlived the host role")
	}
}

// §6.10: a roster holds at most MaxMembers; the host refuses to admit
// beyond.
func TestCheckRosterFull(t *testing.T) {
	w := newWorld(t)
	h := w.host("host")
	members := append([]rosterMember(nil), h.m.roster.members...)
	for i := len(members); i < MaxMembers; i++ {
		_, mk, err := newKeyPair(randReader{})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, rosterMember{Session: SessionID{byte(i), 2}, Identity: newIdentity(t).Public(), MemberKey: mk, Name: "m"})
	}
	h.m.publish(members, 0, nil)
	h.drain()
	g := w.ghost()
	h.m.Receive(g.sid, forgeHello(t, newIdentity(t), g.sid, h.m.Invite(), helloForgery{}), w.now)
	h.drain()
	if len(h.m.Waiting()) != 1 {
		t.Fatal("test setup: nobody waiting")
	}
	if err := h.m.Admit(g.sid); err != ErrFull {
		t.Fatalf("admitting a %dth member: %v", MaxMembers+1, err)
	}
}

// §6.9: a chat whose predecessor is not an earlier message is malformed;
// at most maxChatHeld chats wait for a predecessor, beyond which the
// oldest is shown (marked as following a gap).
func TestCheckChatChain(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	before := a.m.Counters()
	h.m.seq++
	seq := h.m.seq
	a.m.Receive(h.sid, forge(t, h, a, forgery{seq: seq, kind: format.KindChat, body: format.AppendChat(nil, seq, "self")}), w.now)
	a.drain()
	if d := delta(before, a.m.Counters()); d.Malformed != 1 || len(a.chats) != 0 {
		t.Fatalf("a chat naming itself as predecessor: %+v", d)
	}
	// maxChatHeld+1 chats whose predecessor never comes.
	for range maxChatHeld + 1 {
		a.m.Receive(h.sid, forge(t, h, a, forgery{kind: format.KindChat, body: format.AppendChat(nil, 1, "held")}), w.now)
		a.drain()
	}
	if len(a.chats) != 1 || !a.chats[0].Gap {
		t.Fatalf("%d chats shown with %d held at most", len(a.chats), maxChatHeld)
	}
	if n := len(a.m.peers[h.m.MemberKey()].chatHeld); n != maxChatHeld {
		t.Fatalf("%d chats held", n)
	}
}

// §6.10: an authentic message whose body does not parse changes nothing
// and is counted malformed, whatever its kind.
func TestCheckMalformedBodies(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	code := a.m.SecurityCode()
	for _, kind := range []byte{format.KindRoster, format.KindSenderKey, format.KindAck, format.KindChat,
		format.KindLobby, format.KindHandOver, format.KindHeartbeat, 0x7f} {
		before := a.m.Counters()
		a.m.Receive(h.sid, forge(t, h, a, forgery{kind: kind, body: []byte{1, 2, 3}}), w.now)
		a.drain()
		d := delta(before, a.m.Counters())
		if d.Malformed+d.RosterRejected != 1 {
			t.Errorf("kind %#x: counted %+v", kind, d)
		}
	}
	// A joiner likewise for a Deny.
	j, _ := knock(t, w, h)
	before := j.m.Counters()
	j.m.Receive(h.sid, forge(t, h, j, forgery{kind: format.KindDeny, body: []byte{1}}), w.now)
	if j.m.State() != StateWaiting || delta(before, j.m.Counters()).Malformed != 1 {
		t.Fatal("a malformed deny")
	}
	if a.m.SecurityCode() != code || a.m.State() != StateMember {
		t.Fatal("a malformed body changed the meeting")
	}
}

// RFC 7748 §6.1: an envelope whose clear sender key is a low-order point
// (the all-zero key) gives no pairwise key; it is counted as failing
// authentication, hello and sealed alike.
func TestCheckLowOrderSenderKey(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	hello := append([]byte{format.Version, format.TypeHello}, make([]byte, format.HelloHeaderSize-2+format.PadBlock+format.TagSize)...)
	sealed := append([]byte{format.Version, format.TypeSealed}, make([]byte, format.SealedHeaderSize-2+format.PadBlock+format.TagSize)...)
	mk := a.m.MemberKey()
	copy(sealed[2+format.KeySize:], mk[:]) // addressed to a, from the zero key
	for _, c := range []struct {
		name string
		to   *node
		env  []byte
	}{{"hello", h, hello}, {"sealed", a, sealed}} {
		before := c.to.m.Counters()
		c.to.m.Receive(SessionID{8}, c.env, w.now)
		c.to.drain()
		if d := delta(before, c.to.m.Counters()); d.AuthFailed != 1 {
			t.Errorf("%s from the zero key: %+v", c.name, d)
		}
	}
}
