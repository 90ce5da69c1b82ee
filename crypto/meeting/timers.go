package meeting

// Timers and presence (docs/PROTOCOL.md §6.3, §6.8, §6.10).

import (
	"slices"
	"time"
)

// Tick advances timers: re-sends, key switch timeouts, receive key expiry,
// hello re-sends, held message expiry and ghost detection.
func (m *Member) Tick(now time.Time) {
	m.now = now
	if !m.live() {
		return
	}
	if m.state == StateWaiting {
		if !now.Before(m.nextHello) {
			m.sendHello()
		}
		m.expireHeld()
		return
	}
	m.retransmit()
	m.checkContacts()
	if m.next.active && !now.Before(m.next.deadline) {
		m.counters.SwitchTimeouts++
		m.switchKey()
	}
	kept := m.expiries[:0]
	for _, e := range m.expiries {
		if now.Before(e.at) {
			kept = append(kept, e)
			continue
		}
		if p := m.peers[e.mk]; p != nil && p.kids[e.kid] && p.kid != e.kid {
			delete(p.kids, e.kid)
			m.emit(DropReceiveKey{KID: e.kid})
		}
	}
	m.expiries = kept
	m.expireHeld()
	m.updateMissing()
	for _, sid := range m.Unknown() {
		m.alert(AlertUnknownSession, sid, "")
	}
}

func (m *Member) retransmit() {
	var due []outKey
	for k, pm := range m.outbox {
		if !m.now.Before(pm.next) {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b outKey) int {
		if a.seq < b.seq {
			return -1
		}
		if a.seq > b.seq {
			return 1
		}
		return 0
	})
	for _, k := range due {
		pm := m.outbox[k]
		if m.now.Sub(pm.first) >= RetransmitGiveUp {
			m.counters.GaveUp++
			delete(m.outbox, k)
			continue
		}
		m.counters.Retransmits++
		m.out = append(m.out, Outgoing{To: pm.to, Payload: pm.payload})
		pm.interval = min(2*pm.interval, RetransmitMax)
		pm.next = m.now.Add(pm.interval)
	}
}

func (m *Member) expireHeld() {
	kept := m.held[:0]
	for _, h := range m.held {
		if m.now.Sub(h.at) < HoldTTL {
			kept = append(kept, h)
			continue
		}
		m.counters.HeldExpired++
		if h.unknown {
			m.alert(AlertUnverifiedSender, h.from, "")
		}
	}
	m.held = kept
}

// --- presence ---------------------------------------------------------------

// PeerJoined records a session the relay announced.
func (m *Member) PeerJoined(sid SessionID, now time.Time) {
	m.now = now
	if sid == m.cfg.Session {
		return
	}
	if _, ok := m.present[sid]; !ok && len(m.present) < maxPresent {
		m.present[sid] = now
	}
	for _, p := range m.peers {
		if p.Session == sid {
			p.gone = false
		}
	}
}

// PeerLeft records a session the relay reported gone. The host removes a
// departed member from the roster; without a host, every member re-keys
// (§6.8).
func (m *Member) PeerLeft(sid SessionID, now time.Time) {
	m.now = now
	delete(m.present, sid)
	if m.state != StateMember {
		return
	}
	for mk, w := range m.lobby {
		if w.Session == sid {
			delete(m.lobby, mk)
			m.lobbyChanged(true)
		}
	}
	var left *peer
	for _, p := range m.peers {
		if p.Session == sid {
			left = p
		}
	}
	if left == nil || left.gone {
		return
	}
	left.gone = true
	if m.IsHost() {
		_ = m.Remove(sid)
		return
	}
	if m.hostGone() {
		if m.roster.members[m.roster.host].MemberKey == left.MemberKey {
			m.alert(AlertHostGone, sid, "")
		}
		gen := kidGeneration(m.next.kid)
		if !m.next.active {
			gen = kidGeneration(m.sendKID)
		}
		if gen < maxGeneration {
			m.rekey(gen+1, SwitchTimeout)
		}
	}
	m.updateMissing()
}

// hostGone reports whether the relay said the host's session left (§6.8):
// only then do members re-key on their own when someone leaves. While the
// host is present the roster alone decides who gets keys, so a false
// "left" from the relay cannot cut a member off.
func (m *Member) hostGone() bool {
	p := m.peers[m.roster.members[m.roster.host].MemberKey]
	return p != nil && p.gone
}
