package sframe

import "errors"

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrAuthentication is the single opaque error for every frame or AEAD
	// ciphertext that fails authentication (RFC 9605 §4.4.4): wrong key,
	// modified header, metadata, ciphertext or tag, truncated tag. It says
	// nothing about which check failed.
	ErrAuthentication = errors.New("sframe: authentication failed")

	// ErrUnknownKey reports a frame whose KID has no key in the Receiver.
	// RFC 9605 §4.4.4 allows the caller to buffer such a frame and retry
	// once the key arrives.
	ErrUnknownKey = errors.New("sframe: no key for kid")

	// ErrReplay reports a frame whose CTR was already accepted for its KID,
	// or that is older than the anti-replay window (RFC 9605 §7.4, §9.3).
	ErrReplay = errors.New("sframe: replayed or too old frame")

	// ErrMalformed is wrapped by every error about an SFrame header that
	// cannot be parsed (RFC 9605 §4.3).
	ErrMalformed = errors.New("sframe: malformed header")

	// ErrUnsupportedSuite reports a cipher suite this package does not
	// implement.
	ErrUnsupportedSuite = errors.New("sframe: unsupported cipher suite")

	// ErrCounterExhausted is returned by Sender.Seal once CTR 2^64-1 has
	// been used: a further frame would reuse a (key, nonce) pair (RFC 9605
	// §7.4, §9.1). The sender needs a new key and KID.
	ErrCounterExhausted = errors.New("sframe: counter exhausted, rotate the key")

	// ErrDestroyed is returned by a Sender or Receiver after Destroy.
	ErrDestroyed = errors.New("sframe: key state destroyed")

	// ErrBufferOverlap reports output and input buffers that overlap in a
	// way other than the exact in-place layout (see Sender.Seal,
	// Receiver.Open).
	ErrBufferOverlap = errors.New("sframe: invalid buffer overlap")

	// ErrInvalidKey reports a key of the wrong size or an empty base key.
	ErrInvalidKey = errors.New("sframe: invalid key length")
)
