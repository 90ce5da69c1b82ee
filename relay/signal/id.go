package signal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// ID is a meeting or session identifier: IDBytes random bytes, written on
// the wire as IDLen lowercase hex digits (docs/PROTOCOL.md §4.1).
//
// The zero ID means "no ID". NewID never returns it and ParseID rejects
// its hex form, so a zero ID in a decoded message always means the field
// was absent or empty: an envelope without "to" (for every other session)
// or without "from" (from a client). Fields that may be absent are
// omitted when zero; required fields holding the zero ID fail Validate.
type ID [IDBytes]byte

// errID is the error of a malformed identifier. It carries no part of the
// input: identifiers of meetings are secrets of sorts (knowing one is
// enough to enter the meeting on that relay).
var errID = errors.New("signal: invalid id")

// NewID returns a fresh random, non-zero identifier.
func NewID() ID {
	for {
		var id ID
		if _, err := rand.Read(id[:]); err != nil {
			panic("signal: no randomness: " + err.Error())
		}
		if !id.IsZero() {
			return id
		}
	}
}

// ParseID parses the wire form of an identifier: exactly IDLen lowercase
// hex digits, not all zero.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != IDLen {
		return id, errID
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return id, errID
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || id.IsZero() {
		return ID{}, errID
	}
	return id, nil
}

// String returns the wire form: IDLen lowercase hex digits, or "" for the
// zero ID (as an absent identifier was written before IDs were typed).
func (id ID) String() string {
	if id.IsZero() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// IsZero reports whether id is the zero ID ("no ID").
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText returns the wire form (see String).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the wire form. The empty string is the zero ID, as
// `"to":""` in an envelope has always meant every other session; anything
// else must satisfy ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
