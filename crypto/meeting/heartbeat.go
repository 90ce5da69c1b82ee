package meeting

// Heartbeats (docs/PROTOCOL.md §6.4 "Heartbeat"): the host's signed
// statement, once a HeartbeatInterval to every member, of the epoch and
// roster hash it holds, with the highest seq it accepted from that member.
// The echo dates the heartbeat by the member's own clock: it proves the
// host was alive after the member sent that message, so a relay that
// withholds heartbeats and releases them later cannot make them look fresh.
// A member whose freshest heartbeat is older than HeartbeatStale, or that
// learns from one of an epoch it does not hold, stops sending media: a
// removal the relay hides by withholding the next roster is then bounded
// in time instead of undone.

import (
	"crypto/subtle"
	"slices"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// beats is the heartbeat state of a member.
type beats struct {
	// host: the next heartbeat round and, per member key, the highest seq
	// accepted from it.
	next  time.Time
	heard map[MemberKey]uint64

	// members: the send times of the last messages to the host, the
	// freshest time a heartbeat proved, and why sending is paused.
	sent    []sentSeq
	freshAt time.Time
	paused  bool
	behind  uint64 // a later epoch a heartbeat named, until it is held

	// host: the remaining members that hold no key of the removal's epoch.
	removal uint64 // the epoch that removed someone, until complete
	pending []SessionID
}

type sentSeq struct {
	seq uint64
	at  time.Time
}

func newBeats() beats { return beats{heard: make(map[MemberKey]uint64)} }

// maxBeatRate is the most heartbeats a host sends a second: well within the
// 50 envelopes a second a relay lets one session send by default, beside
// the host's other messages.
const maxBeatRate = 20

// beatInterval is the heartbeat interval for a roster of n members:
// HeartbeatInterval, longer in a meeting too large for maxBeatRate.
func beatInterval(n int) time.Duration {
	return max(HeartbeatInterval, time.Duration(n-1)*time.Second/maxBeatRate)
}

// beatStale is how old a member's freshest heartbeat may get in a roster
// of n members: HeartbeatStale, scaled with the interval.
func beatStale(n int) time.Duration {
	return HeartbeatStale / HeartbeatInterval * beatInterval(n)
}

// heardFrom records an accepted seq from mk (host).
func (b *beats) heardFrom(mk MemberKey, seq uint64) {
	if seq > b.heard[mk] {
		b.heard[mk] = seq
	}
}

// sentAt records that seq went to the host at now (members).
func (b *beats) sentAt(seq uint64, now time.Time) {
	if len(b.sent) == maxSentToHost {
		b.sent = b.sent[1:]
	}
	b.sent = append(b.sent, sentSeq{seq: seq, at: now})
}

// echoed returns when the message with seq went to the host.
func (b *beats) echoed(seq uint64) (time.Time, bool) {
	for _, s := range b.sent {
		if s.seq == seq {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// sendHeartbeats sends every member its heartbeat when one is due (host).
func (m *Member) sendHeartbeats() {
	if m.now.Before(m.beat.next) {
		return
	}
	m.beat.next = m.now.Add(beatInterval(len(m.roster.members)))
	for _, mk := range m.peerOrder() {
		m.sendOnce(m.peers[mk], format.KindHeartbeat, format.AppendHeartbeat(nil, m.roster.epoch, m.roster.hash, m.beat.heard[mk]))
	}
}

// onHeartbeat takes a heartbeat from p (members).
func (m *Member) onHeartbeat(p *peer, in format.Inner) {
	epoch, hash, echo, err := format.ParseHeartbeat(in.Body)
	if err != nil || p.index != m.roster.host || m.IsHost() {
		m.counters.Malformed++
		return
	}
	cur := m.roster
	switch {
	case epoch < cur.epoch:
		m.counters.StaleBeats++
		return
	case epoch > cur.epoch:
		// The host holds a roster this member does not: its own keys and
		// the receive keys it holds may be known to a removed member.
		m.counters.StaleBeats++
		if epoch > m.beat.behind {
			m.beat.behind = epoch
			for _, mk := range m.peerOrder() {
				m.keys.retire(mk, m.now)
			}
		}
		m.alert(AlertRosterWithheld, p.Session, "")
		m.pause()
		return
	case subtle.ConstantTimeCompare(hash[:], cur.hash[:]) != 1:
		// Another roster at this epoch: the host equivocates.
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return
	}
	// An echo of nothing this member remembers sending dates from the zero
	// time, which is never fresh.
	at, _ := m.beat.echoed(echo)
	if !at.After(m.beat.freshAt) {
		m.counters.StaleBeats++
		return
	}
	m.beat.freshAt = at
	if m.beat.paused && m.now.Sub(at) < beatStale(len(cur.members)) {
		m.resume()
	}
}

// checkHeartbeat pauses a member whose freshest heartbeat is too old.
func (m *Member) checkHeartbeat() {
	if m.IsHost() || m.beat.paused {
		return
	}
	if m.now.Sub(m.beat.freshAt) >= beatStale(len(m.roster.members)) {
		// After the relay said the host left (AlertHostGone, already
		// shown), its silence is expected: the pause follows without a
		// second alarm.
		if !m.hostGone() {
			m.alert(AlertHostSilent, m.roster.members[m.roster.host].Session, "")
		}
		m.pause()
	}
}

// pause stops media: the media engine drops its send key, and no key is
// handed to it until a fresh heartbeat for the held roster arrives. The
// key schedule goes on, so resuming loses no frame.
func (m *Member) pause() {
	if m.beat.paused {
		return
	}
	m.beat.paused = true
	m.counters.Paused++
	m.emit(StopSending{})
}

// resume hands the media engine the current send key again. Its epoch is
// the roster this member holds, which the fresh heartbeat just confirmed
// is the host's: nobody the roster does not list has it.
func (m *Member) resume() {
	if m.beat.behind > m.roster.epoch {
		return
	}
	m.beat.paused = false
	if e, ok := m.keys.resend(); ok {
		m.emit(e)
	}
}

// startRemoval records that the roster just applied removed someone (host).
func (m *Member) startRemoval() {
	m.beat.removal = m.roster.epoch
	m.beat.pending = nil
	m.updateRemoval()
}

// updateRemoval reports the members still without a key of the removal's
// epoch, and the end of the removal (host).
func (m *Member) updateRemoval() {
	if m.beat.removal == 0 {
		return
	}
	var pending []SessionID
	for _, mk := range m.peerOrder() {
		// A key counts as current only for the current epoch (§6.6), which
		// is the removal's or a later one.
		if _, has := m.keys.current(mk); !has {
			pending = append(pending, m.peers[mk].Session)
		}
	}
	if len(pending) > 0 && slices.Equal(pending, m.beat.pending) {
		return
	}
	m.beat.pending = pending
	m.emit(RemovalPending{Epoch: m.beat.removal, Members: slices.Clone(pending)})
	if len(pending) == 0 {
		m.beat.removal = 0
	}
}

// PendingRemoval returns, on the host, the remaining members that have not
// yet sent a key of the epoch that removed someone (empty when none).
func (m *Member) PendingRemoval() []SessionID { return slices.Clone(m.beat.pending) }

// Paused reports whether this member stopped sending media for a stale
// or withheld heartbeat.
func (m *Member) Paused() bool { return m.beat.paused }
