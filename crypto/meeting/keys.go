package meeting

// Frame key rotation (docs/PROTOCOL.md §6.6): what the state machine does
// with its key ring when a roster changes, a SenderKey or an Ack arrives.

import (
	"bytes"
	"io"
	"slices"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// rekey draws a fresh base key for the current epoch and generation, sends
// it to every present member and switches once all acknowledged or after
// timeout (§6.6 steps 2 and 3).
func (m *Member) rekey(gen int, timeout time.Duration) {
	key := make([]byte, format.BaseKeySize)
	if _, err := io.ReadFull(m.rand, key); err != nil {
		panic("meeting: random source failed: " + err.Error())
	}
	kid := makeKID(m.roster.epoch, m.selfIndex, gen)
	m.rekeyAt = m.now
	m.keys.begin(kid, key, m.now.Add(timeout))
	body := format.AppendSenderKey(nil, kid, key)
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		if p.gone && m.hostGone() {
			continue
		}
		m.keys.await(mk, m.sendReliable(p, format.KindSenderKey, body))
	}
	clear(body)
	if m.keys.awaiting() == 0 {
		m.switchKey()
	}
}

// switchKey makes the next key the send key. While paused (§6.4
// "Heartbeat") it is not handed to the media engine until sending resumes.
func (m *Member) switchKey() {
	e := m.keys.switchSend()
	if m.beat.paused {
		clear(e.Key)
		return
	}
	m.emit(e)
}

func (m *Member) onAck(p *peer, seq uint64) {
	m.outbox.ack(p.MemberKey, seq)
	if m.keys.acked(p.MemberKey, seq) {
		m.switchKey()
	}
}

// onSenderKey installs a member's frame key if its KID names the sender
// and the current epoch (§6.6); false holds a key for a later epoch.
func (m *Member) onSenderKey(p *peer, in format.Inner) bool {
	kid, key, err := format.ParseSenderKey(in.Body)
	if err != nil {
		m.counters.Malformed++
		return true
	}
	epoch, index, gen := splitKID(kid)
	cur, has := m.keys.current(p.MemberKey)
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
	case has && gen <= kidGeneration(cur):
		m.counters.Stale++
		return true
	}
	m.keys.install(p.MemberKey, kid, m.now)
	m.emit(ReceiveKey{KID: kid, Key: bytes.Clone(key), Session: p.Session})
	m.updateMissing()
	if m.IsHost() {
		m.updateRemoval()
	}
	return true
}

// updateMissing recomputes the senders without a current key and reports a
// change.
func (m *Member) updateMissing() {
	var miss []SessionID
	if m.roster != nil && m.now.Sub(m.rosterAt) >= MissingKeyAfter {
		for _, mk := range m.peerOrder() {
			p := m.peers[mk]
			if _, has := m.keys.current(mk); !has && !p.gone {
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
