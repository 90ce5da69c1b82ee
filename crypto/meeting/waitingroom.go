package meeting

// The waiting room (docs/PROTOCOL.md §6.5): on the host, the joiners that
// knocked and the ones it denied; on every member, the host's Lobby list of
// who is waiting, so that a joiner is not reported as a ghost.

import (
	"bytes"
	"slices"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// waitingRoom holds at most maxWaiting joiners, one per session.
type waitingRoom struct {
	waiters map[MemberKey]*waiter   // host only
	denied  map[MemberKey]SessionID // host only: answered with a Deny again
	lobby   map[SessionID]bool      // members: the host's last Lobby
}

type waiter struct {
	rosterMember
	contact identity.Status
}

func newWaitingRoom() waitingRoom {
	return waitingRoom{
		waiters: make(map[MemberKey]*waiter),
		denied:  make(map[MemberKey]SessionID),
		lobby:   make(map[SessionID]bool),
	}
}

// bySession returns the joiner knocking from sid, if any.
func (r *waitingRoom) bySession(sid SessionID) *waiter {
	for _, w := range r.waiters {
		if w.Session == sid {
			return w
		}
	}
	return nil
}

// knocking reports whether mk is waiting.
func (r *waitingRoom) knocking(mk MemberKey) bool { return r.waiters[mk] != nil }

// full reports whether no more joiners fit.
func (r *waitingRoom) full() bool { return len(r.waiters) >= maxWaiting }

// add puts w in the room, replacing a joiner of the same session (one that
// knocks again with a new member key).
func (r *waitingRoom) add(w *waiter) {
	for mk, old := range r.waiters {
		if old.Session == w.Session {
			delete(r.waiters, mk)
		}
	}
	r.waiters[w.MemberKey] = w
}

// remove takes mk out of the room.
func (r *waitingRoom) remove(mk MemberKey) { delete(r.waiters, mk) }

// leave takes the joiner of session sid out and reports whether there was
// one.
func (r *waitingRoom) leave(sid SessionID) bool {
	w := r.bySession(sid)
	if w != nil {
		delete(r.waiters, w.MemberKey)
	}
	return w != nil
}

// deny remembers that mk at sid was denied, so a re-sent hello is answered
// with a Deny again; the list is bounded like the room.
func (r *waitingRoom) deny(mk MemberKey, sid SessionID) {
	if len(r.denied) < maxWaiting {
		r.denied[mk] = sid
	}
}

// deniedAt returns the session mk was denied at.
func (r *waitingRoom) deniedAt(mk MemberKey) (SessionID, bool) {
	sid, ok := r.denied[mk]
	return sid, ok
}

// close empties the room: this member is no longer host.
func (r *waitingRoom) close() { r.waiters = make(map[MemberKey]*waiter) }

// list returns the room in session order; safety gives the safety number
// shown for an identity fingerprint ("" until computed).
func (r *waitingRoom) list(safety func([identity.FingerprintSize]byte) string) []Waiting {
	var w []Waiting
	for _, x := range r.waiters {
		fp := x.Identity.Fingerprint()
		w = append(w, Waiting{Session: x.Session, Name: x.Name, Identity: x.Identity, Fingerprint: fp, Safety: safety(fp), Contact: x.contact})
	}
	slices.SortFunc(w, func(a, b Waiting) int { return bytes.Compare(a.Session[:], b.Session[:]) })
	return w
}

// setLobby replaces the host's Lobby list.
func (r *waitingRoom) setLobby(sids [][format.SIDSize]byte) {
	clear(r.lobby)
	for _, sid := range sids {
		r.lobby[sid] = true
	}
}

// admitted forgets Lobby entries that are in the roster now.
func (r *waitingRoom) admitted(members []rosterMember) {
	for sid := range r.lobby {
		for _, e := range members {
			if e.Session == sid {
				delete(r.lobby, sid)
			}
		}
	}
}

// holds reports whether sid is waiting, by this member's own room or by the
// host's Lobby.
func (r *waitingRoom) holds(sid SessionID) bool {
	return r.lobby[sid] || r.bySession(sid) != nil
}
