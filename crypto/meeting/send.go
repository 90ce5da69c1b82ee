package meeting

// Sending (docs/PROTOCOL.md §6.3): every message is signed, padded and
// sealed to one member key; reliable ones wait in the outbox for an Ack.

import (
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

func (m *Member) seal(p *peer, kind byte, body []byte, seq uint64) []byte {
	in := encodeInner(m.cfg.Identity, m.cfg.MeetingID, m.mk, p.MemberKey, kind, m.cfg.Session, p.Session, seq, body)
	env, err := format.SealEnvelope(p.send, m.rand, m.mk, p.MemberKey, in)
	clear(in) // a copy of body, which may be a key
	if err != nil {
		panic("meeting: random source failed: " + err.Error())
	}
	return env
}

// sendReliable sends a message that is re-sent until acknowledged and
// returns its seq.
func (m *Member) sendReliable(p *peer, kind byte, body []byte) uint64 {
	m.seq++
	m.toHost(p)
	env := m.seal(p, kind, body, m.seq)
	m.out = append(m.out, Outgoing{To: p.Session, Payload: env})
	if !m.outbox.add(p.MemberKey, m.seq, p.Session, env, m.now) {
		m.counters.GaveUp++
	}
	return m.seq
}

// sendOnce sends a message that is not re-sent.
func (m *Member) sendOnce(p *peer, kind byte, body []byte) {
	m.seq++
	m.toHost(p)
	m.out = append(m.out, Outgoing{To: p.Session, Payload: m.seal(p, kind, body, m.seq)})
}

// toHost remembers when the message with the current seq went to the
// host, to date the host's heartbeat echoes (§6.4 "Heartbeat").
func (m *Member) toHost(p *peer) {
	if m.roster != nil && p.index == m.roster.host && !m.IsHost() {
		m.beat.sentAt(m.seq, m.now)
	}
}

func (m *Member) sendAck(p *peer, seq uint64) {
	m.sendOnce(p, format.KindAck, format.AppendAck(nil, seq))
}

// retransmit re-sends what is due in the outbox.
func (m *Member) retransmit() {
	resend, gaveUp := m.outbox.due(m.now)
	m.counters.GaveUp += uint64(gaveUp)
	m.counters.Retransmits += uint64(len(resend))
	m.out = append(m.out, resend...)
}
