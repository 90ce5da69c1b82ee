package sframe

import "crypto/cipher"

// initialAADCap is the starting capacity of the AAD scratch buffer: the
// largest header plus room for typical metadata. It grows once if a caller
// passes more metadata, then stays.
const initialAADCap = MaxHeaderLen + 64

// keyState is the derived state of one base key (RFC 9605 §4.4.2): the
// keyed AEAD, the salt, and scratch space for the nonce and the AAD. It is
// not safe for concurrent use; Sender and Receiver guard it.
type keyState struct {
	p     *suiteParams
	aead  cipher.AEAD
	ctr   *ctrHMAC // same object as aead for the AES-CTR suites, else nil
	salt  [nonceLen]byte
	nonce [nonceLen]byte
	aad   []byte // capacity always at least MaxHeaderLen
}

func newKeyState(s CipherSuite, kid uint64, baseKey []byte) (*keyState, error) {
	p := s.params()
	if p == nil {
		return nil, ErrUnsupportedSuite
	}
	key, salt, err := DeriveKeySalt(s, kid, baseKey)
	if err != nil {
		return nil, err
	}
	// The AEAD keeps its own key schedule (and, for AES-CTR-HMAC, its own
	// copies of the subkeys); the derived key is not needed afterwards.
	defer clear(key)
	defer clear(salt)
	a, err := NewAEAD(s, key)
	if err != nil {
		return nil, err
	}
	k := &keyState{p: p, aead: a, aad: make([]byte, 0, initialAADCap)}
	if c, ok := a.(*ctrHMAC); ok {
		k.ctr = c
	}
	copy(k.salt[:], salt)
	return k, nil
}

// seal is encrypt(CTR, KID, metadata, plaintext) of RFC 9605 §4.4.3: it
// appends header ‖ AEAD.Encrypt(sframe_key, nonce, header ‖ metadata, pt)
// to dst.
func (k *keyState) seal(dst []byte, h Header, pt, metadata []byte) ([]byte, error) {
	// aad = header ‖ metadata (RFC 9605 §4.4.3), gathered in scratch space
	// before any output byte is written, since metadata may share memory
	// with dst. The header is encoded straight into the scratch space.
	hl := h.encode((*[MaxHeaderLen]byte)(k.aad[:MaxHeaderLen]))
	ret, out := sliceForAppend(dst, hl+len(pt)+k.p.nt)
	if anyOverlap(out[:hl], pt) || inexactOverlap(out[hl:hl+len(pt)], pt) {
		return dst, ErrBufferOverlap
	}
	k.aad = append(k.aad[:hl], metadata...)
	copy(out, k.aad[:hl])
	formNonce(&k.nonce, &k.salt, h.CTR)
	k.aead.Seal(out[hl:hl], k.nonce[:], pt, k.aad)
	return ret, nil
}

// open is decrypt(metadata, sframe_ciphertext) of RFC 9605 §4.4.4 once the
// header is parsed: hdr is the encoded header, ct the ciphertext and tag.
// It appends the plaintext to dst.
func (k *keyState) open(dst []byte, hdr []byte, ctr uint64, ct, metadata []byte) ([]byte, error) {
	if len(ct) < k.p.nt {
		return nil, ErrAuthentication
	}
	// The AEAD writes the plaintext into dst's spare capacity if it is large
	// enough, else into new memory that cannot overlap.
	if n := len(ct) - k.p.nt; cap(dst)-len(dst) >= n && inexactOverlap(dst[len(dst):len(dst)+n], ct) {
		return nil, ErrBufferOverlap
	}
	k.aad = append(append(k.aad[:0], hdr...), metadata...)
	formNonce(&k.nonce, &k.salt, ctr)
	pt, err := k.aead.Open(dst, k.nonce[:], ct, k.aad)
	if err != nil {
		return nil, ErrAuthentication
	}
	return pt, nil
}

// destroy zeroes the salt and scratch space and the AES-CTR-HMAC subkeys.
// The standard library's AES key schedule cannot be zeroed from outside; it
// is released to the garbage collector.
func (k *keyState) destroy() {
	if k == nil {
		return
	}
	if k.ctr != nil {
		k.ctr.destroy()
	}
	clear(k.salt[:])
	clear(k.nonce[:])
	clear(k.aad[:cap(k.aad)])
	k.aead, k.ctr = nil, nil
}
