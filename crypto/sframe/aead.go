package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"unsafe"
)

// AES-CTR + HMAC compound AEAD, RFC 9605 §4.5.1.
const (
	// ctrSuffixLen is the number of zero bytes appended to the 12-byte
	// nonce to form the initial AES-CTR counter block.
	ctrSuffixLen = 4
	// macLenFieldLen is the size of each of the aad_len, ct_len and tag_len
	// fields that open the HMAC input (8-byte big-endian integers).
	macLenFieldLen = 8
	// keystreamBlocks is how many AES blocks of keystream are produced at a
	// time (a buffering choice, not a protocol constant).
	keystreamBlocks = 32
)

// NewAEAD returns the AEAD of suite s keyed with key, an sframe_key of
// AEAD.Nk bytes. For the AES-GCM suites it is the standard library's
// AES-GCM with a 12-byte nonce and 16-byte tag. For the AES-CTR suites it is
// the compound AEAD of RFC 9605 §4.5.1: enc_key = key[:Nka], auth_key =
// key[Nka:], AES-CTR with initial counter block nonce ‖ 0x00000000, and the
// tag HMAC(auth_key, aad_len ‖ ct_len ‖ tag_len ‖ nonce ‖ aad ‖ ct)
// truncated to Nt bytes. The returned AEAD is safe for concurrent use and,
// like every cipher.AEAD, panics on a nonce that is not NonceSize bytes.
func NewAEAD(s CipherSuite, key []byte) (cipher.AEAD, error) {
	p := s.params()
	if p == nil {
		return nil, ErrUnsupportedSuite
	}
	if len(key) != p.nk {
		return nil, fmt.Errorf("%w: %s needs a %d-byte key", ErrInvalidKey, p.name, p.nk)
	}
	if p.ctrHMAC() {
		return newCTRHMAC(p, key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sframe: aes: %w", err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sframe: gcm: %w", err)
	}
	return g, nil
}

// SplitKey returns enc_key and auth_key of an AES-CTR suite's sframe_key,
// as derive_subkeys in RFC 9605 §4.5.1: the first Nka bytes and the Nh
// remaining bytes. The results alias key.
func SplitKey(s CipherSuite, key []byte) (encKey, authKey []byte, err error) {
	p := s.params()
	if p == nil {
		return nil, nil, ErrUnsupportedSuite
	}
	if !p.ctrHMAC() {
		return nil, nil, fmt.Errorf("%w: %s has no subkeys", ErrUnsupportedSuite, p.name)
	}
	if len(key) != p.nka+p.nh {
		return nil, nil, fmt.Errorf("%w: %s needs a %d-byte key", ErrInvalidKey, p.name, p.nka+p.nh)
	}
	return key[:p.nka:p.nka], key[p.nka:], nil
}

// SealAEAD is AEAD.Encrypt(key, nonce, aad, pt) of suite s (RFC 9605 §4.4.3,
// §4.5.1): it returns ciphertext ‖ tag in a new slice. Unlike cipher.AEAD it
// reports bad sizes as errors.
func SealAEAD(s CipherSuite, key, nonce, aad, pt []byte) ([]byte, error) {
	a, err := NewAEAD(s, key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, fmt.Errorf("sframe: nonce must be %d bytes", a.NonceSize())
	}
	return a.Seal(make([]byte, 0, len(pt)+a.Overhead()), nonce, pt, aad), nil
}

