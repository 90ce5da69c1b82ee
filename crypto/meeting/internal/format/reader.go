package format

import (
	"bytes"
	"encoding/binary"

	"github.com/sottohq/sotto/crypto/identity"
)

// reader is a bounds-checked cursor over untrusted bytes. A read past the
// end, or a field that does not parse, marks it bad and yields zeros; the
// caller checks done once at the end.
type reader struct {
	b   []byte
	bad bool
}

// take returns the next n bytes (aliasing the input).
func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// u8 reads a byte.
func (r *reader) u8() int { return int(r.take(1)[0]) }

// u64 reads a big-endian u64.
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

// public reads an identity (§1.2).
func (r *reader) public() identity.Public {
	p, err := identity.ParsePublic(r.take(identity.PublicSize))
	if err != nil {
		r.bad = true
	}
	return p
}

// cert reads a host certificate; its signature is copied.
func (r *reader) cert() HostCert {
	var c HostCert
	c.Epoch = r.u64()
	c.Host = r.public()
	c.Sig = bytes.Clone(r.take(SigSize))
	return c
}

// done reports whether everything read was well formed and nothing is left.
func (r *reader) done() bool { return !r.bad && len(r.b) == 0 }
