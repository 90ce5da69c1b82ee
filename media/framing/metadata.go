// Package framing defines how Sotto maps encrypted media frames onto the
// wire: the SFrame metadata every frame is bound to (this file) and the RTP
// parameters both pipelines share (rtp.go). docs/PROTOCOL.md §5 is the
// normative description; this package is its only implementation.
package framing

import (
	"errors"
	"fmt"

	"github.com/sottohq/sotto/crypto/sframe"
)

// Suite is the SFrame cipher suite of all Sotto media (RFC 9605 §4.5):
// AES_128_GCM_SHA256_128.
const Suite = sframe.AES128GCMSHA256_128

// ReorderLimit is how far behind the newest frame of a sender (in SFrame
// counters, which audio and video share) a frame may arrive and still be
// opened: 256 frames is about 3 s at 50 audio and 30 video frames a
// second, beyond the 1 s a video frame may wait for its repair
// (docs/PROTOCOL.md §5.4). Older frames are dropped as replays, so a relay
// cannot hold media back and play it out of order later.
const ReorderLimit = 256

// Kind names the media carried by a track. It is bound into every frame's
// SFrame metadata so a relay cannot move an audio frame into a video track
// (or the reverse) without the receiver's authentication check failing.
type Kind uint8

const (
	// KindAudio is one Opus packet per frame.
	KindAudio Kind = 0x01
	// KindVideo is one whole VP8 frame per frame.
	KindVideo Kind = 0x02
)

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

const (
	// metadataLabel is the fixed domain-separation prefix of the metadata
	// (14 ASCII bytes, no terminator). A new label means a new framing.
	metadataLabel = "sotto media v1"
	// MaxMeetingIDLen bounds the meeting ID bound into the metadata so its
	// length fits the one-byte length field.
	MaxMeetingIDLen = 255
)

// ErrMeetingID reports a meeting ID that cannot be bound into the metadata.
var ErrMeetingID = errors.New("framing: meeting id must be 1 to 255 bytes")

// Metadata returns the SFrame metadata (RFC 9605 §4.4.3: authenticated, not
// sent) for every frame of one track kind in one meeting:
//
//	"sotto media v1" (14 bytes) ‖ len(meetingID) (1 byte) ‖ meetingID ‖ kind (1 byte)
//
// It depends only on what the receiver knows before decrypting, and is
// constant for the life of a track: callers compute it once, so sealing and
// opening a frame allocates nothing for it. The publisher's relay session
// ID is deliberately absent: the relay chooses it, so binding it would
// prove nothing about the sender (the KID and its key do that).
func Metadata(meetingID string, kind Kind) ([]byte, error) {
	if len(meetingID) == 0 || len(meetingID) > MaxMeetingIDLen {
		return nil, ErrMeetingID
	}
	if kind != KindAudio && kind != KindVideo {
		return nil, fmt.Errorf("framing: unknown media kind %d", uint8(kind))
	}
	md := make([]byte, 0, len(metadataLabel)+1+len(meetingID)+1)
	md = append(md, metadataLabel...)
	md = append(md, byte(len(meetingID)))
	md = append(md, meetingID...)
	md = append(md, byte(kind))
	return md, nil
}