// OpenAEAD is AEAD.Decrypt(key, nonce, aad, ct) of suite s (RFC 9605
// §4.4.4, §4.5.1). Any authentication failure is ErrAuthentication.
func OpenAEAD(s CipherSuite, key, nonce, aad, ct []byte) ([]byte, error) {
	a, err := NewAEAD(s, key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, fmt.Errorf("sframe: nonce must be %d bytes", a.NonceSize())
	}
	pt, err := a.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

// ctrHMAC is the compound AEAD of RFC 9605 §4.5.1. All scratch space lives
// in the struct, so Seal and Open allocate nothing; mu serializes them.
type ctrHMAC struct {
	mu      sync.Mutex
	nt      int
	encKey  []byte
	authKey []byte
	block   cipher.Block
	mac     hash.Hash
	lens    [3 * macLenFieldLen]byte
	counter [aes.BlockSize]byte
	stream  [keystreamBlocks * aes.BlockSize]byte
	sum     [64]byte
}

func newCTRHMAC(p *suiteParams, key []byte) (*ctrHMAC, error) {
	a := &ctrHMAC{nt: p.nt}
	// derive_subkeys, RFC 9605 §4.5.1. Keep private copies so the caller
	// may zero its key.
	a.encKey = append([]byte(nil), key[:p.nka]...)
	a.authKey = append([]byte(nil), key[p.nka:]...)
	block, err := aes.NewCipher(a.encKey)
	if err != nil {
		return nil, fmt.Errorf("sframe: aes: %w", err)
	}
	a.block = block
	a.mac = hmac.New(p.hash, a.authKey)
	return a, nil
}

func (a *ctrHMAC) NonceSize() int { return nonceLen }
func (a *ctrHMAC) Overhead() int  { return a.nt }

// Seal is AEAD.Encrypt of RFC 9605 §4.5.1: ct = AES-CTR(enc_key, nonce ‖
// 0x00000000, pt), then tag = compute_tag(auth_key, nonce, aad, ct).
func (a *ctrHMAC) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != nonceLen {
		panic("sframe: incorrect nonce length given to AES-CTR-HMAC")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+a.nt)
	if inexactOverlap(out[:len(plaintext)], plaintext) || anyOverlap(out, aad) {
		panic("sframe: invalid buffer overlap")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.block == nil {
		panic("sframe: AES-CTR-HMAC used after destroy")
	}
	ct := out[:len(plaintext)]
	a.xorKeyStream(ct, plaintext, nonce)
	a.computeTag(nonce, aad, ct)
	copy(out[len(plaintext):], a.sum[:a.nt])
	return ret
}

// Open is AEAD.Decrypt of RFC 9605 §4.5.1: the tag is checked in constant
// time before anything is decrypted.
func (a *ctrHMAC) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceLen {
		panic("sframe: incorrect nonce length given to AES-CTR-HMAC")
	}
	if len(ciphertext) < a.nt {
		return nil, ErrAuthentication
	}
	inner, tag := ciphertext[:len(ciphertext)-a.nt], ciphertext[len(ciphertext)-a.nt:]
	ret, out := sliceForAppend(dst, len(inner))
	if inexactOverlap(out, inner) {
		panic("sframe: invalid buffer overlap")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.block == nil {
		panic("sframe: AES-CTR-HMAC used after destroy")
	}
	a.computeTag(nonce, aad, inner)
	if subtle.ConstantTimeCompare(a.sum[:a.nt], tag) != 1 {
		return nil, ErrAuthentication
	}
	a.xorKeyStream(out, inner, nonce)
	return ret, nil
}

// computeTag leaves HMAC(auth_key, aad_len ‖ ct_len ‖ tag_len ‖ nonce ‖ aad
// ‖ ct) in a.sum; the caller truncates it to Nt bytes (RFC 9605 §4.5.1).
func (a *ctrHMAC) computeTag(nonce, aad, ct []byte) {
	binary.BigEndian.PutUint64(a.lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(a.lens[macLenFieldLen:], uint64(len(ct)))
	binary.BigEndian.PutUint64(a.lens[2*macLenFieldLen:], uint64(a.nt))
	a.mac.Reset()
	a.mac.Write(a.lens[:])
	a.mac.Write(nonce)
	a.mac.Write(aad)
	a.mac.Write(ct)
	a.mac.Sum(a.sum[:0])
}

// xorKeyStream is AES-CTR with the initial counter block nonce ‖ 0x00000000
// (RFC 9605 §4.5.1), the whole 16-byte block incremented as a big-endian
// integer as in NIST SP 800-38A.
func (a *ctrHMAC) xorKeyStream(dst, src, nonce []byte) {
	copy(a.counter[:nonceLen], nonce)
	clear(a.counter[nonceLen:])
	for len(src) > 0 {
		n := min(len(src), len(a.stream))
		for off := 0; off < n; off += aes.BlockSize {
			a.block.Encrypt(a.stream[off:off+aes.BlockSize], a.counter[:])
			incCounter(&a.counter)
		}
		subtle.XORBytes(dst[:n], src[:n], a.stream[:n])
		dst, src = dst[n:], src[n:]
	}
	clear(a.stream[:])
}

func incCounter(c *[aes.BlockSize]byte) {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]++
		if c[i] != 0 {
			return
		}
	}
}

// destroy zeroes the subkeys and scratch space. The AES key schedule and
// HMAC pads inside the standard library cannot be zeroed; they are dropped.
func (a *ctrHMAC) destroy() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.encKey)
	clear(a.authKey)
	clear(a.sum[:])
	clear(a.counter[:])
	clear(a.stream[:])
	a.block, a.mac = nil, nil
}

// sliceForAppend extends in by n bytes, reusing its capacity when it can,
// and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// anyOverlap reports whether x and y share memory at any index.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

// inexactOverlap reports whether x and y share memory at an index other
// than the same one (exact in-place use is allowed).
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return anyOverlap(x, y)
}
