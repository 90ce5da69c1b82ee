package meeting

// Input: envelopes from the relay, authenticated before anything is used
// (docs/PROTOCOL.md §6.3).

import (
	"encoding/binary"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/internal/replay"
)

// Receive processes one envelope the relay delivered from session from.
func (m *Member) Receive(from SessionID, payload []byte, now time.Time) {
	m.now = now
	if !m.live() {
		return
	}
	h, err := parseEnvelope(payload)
	if err != nil {
		m.counters.Malformed++
		return
	}
	switch h.typ {
	case typeHello:
		m.onHello(from, h, payload)
	case typeSealed:
		m.onSealed(from, h, payload, now)
	}
}

func (m *Member) window(mk MemberKey) *replay.Window {
	w := m.windows[mk]
	if w == nil {
		w = new(replay.Window)
		m.windows[mk] = w
	}
	return w
}

func (m *Member) onHello(from SessionID, h envelopeHeader, payload []byte) {
	if !m.IsHost() {
		return // only the holder of the invite key can open hellos
	}
	if sid, ok := m.denied[h.sender]; ok {
		if sid == from {
			m.sendDeny(h.sender, sid)
		}
		return
	}
	if m.lobby[h.sender] != nil {
		return // a re-sent hello
	}
	if m.seen[h.sender] {
		// A replayed hello of someone who was in the meeting before: a
		// member key is admitted at most once.
		m.counters.Replayed++
		return
	}
	a, err := deriveAEAD(m.invitePriv, h.sender, m.cfg.MeetingID, labelHello, h.sender, m.invitePub)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	raw, err := openHello(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := parseInner(raw)
	if err != nil || in.kind != kindHello || len(in.body) < identity.PublicSize+1 {
		m.counters.Malformed++
		return
	}
	pub, err := identity.ParsePublic(in.body[:identity.PublicSize])
	nameLen := int(in.body[identity.PublicSize])
	if err != nil || len(in.body) != identity.PublicSize+1+nameLen {
		m.counters.Malformed++
		return
	}
	name := string(in.body[identity.PublicSize+1:])
	if !in.verify(pub, m.cfg.MeetingID, h.sender, m.invitePub) || in.from != from || !in.to.IsZero() {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if !validName(name) {
		m.counters.Malformed++
		return
	}
	for _, e := range m.roster.members {
		if e.Session == from {
			m.counters.AuthFailed++
			return
		}
	}
	if len(m.lobby) >= maxWaiting {
		m.counters.LobbyFull++
		return
	}
	for mk, old := range m.lobby {
		if old.Session == from {
			delete(m.lobby, mk) // the same session knocking with a new member key
		}
	}
	w := &waiter{RosterMember: RosterMember{Session: from, Identity: pub, MemberKey: h.sender, Name: name}}
	w.contact = m.observe(name, pub, from)
	m.lobby[h.sender] = w
	if m.cfg.Policy == PolicyAdmitAll || m.cfg.Policy == PolicyAdmitVerified && w.contact == identity.StatusVerified {
		if m.Admit(from) == nil {
			return
		}
	}
	m.lobbyChanged(true)
}

func (m *Member) onSealed(from SessionID, h envelopeHeader, payload []byte, at time.Time) {
	if h.to != m.mk {
		m.counters.Misaddressed++
		return
	}
	p := m.peers[h.sender]
	var a cipherAEAD
	if p != nil {
		a = p.recv
	} else {
		var err error
		a, err = deriveAEAD(&m.mkPriv, h.sender, m.cfg.MeetingID, labelPairwise, h.sender, m.mk)
		if err != nil {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
	}
	raw, err := openSealed(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := parseInner(raw)
	if err != nil {
		m.counters.Malformed++
		return
	}
	if in.kind == kindSenderKey || in.kind == kindHandOver {
		// The plaintext holds a base key or the invite private key; what
		// is kept of it is copied out, so the plaintext goes on return.
		defer clear(raw)
	}
	if in.to != m.cfg.Session || in.from != from {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if p == nil {
		if m.state == StateWaiting && (in.kind == kindRoster || in.kind == kindDeny) {
			m.onWelcome(from, h, in)
			return
		}
		m.hold(from, payload, at, true)
		return
	}
	hostPeer := m.roster.host != m.selfIndex && p.index == m.roster.host
	if in.from != p.Session && !(hostPeer && in.kind == kindRoster) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if !in.verify(p.Identity, m.cfg.MeetingID, h.sender, m.mk) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	w := m.window(h.sender)
	verdict := replay.TooOld // seq counts from 1 (§6.3)
	if in.seq != 0 {
		verdict = w.Check(in.seq)
	}
	switch verdict {
	case replay.Duplicate:
		m.counters.Replayed++
		if in.kind != kindAck {
			m.sendAck(p, in.seq)
		}
		return
	case replay.TooOld:
		m.counters.TooOld++
		m.alert(AlertReplay, from, "")
		return
	}
	if !m.dispatch(p, in) {
		m.hold(from, payload, at, false)
		return
	}
	w.Accept(in.seq)
	if in.kind != kindAck && m.state == StateMember && m.peers[p.MemberKey] == p {
		m.sendAck(p, in.seq)
	}
}

// dispatch handles an authenticated message from a member; false means "not
// processable yet: hold it".
func (m *Member) dispatch(p *peer, in inner) bool {
	switch in.kind {
	case kindAck:
		if len(in.body) != seqSize {
			m.counters.Malformed++
			return true
		}
		m.onAck(p, binary.BigEndian.Uint64(in.body))
	case kindRoster:
		return m.onRosterUpdate(p, in)
	case kindSenderKey:
		return m.onSenderKey(p, in)
	case kindChat:
		m.onChat(p, in)
	case kindLobby:
		m.onLobby(p, in)
	case kindHandOver:
		m.onHandOver(p, in)
	case kindLeave:
		if m.IsHost() && len(in.body) == 0 {
			_ = m.Remove(p.Session)
		}
	default:
		m.counters.Malformed++
	}
	return true
}

func (m *Member) hold(from SessionID, payload []byte, at time.Time, unknown bool) {
	if len(m.held) >= maxHeld {
		m.counters.HeldDropped++
		m.held = m.held[1:]
	}
	m.held = append(m.held, held{from: from, payload: payload, at: at, unknown: unknown})
}

// reprocessHeld runs held messages again after a roster change.
func (m *Member) reprocessHeld() {
	if m.reprocessing {
		m.again = true
		return
	}
	m.reprocessing = true
	defer func() { m.reprocessing = false }()
	for {
		m.again = false
		items := m.held
		m.held = nil
		for _, it := range items {
			if !m.live() {
				return
			}
			h, err := parseEnvelope(it.payload)
			if err == nil {
				m.onSealed(it.from, h, it.payload, it.at)
			}
		}
		if !m.again {
			return
		}
	}
}
