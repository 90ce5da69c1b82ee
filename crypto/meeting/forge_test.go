package meeting

// Forging helpers for the adversarial tests: envelopes built with the real
// sealing code from keys a test controls, so that each test can make one
// field wrong and leave everything else authentic.

import (
	"testing"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// forgery describes one sealed envelope; the zero value of a field means
// "as an honest sender would".
type forgery struct {
	signer   Signer    // default: the sender's identity
	from, to SessionID // inner sender and recipient sids
	seq      uint64    // default: the sender's next seq
	mkPriv   *[32]byte // default: the sender's member key
	mkPub    *[32]byte // the public half of mkPriv
	kind     byte
	body     []byte
}

// forge seals f from node s to node r and returns the envelope.
func forge(t testing.TB, s, r *node, f forgery) []byte {
	t.Helper()
	priv, pub := &s.m.mkPriv, s.m.mk
	if f.mkPriv != nil {
		priv, pub = f.mkPriv, MemberKey(*f.mkPub)
	}
	if f.signer == nil {
		f.signer = s.id
	}
	if f.from.IsZero() {
		f.from = s.sid
	}
	if f.to.IsZero() {
		f.to = r.sid
	}
	if f.seq == 0 {
		s.m.seq++
		f.seq = s.m.seq
	}
	rk := r.m.MemberKey()
	a, err := deriveAEAD(priv, rk, s.m.cfg.MeetingID, format.LabelPairwise, pub, rk)
	if err != nil {
		t.Fatal(err)
	}
	in := encodeInner(f.signer, s.m.cfg.MeetingID, pub, rk, f.kind, f.from, f.to, f.seq, f.body)
	env, err := format.SealEnvelope(a, randReader{}, pub, rk, in)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// helloForgery describes a hello; zero fields are honest.
type helloForgery struct {
	signer Signer
	pub    *identity.Public // the identity named in the body
	name   string
	kind   byte
	to     SessionID
	from   SessionID
}

// forgeHello builds a hello from session sid to the meeting of inv, with a
// fresh member key, signed by id unless f says otherwise.
func forgeHello(t testing.TB, id *identity.Identity, sid SessionID, inv Invite, f helloForgery) []byte {
	t.Helper()
	priv, mk, err := newKeyPair(randReader{})
	if err != nil {
		t.Fatal(err)
	}
	if f.signer == nil {
		f.signer = id
	}
	pub := id.Public()
	if f.pub != nil {
		pub = *f.pub
	}
	if f.name == "" {
		f.name = "joiner"
	}
	if f.kind == 0 {
		f.kind = format.KindHello
	}
	if f.from.IsZero() {
		f.from = sid
	}
	in := encodeInner(f.signer, inv.MeetingID, mk, inv.InviteKey, f.kind, f.from, f.to, 1, format.AppendHello(nil, pub, f.name))
	a, err := deriveAEAD(&priv, inv.InviteKey, inv.MeetingID, format.LabelHello, mk, inv.InviteKey)
	if err != nil {
		t.Fatal(err)
	}
	env, err := format.SealHello(a, randReader{}, mk, in)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// delta returns the counters that changed between before and after.
func delta(before, after Counters) Counters {
	return Counters{
		Malformed:      after.Malformed - before.Malformed,
		AuthFailed:     after.AuthFailed - before.AuthFailed,
		Misaddressed:   after.Misaddressed - before.Misaddressed,
		Replayed:       after.Replayed - before.Replayed,
		TooOld:         after.TooOld - before.TooOld,
		Stale:          after.Stale - before.Stale,
		RosterRejected: after.RosterRejected - before.RosterRejected,
		KeyRejected:    after.KeyRejected - before.KeyRejected,
		LobbyFull:      after.LobbyFull - before.LobbyFull,
		BadChat:        after.BadChat - before.BadChat,
		OldVersion:     after.OldVersion - before.OldVersion,
		StaleBeats:     after.StaleBeats - before.StaleBeats,
		Paused:         after.Paused - before.Paused,
	}
}
