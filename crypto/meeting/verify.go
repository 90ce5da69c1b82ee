package meeting

// Verification: contacts and pairwise safety numbers (docs/PROTOCOL.md §6.7).

import (
	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/safety"
)

// observe consults the contacts store, raising the key-changed alert.
//
// The store remembers what it was told, so asking it again about the same
// key (the host asks when the joiner knocks and again when it becomes a
// member, or when it knocks again) would answer "known" where the first
// answer was "new" or "key changed". So the first answer for an identity
// holds for the whole meeting, with one exception: a key the user marked
// verified since (the store's record says so; a lookup, not a second
// Observe) is verified from then on.
func (m *Member) observe(name string, pub identity.Public, sid SessionID) identity.Status {
	if m.cfg.Contacts == nil {
		return 0
	}
	fp := pub.Fingerprint()
	st, ok := m.contactSeen[fp]
	switch {
	case !ok:
		var err error
		if st, err = m.cfg.Contacts.Observe(name, pub); err != nil {
			return 0
		}
		if len(m.contactSeen) < 4*MaxMembers {
			m.contactSeen[fp] = st
		}
	case st != identity.StatusVerified && m.verifiedSince(pub):
		st = identity.StatusVerified
		m.contactSeen[fp] = st
	}
	if st == identity.StatusKeyChanged {
		m.alert(AlertKeyChanged, sid, name)
	}
	return st
}

// verifiedSince reports whether the contacts store's record of pub is
// marked verified, for a store that can be looked up without observing.
func (m *Member) verifiedSince(pub identity.Public) bool {
	l, ok := m.cfg.Contacts.(ContactLookup)
	if !ok {
		return false
	}
	c, found := l.Get(pub)
	return found && c.Verified
}

// checkContacts consults the contacts store for members not yet checked.
// It runs from Tick, after a roster change's keys went out: the store
// writes to disk, which must not delay a key rotation.
func (m *Member) checkContacts() {
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		if p.checked {
			continue
		}
		p.checked = true
		p.contact = m.observe(p.Name, p.Identity, p.Session)
		if p.contact != 0 {
			m.emit(ContactChecked{Session: p.Session, Status: p.contact})
		}
	}
}

// SafetyNumber returns the pairwise safety number (§2) with pub, formatted
// in groups. It costs thousands of hash rounds the first time for each
// identity, so the core never computes it on the protocol's hot path; views
// show it once it was asked for.
func (m *Member) SafetyNumber(pub identity.Public) string {
	fp := pub.Fingerprint()
	if sn, ok := m.safetyCache[fp]; ok {
		return sn
	}
	var sn string
	if m.cfg.SafetyNumber != nil {
		sn = m.cfg.SafetyNumber(m.self, pub)
	} else {
		sn = safety.Format(safety.Number(m.self.SafetyKey(), nil, pub.SafetyKey(), nil))
	}
	if len(m.safetyCache) < 4*MaxMembers {
		m.safetyCache[fp] = sn
	}
	return sn
}
