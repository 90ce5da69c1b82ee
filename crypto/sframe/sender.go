package sframe

import (
	"math"
	"sync"
)

// Sender encrypts frames under one KID and base key (RFC 9605 §4.4.3). It
// owns the KID's counter: every frame gets the next CTR, starting at the
// value given at creation, and Seal fails with ErrCounterExhausted rather
// than reuse a counter (§7.4, §9.1). A Sender is safe for concurrent use;
// concurrent Seals get distinct counters.
type Sender struct {
	// mu makes taking a CTR and using it one step, so that no two frames
	// share a nonce (RFC 9605 §9.1), and guards the key's scratch space
	// (the nonce and header ‖ metadata, which cipher.AEAD needs as
	// contiguous AAD). A lock-free Seal would take the CTR with one atomic
	// add but still need scratch per call; Go moves such scratch to the heap
	// when it is passed through the cipher.AEAD interface (one allocation
	// per frame) unless escape analysis is defeated with unsafe code. The
	// lock costs about 5 ns more than one atomic add (see
	// BenchmarkSealCostBreakdown), which does not justify either.
	mu        sync.Mutex
	suite     CipherSuite
	kid       uint64
	next      uint64
	exhausted bool
	k         *keyState
}

// NewSender returns a Sender for KID kid whose first frame uses CTR 0.
// baseKey must be used by this sender only, and only for encryption
// (RFC 9605 §4.4.1).
func NewSender(s CipherSuite, kid uint64, baseKey []byte) (*Sender, error) {
	return NewSenderAt(s, kid, baseKey, 0)
}

// NewSenderAt returns a Sender whose first frame uses CTR firstCTR. It is
// for resuming a stored context (RFC 9605 §9.1: store the next CTR before
// using it) and for reproducing test vectors; reusing a CTR under the same
// base key and KID breaks confidentiality.
func NewSenderAt(s CipherSuite, kid uint64, baseKey []byte, firstCTR uint64) (*Sender, error) {
	k, err := newKeyState(s, kid, baseKey)
	if err != nil {
		return nil, err
	}
	return &Sender{suite: s, kid: kid, next: firstCTR, k: k}, nil
}

// KID returns the sender's Key ID.
func (s *Sender) KID() uint64 { return s.kid }

// Suite returns the sender's cipher suite.
func (s *Sender) Suite() CipherSuite { return s.suite }

// Counter returns the CTR the next frame will use. Once the counter is
// exhausted it returns math.MaxUint64 and Seal fails.
func (s *Sender) Counter() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exhausted {
		return math.MaxUint64
	}
	return s.next
}

// Seal encrypts plaintext with metadata as additional authenticated data
// and appends the SFrame ciphertext header ‖ ciphertext ‖ tag to dst
// (RFC 9605 §4.4.3, aad = header ‖ metadata). The result is
// Overhead(suite, KID, CTR) bytes longer than plaintext. If dst has enough
// spare capacity Seal allocates nothing. plaintext must not overlap the
// appended bytes except exactly in place: plaintext starting at
// dst[len(dst)+headerLen:]; other overlaps fail with ErrBufferOverlap. The
// counter advances only when Seal succeeds.
func (s *Sender) Seal(dst, plaintext, metadata []byte) ([]byte, error) {
	s.mu.Lock()
	if s.k == nil {
		s.mu.Unlock()
		return dst, ErrDestroyed
	}
	if s.exhausted {
		s.mu.Unlock()
		return dst, ErrCounterExhausted
	}
	out, err := s.k.seal(dst, Header{KID: s.kid, CTR: s.next}, plaintext, metadata)
	if err == nil {
		if s.next == math.MaxUint64 {
			s.exhausted = true
		} else {
			s.next++
		}
	}
	s.mu.Unlock()
	return out, err
}

// Destroy zeroes the sender's key material; later Seals fail with
// ErrDestroyed. It is safe to call more than once.
func (s *Sender) Destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.k.destroy()
	s.k = nil
}
