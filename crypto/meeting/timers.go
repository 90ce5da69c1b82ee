package meeting

// Timers and presence (docs/PROTOCOL.md §6.3, §6.6, §6.8, §6.10).

import (
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
	if m.keys.timedOut(now) {
		m.counters.SwitchTimeouts++
		m.switchKey()
	}
	for _, kid := range m.keys.expire(now) {
		m.emit(DropReceiveKey{KID: kid})
	}
	m.expireHeld()
	m.updateMissing()
	for _, sid := range m.Unknown() {
		m.alert(AlertUnknownSession, sid, "")
	}
}

func (m *Member) expireHeld() {
	for _, h := range m.held.expire(m.now) {
		m.counters.HeldExpired++
		if h.unknown {
			m.alert(AlertUnverifiedSender, h.from, "")
		}
	}
}

// PeerJoined records a session the relay announced.
func (m *Member) PeerJoined(sid SessionID, now time.Time) {
	m.now = now
	if sid == m.cfg.Session {
		return
	}
	m.presence.join(sid, now)
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
	m.presence.leave(sid)
	if m.state != StateMember {
		return
	}
	if m.waiting.leave(sid) {
		m.lobbyChanged(true)
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
		} else {
			m.emit(MemberGone{Session: sid})
		}
		if gen := m.keys.generation(); gen < maxGeneration {
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
