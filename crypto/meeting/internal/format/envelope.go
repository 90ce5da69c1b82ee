package format

// Envelope formats, docs/PROTOCOL.md §6.3:
//
//	hello  = version ‖ TypeHello  ‖ M_J (32) ‖ nonce (24) ‖ AEAD(K_hello, plaintext)
//	sealed = version ‖ TypeSealed ‖ M_S (32) ‖ M_R (32) ‖ nonce (24) ‖ AEAD(K_{S→R}, plaintext)
//	plaintext = u16 L ‖ inner (L) ‖ zero padding to a multiple of PadBlock
//	inner  = kind ‖ sender sid (16) ‖ recipient sid (16) ‖ u64 seq ‖ body ‖ signature (64)

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// Version is the first byte of every envelope: meeting protocol v2
	// (docs/PROTOCOL.md §6.3), which added the Heartbeat.
	Version = 0x02
	// VersionV1 is the first byte of the previous protocol's envelopes,
	// recognised only to tell the user a peer must update.
	VersionV1 = 0x01
	// TypeHello marks a joiner's hello, sealed to the invite key.
	TypeHello = 0x01
	// TypeSealed marks a pairwise sealed message between member keys.
	TypeSealed = 0x02

	// KeySize is the size of an X25519 public key or scalar (RFC 7748 §5)
	// and of every symmetric key of the protocol.
	KeySize = 32
	// NonceSize is the XChaCha20-Poly1305 nonce size.
	NonceSize = chacha20poly1305.NonceSizeX
	// TagSize is the Poly1305 tag size.
	TagSize = chacha20poly1305.Overhead
	// HelloHeaderSize is version, type, M_J and nonce.
	HelloHeaderSize = 2 + KeySize + NonceSize
	// SealedHeaderSize is version, type, M_S, M_R and nonce.
	SealedHeaderSize = 2 + 2*KeySize + NonceSize
	// PadBlock is the plaintext padding granularity: sizes seen by the
	// relay move in steps of this many bytes.
	PadBlock = 256
	// LenPrefixSize is the u16 inner length at the start of a plaintext.
	LenPrefixSize = 2

	// SIDSize is a relay session ID in raw form (the relay's 32 hex digits).
	SIDSize = 16
	// MeetingIDSize is a meeting ID in raw form.
	MeetingIDSize = 16
	// SeqSize is the u64 message counter.
	SeqSize = 8
	// InnerHeaderSize is kind, sender sid, recipient sid and seq.
	InnerHeaderSize = 1 + 2*SIDSize + SeqSize
	// SigSize is an Ed25519 signature (RFC 8032 §5.1.6).
	SigSize = ed25519.SignatureSize

	// MaxEnvelope bounds every envelope payload, below the relay's 64 KiB.
	MaxEnvelope = 60 << 10
	// MaxInner bounds an inner message so that its padded plaintext plus
	// header and tag stay within MaxEnvelope.
	MaxInner = MaxEnvelope - SealedHeaderSize - TagSize - LenPrefixSize - PadBlock

	// LabelHello is the HKDF info prefix of K_hello.
	LabelHello = "sotto meeting v1 hello"
	// LabelPairwise is the HKDF info prefix of K_{S→R}.
	LabelPairwise = "sotto meeting v1 pairwise"
	// LabelMessage prefixes what an inner signature covers.
	LabelMessage = "sotto meeting v1 message"
)

// Message kinds: the first byte of an inner message (§6.3 table).
const (
	KindHello     = 0x01 // joiner → host: HelloBody
	KindRoster    = 0x02 // host → member: a signed roster (§6.4)
	KindDeny      = 0x03 // host → joiner: DenyBody
	KindSenderKey = 0x04 // member → member: SenderKeyBody
	KindAck       = 0x05 // any: the u64 seq acknowledged
	KindChat      = 0x06 // member → member: ChatBody
	KindLobby     = 0x07 // host → members: LobbyBody
	KindHandOver  = 0x08 // host → new host: HandOverBody
	KindLeave     = 0x09 // member → host: empty
	KindHeartbeat = 0x0a // host → member: HeartbeatBody (§6.4)
)

// Header is the clear part of an envelope.
type Header struct {
	Type   byte
	Sender [KeySize]byte // M_J for a hello, M_S for a sealed envelope
	To     [KeySize]byte // M_R for a sealed envelope
}

// ParseHeader checks the clear header of an envelope: version, type, and a
// length that holds at least one padding block and a tag, at most
// MaxEnvelope.
func ParseHeader(p []byte) (Header, error) {
	var h Header
	if len(p) >= 2 && len(p) <= MaxEnvelope && p[0] == VersionV1 {
		return h, ErrOldVersion
	}
	if len(p) > MaxEnvelope || len(p) < 2 || p[0] != Version {
		return h, ErrMalformed
	}
	h.Type = p[1]
	switch h.Type {
	case TypeHello:
		if len(p) < HelloHeaderSize+PadBlock+TagSize {
			return h, ErrMalformed
		}
		copy(h.Sender[:], p[2:])
	case TypeSealed:
		if len(p) < SealedHeaderSize+PadBlock+TagSize {
			return h, ErrMalformed
		}
		copy(h.Sender[:], p[2:])
		copy(h.To[:], p[2+KeySize:])
	default:
		return h, ErrMalformed
	}
	return h, nil
}

// Pad builds the plaintext: u16 length ‖ inner ‖ zeros to a PadBlock
// multiple. The caller clears it once sealed when inner holds a secret.
func Pad(inner []byte) []byte {
	n := LenPrefixSize + len(inner)
	total := (n + PadBlock - 1) / PadBlock * PadBlock
	p := make([]byte, total)
	binary.BigEndian.PutUint16(p, uint16(len(inner)))
	copy(p[LenPrefixSize:], inner)
	return p
}

