package meeting

// The key ring: this member's own frame keys and the frame keys it holds
// of every other member (docs/PROTOCOL.md §6.6). It decides nothing about
// rosters; the state machine tells it what was sent, acknowledged and
// received, and it answers when to switch and what to drop.

import (
	"bytes"
	"slices"
	"time"
)

// keyRing holds the send key schedule and the receive keys per sender.
type keyRing struct {
	// sendKID is the KID frames are sealed under, when hasSend, and sendKey
	// its base key, kept to hand the media engine again when sending
	// resumes after a pause (§6.4 "Heartbeat").
	sendKID uint64
	sendKey []byte
	hasSend bool
	// next is the key drawn for a roster change, until the switch.
	next nextKey
	// recv holds, per sender member key, the KIDs installed for it.
	recv map[MemberKey]*senderKeys
	// expiries are the previous receive keys waiting out ReceiveGrace.
	expiries []expiry
}

// nextKey is a drawn send key the recipients have not all acknowledged.
type nextKey struct {
	active   bool
	kid      uint64
	key      []byte
	waiting  map[MemberKey]uint64 // recipient → seq of its SenderKey
	deadline time.Time
}

// senderKeys are the receive keys of one sender.
type senderKeys struct {
	kids    map[uint64]bool // installed KIDs
	current uint64          // the newest KID installed
	has     bool            // current is for the current epoch
}

// expiry schedules the removal of a previous receive key.
type expiry struct {
	at  time.Time
	mk  MemberKey
	kid uint64
}

func newKeyRing() keyRing { return keyRing{recv: make(map[MemberKey]*senderKeys)} }

// begin makes key (which the ring now owns) the next send key under kid;
// the switch happens when every awaited recipient acknowledged, or at
// deadline. A previous unfinished next key is zeroed.
func (k *keyRing) begin(kid uint64, key []byte, deadline time.Time) {
	clear(k.next.key)
	k.next = nextKey{active: true, kid: kid, key: key, waiting: make(map[MemberKey]uint64), deadline: deadline}
}

// await records that the SenderKey to mk went out as seq.
func (k *keyRing) await(mk MemberKey, seq uint64) { k.next.waiting[mk] = seq }

// awaiting reports how many recipients have not acknowledged the next key.
func (k *keyRing) awaiting() int { return len(k.next.waiting) }

// acked records an acknowledgement of seq by mk and reports whether it was
// the last one the next key waited for.
func (k *keyRing) acked(mk MemberKey, seq uint64) bool {
	if !k.next.active {
		return false
	}
	if s, ok := k.next.waiting[mk]; ok && s == seq {
		delete(k.next.waiting, mk)
		return len(k.next.waiting) == 0
	}
	return false
}

// timedOut reports whether the next key's deadline passed.
func (k *keyRing) timedOut(now time.Time) bool {
	return k.next.active && !now.Before(k.next.deadline)
}

// switchSend makes the next key the send key and returns the event that
// hands a copy to the media engine; the previous send key is zeroed.
func (k *keyRing) switchSend() SendKey {
	e := SendKey{KID: k.next.kid, Key: bytes.Clone(k.next.key)}
	clear(k.sendKey)
	k.sendKID, k.sendKey, k.hasSend = k.next.kid, k.next.key, true
	k.next = nextKey{}
	return e
}

// resend returns the event that hands the media engine the send key again.
func (k *keyRing) resend() (SendKey, bool) {
	if !k.hasSend {
		return SendKey{}, false
	}
	return SendKey{KID: k.sendKID, Key: bytes.Clone(k.sendKey)}, true
}

// generation is the generation of the newest send key, drawn or in use.
func (k *keyRing) generation() int {
	if k.next.active {
		return kidGeneration(k.next.kid)
	}
	return kidGeneration(k.sendKID)
}

// current returns the newest KID installed for mk and whether it is for
// the current epoch.
func (k *keyRing) current(mk MemberKey) (kid uint64, has bool) {
	if s := k.recv[mk]; s != nil {
		return s.current, s.has
	}
	return 0, false
}

// retire records that mk's keys so far are for an earlier epoch (a roster
// change, or a heartbeat naming a later epoch): they stay installed for
// ReceiveGrace from now, whether or not mk's next key arrives (§6.6
// step 4), so that frames under a key a removed member holds are not
// accepted for longer than that.
func (k *keyRing) retire(mk MemberKey, now time.Time) {
	s := k.recv[mk]
	if s == nil {
		return
	}
	s.has = false
	for _, old := range sortedKIDs(s.kids) {
		k.expiries = append(k.expiries, expiry{at: now.Add(ReceiveGrace), mk: mk, kid: old})
	}
}

// install records kid as mk's newest receive key and schedules every older
// one of mk for removal ReceiveGrace from now (§6.6 step 4).
func (k *keyRing) install(mk MemberKey, kid uint64, now time.Time) {
	s := k.recv[mk]
	if s == nil {
		s = &senderKeys{kids: make(map[uint64]bool)}
		k.recv[mk] = s
	}
	for _, old := range sortedKIDs(s.kids) {
		k.expiries = append(k.expiries, expiry{at: now.Add(ReceiveGrace), mk: mk, kid: old})
	}
	s.kids[kid] = true
	s.current, s.has = kid, true
}

// expire returns, in schedule order, the receive keys whose grace ended by
// now and forgets them. A sender's newest key for the current epoch, or a
// key whose sender was dropped, is not returned.
func (k *keyRing) expire(now time.Time) []uint64 {
	var drop []uint64
	kept := k.expiries[:0]
	for _, e := range k.expiries {
		if now.Before(e.at) {
			kept = append(kept, e)
			continue
		}
		if s := k.recv[e.mk]; s != nil && s.kids[e.kid] && (s.current != e.kid || !s.has) {
			delete(s.kids, e.kid)
			drop = append(drop, e.kid)
		}
	}
	k.expiries = kept
	return drop
}

// dropSender forgets every receive key of mk at once (a departed member,
// §6.6 step 1) and returns them in KID order.
func (k *keyRing) dropSender(mk MemberKey) []uint64 {
	s := k.recv[mk]
	if s == nil {
		return nil
	}
	delete(k.recv, mk)
	return sortedKIDs(s.kids)
}

// stopSending zeroes the next key and forgets the send key; it reports
// whether there was one.
func (k *keyRing) stopSending() bool {
	was := k.hasSend
	clear(k.next.key)
	k.next = nextKey{}
	clear(k.sendKey)
	k.sendKey, k.hasSend = nil, false
	return was
}

func sortedKIDs(s map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
