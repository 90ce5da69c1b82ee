package meeting

// Local commands: admission, removal, hand-over, chat, leaving.

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"
	"unicode/utf8"
)

func (m *Member) waiterBySession(sid SessionID) *waiter {
	for _, w := range m.lobby {
		if w.Session == sid {
			return w
		}
	}
	return nil
}

// Admit lets a joiner from the waiting room in: a new roster epoch with the
// joiner added (host only).
func (m *Member) Admit(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiterBySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	var members []RosterMember
	host := 0
	for i, e := range m.roster.members {
		if e.Identity.Equal(w.Identity) {
			continue // the same person from a new session replaces the old
		}
		if i == m.roster.host {
			host = len(members)
		}
		members = append(members, e)
	}
	if len(members) >= MaxMembers {
		return ErrFull
	}
	delete(m.lobby, w.MemberKey)
	// Members drop the sid from their copy of the Lobby once it is in the
	// roster, so only the user interface needs telling.
	m.lobbyChanged(false)
	m.publish(append(members, w.RosterMember), host, m.roster.certs)
	return nil
}

// Deny turns a joiner away (host only).
func (m *Member) Deny(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiterBySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	delete(m.lobby, w.MemberKey)
	if len(m.denied) < maxWaiting {
		m.denied[w.MemberKey] = w.Session
	}
	m.sendDeny(w.MemberKey, w.Session)
	m.lobbyChanged(true)
	return nil
}

func (m *Member) sendDeny(mk MemberKey, sid SessionID) {
	body := append(m.self.Marshal(), m.roster.origin.Marshal()...)
	body = append(body, byte(len(m.roster.certs)))
	for _, c := range m.roster.certs {
		body = appendCert(body, c)
	}
	a, err := deriveAEAD(&m.mkPriv, mk, m.cfg.MeetingID, labelPairwise, m.mk, mk)
	if err != nil {
		return
	}
	m.seq++
	in := encodeInner(m.cfg.Identity, m.cfg.MeetingID, m.mk, mk, kindDeny, m.cfg.Session, sid, m.seq, body)
	env, err := sealEnvelope(a, m.rand, m.mk, mk, in)
	if err == nil {
		m.out = append(m.out, Outgoing{To: sid, Payload: env})
	}
}

// lobbyChanged tells the user interface, and with members set the members
// (Lobby, §6.5), about the waiting room.
func (m *Member) lobbyChanged(members bool) {
	w := m.Waiting()
	m.emit(WaitingRoomChanged{Waiting: w})
	if !members {
		return
	}
	body := binary.BigEndian.AppendUint64(nil, m.roster.epoch)
	body = append(body, byte(len(w)))
	for _, x := range w {
		body = append(body, x.Session[:]...)
	}
	for _, mk := range m.peerOrder() {
		m.sendReliable(m.peers[mk], kindLobby, body)
	}
}

func (m *Member) onLobby(p *peer, in inner) {
	if p.index != m.roster.host || len(in.body) < 9 || len(in.body) != 9+sidSize*int(in.body[8]) {
		m.counters.Malformed++
		return
	}
	clear(m.lobbySID)
	for i := 9; i < len(in.body); i += sidSize {
		m.lobbySID[SessionID(in.body[i:i+sidSize])] = true
	}
}

// Remove takes a member out of the meeting: a new epoch without it, whose
// keys it never receives (host only).
func (m *Member) Remove(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	if sid == m.cfg.Session {
		return errors.New("meeting: the host cannot remove itself; hand over first")
	}
	var members []RosterMember
	host, found := 0, false
	for i, e := range m.roster.members {
		if e.Session == sid {
			found = true
			continue
		}
		if i == m.roster.host {
			host = len(members)
		}
		members = append(members, e)
	}
	if !found {
		return ErrNoSuchEntry
	}
	m.publish(members, host, m.roster.certs)
	return nil
}

