package meeting

// Roster format, docs/PROTOCOL.md §6.4:
//
//	version (1) ‖ meeting ID (16) ‖ u64 epoch ‖ prev hash (32) ‖ u8 host index ‖
//	u8 n ‖ n × (sid (16) ‖ Pub (129) ‖ M (32) ‖ u8 nameLen ‖ name) ‖
//	origin Pub (129) ‖ u8 c ‖ c × (u64 epoch ‖ Pub (129) ‖ signature (64)) ‖
//	signature (64)

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"unicode"
	"unicode/utf8"

	"github.com/sottohq/sotto/crypto/identity"
)

const (
	// rosterVersion is the first byte of an encoded roster.
	rosterVersion = 0x01
	// MaxMembers bounds a roster (the KID gives the member index 8 bits).
	MaxMembers = 128
	// maxCerts bounds the host lineage (hand-overs in one meeting).
	maxCerts = 16
	// MaxNameLen bounds a display name, in bytes of UTF-8.
	MaxNameLen = 64
	// hashSize is a roster hash (SHA-256).
	hashSize = sha256.Size

	// labelRoster prefixes what the roster signature covers.
	labelRoster = "sotto meeting v1 roster"
	// labelRosterHash prefixes what the roster hash covers.
	labelRosterHash = "sotto meeting v1 roster hash"
	// labelHostCert prefixes what a host certificate signature covers.
	labelHostCert = "sotto meeting v1 host"
)

var errRoster = errors.New("meeting: roster rejected")

// Signer is the private identity the core signs with (identity.Identity).
type Signer interface {
	Public() identity.Public
	Sign(msg []byte) []byte
}

// RosterMember is one roster entry.
type RosterMember struct {
	Session   SessionID
	Identity  identity.Public
	MemberKey MemberKey
	Name      string
}

// hostCert hands the host role to Host from epoch Epoch on; it is signed by
// the previous host (§6.4).
type hostCert struct {
	Epoch uint64
	Host  identity.Public
	Sig   []byte
}

// roster is a decoded, signed roster.
type roster struct {
	meetingID MeetingID
	epoch     uint64
	prev      [hashSize]byte
	host      int
	members   []RosterMember
	origin    identity.Public // H_0, whose fingerprint is in the link
	certs     []hostCert
	sig       []byte

	body []byte // encoding without the signature
	hash [hashSize]byte
}

// validName reports whether a display name is 1–64 bytes of UTF-8 without
// control characters (§6.3).
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func hostCertMessage(meetingID MeetingID, epoch uint64, host identity.Public) []byte {
	m := append([]byte(labelHostCert), meetingID[:]...)
	m = binary.BigEndian.AppendUint64(m, epoch)
	return append(m, host.Marshal()...)
}

// signHostCert makes the certificate by which s hands the host role to host.
func signHostCert(s Signer, meetingID MeetingID, epoch uint64, host identity.Public) hostCert {
	return hostCert{Epoch: epoch, Host: host, Sig: s.Sign(hostCertMessage(meetingID, epoch, host))}
}

func appendCert(b []byte, c hostCert) []byte {
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = append(b, c.Host.Marshal()...)
	return append(b, c.Sig...)
}

// encodeBody encodes everything but the signature.
func (r *roster) encodeBody() []byte {
	var b []byte
	b = append(b, rosterVersion)
	b = append(b, r.meetingID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.epoch)
	b = append(b, r.prev[:]...)
	b = append(b, byte(r.host), byte(len(r.members)))
	for _, m := range r.members {
		b = append(b, m.Session[:]...)
		b = append(b, m.Identity.Marshal()...)
		b = append(b, m.MemberKey[:]...)
		b = append(b, byte(len(m.Name)))
		b = append(b, m.Name...)
	}
	b = append(b, r.origin.Marshal()...)
	b = append(b, byte(len(r.certs)))
	for _, c := range r.certs {
		b = appendCert(b, c)
	}
	return b
}

