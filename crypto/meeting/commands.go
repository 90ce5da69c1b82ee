package meeting

// Local commands: admission, removal, hand-over, chat, leaving.

import (
	"cmp"
	"errors"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// Admit lets a joiner from the waiting room in: a new roster epoch with the
// joiner added (host only).
func (m *Member) Admit(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiting.bySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	var members []rosterMember
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
	m.waiting.remove(w.MemberKey)
	// Members drop the sid from their copy of the Lobby once it is in the
	// roster, so only the user interface needs telling.
	m.lobbyChanged(false)
	m.publish(append(members, w.rosterMember), host, m.roster.certs)
	return nil
}

// Deny turns a joiner away (host only).
func (m *Member) Deny(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiting.bySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	m.waiting.remove(w.MemberKey)
	m.waiting.deny(w.MemberKey, w.Session)
	m.sendDeny(w.MemberKey, w.Session)
	m.lobbyChanged(true)
	return nil
}

func (m *Member) sendDeny(mk MemberKey, sid SessionID) {
	body := format.AppendDeny(nil, m.self, m.roster.origin, m.roster.certs)
	a, err := deriveAEAD(&m.mkPriv, mk, m.cfg.MeetingID, format.LabelPairwise, m.mk, mk)
	if err != nil {
		return
	}
	m.seq++
	in := encodeInner(m.cfg.Identity, m.cfg.MeetingID, m.mk, mk, format.KindDeny, m.cfg.Session, sid, m.seq, body)
	env, err := format.SealEnvelope(a, m.rand, m.mk, mk, in)
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
	sids := make([][format.SIDSize]byte, len(w))
	for i, x := range w {
		sids[i] = x.Session
	}
	body := format.AppendLobby(nil, m.roster.epoch, sids...)
	for _, mk := range m.peerOrder() {
		m.sendReliable(m.peers[mk], format.KindLobby, body)
	}
}

func (m *Member) onLobby(p *peer, in format.Inner) {
	_, sids, err := format.ParseLobby(in.Body)
	if p.index != m.roster.host || err != nil {
		m.counters.Malformed++
		return
	}
	m.waiting.setLobby(sids)
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
	var members []rosterMember
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
	if len(m.roster.certs) >= format.MaxCerts {
		// The next roster would carry one certificate too many and every
		// member would reject it.
		return ErrTooManyHandOvers
	}
	cert := signHostCert(m.cfg.Identity, m.cfg.MeetingID, m.roster.epoch+1, target.Identity)
	body := format.AppendHandOver(nil, cert, m.invitePriv)
	m.sendReliable(target, format.KindHandOver, body)
	clear(body)
	clear(m.invitePriv[:])
	m.invitePriv = nil
	m.waiting.close()
	m.beat.freshAt = m.now // a member now: heartbeats come from the new host
	m.emit(WaitingRoomChanged{})
	return nil
}

func (m *Member) onHandOver(p *peer, in format.Inner) {
	cert, priv, err := format.ParseHandOver(in.Body)
	if err != nil {
		m.counters.Malformed++
		return
	}
	var ip [keySize]byte
	copy(ip[:], priv)
	pub, err := publicOf(&ip)
	if err != nil || p.index != m.roster.host || cert.Epoch != m.roster.epoch+1 || !cert.Host.Equal(m.self) ||
		!p.Identity.Verify(format.HostCertMessage(m.cfg.MeetingID, cert.Epoch, cert.Host), cert.Sig) {
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
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		p.chatSent = m.sendReliable(p, format.KindChat, format.AppendChat(nil, p.chatSent, text))
	}
	return nil
}

// heldChat is a chat that arrived before its sender's previous one.
type heldChat struct {
	seq, prev uint64
	text      string
	at        time.Time
}

// onChat shows a chat in its sender's order (§6.9): each names the seq of
// the sender's previous chat to this member, and one whose predecessor has
// not been shown waits for it, at most ChatHold.
func (m *Member) onChat(p *peer, in format.Inner) {
	prev, text, err := format.ParseChat(in.Body)
	if err != nil {
		m.counters.Malformed++
		return
	}
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		m.counters.BadChat++
		return
	}
	if prev != p.chatShown && prev >= in.Seq {
		m.counters.Malformed++ // a predecessor sent after it: no order at all
		return
	}
	if prev != p.chatShown {
		m.counters.ChatReordered++
		if len(p.chatHeld) == maxChatHeld {
			m.showChat(p, p.chatHeld[0], true)
		}
		p.chatHeld = append(p.chatHeld, heldChat{seq: in.Seq, prev: prev, text: text, at: m.now})
		return
	}
	m.showChat(p, heldChat{seq: in.Seq, text: text}, false)
}

// showChat shows c and then every held chat that now follows in order.
func (m *Member) showChat(p *peer, c heldChat, gap bool) {
	p.chatHeld = slices.DeleteFunc(p.chatHeld, func(h heldChat) bool { return h.seq == c.seq })
	for {
		m.emit(ChatMessage{From: p.Session, Name: p.Name, Fingerprint: p.Identity.Fingerprint(), Text: c.text, Gap: gap})
		p.chatShown = c.seq
		i := slices.IndexFunc(p.chatHeld, func(h heldChat) bool { return h.prev == c.seq })
		if i < 0 {
			return
		}
		c, gap = p.chatHeld[i], false
		p.chatHeld = slices.Delete(p.chatHeld, i, i+1)
	}
}

// expireChats shows, after ChatHold, a held chat whose predecessor never
// came (its sender gave up on it, or the relay dropped it for good).
func (m *Member) expireChats() {
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		for len(p.chatHeld) > 0 {
			oldest := slices.MinFunc(p.chatHeld, func(a, b heldChat) int { return cmp.Compare(a.seq, b.seq) })
			if m.now.Sub(oldest.at) < ChatHold {
				break
			}
			m.showChat(p, oldest, true)
		}
	}
}

// Leave tells the host this member is leaving and drops every key. The
// caller sends the returned envelopes and then closes the connection.
func (m *Member) Leave() {
	if m.state == StateMember && !m.IsHost() {
		if hp := m.peers[m.roster.members[m.roster.host].MemberKey]; hp != nil {
			m.sendOnce(hp, format.KindLeave, nil)
		}
	}
	if m.live() {
		m.state = StateLeft
		m.wipe()
	}
}
