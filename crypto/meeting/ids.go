package meeting

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// MeetingID is the random 16-byte meeting identifier the relay knows the
// meeting by (§6.1). On the relay and in links it is 32 lower-case hex digits.
type MeetingID [16]byte

// SessionID is a relay session ID in raw form. The relay writes it as 32
// lower-case hex digits.
type SessionID [format.SIDSize]byte

// ErrBadID reports a meeting or session ID that is not 32 lower-case hex digits.
var ErrBadID = errors.New("meeting: id is not 32 lower-case hex digits")

// NewMeetingID draws a random meeting ID from r.
func NewMeetingID(r io.Reader) (MeetingID, error) {
	var id MeetingID
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return id, fmt.Errorf("meeting: new meeting id: %w", err)
	}
	return id, nil
}

func parseHex16(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 32 {
		return b, ErrBadID
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return b, ErrBadID
		}
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return b, ErrBadID
	}
	return b, nil
}

// ParseMeetingID parses 32 lower-case hex digits.
func ParseMeetingID(s string) (MeetingID, error) {
	b, err := parseHex16(s)
	return MeetingID(b), err
}

// ParseSessionID parses a relay session ID (32 lower-case hex digits).
func ParseSessionID(s string) (SessionID, error) {
	b, err := parseHex16(s)
	return SessionID(b), err
}

// String returns the relay form: 32 lower-case hex digits.
func (id MeetingID) String() string { return hex.EncodeToString(id[:]) }

// String returns the relay form: 32 lower-case hex digits.
func (id SessionID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zero (no session).
func (id SessionID) IsZero() bool { return id == SessionID{} }
