package meeting

// The signed roster and its rules (docs/PROTOCOL.md §6.4). The byte layout
// is internal/format; signing, hashing and lineage are here.

import (
	"bytes"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

const (
	// MaxMembers bounds a roster (the KID gives the member index 8 bits).
	MaxMembers = format.MaxMembers
	// MaxNameChars bounds a display name in characters (code points);
	// MaxNameBytes in bytes of UTF-8 (§6.3).
	MaxNameChars = format.MaxNameChars
	MaxNameBytes = format.MaxNameBytes
	// hashSize is a roster hash (SHA-256).
	hashSize = format.HashSize
)

// Signer is the private identity the core signs with (identity.Identity).
type Signer interface {
	Public() identity.Public
	Sign(msg []byte) []byte
}

// rosterMember is one roster entry.
type rosterMember = format.Member

// hostCert hands the host role to Host from epoch Epoch on; it is signed by
// the previous host (§6.4).
type hostCert = format.HostCert

// roster is a decoded, signed roster.
type roster struct {
	meetingID MeetingID
	epoch     uint64
	prev      [hashSize]byte
	host      int
	members   []rosterMember
	origin    identity.Public // H_0, whose fingerprint is in the link
	certs     []hostCert
	sig       []byte

	body []byte // encoding without the signature
	hash [hashSize]byte
}

func validName(s string) bool { return format.ValidName(s) }

// ValidName reports whether s is a display name the protocol carries:
// 1–64 characters, at most 255 bytes of UTF-8, no control characters
// (docs/PROTOCOL.md §6.3). Check a name with it where the user enters it.
func ValidName(s string) bool { return validName(s) }

// signHostCert makes the certificate by which s hands the host role to host.
func signHostCert(s Signer, meetingID MeetingID, epoch uint64, host identity.Public) hostCert {
	return hostCert{Epoch: epoch, Host: host, Sig: s.Sign(format.HostCertMessage(meetingID, epoch, host))}
}

// sign encodes r, signs it with s and fills body, sig and hash.
func (r *roster) sign(s Signer) []byte {
	w := format.Roster{MeetingID: r.meetingID, Epoch: r.epoch, Prev: r.prev, Host: r.host, Members: r.members, Origin: r.origin, Certs: r.certs}
	r.body = w.AppendBody(nil)
	r.sig = s.Sign(format.RosterMessage(r.body))
	r.hash = format.RosterHash(r.body)
	return r.encoded()
}

func (r *roster) encoded() []byte {
	return append(bytes.Clone(r.body), r.sig...)
}

// parseRoster decodes a roster and checks its structure and its signature
// against its own host entry. Lineage and chain rules are checked by the
// caller (§6.4).
func parseRoster(b []byte, meetingID MeetingID) (*roster, error) {
	w, body, sig, err := format.ParseRoster(b, meetingID)
	if err != nil {
		return nil, err
	}
	r := &roster{meetingID: w.MeetingID, epoch: w.Epoch, prev: w.Prev, host: w.Host, members: w.Members, origin: w.Origin, certs: w.Certs, sig: sig, body: body}
	if !r.members[r.host].Identity.Verify(format.RosterMessage(r.body), r.sig) {
		return nil, errAuth
	}
	r.hash = format.RosterHash(r.body)
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
		if !signer.Verify(format.HostCertMessage(r.meetingID, c.Epoch, c.Host), c.Sig) {
			return false
		}
		signer, last = c.Host, c.Epoch
	}
	return signer.Equal(r.members[r.host].Identity)
}
