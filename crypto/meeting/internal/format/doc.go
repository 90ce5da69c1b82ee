// Package format is the byte layout of the meeting protocol
// (docs/PROTOCOL.md §6.3, §6.4): envelopes, their padded plaintext, inner
// messages and their bodies, and the signed roster.
//
// It only encodes and decodes. It holds no key, signs nothing and checks no
// signature: the state machine in crypto/meeting does that with what this
// package returns. Decoders take hostile input and check every length
// before reading; they return ErrMalformed and nothing else, so a caller
// cannot tell a short buffer from a bad field (and neither can a log).
//
// IDs and keys are plain byte arrays here, so the meeting package's named
// types (MeetingID, SessionID, MemberKey) pass in and out without
// conversion.
package format

import "errors"

// ErrMalformed reports bytes that do not parse.
var ErrMalformed = errors.New("meeting: malformed message")