// HandOver gives the host role to a member (host only). The new host
// publishes the next roster; until then nobody is host.
func (m *Member) HandOver(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	var target *peer
	for _, p := range m.peers {
		if p.Session == sid {
			target = p
		}
	}
	if target == nil {
		return ErrNoSuchEntry
	}
	if len(m.roster.certs) >= maxCerts {
		// The next roster would carry one certificate too many and every
		// member would reject it.
		return ErrTooManyHandOvers
	}
	cert := signHostCert(m.cfg.Identity, m.cfg.MeetingID, m.roster.epoch+1, target.Identity)
	body := appendCert(nil, cert)
	body = append(body, m.invitePriv[:]...)
	m.sendReliable(target, kindHandOver, body)
	clear(body)
	clear(m.invitePriv[:])
	m.invitePriv = nil
	m.lobby = map[MemberKey]*waiter{}
	m.emit(WaitingRoomChanged{})
	return nil
}

func (m *Member) onHandOver(p *peer, in inner) {
	rd := &reader{b: in.body}
	cert := rd.cert()
	priv := rd.take(keySize)
	if rd.bad || len(rd.b) != 0 {
		m.counters.Malformed++
		return
	}
	var ip [keySize]byte
	copy(ip[:], priv)
	pub, err := publicOf(&ip)
	if err != nil || p.index != m.roster.host || cert.Epoch != m.roster.epoch+1 || !cert.Host.Equal(m.self) ||
		!p.Identity.Verify(hostCertMessage(m.cfg.MeetingID, cert.Epoch, cert.Host), cert.Sig) {
		clear(ip[:])
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return
	}
	m.invitePriv, m.invitePub = &ip, pub
	members := slices.Clone(m.roster.members)
	m.publish(members, m.selfIndex, append(slices.Clone(m.roster.certs), cert))
}

// Reconnected tells the core that this member's relay connection was
// replaced and now has session sid. A host publishes the next roster with
// its new session (§6.8 "Host back"); other members cannot change their
// roster entry and must knock again with a new Member.
func (m *Member) Reconnected(sid SessionID, now time.Time) error {
	m.now = now
	if !m.IsHost() {
		return ErrNotHost
	}
	if sid.IsZero() {
		return ErrNoSuchEntry
	}
	m.cfg.Session = sid
	members := slices.Clone(m.roster.members)
	members[m.selfIndex].Session = sid
	m.publish(members, m.roster.host, m.roster.certs)
	return nil
}

// SendChat sends an end-to-end encrypted chat message to every member.
func (m *Member) SendChat(text string) error {
	if m.state != StateMember {
		return ErrNotMember
	}
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		return ErrBadChat
	}
	body := binary.BigEndian.AppendUint16(nil, uint16(len(text)))
	body = append(body, text...)
	for _, mk := range m.peerOrder() {
		m.sendReliable(m.peers[mk], kindChat, body)
	}
	return nil
}

func (m *Member) onChat(p *peer, in inner) {
	if len(in.body) < 2 || len(in.body) != 2+int(binary.BigEndian.Uint16(in.body)) {
		m.counters.Malformed++
		return
	}
	text := string(in.body[2:])
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		m.counters.BadChat++
		return
	}
	m.emit(ChatMessage{From: p.Session, Name: p.Name, Fingerprint: p.Identity.Fingerprint(), Text: text})
}

// Leave tells the host this member is leaving and drops every key. The
// caller sends the returned envelopes and then closes the connection.
func (m *Member) Leave() {
	if m.state == StateMember && !m.IsHost() {
		if hp := m.peers[m.roster.members[m.roster.host].MemberKey]; hp != nil {
			m.seq++
			m.out = append(m.out, Outgoing{To: hp.Session, Payload: m.seal(hp, kindLeave, nil, m.seq)})
		}
	}
	if m.live() {
		m.state = StateLeft
		m.wipe()
	}
}
