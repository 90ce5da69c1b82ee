package sframe

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// SFrame header wire format, RFC 9605 §4.3:
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+------------+------------+
//	|X|  K  |Y|  C  |   KID...   |   CTR...   |
//	+-+-+-+-+-+-+-+-+------------+------------+
//
// X=0: K is the KID (0-7). X=1: K is the KID length in bytes minus one and
// the KID follows the config byte. Y and C do the same for the CTR, whose
// bytes follow the KID bytes. Extended values are big-endian and use the
// minimum number of bytes; a decoder rejects any other encoding.
const (
	// configLen is the size of the config byte.
	configLen = 1
	// flagX is the extended-KID flag (bit 0 of the config byte, MSB first).
	flagX = 0x80
	// shiftK is the position of the 3-bit K field.
	shiftK = 4
	// flagY is the extended-CTR flag.
	flagY = 0x08
	// fieldMask masks a 3-bit K or C field after shifting.
	fieldMask = 0x07
	// maxInline is the largest value carried inside the config byte.
	maxInline = 7
	// maxValueLen is the largest KID or CTR length (3-bit length minus one).
	maxValueLen = 8
	// MaxHeaderLen is the largest possible SFrame header: config byte plus
	// an 8-byte KID and an 8-byte CTR.
	MaxHeaderLen = configLen + 2*maxValueLen
)

// Header parse errors; each wraps ErrMalformed.
var (
	errHeaderEmpty     = fmt.Errorf("%w: empty frame", ErrMalformed)
	errHeaderTruncated = fmt.Errorf("%w: truncated kid or ctr", ErrMalformed)
	errHeaderKIDLong   = fmt.Errorf("%w: non-minimal kid encoding", ErrMalformed)
	errHeaderCTRLong   = fmt.Errorf("%w: non-minimal ctr encoding", ErrMalformed)
)

// Header is a decoded SFrame header: the Key ID and the Counter
// (RFC 9605 §4.3).
type Header struct {
	KID uint64
	CTR uint64
}

// valueLen is the number of bytes a KID or CTR takes after the config byte.
func valueLen(v uint64) int {
	if v <= maxInline {
		return 0
	}
	return (bits.Len64(v) + 7) / 8
}

// Len returns the encoded size of h in bytes (1 to MaxHeaderLen).
func (h Header) Len() int {
	return configLen + valueLen(h.KID) + valueLen(h.CTR)
}

// AppendTo appends the encoding of h (RFC 9605 §4.3) to dst and returns the
// extended slice.
func (h Header) AppendTo(dst []byte) []byte {
	var b [MaxHeaderLen]byte
	n := h.encode(&b)
	return append(dst, b[:n]...)
}

// encode writes the encoding of h at the start of b and returns its length.
func (h Header) encode(b *[MaxHeaderLen]byte) int {
	kl, cl := valueLen(h.KID), valueLen(h.CTR)
	var cfg byte
	if kl == 0 {
		cfg |= byte(h.KID) << shiftK
	} else {
		cfg |= flagX | byte(kl-1)<<shiftK
	}
	if cl == 0 {
		cfg |= byte(h.CTR)
	} else {
		cfg |= flagY | byte(cl-1)
	}
	b[0] = cfg
	// Each value is written left-aligned as 8 big-endian bytes; the CTR
	// write overwrites the KID's unused tail. b has room for both (1+8+8).
	// A shift by 64 (an inline value) yields 0 in Go.
	binary.BigEndian.PutUint64(b[configLen:], h.KID<<(64-8*uint(kl)))
	binary.BigEndian.PutUint64(b[configLen+kl:], h.CTR<<(64-8*uint(cl)))
	return configLen + kl + cl
}

// ParseHeader decodes the SFrame header at the start of b (RFC 9605 §4.3).
// It returns the header and its encoded length. Errors wrap ErrMalformed:
// an empty or truncated buffer, or an extended KID or CTR not encoded in the
// minimum number of bytes. It never reads past len(b).
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < configLen {
		return Header{}, 0, errHeaderEmpty
	}
	cfg := b[0]
	n := configLen
	var h Header
	var kl, cl int
	if cfg&flagX == 0 {
		h.KID = uint64(cfg>>shiftK) & fieldMask
	} else {
		kl = int(cfg>>shiftK)&fieldMask + 1
	}
	if cfg&flagY == 0 {
		h.CTR = uint64(cfg) & fieldMask
	} else {
		cl = int(cfg)&fieldMask + 1
	}
	if len(b) < n+kl+cl {
		return Header{}, 0, errHeaderTruncated
	}
	if kl > 0 {
		v, ok := readBE(b[n : n+kl])
		if !ok {
			return Header{}, 0, errHeaderKIDLong
		}
		h.KID = v
		n += kl
	}
	if cl > 0 {
		v, ok := readBE(b[n : n+cl])
		if !ok {
			return Header{}, 0, errHeaderCTRLong
		}
		h.CTR = v
		n += cl
	}
	return h, n, nil
}

// readBE decodes an extended KID or CTR field and reports whether it is the
// minimal encoding: no leading zero byte, and a value above maxInline.
func readBE(b []byte) (uint64, bool) {
	if b[0] == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, v > maxInline
}
