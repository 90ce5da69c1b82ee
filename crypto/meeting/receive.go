package meeting

// Input: envelopes from the relay, authenticated before anything is used
// (docs/PROTOCOL.md §6.3).

import (
	"errors"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/internal/replay"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// Receive processes one envelope the relay delivered from session from.
func (m *Member) Receive(from SessionID, payload []byte, now time.Time) {
	m.now = now
	if !m.live() {
		return
	}
	h, err := format.ParseHeader(payload)
	if errors.Is(err, format.ErrOldVersion) {
		m.counters.OldVersion++
		m.alert(AlertOldVersion, from, "")
		return
	}
	if err != nil {
		m.counters.Malformed++
		return
	}
	switch h.Type {
	case format.TypeHello:
		m.onHello(from, h, payload)
	case format.TypeSealed:
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

func (m *Member) onHello(from SessionID, h format.Header, payload []byte) {
	if !m.IsHost() {
		return // only the holder of the invite key can open hellos
	}
	if sid, ok := m.waiting.deniedAt(h.Sender); ok {
		if sid == from {
			m.sendDeny(h.Sender, sid)
		}
		return
	}
	if m.waiting.knocking(h.Sender) {
		return // a re-sent hello
	}
	if m.seen[h.Sender] {
		// A replayed hello of someone who was in the meeting before: a
		// member key is admitted at most once.
		m.counters.Replayed++
		return
	}
	a, err := deriveAEAD(m.invitePriv, h.Sender, m.cfg.MeetingID, format.LabelHello, h.Sender, m.invitePub)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	raw, err := format.OpenHello(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := format.ParseInner(raw)
	if err != nil || in.Kind != format.KindHello {
		m.counters.Malformed++
		return
	}
	pub, name, err := format.ParseHello(in.Body)
	if err != nil {
		m.counters.Malformed++
		return
	}
	if !verifyInner(in, pub, m.cfg.MeetingID, h.Sender, m.invitePub) || in.From != from || !SessionID(in.To).IsZero() {
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
	if m.waiting.full() {
		m.counters.LobbyFull++
		return
	}
	w := &waiter{rosterMember: rosterMember{Session: from, Identity: pub, MemberKey: h.Sender, Name: name}}
	w.contact = m.observe(name, pub, from)
	m.waiting.add(w)
	if m.cfg.Policy == PolicyAdmitAll || m.cfg.Policy == PolicyAdmitVerified && w.contact == identity.StatusVerified {
		if m.Admit(from) == nil {
			return
		}
	}
	m.lobbyChanged(true)
}

func (m *Member) onSealed(from SessionID, h format.Header, payload []byte, at time.Time) {
	if h.To != m.mk {
		m.counters.Misaddressed++
		return
	}
	p := m.peers[h.Sender]
	var a cipherAEAD
	if p != nil {
		a = p.recv
	} else {
		var err error
		a, err = deriveAEAD(&m.mkPriv, h.Sender, m.cfg.MeetingID, format.LabelPairwise, h.Sender, m.mk)
		if err != nil {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
	}
	raw, err := format.OpenSealed(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := format.ParseInner(raw)
	if err != nil {
		m.counters.Malformed++
		return
	}
	if in.Kind == format.KindSenderKey || in.Kind == format.KindHandOver {
		// The plaintext holds a base key or the invite private key; what
		// is kept of it is copied out, so the plaintext goes on return.
		defer clear(raw)
	}
	if in.To != m.cfg.Session || in.From != from {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if p == nil {
		if m.state == StateWaiting && (in.Kind == format.KindRoster || in.Kind == format.KindDeny) {
			m.onWelcome(from, h, in)
			return
		}
		if m.seen[h.Sender] {
			// A member that left or was removed, whose last messages
			// (an acknowledgement of a heartbeat, say) crossed the roster
			// change: a member key is admitted at most once (§6.5), so
			// nothing from it can become processable.
			m.counters.Stale++
			return
		}
		m.hold(from, payload, at, true)
		return
	}
	hostPeer := m.roster.host != m.selfIndex && p.index == m.roster.host
	if in.From != p.Session && !(hostPeer && in.Kind == format.KindRoster) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if !verifyInner(in, p.Identity, m.cfg.MeetingID, h.Sender, m.mk) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	w := m.window(h.Sender)
	verdict := replay.TooOld // seq counts from 1 (§6.3)
	if in.Seq != 0 {
		verdict = w.Check(in.Seq)
	}
	switch verdict {
	case replay.Duplicate:
		m.counters.Replayed++
		if in.Kind != format.KindAck {
			m.sendAck(p, in.Seq)
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
	w.Accept(in.Seq)
	m.beat.heardFrom(h.Sender, in.Seq)
	p.heardAt = at
	if in.Kind != format.KindAck && m.state == StateMember && m.peers[p.MemberKey] == p {
		m.sendAck(p, in.Seq)
	}
}

// dispatch handles an authenticated message from a member; false means "not
// processable yet: hold it".
func (m *Member) dispatch(p *peer, in format.Inner) bool {
	switch in.Kind {
	case format.KindAck:
		seq, err := format.ParseAck(in.Body)
		if err != nil {
			m.counters.Malformed++
			return true
		}
		m.onAck(p, seq)
	case format.KindRoster:
		return m.onRosterUpdate(p, in)
	case format.KindSenderKey:
		return m.onSenderKey(p, in)
	case format.KindChat:
		m.onChat(p, in)
	case format.KindLobby:
		m.onLobby(p, in)
	case format.KindHandOver:
		m.onHandOver(p, in)
	case format.KindHeartbeat:
		m.onHeartbeat(p, in)
	case format.KindLeave:
		if len(in.Body) == 0 {
			_ = m.Remove(p.Session) // ErrNotHost unless this member is host
		}
	default:
		m.counters.Malformed++
	}
	return true
}

func (m *Member) hold(from SessionID, payload []byte, at time.Time, unknown bool) {
	if m.held.push(held{from: from, payload: payload, at: at, unknown: unknown}) {
		m.counters.HeldDropped++
	}
}

// reprocessHeld runs held messages again after a roster change.
func (m *Member) reprocessHeld() {
	q := &m.held
	if q.running {
		q.again = true
		return
	}
	q.running = true
	defer func() { q.running = false }()
	for {
		q.again = false
		for _, it := range q.take() {
			if !m.live() {
				return
			}
			h, err := format.ParseHeader(it.payload)
			if err == nil {
				m.onSealed(it.from, h, it.payload, it.at)
			}
		}
		if !q.again {
			return
		}
	}
}
