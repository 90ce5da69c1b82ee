package meeting

// Envelope formats, docs/PROTOCOL.md §6.3:
//
//	hello  = version ‖ typeHello  ‖ M_J (32) ‖ nonce (24) ‖ AEAD(K_hello, plaintext)
//	sealed = version ‖ typeSealed ‖ M_S (32) ‖ M_R (32) ‖ nonce (24) ‖ AEAD(K_{S→R}, plaintext)
//	plaintext = u16 L ‖ inner (L) ‖ zero padding to a multiple of padBlock
//	inner  = kind ‖ sender sid (16) ‖ recipient sid (16) ‖ u64 seq ‖ body ‖ signature (64)

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sottohq/sotto/crypto/identity"
)

const (
	// wireVersion is the first byte of every envelope.
	wireVersion = 0x01
	// typeHello marks a joiner's hello, sealed to the invite key.
	typeHello = 0x01
	// typeSealed marks a pairwise sealed message between member keys.
	typeSealed = 0x02

	// keySize is the size of an X25519 public key or scalar (RFC 7748 §5)
	// and of every symmetric key derived here.
	keySize = 32
	// nonceSize is the XChaCha20-Poly1305 nonce size.
	nonceSize = chacha20poly1305.NonceSizeX
	// tagSize is the Poly1305 tag size.
	tagSize = chacha20poly1305.Overhead
	// helloHeaderSize is version, type, M_J and nonce.
	helloHeaderSize = 2 + keySize + nonceSize
	// sealedHeaderSize is version, type, M_S, M_R and nonce.
	sealedHeaderSize = 2 + 2*keySize + nonceSize
	// padBlock is the plaintext padding granularity: sizes seen by the
	// relay move in steps of this many bytes.
	padBlock = 256
	// lenPrefixSize is the u16 inner length at the start of a plaintext.
	lenPrefixSize = 2

	// sidSize is a relay session ID in raw form (the relay's 32 hex digits).
	sidSize = 16
	// seqSize is the u64 message counter.
	seqSize = 8
	// innerHeaderSize is kind, sender sid, recipient sid and seq.
	innerHeaderSize = 1 + 2*sidSize + seqSize
	// sigSize is an Ed25519 signature (RFC 8032 §5.1.6).
	sigSize = ed25519.SignatureSize

	// MaxEnvelope bounds every envelope payload, below the relay's 64 KiB.
	MaxEnvelope = 60 << 10
	// maxInner bounds the inner message so that its padded plaintext plus
	// header and tag stay within MaxEnvelope.
	maxInner = MaxEnvelope - sealedHeaderSize - tagSize - lenPrefixSize - padBlock

	// labelHello is the HKDF info prefix of K_hello.
	labelHello = "sotto meeting v1 hello"
	// labelPairwise is the HKDF info prefix of K_{S→R}.
	labelPairwise = "sotto meeting v1 pairwise"
	// labelMessage prefixes what an inner signature covers.
	labelMessage = "sotto meeting v1 message"
)

// Message kinds (the first byte of an inner message).
const (
	kindHello     = 0x01
	kindRoster    = 0x02
	kindDeny      = 0x03
	kindSenderKey = 0x04
	kindAck       = 0x05
	kindChat      = 0x06
	kindLobby     = 0x07
	kindHandOver  = 0x08
	kindLeave     = 0x09
)

// errAuth is the one opaque error for every authentication failure.
var errAuth = errors.New("meeting: message authentication failed")

// errMalformed reports bytes that do not parse.
var errMalformed = errors.New("meeting: malformed message")

// MemberKey is a member's per-meeting X25519 public key (§6.1).
type MemberKey [keySize]byte

// dh returns X25519(priv, pub), rejecting the all-zero output (RFC 7748 §6.1).
func dh(priv *[keySize]byte, pub [keySize]byte) ([]byte, error) {
	sk, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, errAuth
	}
	pk, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		return nil, errAuth
	}
	s, err := sk.ECDH(pk)
	if err != nil {
		return nil, errAuth
	}
	return s, nil
}