// sign encodes r, signs it with s and fills body, sig and hash.
func (r *roster) sign(s Signer) []byte {
	r.body = r.encodeBody()
	r.sig = s.Sign(append([]byte(labelRoster), r.body...))
	r.hash = rosterHash(r.body)
	return r.encoded()
}

func (r *roster) encoded() []byte {
	return append(bytes.Clone(r.body), r.sig...)
}

func rosterHash(body []byte) [hashSize]byte {
	h := sha256.New()
	h.Write([]byte(labelRosterHash))
	h.Write(body)
	var out [hashSize]byte
	h.Sum(out[:0])
	return out
}

// reader is a bounds-checked cursor over untrusted bytes.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int     { return int(r.take(1)[0]) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

func (r *reader) public() identity.Public {
	p, err := identity.ParsePublic(r.take(identity.PublicSize))
	if err != nil {
		r.bad = true
	}
	return p
}

func (r *reader) cert() hostCert {
	var c hostCert
	c.Epoch = r.u64()
	c.Host = r.public()
	c.Sig = bytes.Clone(r.take(sigSize))
	return c
}

// parseRoster decodes a roster and checks its structure and signature
// against its own host entry. Lineage and chain rules are checked by the
// caller (§6.4).
func parseRoster(b []byte, meetingID MeetingID) (*roster, error) {
	if len(b) < sigSize {
		return nil, errRoster
	}
	rd := &reader{b: b[:len(b)-sigSize]}
	r := &roster{body: b[:len(b)-sigSize], sig: bytes.Clone(b[len(b)-sigSize:])}
	if rd.u8() != rosterVersion {
		return nil, errRoster
	}
	copy(r.meetingID[:], rd.take(16))
	r.epoch = rd.u64()
	copy(r.prev[:], rd.take(hashSize))
	r.host = rd.u8()
	n := rd.u8()
	if rd.bad || n < 1 || n > MaxMembers || r.host >= n || r.meetingID != meetingID || r.epoch == 0 {
		return nil, errRoster
	}
	sids := make(map[SessionID]bool, n)
	keys := make(map[MemberKey]bool, n)
	ids := make(map[[identity.FingerprintSize]byte]bool, n)
	for range n {
		var m RosterMember
		copy(m.Session[:], rd.take(sidSize))
		m.Identity = rd.public()
		copy(m.MemberKey[:], rd.take(keySize))
		m.Name = string(rd.take(rd.u8()))
		if rd.bad || !validName(m.Name) || m.Session.IsZero() {
			return nil, errRoster
		}
		fp := m.Identity.Fingerprint()
		if sids[m.Session] || keys[m.MemberKey] || ids[fp] {
			return nil, errRoster
		}
		sids[m.Session], keys[m.MemberKey], ids[fp] = true, true, true
		r.members = append(r.members, m)
	}
	r.origin = rd.public()
	c := rd.u8()
	if c > maxCerts {
		return nil, errRoster
	}
	for range c {
		r.certs = append(r.certs, rd.cert())
	}
	if rd.bad || len(rd.b) != 0 {
		return nil, errRoster
	}
	r.body = bytes.Clone(r.body)
	if !r.members[r.host].Identity.Verify(append([]byte(labelRoster), r.body...), r.sig) {
		return nil, errAuth
	}
	r.hash = rosterHash(r.body)
	return r, nil
}

// verifyLineage checks the host lineage from the link's host fingerprint to
// the roster's host (§6.4 "Host lineage"): the origin host H_0 matches the
// fingerprint, certificate i is signed by H_{i-1} with strictly increasing
// epochs, and the roster's host is H_c.
func (r *roster) verifyLineage(hostFP [identity.FingerprintSize]byte) bool {
	if r.origin.Fingerprint() != hostFP {
		return false
	}
	signer := r.origin
	var last uint64
	for i, c := range r.certs {
		if (i > 0 && c.Epoch <= last) || c.Epoch > r.epoch {
			return false
		}
		if !signer.Verify(hostCertMessage(r.meetingID, c.Epoch, c.Host), c.Sig) {
			return false
		}
		signer, last = c.Host, c.Epoch
	}
	return signer.Equal(r.members[r.host].Identity)
}
