package meeting

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
	"github.com/sottohq/sotto/crypto/sframe"
)

// setup makes a host and admits the named joiners one by one.
func setup(t *testing.T, names ...string) (*world, *node, []*node) {
	t.Helper()
	w := newWorld(t)
	h := w.host("host")
	var js []*node
	for _, name := range names {
		j := w.join(name, h.m.Invite())
		w.run(20 * time.Millisecond)
		if len(h.m.Waiting()) != 1 {
			t.Fatalf("waiting room has %d entries, want 1", len(h.m.Waiting()))
		}
		w.admitAll(t, h)
		w.run(time.Second)
		if j.m.State() != StateMember {
			t.Fatalf("%s is %v, want member", name, j.m.State())
		}
		js = append(js, j)
	}
	return w, h, js
}

func TestAdmissionWaitingRoomAndMetadata(t *testing.T) {
	w := newWorld(t)
	w.fastSafety = false
	h := w.host("Hostname Ada")
	j := w.join("Joiner Grace Hopper", h.m.Invite())
	w.run(50 * time.Millisecond)

	if j.m.State() != StateWaiting {
		t.Fatalf("joiner state %v before admission", j.m.State())
	}
	wr := h.m.Waiting()
	if len(wr) != 1 || wr[0].Name != "Joiner Grace Hopper" || wr[0].Session != j.sid || !wr[0].Identity.Equal(j.id.Public()) {
		t.Fatalf("waiting room = %+v", wr)
	}
	sn := h.m.SafetyNumber(wr[0].Identity)
	if len(strings.ReplaceAll(sn, " ", "")) != 60 {
		t.Fatalf("waiting room safety number %q, want 60 digits", sn)
	}
	if h.m.Waiting()[0].Safety != sn {
		t.Fatal("waiting room does not show the computed safety number")
	}
	if j.sender != nil {
		t.Fatal("joiner has a send key before admission")
	}
	if err := h.m.Admit(j.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	if j.m.State() != StateMember {
		t.Fatalf("joiner state %v after admission", j.m.State())
	}
	requireSameCode(t, h, j)
	w.requireAllDecode(t, h, j)
	if h.m.Epoch() != 2 {
		t.Fatalf("epoch %d after one admission, want 2", h.m.Epoch())
	}
	if j.m.SafetyNumber(h.id.Public()) != sn {
		t.Fatal("joiner and host see different safety numbers")
	}
	for _, mv := range j.m.Roster().Members {
		if !mv.Self && mv.Safety != sn {
			t.Fatal("roster view does not show the safety number")
		}
	}
	if err := h.m.SendChat("a secret chat line"); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(100 * time.Millisecond)

	// Property 9: nothing the relay forwarded contains a name, an identity
	// key, a fingerprint, the invite key or chat.
	secrets := map[string][]byte{"host name": []byte("Hostname Ada"), "joiner name": []byte("Joiner Grace Hopper"), "chat": []byte("a secret chat line")}
	for _, n := range []*node{h, j} {
		pub := n.id.Public()
		fp := pub.Fingerprint()
		secrets[n.name+" signing key"] = pub.Signing
		secrets[n.name+" exchange key"] = pub.Exchange[:]
		secrets[n.name+" fingerprint"] = fp[:]
	}
	inv := h.m.Invite()
	secrets["invite key"] = inv.InviteKey[:]
	if len(w.log) < 5 {
		t.Fatalf("only %d envelopes logged", len(w.log))
	}
	for _, p := range w.log {
		if len(p.payload) > MaxEnvelope || len(p.payload)%format.PadBlock != format.SealedHeaderSize%format.PadBlock+format.TagSize && len(p.payload)%format.PadBlock != format.HelloHeaderSize%format.PadBlock+format.TagSize {
			t.Fatalf("envelope of %d bytes is not padded", len(p.payload))
		}
		for what, s := range secrets {
			if bytes.Contains(p.payload, s) {
				t.Fatalf("relay saw the %s", what)
			}
		}
	}
}

func TestDeny(t *testing.T) {
	w := newWorld(t)
	h := w.host("host")
	j := w.join("unwanted", h.m.Invite())
	w.run(50 * time.Millisecond)
	if err := h.m.Deny(j.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(3 * time.Second)
	if j.m.State() != StateDenied {
		t.Fatalf("joiner state %v, want denied", j.m.State())
	}
	if len(h.m.Waiting()) != 0 || h.m.Epoch() != 1 {
		t.Fatalf("waiting %d, epoch %d after deny", len(h.m.Waiting()), h.m.Epoch())
	}
	if res := h.frame(); res[j] == nil {
		t.Fatal("denied joiner decoded a frame")
	}
	if err := h.m.Admit(j.sid); !errors.Is(err, ErrNoSuchEntry) {
		t.Fatalf("admit after deny: %v", err)
	}
}

type fakeContacts map[string]identity.Status

func (f fakeContacts) Observe(name string, pub identity.Public) (identity.Status, error) {
	if s, ok := f[name]; ok {
		return s, nil
	}
	return identity.StatusNew, nil
}

func TestPolicyAdmitVerified(t *testing.T) {
	w := newWorld(t)
	w.contacts = map[string]ContactBook{"host": fakeContacts{"friend": identity.StatusVerified, "imposter": identity.StatusKeyChanged}}
	h := w.host("host")
	h.m.SetPolicy(PolicyAdmitVerified)
	f := w.join("friend", h.m.Invite())
	s := w.join("stranger", h.m.Invite())
	i := w.join("imposter", h.m.Invite())
	w.run(time.Second)
	if f.m.State() != StateMember {
		t.Fatalf("verified contact is %v", f.m.State())
	}
	if s.m.State() != StateWaiting || i.m.State() != StateWaiting {
		t.Fatalf("stranger %v, imposter %v: want both waiting", s.m.State(), i.m.State())
	}
	if !h.hasAlert(AlertKeyChanged, i.sid) {
		t.Fatal("no key-changed alert for a known name with a new key")
	}
	var sawChanged bool
	for _, x := range h.m.Waiting() {
		if x.Session == i.sid && x.Contact == identity.StatusKeyChanged {
			sawChanged = true
		}
	}
	if !sawChanged {
		t.Fatal("waiting room does not flag the changed key")
	}
	var checked bool
	for _, e := range h.events {
		if c, ok := e.(ContactChecked); ok && c.Session == f.sid && c.Status == identity.StatusVerified {
			checked = true
		}
	}
	for _, mv := range h.m.Roster().Members {
		if mv.Session == f.sid && mv.Contact != identity.StatusVerified {
			checked = false
		}
	}
	if !checked {
		t.Fatal("roster does not show the verified contact")
	}
}

func TestJoinStartsEpochJoinerCannotReadPast(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	// A frame sent before the joiner was admitted.
	pt := []byte("before admission")
	before, err := a.sender.Seal(nil, pt, frameMD)
	if err != nil {
		t.Fatal(err)
	}
	j := w.join("late", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	requireSameCode(t, h, a, j)
	w.requireAllDecode(t, h, a, j)
	if _, _, err := j.rx.Open(nil, before, frameMD); err == nil {
		t.Fatal("joiner decrypted a frame sent before its admission")
	}
	if e, _, _ := splitKID(mustKID(t, a)); e != h.m.Epoch() {
		t.Fatalf("a sends under epoch %d, roster epoch %d", e, h.m.Epoch())
	}
}

func mustKID(t *testing.T, n *node) uint64 {
	t.Helper()
	kid, ok := n.m.SendKID()
	if !ok {
		t.Fatalf("%s has no send key", n.name)
	}
	return kid
}

func TestRemoveAndLeave(t *testing.T) {
	w, h, js := setup(t, "a", "b", "c")
	a, b, c := js[0], js[1], js[2]
	requireSameCode(t, h, a, b, c)

	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	if b.m.State() != StateRemoved {
		t.Fatalf("removed member is %v", b.m.State())
	}
	requireSameCode(t, h, a, c)
	w.requireAllDecode(t, h, a, c)
	for _, n := range []*node{h, a, c} {
		if res := n.frame(); res[b] == nil {
			t.Fatalf("removed member decoded %s", n.name)
		}
	}

	c.m.Leave()
	c.drain()
	w.run(50 * time.Millisecond)
	w.disconnect(c)
	w.run(time.Second)
	requireSameCode(t, h, a)
	if len(h.m.Roster().Members) != 2 {
		t.Fatalf("roster has %d members after leave and removal", len(h.m.Roster().Members))
	}
	w.requireAllDecode(t, h, a)
}

// TestRotationIsLossless sends frames from every member every tick through
// joins, a removal and a leave; members present on both sides of a change
// must decode every frame of each other.
func TestRotationIsLossless(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	w.latency = 3 * time.Millisecond
	a, b := js[0], js[1]
	inAll := []*node{h, a}
	var frames, failures int
	tick := func(d time.Duration) {
		for end := w.now.Add(d); w.now.Before(end); {
			w.run(step)
			for _, s := range inAll {
				res := s.frame()
				for _, r := range inAll {
					if r == s {
						continue
					}
					frames++
					if res[r] != nil {
						failures++
						t.Errorf("%s lost a frame of %s at %v: %v", r.name, s.name, w.now, res[r])
					}
				}
			}
		}
	}
	tick(200 * time.Millisecond)
	c := w.join("c", h.m.Invite())
	tick(50 * time.Millisecond)
	w.admitAll(t, h)
	tick(time.Second)
	if err := h.m.Remove(b.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	tick(time.Second)
	c.m.Leave()
	c.drain()
	w.disconnect(c)
	tick(7 * time.Second)
	if failures != 0 || frames < 1000 {
		t.Fatalf("%d of %d frames lost", failures, frames)
	}
	for _, n := range inAll {
		for _, lag := range n.switchLag {
			if lag > time.Second {
				t.Fatalf("%s switched %v after a roster change", n.name, lag)
			}
		}
	}
}

func TestSenderSwitchesOnAcknowledgementOrTimeout(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	w.latency = 20 * time.Millisecond
	before := mustKID(t, a)
	j := w.join("b", h.m.Invite())
	w.run(60 * time.Millisecond)
	w.admitAll(t, h)
	w.run(30 * time.Millisecond)
	if mustKID(t, a) != before {
		t.Fatal("a switched before anyone acknowledged its new key")
	}
	w.run(200 * time.Millisecond)
	if mustKID(t, a) == before {
		t.Fatal("a did not switch after every member acknowledged")
	}
	if a.m.Counters().SwitchTimeouts != 0 {
		t.Fatal("switch counted as a timeout")
	}
	// With j unreachable, a must still switch after SwitchTimeout.
	w.tap = func(p pkt) []pkt {
		if p.to == j.sid || p.from == j.sid {
			return nil
		}
		return []pkt{p}
	}
	if err := h.m.Remove(j.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	cur := mustKID(t, a)
	w.run(SwitchTimeout + 100*time.Millisecond)
	if mustKID(t, a) == cur {
		t.Fatal("no switch after the timeout")
	}
}

func TestOldReceiveKeysExpireAfterGrace(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	old := mustKID(t, a)
	pt := []byte("late frame")
	late, err := a.sender.Seal(nil, pt, frameMD)
	if err != nil {
		t.Fatal(err)
	}
	w.join("b", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	if mustKID(t, a) == old {
		t.Fatal("no rotation")
	}
	if _, _, err := h.rx.Open(nil, late, frameMD); err != nil {
		t.Fatalf("frame under the previous key lost within the grace: %v", err)
	}
	late2, _ := sealWith(t, old, a)
	w.run(ReceiveGrace)
	if _, _, err := h.rx.Open(nil, late2, frameMD); !errors.Is(err, sframe.ErrUnknownKey) {
		t.Fatalf("previous key still installed after the grace: %v", err)
	}
}

// sealWith re-creates a's earlier sender state to make a frame under kid.
func sealWith(t *testing.T, kid uint64, n *node) ([]byte, error) {
	t.Helper()
	for i := len(n.events) - 1; i >= 0; i-- {
		if sk, ok := n.events[i].(SendKey); ok && sk.KID == kid {
			s, err := sframe.NewSenderAt(testSuite, kid, sk.Key, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			return s.Seal(nil, []byte("x"), frameMD)
		}
	}
	t.Fatal("kid not found")
	return nil, nil
}

func TestHandOver(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	if err := h.m.HandOver(a.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	if h.m.IsHost() || !a.m.IsHost() {
		t.Fatalf("after hand-over: old host %v, new host %v", h.m.IsHost(), a.m.IsHost())
	}
	if a.m.Roster().Host != a.sid {
		t.Fatal("roster does not name the new host")
	}
	requireSameCode(t, h, a, b)
	w.requireAllDecode(t, h, a, b)
	if err := h.m.Remove(b.sid); !errors.Is(err, ErrNotHost) {
		t.Fatalf("old host removed a member: %v", err)
	}
	// A joiner with the original link reaches the new host.
	c := w.join("c", h.m.Invite())
	w.run(2500 * time.Millisecond)
	if len(a.m.Waiting()) != 1 {
		t.Fatalf("new host's waiting room has %d", len(a.m.Waiting()))
	}
	w.admitAll(t, a)
	w.run(time.Second)
	if c.m.State() != StateMember {
		t.Fatalf("joiner after hand-over is %v", c.m.State())
	}
	requireSameCode(t, h, a, b, c)
	w.requireAllDecode(t, h, a, b, c)
	// And the original host can be removed by the new one.
	if err := a.m.Remove(h.sid); err != nil {
		t.Fatal(err)
	}
	a.drain()
	w.run(time.Second)
	if h.m.State() != StateRemoved {
		t.Fatalf("old host is %v", h.m.State())
	}
	requireSameCode(t, a, b, c)
}

func TestHostGoneMeetingContinuesAndRekeys(t *testing.T) {
	w, h, js := setup(t, "a", "b", "c")
	a, b, c := js[0], js[1], js[2]
	code := requireSameCode(t, a, b, c)
	w.disconnect(h)
	w.run(time.Second)
	for _, n := range js {
		if !n.hasAlert(AlertHostGone, h.sid) {
			t.Fatalf("%s not told the host left", n.name)
		}
	}
	w.requireAllDecode(t, a, b, c)
	if requireSameCode(t, a, b, c) != code {
		t.Fatal("code changed without a roster change")
	}
	for _, n := range js {
		if slices.ContainsFunc(n.events, func(e Event) bool { _, gone := e.(MemberGone); return gone }) {
			t.Fatalf("%s told the host's leaving as a member's", n.name)
		}
	}
	// c leaves while the host is gone: a and b re-key without it, and
	// are told it left (the roster, which only the host changes, still
	// lists it).
	w.disconnect(c)
	c.online = true // the relay keeps forwarding to it anyway
	w.run(time.Second)
	w.requireAllDecode(t, a, b)
	for _, n := range []*node{a, b} {
		if !slices.Contains(n.events, Event(MemberGone{Session: c.sid})) {
			t.Fatalf("%s not told that c left", n.name)
		}
	}
	for _, n := range []*node{a, b} {
		if res := n.frame(); res[c] == nil {
			t.Fatalf("departed member decoded %s after the host-less re-key", n.name)
		}
	}
	if err := a.m.Remove(b.sid); !errors.Is(err, ErrNotHost) {
		t.Fatalf("member without host role removed someone: %v", err)
	}
}

func TestChatIsAuthenticatedAndDelivered(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	if err := js[0].m.SendChat("hello from a ✓"); err != nil {
		t.Fatal(err)
	}
	js[0].drain()
	w.run(100 * time.Millisecond)
	for _, n := range []*node{h, js[1]} {
		if len(n.chats) != 1 || n.chats[0].Text != "hello from a ✓" || n.chats[0].Name != "a" || n.chats[0].From != js[0].sid ||
			n.chats[0].Fingerprint != js[0].id.Public().Fingerprint() {
			t.Fatalf("%s got %+v", n.name, n.chats)
		}
	}
	if len(js[0].chats) != 0 {
		t.Fatal("sender received its own chat")
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxChat+1), "\xff"} {
		if err := h.m.SendChat(bad); !errors.Is(err, ErrBadChat) {
			t.Fatalf("SendChat(%q) = %v", bad, err)
		}
	}
}

func TestSecurityCode(t *testing.T) {
	var mid MeetingID
	var h1, h2 [hashSize]byte
	h2[0] = 1
	c1 := securityCode(mid, 1, h1)
	if c1 != securityCode(mid, 1, h1) {
		t.Fatal("not deterministic")
	}
	for _, c := range []Code{securityCode(mid, 2, h1), securityCode(mid, 1, h2), securityCode(MeetingID{1}, 1, h1)} {
		if c.Digits() == c1.Digits() || c.Phrase() == c1.Phrase() {
			t.Fatal("different inputs give the same code")
		}
	}
	if len(strings.ReplaceAll(c1.Digits(), " ", "")) != 30 || len(c1.Words) != 6 {
		t.Fatalf("code %q / %q", c1.Digits(), c1.Phrase())
	}
	// A fixed vector, so a reimplementation can check itself.
	got := securityCode(MeetingID{0: 0xaa}, 7, [hashSize]byte{31: 0x55})
	if got.Digits() != codeVectorDigits || got.Phrase() != codeVectorWords {
		t.Fatalf("vector: got %q / %q", got.Digits(), got.Phrase())
	}
}

func TestWordList(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range wordList {
		if seen[w] || len(w) > 8 || len(w) < 3 {
			t.Fatalf("word %q duplicated or of odd length", w)
		}
		seen[w] = true
	}
}

const (
	codeVectorDigits = "49747 28422 24773 64039 51373 87362"
	codeVectorWords  = "tiger cable noodle snail chess angle"
)

func TestHostReconnects(t *testing.T) {
	w, h, js := setup(t, "a", "b")
	a, b := js[0], js[1]
	w.disconnect(h)
	w.run(time.Second)
	if !a.hasAlert(AlertHostGone, h.sid) {
		t.Fatal("no host-gone alert")
	}
	// The host process comes back on a new relay session.
	old := h.sid
	h.sid = randomSID(t)
	h.online = true
	w.connect(h)
	if err := h.m.Reconnected(h.sid, w.now); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	requireSameCode(t, h, a, b)
	w.requireAllDecode(t, h, a, b)
	if a.m.Roster().Host != h.sid || h.sid == old {
		t.Fatal("roster does not name the host's new session")
	}
	// It can admit again.
	c := w.join("c", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	requireSameCode(t, h, a, b, c)
	w.requireAllDecode(t, h, a, b, c)
	if err := a.m.Reconnected(randomSID(t), w.now); !errors.Is(err, ErrNotHost) {
		t.Fatalf("member reconnect: %v", err)
	}
}

// TestVerifiedContactAcrossMeetings uses the real contacts store: a contact
// marked verified in one meeting is admitted as verified in the next, and
// an imposter presenting the same name with another key stays flagged.
func TestVerifiedContactAcrossMeetings(t *testing.T) {
	path := t.TempDir() + "/contacts.json"
	open := func() *identity.Contacts {
		c, err := identity.OpenContacts(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	friend, _ := identity.Generate()

	w1 := newWorld(t)
	c1 := open()
	w1.contacts = map[string]ContactBook{"host": c1}
	h1 := w1.host("host")
	w1.joinWith("Friend", friend, h1.m.Invite())
	w1.run(20 * time.Millisecond)
	if st := h1.m.Waiting()[0].Contact; st != identity.StatusNew {
		t.Fatalf("first meeting: friend is %v", st)
	}
	if err := c1.MarkVerified(friend.Public()); err != nil {
		t.Fatal(err)
	}

	w2 := newWorld(t)
	w2.contacts = map[string]ContactBook{"host": open()}
	h2 := w2.host("host")
	h2.m.SetPolicy(PolicyAdmitVerified)
	f := w2.joinWith("Friend", friend, h2.m.Invite())
	imp := w2.join("Friend", h2.m.Invite())
	w2.run(time.Second)
	if f.m.State() != StateMember || imp.m.State() != StateWaiting {
		t.Fatalf("friend %v, imposter %v", f.m.State(), imp.m.State())
	}
	if !h2.hasAlert(AlertKeyChanged, imp.sid) {
		t.Fatal("no key-changed alert for the imposter")
	}
	w2.admitAll(t, h2)
	w2.run(time.Second)
	for _, mv := range h2.m.Roster().Members {
		switch mv.Session {
		case f.sid:
			if mv.Contact != identity.StatusVerified {
				t.Fatalf("verified friend shown as %v", mv.Contact)
			}
		case imp.sid:
			if mv.Contact != identity.StatusKeyChanged {
				t.Fatalf("admitted imposter shown as %v", mv.Contact)
			}
		}
	}
}

// TestVerifiedWithinMeetingIsRemembered: a member the host marks verified
// during the meeting, removed and knocking again, is shown as verified,
// not as the "new" of its first knock; the first "key changed" of an
// imposter still holds when it knocks again.
func TestVerifiedWithinMeetingIsRemembered(t *testing.T) {
	contacts, err := identity.OpenContacts(t.TempDir() + "/contacts.json")
	if err != nil {
		t.Fatal(err)
	}
	friend, _ := identity.Generate()
	w := newWorld(t)
	w.contacts = map[string]ContactBook{"host": contacts}
	h := w.host("host")
	f := w.joinWith("Friend", friend, h.m.Invite())
	w.run(20 * time.Millisecond)
	if st := h.m.Waiting()[0].Contact; st != identity.StatusNew {
		t.Fatalf("first knock: friend is %v", st)
	}
	w.admitAll(t, h)
	w.run(time.Second)
	if err := contacts.MarkVerified(friend.Public()); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Remove(f.sid); err != nil {
		t.Fatal(err)
	}
	h.drain()
	w.run(time.Second)
	w.disconnect(f)

	again := w.joinWith("Friend", friend, h.m.Invite())
	imp := w.join("Friend", h.m.Invite())
	w.run(20 * time.Millisecond)
	got := map[SessionID]identity.Status{}
	for _, x := range h.m.Waiting() {
		got[x.Session] = x.Contact
	}
	if got[again.sid] != identity.StatusVerified {
		t.Fatalf("verified friend knocking again is shown as %v", got[again.sid])
	}
	if got[imp.sid] != identity.StatusKeyChanged {
		t.Fatalf("imposter shown as %v", got[imp.sid])
	}
	// The imposter's key-changed answer holds when it knocks again,
	// although the store now says "known".
	w.disconnect(imp)
	imp2 := w.joinWith("Friend", imp.id, h.m.Invite())
	w.run(20 * time.Millisecond)
	for _, x := range h.m.Waiting() {
		if x.Session == imp2.sid && x.Contact != identity.StatusKeyChanged {
			t.Fatalf("the imposter's second knock is shown as %v", x.Contact)
		}
	}
}

func TestJoinSwitchWaitsLongerThanRemoval(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	j := w.join("silent", h.m.Invite())
	w.run(20 * time.Millisecond)
	// Once admitted, the joiner never answers.
	w.tap = func(p pkt) []pkt {
		if p.to == j.sid || p.from == j.sid {
			return nil
		}
		return []pkt{p}
	}
	before := mustKID(t, a)
	w.admitAll(t, h)
	w.run(SwitchTimeout + 200*time.Millisecond)
	if mustKID(t, a) != before {
		t.Fatal("a switched before JoinSwitchTimeout although nobody left")
	}
	w.run(JoinSwitchTimeout)
	if mustKID(t, a) == before {
		t.Fatal("a never switched")
	}
	if a.m.Counters().SwitchTimeouts != 1 {
		t.Fatalf("switch timeouts %d", a.m.Counters().SwitchTimeouts)
	}
}
