package sframe

import (
	"crypto/subtle"
	"sync"
	"sync/atomic"

	"github.com/sottohq/sotto/crypto/internal/replay"
)

// Receiver decrypts frames of any KID it holds a key for (RFC 9605 §4.4.4)
// and rejects replays per KID (§7.4, §9.3). Keys are added and removed with
// SetKey and RemoveKey, which may run concurrently with Open: Open reads an
// immutable snapshot of the key table with one atomic load and locks only
// the KID it decrypts for. Open itself is safe for concurrent use.
type Receiver struct {
	suite CipherSuite
	// reorder, when set, rejects a CTR this far or further below the
	// highest accepted one (see SetReorderLimit).
	reorder atomic.Uint64
	wmu     sync.Mutex // serializes SetKey, RemoveKey and Destroy
	dead    bool       // guarded by wmu
	keys    atomic.Pointer[keyTable]
}

// recvKey is the receive state of one KID. mu guards every field and is
// held across check, decrypt and accept so the window sees each CTR once.
type recvKey struct {
	mu  sync.Mutex
	k   *keyState // nil after removal
	win replay.Window
}

// NewReceiver returns a Receiver for suite s with no keys. An unsupported
// suite is reported by SetKey.
func NewReceiver(s CipherSuite) *Receiver {
	return &Receiver{suite: s}
}

// Suite returns the receiver's cipher suite.
func (r *Receiver) Suite() CipherSuite { return r.suite }

// SetKey installs baseKey for KID kid, for decryption only (RFC 9605
// §4.4.1). Installing the key a KID already has changes nothing: its replay
// window is kept. A different key replaces and zeroes the old one and starts
// a fresh replay window, so frames of the old key could be accepted again
// if they still authenticated: give every new base key a new KID.
func (r *Receiver) SetKey(kid uint64, baseKey []byte) error {
	k, err := newKeyState(r.suite, kid, baseKey)
	if err != nil {
		return err
	}
	r.wmu.Lock()
	if r.dead {
		r.wmu.Unlock()
		k.destroy()
		return ErrDestroyed
	}
	var cur keyTable
	if t := r.keys.Load(); t != nil {
		cur = *t
	}
	old := cur.find(kid)
	if old.sameKey(k) {
		r.wmu.Unlock()
		k.destroy()
		return nil
	}
	next := cur.with(kid, &recvKey{k: k})
	r.keys.Store(&next)
	r.wmu.Unlock()
	old.destroy()
	return nil
}

// RemoveKey forgets and zeroes the key of KID kid, if any. Frames for kid
// then fail with ErrUnknownKey.
func (r *Receiver) RemoveKey(kid uint64) {
	r.wmu.Lock()
	cur := r.keys.Load()
	var old *recvKey
	if cur != nil {
		old = cur.find(kid)
	}
	if old == nil {
		r.wmu.Unlock()
		return
	}
	next := cur.without(kid)
	r.keys.Store(&next)
	r.wmu.Unlock()
	old.destroy()
}

// Destroy zeroes every key; later calls to SetKey fail with ErrDestroyed
// and Open with ErrUnknownKey. It is safe to call more than once.
func (r *Receiver) Destroy() {
	r.wmu.Lock()
	r.dead = true
	cur := r.keys.Swap(nil)
	r.wmu.Unlock()
	if cur != nil {
		for _, e := range *cur {
			e.rk.destroy()
		}
	}
}

// sameKey reports whether rk holds the key of k. Equal salts mean equal
// base keys for the same KID and suite, up to a 96-bit HKDF collision.
func (rk *recvKey) sameKey(k *keyState) bool {
	if rk == nil {
		return false
	}
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.k != nil && subtle.ConstantTimeCompare(rk.k.salt[:], k.salt[:]) == 1
}

func (rk *recvKey) destroy() {
	if rk == nil {
		return
	}
	rk.mu.Lock()
	rk.k.destroy()
	rk.k = nil
	rk.mu.Unlock()
}

// SetReorderLimit makes Open reject, as ErrReplay, a frame whose CTR is n
// or more below the highest CTR accepted under its KID, even inside the
// replay window (RFC 9605 §9.3 leaves the window's size to the
// application). A relay that holds frames back can then replay them out of
// order only within n frames of the newest. Zero, the default, keeps the
// whole ReplayWindow.
func (r *Receiver) SetReorderLimit(n uint64) { r.reorder.Store(n) }

func (r *Receiver) tooFarBehind(w *replay.Window, ctr uint64) bool {
	n := r.reorder.Load()
	return n != 0 && w.Behind(ctr) >= n
}

// Open decrypts one SFrame ciphertext (RFC 9605 §4.4.4) with metadata as the
// application's part of the AAD (aad = header ‖ metadata), appends the
// plaintext to dst and returns the extended slice and the parsed header. In
// order it rejects: a malformed header (an error wrapping ErrMalformed), a
// KID without a key (ErrUnknownKey; the header is returned so the caller
// may buffer the frame until the key arrives), a CTR already accepted or
// older than the replay window (ErrReplay), and any authentication failure
// (ErrAuthentication). The replay window advances only after the frame
// authenticates. If dst has spare capacity Open allocates nothing. dst must
// not overlap frame except exactly in place, dst = frame[n:n] with n the
// header length; other overlaps fail with ErrBufferOverlap.
func (r *Receiver) Open(dst, frame, metadata []byte) ([]byte, Header, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return nil, Header{}, err
	}
	tab := r.keys.Load()
	if tab == nil {
		return nil, h, ErrUnknownKey
	}
	rk := tab.find(h.KID)
	if rk == nil {
		return nil, h, ErrUnknownKey
	}
	rk.mu.Lock()
	switch {
	case rk.k == nil:
		err = ErrUnknownKey
	case rk.win.Check(h.CTR) != replay.Fresh:
		err = ErrReplay
	case r.tooFarBehind(&rk.win, h.CTR):
		err = ErrReplay
	default:
		dst, err = rk.k.open(dst, frame[:n], h.CTR, frame[n:], metadata)
		if err == nil {
			rk.win.Accept(h.CTR)
		}
	}
	rk.mu.Unlock()
	if err != nil {
		return nil, h, err
	}
	return dst, h, nil
}