// newKeyPair draws an X25519 key pair from r.
func newKeyPair(r io.Reader) (priv, pub [keySize]byte, err error) {
	sk, err := ecdh.X25519().GenerateKey(r)
	if err != nil {
		return priv, pub, fmt.Errorf("meeting: generate x25519 key: %w", err)
	}
	copy(priv[:], sk.Bytes())
	copy(pub[:], sk.PublicKey().Bytes())
	return priv, pub, nil
}

// publicOf returns the X25519 public key of priv.
func publicOf(priv *[keySize]byte) ([keySize]byte, error) {
	var pub [keySize]byte
	sk, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return pub, err
	}
	copy(pub[:], sk.PublicKey().Bytes())
	return pub, nil
}

// deriveAEAD derives a directional key with HKDF-SHA256 (RFC 5869):
// ikm = X25519(priv, peer), salt = meeting ID, info = label ‖ from ‖ to.
func deriveAEAD(priv *[keySize]byte, peer [keySize]byte, meetingID MeetingID, label string, from, to [keySize]byte) (cipherAEAD, error) {
	shared, err := dh(priv, peer)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	info := make([]byte, 0, len(label)+2*keySize)
	info = append(info, label...)
	info = append(info, from[:]...)
	info = append(info, to[:]...)
	key, err := hkdf.Key(sha256.New, shared, meetingID[:], string(info), keySize)
	if err != nil {
		return nil, errAuth
	}
	defer clear(key)
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, errAuth
	}
	return a, nil
}

// cipherAEAD is the subset of cipher.AEAD used here.
type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// pad builds the plaintext: u16 length ‖ inner ‖ zeros to a padBlock multiple.
func pad(inner []byte) []byte {
	n := lenPrefixSize + len(inner)
	total := (n + padBlock - 1) / padBlock * padBlock
	p := make([]byte, total)
	binary.BigEndian.PutUint16(p, uint16(len(inner)))
	copy(p[lenPrefixSize:], inner)
	return p
}

// unpad reverses pad, insisting on zero padding.
func unpad(p []byte) ([]byte, error) {
	if len(p) < lenPrefixSize || len(p)%padBlock != 0 {
		return nil, errMalformed
	}
	n := int(binary.BigEndian.Uint16(p))
	if lenPrefixSize+n > len(p) {
		return nil, errMalformed
	}
	for _, b := range p[lenPrefixSize+n:] {
		if b != 0 {
			return nil, errMalformed
		}
	}
	return p[lenPrefixSize : lenPrefixSize+n], nil
}

// inner is a decoded inner message.
type inner struct {
	kind     byte
	from, to SessionID
	seq      uint64
	body     []byte
	signed   []byte // inner bytes covered by the signature (everything but it)
	sig      []byte
}

// encodeInner builds and signs an inner message. mS and mR are the member
// (or invite) keys the envelope travels between.
func encodeInner(s Signer, meetingID MeetingID, mS, mR [keySize]byte, kind byte, from, to SessionID, seq uint64, body []byte) []byte {
	b := make([]byte, 0, innerHeaderSize+len(body)+sigSize)
	b = append(b, kind)
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, body...)
	sig := s.Sign(messageToSign(meetingID, mS, mR, b))
	return append(b, sig...)
}

// messageToSign is "sotto meeting v1 message" ‖ meetingID ‖ M_S ‖ M_R ‖ inner
// without its signature (§6.3).
func messageToSign(meetingID MeetingID, mS, mR [keySize]byte, signed []byte) []byte {
	m := make([]byte, 0, len(labelMessage)+len(meetingID)+2*keySize+len(signed))
	m = append(m, labelMessage...)
	m = append(m, meetingID[:]...)
	m = append(m, mS[:]...)
	m = append(m, mR[:]...)
	return append(m, signed...)
}

// parseInner splits an inner message; the signature is checked by verify.
func parseInner(b []byte) (inner, error) {
	if len(b) < innerHeaderSize+sigSize {
		return inner{}, errMalformed
	}
	var in inner
	in.kind = b[0]
	copy(in.from[:], b[1:1+sidSize])
	copy(in.to[:], b[1+sidSize:1+2*sidSize])
	in.seq = binary.BigEndian.Uint64(b[1+2*sidSize:])
	in.signed = b[:len(b)-sigSize]
	in.body = b[innerHeaderSize : len(b)-sigSize]
	in.sig = b[len(b)-sigSize:]
	return in, nil
}

