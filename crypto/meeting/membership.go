package meeting

// Roster updates, their acceptance rules and their application
// (docs/PROTOCOL.md §6.4).

import (
	"bytes"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// onWelcome handles a roster or deny addressed to a waiting joiner.
func (m *Member) onWelcome(from SessionID, h format.Header, in format.Inner) {
	switch in.Kind {
	case format.KindRoster:
		r, err := parseRoster(in.Body, m.cfg.MeetingID)
		if err != nil || !r.verifyLineage(m.hostFP) {
			m.counters.RosterRejected++
			m.alert(AlertRosterRejected, from, "")
			return
		}
		host := r.members[r.host]
		if host.MemberKey != h.Sender || host.Session != from || !verifyInner(in, host.Identity, m.cfg.MeetingID, h.Sender, m.mk) {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
		me := m.selfEntry()
		found := false
		for _, e := range r.members {
			if e.MemberKey == m.mk {
				found = e.Session == me.Session && e.Identity.Equal(me.Identity) && e.Name == me.Name
			}
		}
		if !found {
			m.counters.RosterRejected++
			m.alert(AlertRosterRejected, from, "")
			return
		}
		m.window(h.Sender).Accept(in.Seq)
		m.state = StateMember
		m.beat.freshAt = m.now // the first heartbeat follows (§6.4)
		m.helloMsg = nil
		m.emit(Admitted{Epoch: r.epoch})
		m.applyRoster(r, false)
		if p := m.peers[h.Sender]; p != nil {
			m.sendAck(p, in.Seq)
		}
	case format.KindDeny:
		signer, origin, certs, err := format.ParseDeny(in.Body)
		if err != nil {
			m.counters.Malformed++
			return
		}
		// A roster of the signer alone, at an epoch no certificate can
		// exceed, checks the deny's lineage by the roster rules.
		r := &roster{meetingID: m.cfg.MeetingID, epoch: ^uint64(0), origin: origin, certs: certs}
		r.members, r.host = []rosterMember{{Identity: signer}}, 0
		if !r.verifyLineage(m.hostFP) || !verifyInner(in, signer, m.cfg.MeetingID, h.Sender, m.mk) {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
		m.state = StateDenied
		m.wipe()
		m.emit(Denied{})
	}
}

// onRosterUpdate applies §6.4 "Accepting a roster update".
func (m *Member) onRosterUpdate(p *peer, in format.Inner) bool {
	r, err := parseRoster(in.Body, m.cfg.MeetingID)
	if err != nil {
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return true
	}
	cur := m.roster
	switch {
	case r.epoch <= cur.epoch:
		m.counters.Stale++
		return true
	case r.epoch > cur.epoch+1:
		return false
	}
	if !m.acceptable(cur, r, p) {
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return true
	}
	m.applyRoster(r, false)
	return true
}

// acceptable checks rules 1–4 of §6.4 for r following cur, sent by p.
//
// The lineage check makes r's origin cur's (both have the link's
// fingerprint), and every certificate signed by its predecessor; with the
// prefix rule below, a hand-over's new certificate is therefore signed by
// cur's host and names r's host. What is left to check here is that r
// keeps cur's certificates and, for a hand-over, adds one for this epoch.
func (m *Member) acceptable(cur, r *roster, p *peer) bool {
	if r.prev != cur.hash || !r.verifyLineage(m.hostFP) {
		return false
	}
	newHost := r.members[r.host]
	if newHost.MemberKey != p.MemberKey {
		return false
	}
	curHost := cur.members[cur.host].Identity
	prefix := func(n int) bool {
		if len(r.certs) != n {
			return false
		}
		for i := range cur.certs {
			if !bytes.Equal(cur.certs[i].Sig, r.certs[i].Sig) {
				return false
			}
		}
		return true
	}
	if newHost.Identity.Equal(curHost) {
		return prefix(len(cur.certs))
	}
	if !prefix(len(cur.certs) + 1) {
		return false
	}
	return r.certs[len(r.certs)-1].Epoch == r.epoch
}

// applyRoster installs r (already verified) and starts the new epoch's key
// schedule (§6.6). With send set, r is first sent to every other member.
func (m *Member) applyRoster(r *roster, send bool) {
	self := -1
	for i, e := range r.members {
		if e.MemberKey == m.mk {
			self = i
		}
	}
	if self < 0 {
		m.state = StateRemoved
		m.wipe()
		m.emit(Removed{})
		return
	}
	wasHost := m.IsHost()
	peers := make(map[MemberKey]*peer, len(r.members))
	for i, e := range r.members {
		m.seen[e.MemberKey] = true
		if i == self {
			continue
		}
		p := m.peers[e.MemberKey]
		if p == nil {
			var err error
			p = &peer{}
			p.send, err = deriveAEAD(&m.mkPriv, e.MemberKey, m.cfg.MeetingID, format.LabelPairwise, m.mk, e.MemberKey)
			if err == nil {
				p.recv, err = deriveAEAD(&m.mkPriv, e.MemberKey, m.cfg.MeetingID, format.LabelPairwise, e.MemberKey, m.mk)
			}
			if err != nil {
				// A low-order member key: the host admitted garbage. Nobody
				// can talk to it; leave it out of the key schedule.
				m.counters.RosterRejected++
				m.alert(AlertRosterRejected, e.Session, "")
				continue
			}
			p.checked = m.cfg.Contacts == nil
			p.heardAt = m.now
		}
		if p.Session != e.Session {
			p.gone = false // the member is back under a new session
		}
		p.rosterMember, p.index = e, i
		m.keys.retire(e.MemberKey, m.now)
		p.warned = false
		peers[e.MemberKey] = p
	}
	var enc []byte
	if send {
		enc = r.encoded()
	}
	departed := false
	for _, mk := range m.peerOrder() {
		if p := m.peers[mk]; peers[mk] == nil {
			departed = true
			if send {
				// Tell a removed member once, so it knows to stop (§6.4);
				// it is not re-sent: nothing else goes to it any more.
				m.sendOnce(p, format.KindRoster, enc)
			}
			m.dropPeer(p)
		}
	}
	m.peers = peers
	m.roster, m.selfIndex, m.rosterAt = r, self, m.now
	m.code = securityCode(r.meetingID, r.epoch, r.hash)
	m.waiting.admitted(r.members)
	if r.host != self && m.invitePriv != nil {
		clear(m.invitePriv[:])
		m.invitePriv = nil
		m.waiting.close()
	}
	if send {
		for _, mk := range m.peerOrder() {
			m.sendReliable(m.peers[mk], format.KindRoster, enc)
		}
	}
	m.emit(RosterChanged{Roster: m.Roster()})
	timeout := SwitchTimeout
	if !departed {
		// Nobody left: the previous key stays safe to use, so wait longer
		// for acknowledgements before switching and losing frames.
		timeout = JoinSwitchTimeout
	}
	if m.beat.behind <= r.epoch {
		m.beat.behind = 0
	}
	if wasHost && !m.IsHost() {
		m.beat.freshAt = m.now // heartbeats start now (§6.4)
	}
	m.rekey(0, timeout)
	m.updateMissing()
	if !wasHost && m.IsHost() && r.epoch > 1 {
		m.emit(BecameHost{})
	}
	if m.IsHost() {
		if m.beat.paused {
			m.resume() // the host's own roster is fresh
		}
		if send && departed {
			m.startRemoval()
		} else {
			m.updateRemoval()
		}
	}
	m.reprocessHeld()
}

// peerOrder lists peers in roster order (deterministic output).
func (m *Member) peerOrder() []MemberKey {
	out := make([]MemberKey, 0, len(m.peers))
	if m.roster == nil {
		return out
	}
	for _, e := range m.roster.members {
		if m.peers[e.MemberKey] != nil {
			out = append(out, e.MemberKey)
		}
	}
	return out
}

// dropPeer forgets a departed member: its receive keys go at once, and
// nothing more is sent to it.
func (m *Member) dropPeer(p *peer) {
	for _, kid := range m.keys.dropSender(p.MemberKey) {
		m.emit(DropReceiveKey{KID: kid})
	}
	m.outbox.dropRecipient(p.MemberKey)
	delete(m.windows, p.MemberKey)
	delete(m.beat.heard, p.MemberKey)
}

// wipe zeroes and drops all secrets of this member.
func (m *Member) wipe() {
	for _, p := range m.peers {
		m.dropPeer(p)
	}
	if m.keys.stopSending() {
		m.emit(StopSending{})
	}
	m.peers = map[MemberKey]*peer{}
	clear(m.mkPriv[:])
	if m.invitePriv != nil {
		clear(m.invitePriv[:])
		m.invitePriv = nil
	}
	m.outbox.reset()
	m.held.take()
	m.waiting.close()
}

// publish signs a roster following the current one with the given members,
// host and certificates, installs it and sends it to everyone in it.
func (m *Member) publish(members []rosterMember, host int, certs []hostCert) {
	cur := m.roster
	r := &roster{
		meetingID: cur.meetingID,
		epoch:     cur.epoch + 1,
		prev:      cur.hash,
		host:      host,
		members:   members,
		origin:    cur.origin,
		certs:     certs,
	}
	r.sign(m.cfg.Identity)
	m.applyRoster(r, true)
}
