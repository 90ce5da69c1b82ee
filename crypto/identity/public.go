package identity

// Wire format of a public identity (docs/PROTOCOL.md §1):
//
//	version (1) ‖ signing key (32) ‖ exchange key (32) ‖ binding (64)
//
// where binding = Ed25519-Sign(signing key, bindingLabel ‖ exchange key).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

const (
	// publicVersion is the first byte of an encoded Public and of SafetyKey.
	publicVersion = 0x01
	// PublicSize is the length of Public.Marshal: version, signing key,
	// exchange key, binding signature.
	PublicSize = 1 + SigningKeySize + ExchangeKeySize + SignatureSize
	// SafetyKeySize is the length of Public.SafetyKey: version, signing key,
	// exchange key.
	SafetyKeySize = 1 + SigningKeySize + ExchangeKeySize
	// FingerprintSize is the length of Public.Fingerprint (SHA-256).
	FingerprintSize = sha256.Size
	// bindingLabel prefixes the exchange key in the binding signature, so the
	// signature can never be mistaken for one made by another layer.
	bindingLabel = "sotto identity binding v1"
)

// Errors from ParsePublic and ParseFingerprint.
var (
	ErrPublicSize    = errors.New("identity: public identity has wrong length")
	ErrPublicVersion = errors.New("identity: unsupported public identity version")
	ErrBadBinding    = errors.New("identity: exchange key binding signature is invalid")
	ErrFingerprint   = errors.New("identity: malformed fingerprint")
)

// Public is a user's public identity: an Ed25519 signing key, an X25519
// exchange key and the signing key's signature binding the exchange key.
type Public struct {
	Signing  ed25519.PublicKey
	Exchange [ExchangeKeySize]byte
	// Binding is Ed25519-Sign(Signing, "sotto identity binding v1" ‖ Exchange).
	Binding []byte
}

func bindingMessage(exchange [ExchangeKeySize]byte) []byte {
	return append([]byte(bindingLabel), exchange[:]...)
}

// Marshal returns the fixed-size encoding of p (PublicSize bytes). Because
// Ed25519 signatures are deterministic (RFC 8032 §5.1.6) and verification
// rejects malleated ones, one identity has exactly one valid encoding.
func (p Public) Marshal() []byte {
	b := make([]byte, 0, PublicSize)
	b = append(b, publicVersion)
	b = append(b, padTo(p.Signing, SigningKeySize)...)
	b = append(b, p.Exchange[:]...)
	return append(b, padTo(p.Binding, SignatureSize)...)
}

// padTo keeps Marshal fixed-size even for a malformed Public built by hand;
// such a value fails ParsePublic instead of shifting the fields after it.
func padTo(b []byte, n int) []byte {
	if len(b) == n {
		return b
	}
	return make([]byte, n)
}

// ParsePublic decodes and validates an encoding made by Marshal: length,
// version and the binding signature. (Low-order exchange keys are caught by
// ECDH, which rejects the all-zero shared secret.)
func ParsePublic(b []byte) (Public, error) {
	if len(b) != PublicSize {
		return Public{}, ErrPublicSize
	}
	if b[0] != publicVersion {
		return Public{}, ErrPublicVersion
	}
	b = b[1:]
	p := Public{Signing: bytes.Clone(b[:SigningKeySize])}
	b = b[SigningKeySize:]
	copy(p.Exchange[:], b[:ExchangeKeySize])
	p.Binding = bytes.Clone(b[ExchangeKeySize:])
	if err := p.CheckBinding(); err != nil {
		return Public{}, err
	}
	return p, nil
}

// CheckBinding reports whether Binding is the signing key's valid signature
// over the exchange key.
func (p Public) CheckBinding() error {
	if len(p.Signing) != SigningKeySize || len(p.Binding) != SignatureSize {
		return ErrBadBinding
	}
	if !ed25519.Verify(p.Signing, bindingMessage(p.Exchange), p.Binding) {
		return ErrBadBinding
	}
	return nil
}

// Verify reports whether sig is a valid raw Ed25519 signature over msg by p's
// signing key. It returns false for a malformed key.
func (p Public) Verify(msg, sig []byte) bool {
	if len(p.Signing) != SigningKeySize {
		return false
	}
	return ed25519.Verify(p.Signing, msg, sig)
}

// Equal reports whether p and q are the same identity (same signing and
// exchange keys). Public keys are not secret, but the comparison is constant
// time anyway so callers need not think about it.
func (p Public) Equal(q Public) bool {
	return subtle.ConstantTimeCompare(p.SafetyKey(), q.SafetyKey()) == 1
}

// SafetyKey returns the bytes fed to safety numbers as the key:
// version (0x01) ‖ signing key ‖ exchange key. The binding signature is left
// out: it is derived from the keys and adds nothing to compare.
func (p Public) SafetyKey() []byte {
	b := make([]byte, 0, SafetyKeySize)
	b = append(b, publicVersion)
	b = append(b, padTo(p.Signing, SigningKeySize)...)
	return append(b, p.Exchange[:]...)
}

// Fingerprint returns SHA-256(Marshal()). It names an identity compactly: in
// invite links (the host fingerprint) and as the contact ID.
func (p Public) Fingerprint() [FingerprintSize]byte {
	return sha256.Sum256(p.Marshal())
}

// FingerprintString returns Fingerprint as 64 lower-case hex digits.
func (p Public) FingerprintString() string {
	fp := p.Fingerprint()
	return hex.EncodeToString(fp[:])
}

// ParseFingerprint decodes the output of FingerprintString (either case).
func ParseFingerprint(s string) ([FingerprintSize]byte, error) {
	var fp [FingerprintSize]byte
	if len(s) != 2*FingerprintSize {
		return fp, ErrFingerprint
	}
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil {
		return fp, ErrFingerprint
	}
	return fp, nil
}

// String and GoString hide the keys: a fingerprint in a log line would link
// a user across meetings, so printing a Public never reveals which one it is.
func (p Public) String() string   { return "identity.Public(redacted)" }
func (p Public) GoString() string { return p.String() }

func (p Public) clone() Public {
	return Public{Signing: bytes.Clone(p.Signing), Exchange: p.Exchange, Binding: bytes.Clone(p.Binding)}
}
