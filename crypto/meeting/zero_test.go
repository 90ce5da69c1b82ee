package meeting

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// spyAEAD records every plaintext the core hands to Seal and every
// plaintext Open returns to it, to check afterwards what is left in them.
type spyAEAD struct {
	cipherAEAD
	sealed *[][]byte
	opened *[]openedPT
}

type openedPT struct {
	kind byte
	pt   []byte
}

func (s spyAEAD) Seal(dst, nonce, pt, ad []byte) []byte {
	*s.sealed = append(*s.sealed, pt)
	return s.cipherAEAD.Seal(dst, nonce, pt, ad)
}

func (s spyAEAD) Open(dst, nonce, ct, ad []byte) ([]byte, error) {
	pt, err := s.cipherAEAD.Open(dst, nonce, ct, ad)
	if err == nil && len(pt) > format.LenPrefixSize {
		*s.opened = append(*s.opened, openedPT{kind: pt[format.LenPrefixSize], pt: pt})
	}
	return pt, err
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// A sender key crosses the core in plaintext buffers on both sides: the
// padded plaintext it seals and the plaintext it opens. Neither may keep
// the key once the envelope is sealed or handled.
func TestKeyPlaintextsAreZeroed(t *testing.T) {
	w, h, js := setup(t, "a")
	a := js[0]
	var sealed [][]byte
	var opened []openedPT
	for _, pair := range [][2]*node{{h, a}, {a, h}} {
		p := pair[0].m.peers[pair[1].m.MemberKey()]
		p.send = spyAEAD{p.send, &sealed, &opened}
		p.recv = spyAEAD{p.recv, &sealed, &opened}
	}
	// A new member starts an epoch: h and a send each other sender keys.
	w.join("b", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(t, h)
	w.run(time.Second)
	keys := 0
	for _, o := range opened {
		if o.kind == format.KindSenderKey {
			keys++
			if !allZero(o.pt[format.LenPrefixSize:]) { // the length is not secret
				t.Fatal("an opened sender-key plaintext still holds the key")
			}
		}
	}
	if keys < 2 {
		t.Fatalf("%d sender keys opened between h and a, want at least 2", keys)
	}
	for _, pt := range sealed {
		if !allZero(pt) {
			t.Fatal("a sealed plaintext was left behind")
		}
	}
}
