package sframe

import (
	"crypto/hkdf"
	"encoding/binary"
	"fmt"
)

// Key derivation labels, RFC 9605 §4.4.2. Each label is followed by the KID
// as an 8-byte big-endian integer and the cipher suite as a 2-byte
// big-endian integer.
const (
	// keyLabelPrefix labels the HKDF-Expand that yields sframe_key.
	keyLabelPrefix = "SFrame 1.0 Secret key "
	// saltLabelPrefix labels the HKDF-Expand that yields sframe_salt.
	saltLabelPrefix = "SFrame 1.0 Secret salt "
	// labelKIDLen is the size of the KID in a label (8-byte big-endian).
	labelKIDLen = 8
	// labelSuiteLen is the size of the cipher suite in a label.
	labelSuiteLen = 2
)

func label(prefix string, s CipherSuite, kid uint64) []byte {
	b := make([]byte, 0, len(prefix)+labelKIDLen+labelSuiteLen)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, kid)
	return binary.BigEndian.AppendUint16(b, uint16(s))
}

// KeyLabel returns sframe_key_label = "SFrame 1.0 Secret key " ‖ KID ‖
// cipher_suite (RFC 9605 §4.4.2).
func KeyLabel(s CipherSuite, kid uint64) []byte { return label(keyLabelPrefix, s, kid) }

// SaltLabel returns sframe_salt_label = "SFrame 1.0 Secret salt " ‖ KID ‖
// cipher_suite (RFC 9605 §4.4.2).
func SaltLabel(s CipherSuite, kid uint64) []byte { return label(saltLabelPrefix, s, kid) }

// DeriveSecret returns sframe_secret = HKDF-Extract("", base_key) with the
// suite's hash (RFC 9605 §4.4.2).
func DeriveSecret(s CipherSuite, baseKey []byte) ([]byte, error) {
	p := s.params()
	if p == nil {
		return nil, ErrUnsupportedSuite
	}
	if len(baseKey) == 0 {
		return nil, fmt.Errorf("%w: empty base key", ErrInvalidKey)
	}
	prk, err := hkdf.Extract(p.hash, baseKey, nil)
	if err != nil {
		return nil, fmt.Errorf("sframe: hkdf extract: %w", err)
	}
	return prk, nil
}

// DeriveKeySalt derives sframe_key (AEAD.Nk bytes) and sframe_salt
// (AEAD.Nn bytes) for KID kid from baseKey, as derive_key_salt in RFC 9605
// §4.4.2. The caller owns the returned slices and should zero them when done.
func DeriveKeySalt(s CipherSuite, kid uint64, baseKey []byte) (key, salt []byte, err error) {
	p := s.params()
	if p == nil {
		return nil, nil, ErrUnsupportedSuite
	}
	secret, err := DeriveSecret(s, baseKey)
	if err != nil {
		return nil, nil, err
	}
	defer clear(secret)
	key, err = hkdf.Expand(p.hash, secret, string(KeyLabel(s, kid)), p.nk)
	if err != nil {
		return nil, nil, fmt.Errorf("sframe: hkdf expand key: %w", err)
	}
	salt, err = hkdf.Expand(p.hash, secret, string(SaltLabel(s, kid)), nonceLen)
	if err != nil {
		clear(key)
		return nil, nil, fmt.Errorf("sframe: hkdf expand salt: %w", err)
	}
	return key, salt, nil
}

// Nonce returns the AEAD nonce for counter ctr: sframe_salt XOR the CTR
// encoded as an AEAD.Nn-byte big-endian integer (RFC 9605 §4.4.3). salt must
// be AEAD.Nn (12) bytes.
func Nonce(salt []byte, ctr uint64) ([]byte, error) {
	if len(salt) != nonceLen {
		return nil, fmt.Errorf("%w: salt must be %d bytes", ErrInvalidKey, nonceLen)
	}
	n := make([]byte, nonceLen)
	formNonce((*[nonceLen]byte)(n), (*[nonceLen]byte)(salt), ctr)
	return n, nil
}

// formNonce writes salt XOR big-endian(ctr, Nn) into dst (RFC 9605 §4.4.3).
// The CTR fills the last 8 bytes; the first Nn-8 bytes are the salt's.
func formNonce(dst, salt *[nonceLen]byte, ctr uint64) {
	copy(dst[:nonceLen-8], salt[:nonceLen-8])
	binary.BigEndian.PutUint64(dst[nonceLen-8:], binary.BigEndian.Uint64(salt[nonceLen-8:])^ctr)
}