// Unpad reverses Pad, insisting on zero padding. The result aliases p.
func Unpad(p []byte) ([]byte, error) {
	if len(p) < LenPrefixSize || len(p)%PadBlock != 0 {
		return nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(p))
	if LenPrefixSize+n > len(p) {
		return nil, ErrMalformed
	}
	for _, b := range p[LenPrefixSize+n:] {
		if b != 0 {
			return nil, ErrMalformed
		}
	}
	return p[LenPrefixSize : LenPrefixSize+n], nil
}

// Inner is a decoded inner message. Body, Signed and Sig alias the bytes
// it was parsed from.
type Inner struct {
	Kind     byte
	From, To [SIDSize]byte
	Seq      uint64
	Body     []byte
	Signed   []byte // the bytes covered by the signature (everything but it)
	Sig      []byte
}

// AppendInner appends an inner message without its signature: the bytes
// MessageToSign covers. The caller appends the signature.
func AppendInner(b []byte, kind byte, from, to [SIDSize]byte, seq uint64, body []byte) []byte {
	b = append(b, kind)
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, body...)
}

// MessageToSign is "sotto meeting v1 message" ‖ meetingID ‖ M_S ‖ M_R ‖
// inner without its signature (§6.3): binding the meeting and both keys
// stops a message being moved to another meeting or member key.
func MessageToSign(meetingID [MeetingIDSize]byte, mS, mR [KeySize]byte, signed []byte) []byte {
	m := make([]byte, 0, len(LabelMessage)+MeetingIDSize+2*KeySize+len(signed))
	m = append(m, LabelMessage...)
	m = append(m, meetingID[:]...)
	m = append(m, mS[:]...)
	m = append(m, mR[:]...)
	return append(m, signed...)
}

// ParseInner splits an inner message; its signature is checked by the
// caller.
func ParseInner(b []byte) (Inner, error) {
	if len(b) < InnerHeaderSize+SigSize {
		return Inner{}, ErrMalformed
	}
	var in Inner
	in.Kind = b[0]
	copy(in.From[:], b[1:1+SIDSize])
	copy(in.To[:], b[1+SIDSize:1+2*SIDSize])
	in.Seq = binary.BigEndian.Uint64(b[1+2*SIDSize:])
	in.Signed = b[:len(b)-SigSize]
	in.Body = b[InnerHeaderSize : len(b)-SigSize]
	in.Sig = b[len(b)-SigSize:]
	return in, nil
}

// AEAD is the part of cipher.AEAD an envelope needs: XChaCha20-Poly1305
// under K_hello or K_{S→R}.
type AEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// errAuth is what Open returns for every failure to decrypt.
var errAuth = errors.New("meeting: message authentication failed")

// SealHello builds a hello envelope from joiner key mJ with AEAD a
// (K_hello) and a nonce from r (§6.3).
func SealHello(a AEAD, r io.Reader, mJ [KeySize]byte, inner []byte) ([]byte, error) {
	out := make([]byte, HelloHeaderSize, HelloHeaderSize+LenPrefixSize+len(inner)+PadBlock+TagSize)
	out[0], out[1] = Version, TypeHello
	copy(out[2:], mJ[:])
	if _, err := io.ReadFull(r, out[2+KeySize:HelloHeaderSize]); err != nil {
		return nil, fmt.Errorf("meeting: nonce: %w", err)
	}
	pt := Pad(inner)
	defer clear(pt)
	return a.Seal(out, out[2+KeySize:HelloHeaderSize], pt, out[:HelloHeaderSize]), nil
}

// SealEnvelope builds a sealed envelope from mS to mR with AEAD a
// (K_{S→R}) and a nonce from r (§6.3).
func SealEnvelope(a AEAD, r io.Reader, mS, mR [KeySize]byte, inner []byte) ([]byte, error) {
	out := make([]byte, SealedHeaderSize, SealedHeaderSize+LenPrefixSize+len(inner)+PadBlock+TagSize)
	out[0], out[1] = Version, TypeSealed
	copy(out[2:], mS[:])
	copy(out[2+KeySize:], mR[:])
	if _, err := io.ReadFull(r, out[2+2*KeySize:SealedHeaderSize]); err != nil {
		return nil, fmt.Errorf("meeting: nonce: %w", err)
	}
	// The plaintext may carry a sender key or the invite key (HandOver):
	// no copy outlives the call.
	pt := Pad(inner)
	defer clear(pt)
	return a.Seal(out, out[2+2*KeySize:SealedHeaderSize], pt, out[:SealedHeaderSize]), nil
}

// OpenHello decrypts a hello envelope whose header ParseHeader accepted
// and returns its inner message bytes. Every decryption failure is the same
// opaque error.
func OpenHello(a AEAD, p []byte) ([]byte, error) {
	pt, err := a.Open(nil, p[2+KeySize:HelloHeaderSize], p[HelloHeaderSize:], p[:HelloHeaderSize])
	if err != nil {
		return nil, errAuth
	}
	return Unpad(pt)
}

// OpenSealed decrypts a sealed envelope whose header ParseHeader accepted
// and returns its inner message bytes.
func OpenSealed(a AEAD, p []byte) ([]byte, error) {
	pt, err := a.Open(nil, p[2+2*KeySize:SealedHeaderSize], p[SealedHeaderSize:], p[:SealedHeaderSize])
	if err != nil {
		return nil, errAuth
	}
	return Unpad(pt)
}
