// Package identity holds a Sotto user's long-term identity: the key pairs that
// stand in for an account, the encrypted keystore that keeps them on disk, and
// the local store of contacts whose identity keys this user has seen.
//
// # Key management
//
// An identity is two independent key pairs generated together:
//
//   - an Ed25519 pair (RFC 8032) for signatures, and
//   - an X25519 pair (RFC 7748) for key agreement.
//
// Sotto deliberately does not derive the X25519 key from the Ed25519 key (the
// birational map used by some systems): separate keys mean no key is ever used
// by two different algorithms, so an attack on one protocol cannot be turned
// into an oracle for the other. The X25519 public key is tied to the identity
// in two ways: the Ed25519 key signs it under a fixed label (the binding, see
// public.go), and the safety number covers both public keys.
//
// The public half, Public, is what peers exchange and compare. Sign and
// Verify here are raw Ed25519; every higher layer prefixes its own
// domain-separation label to what it signs.
//
// # Compatibility
//
// Every encoding produced by this package starts with a version byte, and
// parsers reject versions they do not know rather than guessing.
package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// Key sizes, fixed by RFC 8032 and RFC 7748.
const (
	// SigningKeySize is the size of an Ed25519 public key (RFC 8032 §5.1.5).
	SigningKeySize = ed25519.PublicKeySize
	// SignatureSize is the size of an Ed25519 signature (RFC 8032 §5.1.6).
	SignatureSize = ed25519.SignatureSize
	// ExchangeKeySize is the size of an X25519 public key or scalar (RFC 7748 §5).
	ExchangeKeySize = 32
	// seedSize is the size of an Ed25519 private seed (RFC 8032 §5.1.5).
	seedSize = ed25519.SeedSize
)

// ErrLowOrderPoint is returned by ECDH when the peer's exchange key yields the
// all-zero shared secret (RFC 7748 §6.1), which only a malicious key does.
var ErrLowOrderPoint = errors.New("identity: peer exchange key is a low-order point")

// Identity is a user's private identity. It is not safe for concurrent use
// with Destroy; all other methods may be called concurrently.
type Identity struct {
	signing ed25519.PrivateKey // seed ‖ public key, RFC 8032 §5.1.5
	// exchange is the X25519 scalar. It is kept as bytes rather than as an
	// *ecdh.PrivateKey so that Destroy can overwrite it; ECDH builds the
	// short-lived ecdh key it needs.
	exchange  [ExchangeKeySize]byte
	public    Public
	destroyed bool
}

// Generate creates a fresh identity from the operating system's random source.
func Generate() (*Identity, error) {
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate signing key: %w", err)
	}
	xk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate exchange key: %w", err)
	}
	seed, scalar := signing.Seed(), xk.Bytes()
	id, err := fromSecrets(seed, scalar)
	clear(seed)
	clear(scalar)
	clear(signing)
	return id, err
}

// fromSecrets rebuilds an identity from its two private values (as stored in
// the keystore). The inputs are copied; the caller keeps ownership.
func fromSecrets(seed, scalar []byte) (*Identity, error) {
	if len(seed) != seedSize || len(scalar) != ExchangeKeySize {
		return nil, errors.New("identity: wrong private key size")
	}
	id := &Identity{signing: ed25519.NewKeyFromSeed(seed)}
	copy(id.exchange[:], scalar)
	xk, err := ecdh.X25519().NewPrivateKey(id.exchange[:])
	if err != nil {
		id.Destroy()
		return nil, fmt.Errorf("identity: exchange key: %w", err)
	}
	id.public.Signing = append(ed25519.PublicKey(nil), id.signing.Public().(ed25519.PublicKey)...)
	copy(id.public.Exchange[:], xk.PublicKey().Bytes())
	id.public.Binding = ed25519.Sign(id.signing, bindingMessage(id.public.Exchange))
	return id, nil
}

// Public returns the public identity, including the binding signature. The
// returned value shares no memory with id.
func (id *Identity) Public() Public {
	id.mustLive()
	return id.public.clone()
}

// Sign returns a raw Ed25519 signature (RFC 8032 §5.1.6) over msg. Callers
// must prefix msg with their own domain-separation label.
func (id *Identity) Sign(msg []byte) []byte {
	id.mustLive()
	return ed25519.Sign(id.signing, msg)
}

// ECDH returns the 32-byte X25519 shared secret (RFC 7748 §6.1) between this
// identity's exchange key and peer's. An all-zero result, which only a
// low-order peer key produces, is rejected with ErrLowOrderPoint. The caller
// owns the result and should clear it once a key has been derived from it.
func (id *Identity) ECDH(peer Public) ([]byte, error) {
	id.mustLive()
	priv, err := ecdh.X25519().NewPrivateKey(id.exchange[:])
	if err != nil {
		return nil, fmt.Errorf("identity: exchange key: %w", err)
	}
	pub, err := ecdh.X25519().NewPublicKey(peer.Exchange[:])
	if err != nil {
		return nil, fmt.Errorf("identity: peer exchange key: %w", err)
	}
	secret, err := priv.ECDH(pub)
	if err != nil {
		// crypto/ecdh reports the all-zero output (RFC 7748 §6.1) as an error.
		return nil, ErrLowOrderPoint
	}
	return secret, nil
}

// Destroy overwrites the private key material. The identity must not be used
// afterwards; doing so panics. Go may have made copies this cannot reach (for
// example inside crypto/ecdh during ECDH), so this is a best effort that
// shortens, not eliminates, the lifetime of secrets in memory.
func (id *Identity) Destroy() {
	if id == nil {
		return
	}
	clear(id.signing)
	clear(id.exchange[:])
	id.destroyed = true
}

// secrets returns copies of the Ed25519 seed and the X25519 scalar, for the
// keystore. The caller must clear both.
func (id *Identity) secrets() (seed, scalar []byte) {
	id.mustLive()
	return id.signing.Seed(), append([]byte(nil), id.exchange[:]...)
}

func (id *Identity) mustLive() {
	if id == nil || id.destroyed {
		panic("identity: use of destroyed identity")
	}
}
