package format

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
	"unicode"
	"unicode/utf8"

	"github.com/sottohq/sotto/crypto/identity"
)

const (
	// RosterVersion is the first byte of an encoded roster.
	RosterVersion = 0x01
	// MaxMembers bounds a roster (the KID gives the member index 8 bits).
	MaxMembers = 128
	// MaxCerts bounds the host lineage (hand-overs in one meeting).
	MaxCerts = 16
	// MaxNameChars bounds a display name in characters (Unicode code
	// points), what its user sees.
	MaxNameChars = 64
	// MaxNameBytes bounds a display name in bytes of UTF-8: its length is
	// one byte on the wire (u8 nameLen). Only names of 64 characters
	// outside the Basic Multilingual Plane reach it.
	MaxNameBytes = 255
	// HashSize is a roster hash (SHA-256).
	HashSize = sha256.Size
	// CertSize is an encoded host certificate: epoch, Pub and signature.
	CertSize = 8 + identity.PublicSize + SigSize

	// LabelRoster prefixes what the roster signature covers.
	LabelRoster = "sotto meeting v1 roster"
	// LabelRosterHash prefixes what the roster hash covers.
	LabelRosterHash = "sotto meeting v1 roster hash"
	// LabelHostCert prefixes what a host certificate signature covers.
	LabelHostCert = "sotto meeting v1 host"
)

// Member is one roster entry.
type Member struct {
	Session   [SIDSize]byte
	Identity  identity.Public
	MemberKey [KeySize]byte
	Name      string
}

// HostCert hands the host role to Host from epoch Epoch on; it is signed by
// the previous host (§6.4).
type HostCert struct {
	Epoch uint64
	Host  identity.Public
	Sig   []byte
}

// Roster is a roster without its signature.
type Roster struct {
	MeetingID [MeetingIDSize]byte
	Epoch     uint64
	Prev      [HashSize]byte
	Host      int
	Members   []Member
	Origin    identity.Public // H_0, whose fingerprint is in the link
	Certs     []HostCert
}

// ValidName reports whether a display name is 1–64 characters of UTF-8,
// at most 255 bytes, without control characters (§6.3).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameBytes || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameChars {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// HostCertMessage is what a host certificate signature covers (§6.4).
func HostCertMessage(meetingID [MeetingIDSize]byte, epoch uint64, host identity.Public) []byte {
	m := append([]byte(LabelHostCert), meetingID[:]...)
	m = binary.BigEndian.AppendUint64(m, epoch)
	return append(m, host.Marshal()...)
}

// AppendCert appends an encoded host certificate.
func AppendCert(b []byte, c HostCert) []byte {
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = append(b, c.Host.Marshal()...)
	return append(b, c.Sig...)
}

// AppendBody appends the encoding of r: every roster byte before the
// signature.
func (r *Roster) AppendBody(b []byte) []byte {
	b = append(b, RosterVersion)
	b = append(b, r.MeetingID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = append(b, r.Prev[:]...)
	b = append(b, byte(r.Host), byte(len(r.Members)))
	for _, m := range r.Members {
		b = append(b, m.Session[:]...)
		b = append(b, m.Identity.Marshal()...)
		b = append(b, m.MemberKey[:]...)
		b = append(b, byte(len(m.Name)))
		b = append(b, m.Name...)
	}
	b = append(b, r.Origin.Marshal()...)
	b = append(b, byte(len(r.Certs)))
	for _, c := range r.Certs {
		b = AppendCert(b, c)
	}
	return b
}

// RosterMessage is what the roster signature covers: the label and the
// body.
func RosterMessage(body []byte) []byte {
	return append([]byte(LabelRoster), body...)
}

// RosterHash is the hash the next roster chains to (§6.4).
func RosterHash(body []byte) [HashSize]byte {
	h := sha256.New()
	h.Write([]byte(LabelRosterHash))
	h.Write(body)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// ParseRoster decodes a signed roster of meeting meetingID and checks its
// structure: 1 ≤ n ≤ MaxMembers, a host index naming a member, a non-zero
// epoch, valid names, non-zero and unique sids, unique member keys and
// identities, at most MaxCerts certificates and no trailing bytes. It
// returns the body (a copy) and the signature (a copy), which the caller
// verifies.
func ParseRoster(b []byte, meetingID [MeetingIDSize]byte) (r Roster, body, sig []byte, err error) {
	if len(b) < SigSize {
		return r, nil, nil, ErrMalformed
	}
	rd := &reader{b: b[:len(b)-SigSize]}
	if rd.u8() != RosterVersion {
		return r, nil, nil, ErrMalformed
	}
	copy(r.MeetingID[:], rd.take(MeetingIDSize))
	r.Epoch = rd.u64()
	copy(r.Prev[:], rd.take(HashSize))
	r.Host = rd.u8()
	n := rd.u8()
	if rd.bad || n < 1 || n > MaxMembers || r.Host >= n || r.MeetingID != meetingID || r.Epoch == 0 {
		return r, nil, nil, ErrMalformed
	}
	sids := make(map[[SIDSize]byte]bool, n)
	keys := make(map[[KeySize]byte]bool, n)
	ids := make(map[[identity.FingerprintSize]byte]bool, n)
	for range n {
		var m Member
		copy(m.Session[:], rd.take(SIDSize))
		m.Identity = rd.public()
		copy(m.MemberKey[:], rd.take(KeySize))
		m.Name = string(rd.take(rd.u8()))
		if rd.bad || !ValidName(m.Name) || m.Session == [SIDSize]byte{} {
			return r, nil, nil, ErrMalformed
		}
		fp := m.Identity.Fingerprint()
		if sids[m.Session] || keys[m.MemberKey] || ids[fp] {
			return r, nil, nil, ErrMalformed
		}
		sids[m.Session], keys[m.MemberKey], ids[fp] = true, true, true
		r.Members = append(r.Members, m)
	}
	r.Origin = rd.public()
	c := rd.u8()
	if c > MaxCerts {
		return r, nil, nil, ErrMalformed
	}
	for range c {
		r.Certs = append(r.Certs, rd.cert())
	}
	if rd.bad || len(rd.b) != 0 {
		return r, nil, nil, ErrMalformed
	}
	return r, bytes.Clone(b[:len(b)-SigSize]), bytes.Clone(b[len(b)-SigSize:]), nil
}
