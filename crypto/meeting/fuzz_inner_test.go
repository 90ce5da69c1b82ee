package meeting

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// The fuzz targets below get past the envelope: every input is sealed and
// signed with the keys of a real meeting, so the fuzzer reaches the
// parsers and rules of each inner message (§6.3) instead of the AEAD.

// innerKinds are the kinds a member handles, with a well-formed seed body.
func innerSeeds(h, a *node) map[byte][]byte {
	var key [keySize]byte
	cert := signHostCert(h.id, h.m.cfg.MeetingID, h.m.Epoch()+1, a.id.Public())
	return map[byte][]byte{
		format.KindRoster:    h.m.roster.encoded(),
		format.KindDeny:      format.AppendDeny(nil, h.id.Public(), h.id.Public(), nil),
		format.KindSenderKey: format.AppendSenderKey(nil, makeKID(h.m.Epoch(), 0, 1), make([]byte, format.BaseKeySize)),
		format.KindAck:       format.AppendAck(nil, 1),
		format.KindChat:      format.AppendChat(nil, 0, "hi"),
		format.KindLobby:     format.AppendLobby(nil, h.m.Epoch(), SessionID{1}),
		format.KindHandOver:  format.AppendHandOver(nil, cert, &key),
		format.KindLeave:     nil,
		format.KindHeartbeat: format.AppendHeartbeat(nil, h.m.Epoch(), h.m.roster.hash, 1),
	}
}

// FuzzInnerFromHost seals fuzzed inner messages of every kind from the
// host to a member, and from the member to the host: neither may panic,
// and nothing but a roster may change the member's security code.
func FuzzInnerFromHost(f *testing.F) {
	w := newWorld(f)
	h := w.host("host")
	a := w.join("a", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(f, h)
	w.run(time.Second)
	seeds := innerSeeds(h, a)
	for _, kind := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(kind, seeds[kind])
	}
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		if len(body) > format.MaxInner-format.InnerHeaderSize-format.SigSize {
			return
		}
		if a.m.State() != StateMember || h.m.State() != StateMember || !h.m.IsHost() {
			return // an earlier input changed the meeting (a valid hand-over, say)
		}
		code := a.m.SecurityCode()
		a.m.Receive(h.sid, forge(t, h, a, forgery{kind: kind, body: body}), w.now)
		h.m.Receive(a.sid, forge(t, a, h, forgery{kind: kind, body: body}), w.now)
		a.m.Tick(w.now)
		h.m.Tick(w.now)
		a.m.Outgoing()
		a.m.Events()
		h.m.Outgoing()
		h.m.Events()
		// A roster, a hand-over and a's own Leave (to the host) may change
		// the roster; nothing else may.
		if kind != format.KindRoster && kind != format.KindHandOver && kind != format.KindLeave && a.m.SecurityCode() != code {
			t.Fatalf("a %#x message changed the roster", kind)
		}
	})
}

// FuzzWelcome seals fuzzed Roster and Deny bodies from the host to a
// waiting joiner: it must not panic, and may only become a member of a
// roster that lists it, or be denied.
func FuzzWelcome(f *testing.F) {
	w := newWorld(f)
	h := w.host("host")
	w.tap = func(p pkt) []pkt { return nil } // nothing reaches anyone
	id := newIdentity(f)
	inv := h.m.Invite()
	cfg := w.config("j", SessionID{3}, id, inv.MeetingID)
	me := rosterMember{Session: cfg.Session, Identity: id.Public(), Name: "j"}
	f.Add(byte(format.KindDeny), format.AppendDeny(nil, h.id.Public(), h.id.Public(), nil))
	f.Add(byte(format.KindRoster), h.m.roster.encoded())
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		if len(body) > format.MaxInner-format.InnerHeaderSize-format.SigSize {
			return
		}
		j, err := NewJoiner(cfg, inv, w.now)
		if err != nil {
			t.Fatal(err)
		}
		jn := &node{w: w, name: "j", id: id, sid: cfg.Session, m: j}
		j.Receive(h.sid, forge(t, h, jn, forgery{kind: kind, body: body}), w.now)
		j.Outgoing()
		j.Events()
		switch j.State() {
		case StateWaiting, StateDenied:
		case StateMember:
			found := false
			for _, e := range j.roster.members {
				found = found || (e.MemberKey == j.mk && e.Session == me.Session && e.Name == me.Name)
			}
			if !found {
				t.Fatal("a joiner became a member of a roster without it")
			}
		default:
			t.Fatalf("joiner is %v", j.State())
		}
	})
}

// FuzzHello seals fuzzed hello bodies to the invite key: the host must not
// panic, and a joiner it puts in the waiting room has a valid name.
func FuzzHello(f *testing.F) {
	w := newWorld(f)
	h := w.host("host")
	id := newIdentity(f)
	inv := h.m.Invite()
	f.Add(format.AppendHello(nil, id.Public(), "joiner"))
	f.Add(format.AppendHello(nil, id.Public(), "a\u200b"))
	var n byte
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > format.MaxInner-format.InnerHeaderSize-format.SigSize {
			return
		}
		n++
		sid := SessionID{n, 9}
		priv, mk, err := newKeyPair(randReader{})
		if err != nil {
			t.Fatal(err)
		}
		in := encodeInner(id, inv.MeetingID, mk, inv.InviteKey, format.KindHello, sid, SessionID{}, 1, body)
		a, err := deriveAEAD(&priv, inv.InviteKey, inv.MeetingID, format.LabelHello, mk, inv.InviteKey)
		if err != nil {
			t.Fatal(err)
		}
		env, err := format.SealHello(a, randReader{}, mk, in)
		if err != nil {
			t.Fatal(err)
		}
		h.m.Receive(sid, env, w.now)
		h.m.Outgoing()
		h.m.Events()
		for _, x := range h.m.Waiting() {
			if !validName(x.Name) {
				t.Fatalf("waiting joiner with name %q", x.Name)
			}
			_ = h.m.Deny(x.Session)
		}
	})
}
