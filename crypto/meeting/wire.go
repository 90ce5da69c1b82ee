package meeting

// Pairwise keys and the signing of inner messages (docs/PROTOCOL.md §6.3).
// The byte layout itself is internal/format.

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

const (
	// MaxEnvelope bounds every envelope payload, below the relay's 64 KiB.
	MaxEnvelope = format.MaxEnvelope
	// keySize is the size of an X25519 public key or scalar (RFC 7748 §5)
	// and of every symmetric key derived here.
	keySize = format.KeySize
)

// errAuth is the one opaque error for every authentication failure.
var errAuth = errors.New("meeting: message authentication failed")

// MemberKey is a member's per-meeting X25519 public key (§6.1).
type MemberKey [keySize]byte

// cipherAEAD is the subset of cipher.AEAD used here.
type cipherAEAD = format.AEAD

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

// encodeInner builds and signs an inner message. mS and mR are the member
// (or invite) keys the envelope travels between.
func encodeInner(s Signer, meetingID MeetingID, mS, mR [keySize]byte, kind byte, from, to SessionID, seq uint64, body []byte) []byte {
	b := make([]byte, 0, format.InnerHeaderSize+len(body)+format.SigSize)
	b = format.AppendInner(b, kind, from, to, seq, body)
	sig := s.Sign(format.MessageToSign(meetingID, mS, mR, b))
	return append(b, sig...)
}

// verifyInner checks the inner signature against pub.
func verifyInner(in format.Inner, pub identity.Public, meetingID MeetingID, mS, mR [keySize]byte) bool {
	return pub.Verify(format.MessageToSign(meetingID, mS, mR, in.Signed), in.Sig)
}
