package send

import (
	"errors"
	"fmt"
	"sync"
)

// Sealer is one SFrame sending context (RFC 9605 §4.4): a key, its KID and
// the counter that makes every nonce unique under that key.
type Sealer interface {
	Seal(dst, plaintext, metadata []byte) ([]byte, error)
}

// NewSealerFunc builds a Sealer for a KID and base key.
type NewSealerFunc func(kid uint64, baseKey []byte) (Sealer, error)

// ErrNoKey reports a frame sealed before any send key was set.
var ErrNoKey = errors.New("send: no send key")

// ErrKIDReused reports a send key set under a KID that was used before. A
// new Sealer restarts its counter, so reusing a (KID, key) pair would reuse
// nonces (RFC 9605 §4.4.3); the meeting protocol must allocate a fresh KID
// for every key.
var ErrKIDReused = errors.New("send: kid already used for sending")

// Keys is a participant's current send key. All of a participant's send
// pipelines seal under one Keys: they share one counter per key, so audio
// and video never seal two frames under the same nonce. A key switch takes
// effect between two frames: every frame is sealed whole under exactly one
// key.
type Keys struct {
	newSealer NewSealerFunc

	mu     sync.Mutex
	cur    Sealer
	kid    uint64
	hasKey bool
	used   map[uint64]struct{}
}

// NewKeys returns an empty key holder that builds sealers with newSealer.
func NewKeys(newSealer NewSealerFunc) *Keys {
	return &Keys{newSealer: newSealer, used: make(map[uint64]struct{})}
}

// Set switches to a new send key. The next frame sealed by any pipeline uses
// it. The caller may zero baseKey afterwards.
func (k *Keys) Set(kid uint64, baseKey []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.used[kid]; ok {
		return ErrKIDReused
	}
	s, err := k.newSealer(kid, baseKey)
	if err != nil {
		return fmt.Errorf("send: set key: %w", err)
	}
	destroy(k.cur)
	k.used[kid] = struct{}{}
	k.cur, k.kid, k.hasKey = s, kid, true
	return nil
}

// KID returns the current send KID, and false before any key was set.
func (k *Keys) KID() (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kid, k.hasKey
}

// Seal encrypts one whole frame under the current key and returns the
// ciphertext (appended to dst) and the KID it was sealed under.
func (k *Keys) Seal(dst, plaintext, metadata []byte) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hasKey {
		return dst, 0, ErrNoKey
	}
	out, err := k.cur.Seal(dst, plaintext, metadata)
	return out, k.kid, err
}

// Close drops the current key, zeroing it (*sframe.Sender has Destroy).
func (k *Keys) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	destroy(k.cur)
	k.cur, k.hasKey = nil, false
}

func destroy(s Sealer) {
	if d, ok := s.(interface{ Destroy() }); ok {
		d.Destroy()
	}
}
