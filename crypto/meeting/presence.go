package meeting

// Presence: the sessions the relay announced (docs/PROTOCOL.md §6.8,
// §6.10). The relay is not trusted about who is in the meeting; presence
// only feeds ghost detection and, while the host is gone, re-keying.

import (
	"bytes"
	"slices"
	"time"
)

// presence tracks announced sessions since their first announcement, at
// most maxPresent of them (the relay could announce any number).
type presence struct {
	since map[SessionID]time.Time
}

func newPresence() presence { return presence{since: make(map[SessionID]time.Time)} }

// join records sid as present from now, keeping an earlier time.
func (p *presence) join(sid SessionID, now time.Time) {
	if _, ok := p.since[sid]; !ok && len(p.since) < maxPresent {
		p.since[sid] = now
	}
}

// leave forgets sid.
func (p *presence) leave(sid SessionID) { delete(p.since, sid) }

// ghosts returns, in session order, the sessions present for GhostGrace
// at now that known does not account for.
func (p *presence) ghosts(now time.Time, known func(SessionID) bool) []SessionID {
	var out []SessionID
	for sid, since := range p.since {
		if now.Sub(since) >= GhostGrace && !known(sid) {
			out = append(out, sid)
		}
	}
	slices.SortFunc(out, func(a, b SessionID) int { return bytes.Compare(a[:], b[:]) })
	return out
}