// verify checks the inner signature against pub.
func (in inner) verify(pub identity.Public, meetingID MeetingID, mS, mR [keySize]byte) bool {
	return pub.Verify(messageToSign(meetingID, mS, mR, in.signed), in.sig)
}

// sealHello builds a hello envelope sealed to the invite key (§6.3).
func sealHello(a cipherAEAD, r io.Reader, mJ MemberKey, innerMsg []byte) ([]byte, error) {
	out := make([]byte, helloHeaderSize, helloHeaderSize+lenPrefixSize+len(innerMsg)+padBlock+tagSize)
	out[0], out[1] = wireVersion, typeHello
	copy(out[2:], mJ[:])
	if _, err := io.ReadFull(r, out[2+keySize:helloHeaderSize]); err != nil {
		return nil, fmt.Errorf("meeting: nonce: %w", err)
	}
	pt := pad(innerMsg)
	defer clear(pt)
	return a.Seal(out, out[2+keySize:helloHeaderSize], pt, out[:helloHeaderSize]), nil
}

// sealEnvelope builds a sealed envelope from mS to mR (§6.3).
func sealEnvelope(a cipherAEAD, r io.Reader, mS, mR MemberKey, innerMsg []byte) ([]byte, error) {
	out := make([]byte, sealedHeaderSize, sealedHeaderSize+lenPrefixSize+len(innerMsg)+padBlock+tagSize)
	out[0], out[1] = wireVersion, typeSealed
	copy(out[2:], mS[:])
	copy(out[2+keySize:], mR[:])
	if _, err := io.ReadFull(r, out[2+2*keySize:sealedHeaderSize]); err != nil {
		return nil, fmt.Errorf("meeting: nonce: %w", err)
	}
	// The plaintext may carry a sender key or the invite key (HandOver):
	// no copy outlives the call.
	pt := pad(innerMsg)
	defer clear(pt)
	return a.Seal(out, out[2+2*keySize:sealedHeaderSize], pt, out[:sealedHeaderSize]), nil
}

// envelopeHeader is the clear part of an envelope.
type envelopeHeader struct {
	typ    byte
	sender MemberKey // M_J for a hello, M_S for a sealed envelope
	to     MemberKey // M_R for a sealed envelope
}

// parseEnvelope checks the clear header of an envelope.
func parseEnvelope(p []byte) (envelopeHeader, error) {
	var h envelopeHeader
	if len(p) > MaxEnvelope || len(p) < 2 || p[0] != wireVersion {
		return h, errMalformed
	}
	h.typ = p[1]
	switch h.typ {
	case typeHello:
		if len(p) < helloHeaderSize+padBlock+tagSize {
			return h, errMalformed
		}
		copy(h.sender[:], p[2:])
	case typeSealed:
		if len(p) < sealedHeaderSize+padBlock+tagSize {
			return h, errMalformed
		}
		copy(h.sender[:], p[2:])
		copy(h.to[:], p[2+keySize:])
	default:
		return h, errMalformed
	}
	return h, nil
}

// openHello decrypts a hello envelope and returns its inner message bytes.
func openHello(a cipherAEAD, p []byte) ([]byte, error) {
	pt, err := a.Open(nil, p[2+keySize:helloHeaderSize], p[helloHeaderSize:], p[:helloHeaderSize])
	if err != nil {
		return nil, errAuth
	}
	return unpad(pt)
}

// openSealed decrypts a sealed envelope and returns its inner message bytes.
func openSealed(a cipherAEAD, p []byte) ([]byte, error) {
	pt, err := a.Open(nil, p[2+2*keySize:sealedHeaderSize], p[sealedHeaderSize:], p[:sealedHeaderSize])
	if err != nil {
		return nil, errAuth
	}
	return unpad(pt)
}
