package meeting

// Per-sender frame keys and the reliable sending they ride on
// (docs/PROTOCOL.md §6.6).

import (
	"bytes"
	"io"
	"slices"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// rekey draws a fresh base key for the current epoch and generation, sends
// it to every present member and switches once all acknowledged (§6.6).
func (m *Member) rekey(gen int, timeout time.Duration) {
	clear(m.next.key)
	key := make([]byte, format.BaseKeySize)
	if _, err := io.ReadFull(m.rand, key); err != nil {
		panic("meeting: random source failed: " + err.Error())
	}
	m.next = nextKey{
		active:   true,
		kid:      makeKID(m.roster.epoch, m.selfIndex, gen),
		key:      key,
		waiting:  make(map[MemberKey]uint64),
		deadline: m.now.Add(timeout),
	}
	body := format.AppendSenderKey(nil, m.next.kid, key)
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		if p.gone && m.hostGone() {
			continue
		}
		m.next.waiting[mk] = m.sendReliable(p, format.KindSenderKey, body)
	}
	clear(body)
	if len(m.next.waiting) == 0 {
		m.switchKey()
	}
}

func (m *Member) switchKey() {
	m.emit(SendKey{KID: m.next.kid, Key: bytes.Clone(m.next.key)})
	m.sendKID, m.hasSend = m.next.kid, true
	clear(m.next.key)
	m.next = nextKey{}
}

func (m *Member) onAck(p *peer, seq uint64) {
	delete(m.outbox, outKey{p.MemberKey, seq})
	if m.next.active {
		if s, ok := m.next.waiting[p.MemberKey]; ok && s == seq {
			delete(m.next.waiting, p.MemberKey)
			if len(m.next.waiting) == 0 {
				m.switchKey()
			}
		}
	}
}

func (m *Member) onSenderKey(p *peer, in format.Inner) bool {
	kid, key, err := format.ParseSenderKey(in.Body)
	if err != nil {
		m.counters.Malformed++
		return true
	}
	epoch, index, gen := splitKID(kid)
	switch {
	case epoch > m.roster.epoch:
		return false
	case epoch < m.roster.epoch:
		m.counters.Stale++
		return true
	case index != p.index:
		m.counters.KeyRejected++
		m.alert(AlertKeyRejected, p.Session, "")
		return true
	case p.hasKey && gen <= kidGeneration(p.kid):
		m.counters.Stale++
		return true
	}
	for _, old := range sortedKIDs(p.kids) {
		m.expiries = append(m.expiries, expiry{at: m.now.Add(ReceiveGrace), mk: p.MemberKey, kid: old})
	}
	p.kids[kid] = true
	p.hasKey, p.kid = true, kid
	m.emit(ReceiveKey{KID: kid, Key: bytes.Clone(key), Session: p.Session})
	m.updateMissing()
	return true
}

// updateMissing recomputes the senders without a current key and reports a
// change.
func (m *Member) updateMissing() {
	var miss []SessionID
	if m.roster != nil && m.now.Sub(m.rosterAt) >= MissingKeyAfter {
		for _, mk := range m.peerOrder() {
			p := m.peers[mk]
			if !p.hasKey && !p.gone {
				miss = append(miss, p.Session)
				if !p.warned {
					p.warned = true
					m.alert(AlertMissingKey, p.Session, "")
				}
			}
		}
	}
	if !slices.Equal(miss, m.missing) {
		m.missing = miss
		m.emit(KeysChanged{Missing: slices.Clone(miss)})
	}
}

// --- sending ----------------------------------------------------------------

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
	env := m.seal(p, kind, body, m.seq)
	m.out = append(m.out, Outgoing{To: p.Session, Payload: env})
	if len(m.outbox) < maxOutbox {
		m.outbox[outKey{p.MemberKey, m.seq}] = &pendingMsg{to: p.Session, payload: env, first: m.now, next: m.now.Add(RetransmitInitial), interval: RetransmitInitial}
	} else {
		m.counters.GaveUp++
	}
	return m.seq
}

func (m *Member) sendAck(p *peer, seq uint64) {
	m.seq++
	m.out = append(m.out, Outgoing{To: p.Session, Payload: m.seal(p, format.KindAck, format.AppendAck(nil, seq), m.seq)})
}
