// Package format is the byte layout of the meeting protocol
// (docs/PROTOCOL.md §6.3, §6.4): envelopes, their padded plaintext, inner
// messages and their bodies, and the signed roster.
//
// It only encodes and decodes. It holds no key, signs nothing and checks no
// signature: the state machine in crypto/meeting does that with what this
// package returns. Decoders take hostile input and check every length
// before reading; they return ErrMalformed and nothing else, so a caller
// cannot tell a short buffer from a bad field (and neither can a log). The
// one exception is ErrOldVersion, for the header of a protocol v1
// envelope, so that the user can be told the peer must update.
//
// IDs and keys are plain byte arrays here, so the meeting package's named
// types (MeetingID, SessionID, MemberKey) pass in and out without
// conversion.
package format

import "errors"

// ErrMalformed reports bytes that do not parse.
var ErrMalformed = errors.New("meeting: malformed message")

// ErrOldVersion reports an envelope of meeting protocol v1: its sender
// runs an older Sotto, which this one cannot talk to.
var ErrOldVersion = errors.New("meeting: the peer uses meeting protocol v1; it must update Sotto")
