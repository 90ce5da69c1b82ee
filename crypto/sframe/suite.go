package sframe

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
)

// CipherSuite identifies an SFrame cipher suite, as registered in the
// "SFrame Cipher Suites" IANA registry (RFC 9605 §8.1). On the wire and in
// key derivation labels it is a 2-byte big-endian integer (§4.4.2).
type CipherSuite uint16

// The cipher suites defined by RFC 9605 §4.5 (values from §8.1).
const (
	// AES128CTRHMACSHA256_80 is AES_128_CTR_HMAC_SHA256_80 (80-bit tag).
	AES128CTRHMACSHA256_80 CipherSuite = 0x0001
	// AES128CTRHMACSHA256_64 is AES_128_CTR_HMAC_SHA256_64 (64-bit tag).
	AES128CTRHMACSHA256_64 CipherSuite = 0x0002
	// AES128CTRHMACSHA256_32 is AES_128_CTR_HMAC_SHA256_32 (32-bit tag).
	AES128CTRHMACSHA256_32 CipherSuite = 0x0003
	// AES128GCMSHA256_128 is AES_128_GCM_SHA256_128, the suite Sotto uses
	// for media.
	AES128GCMSHA256_128 CipherSuite = 0x0004
	// AES256GCMSHA512_128 is AES_256_GCM_SHA512_128.
	AES256GCMSHA512_128 CipherSuite = 0x0005
)

// nonceLen is AEAD.Nn, the nonce (and salt) size in bytes; it is 12 for
// every suite of RFC 9605 §4.5.
const nonceLen = 12

// suiteParams holds the constants of RFC 9605 §4.5 (cipher suite table).
type suiteParams struct {
	name string
	nh   int              // Hash.Nh: hash output size in bytes
	nka  int              // AEAD.Nka: AES key size of the CTR+HMAC compound AEAD (0 for GCM)
	nk   int              // AEAD.Nk: size of sframe_key in bytes
	nt   int              // AEAD.Nt: authentication tag size in bytes
	hash func() hash.Hash // hash for HKDF (and HMAC in the CTR suites)
}

func (p *suiteParams) ctrHMAC() bool { return p.nka != 0 }

var (
	paramsCTR80  = suiteParams{"AES_128_CTR_HMAC_SHA256_80", 32, 16, 48, 10, sha256.New}
	paramsCTR64  = suiteParams{"AES_128_CTR_HMAC_SHA256_64", 32, 16, 48, 8, sha256.New}
	paramsCTR32  = suiteParams{"AES_128_CTR_HMAC_SHA256_32", 32, 16, 48, 4, sha256.New}
	paramsGCM128 = suiteParams{"AES_128_GCM_SHA256_128", 32, 0, 16, 16, sha256.New}
	paramsGCM256 = suiteParams{"AES_256_GCM_SHA512_128", 64, 0, 32, 16, sha512.New}
)

func (s CipherSuite) params() *suiteParams {
	switch s {
	case AES128CTRHMACSHA256_80:
		return &paramsCTR80
	case AES128CTRHMACSHA256_64:
		return &paramsCTR64
	case AES128CTRHMACSHA256_32:
		return &paramsCTR32
	case AES128GCMSHA256_128:
		return &paramsGCM128
	case AES256GCMSHA512_128:
		return &paramsGCM256
	}
	return nil
}

// Supported reports whether s is one of the five suites of RFC 9605 §4.5.
func (s CipherSuite) Supported() bool { return s.params() != nil }

// String returns the registry name of the suite, or its number in hex.
func (s CipherSuite) String() string {
	if p := s.params(); p != nil {
		return p.name
	}
	return "CipherSuite(0x" + strconv.FormatUint(uint64(s), 16) + ")"
}

// KeyLen returns AEAD.Nk, the size of sframe_key in bytes (0 if unsupported).
func (s CipherSuite) KeyLen() int {
	if p := s.params(); p != nil {
		return p.nk
	}
	return 0
}

// NonceLen returns AEAD.Nn, the size of the nonce and of sframe_salt in
// bytes (0 if unsupported).
func (s CipherSuite) NonceLen() int {
	if s.Supported() {
		return nonceLen
	}
	return 0
}

// TagLen returns AEAD.Nt, the authentication tag size in bytes (0 if
// unsupported).
func (s CipherSuite) TagLen() int {
	if p := s.params(); p != nil {
		return p.nt
	}
	return 0
}

// HashLen returns Hash.Nh, the output size of the suite's hash (0 if
// unsupported).
func (s CipherSuite) HashLen() int {
	if p := s.params(); p != nil {
		return p.nh
	}
	return 0
}

// Overhead returns the number of bytes SFrame adds to a plaintext sealed
// with suite s under the given KID and CTR: the header (RFC 9605 §4.3) plus
// the authentication tag (AEAD.Nt). It returns -1 for an unsupported suite.
func Overhead(s CipherSuite, kid, ctr uint64) int {
	p := s.params()
	if p == nil {
		return -1
	}
	return Header{KID: kid, CTR: ctr}.Len() + p.nt
}
