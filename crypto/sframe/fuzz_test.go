package sframe

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseHeader: any input parses or fails with ErrMalformed, never
// panics, and whatever parses re-encodes to exactly the bytes consumed
// (the encoding is canonical, RFC 9605 §4.3).
func FuzzParseHeader(f *testing.F) {
	v := loadVectors(f)
	for _, tc := range v.Header {
		f.Add([]byte(tc.Encoded))
	}
	for _, tc := range v.SFrame {
		f.Add([]byte(tc.CT))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add([]byte{0x88, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if n < 1 || n > MaxHeaderLen || n > len(b) || n != h.Len() {
			t.Fatalf("bad length %d for %x", n, b)
		}
		if enc := h.AppendTo(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("%x parsed to %+v which encodes as %x", b[:n], h, enc)
		}
	})
}

// FuzzOpen feeds arbitrary frames and metadata to receivers holding the
// vector keys for every suite. Nothing may panic, errors must be one of the
// documented kinds, and a frame is accepted only if it is the genuine
// vector frame with its metadata (an accepted forgery would be a bug).
func FuzzOpen(f *testing.F) {
	v := loadVectors(f)
	type known struct {
		suite      CipherSuite
		ct, md, pt []byte
	}
	var genuine []known
	for _, tc := range v.SFrame {
		genuine = append(genuine, known{tc.CipherSuite, tc.CT, tc.Metadata, tc.PT})
		f.Add(uint8(tc.CipherSuite), []byte(tc.CT), []byte(tc.Metadata))
		f.Add(uint8(tc.CipherSuite), []byte(tc.CT[:len(tc.CT)-1]), []byte(tc.Metadata))
		f.Add(uint8(tc.CipherSuite), []byte(tc.CT), []byte{})
	}
	for _, tc := range v.Header {
		f.Add(uint8(4), append([]byte(tc.Encoded), make([]byte, 20)...), []byte{})
	}
	base := v.SFrame[0].BaseKey
	kid := v.SFrame[0].KID
	f.Fuzz(func(t *testing.T, suite uint8, frame, md []byte) {
		s := allSuites[int(suite)%len(allSuites)]
		rcv := NewReceiver(s)
		for _, k := range []uint64{kid, 0, 1, 7, 8, 255} {
			if err := rcv.SetKey(k, base); err != nil {
				t.Fatal(err)
			}
		}
		pt, _, err := rcv.Open(make([]byte, 0, 8), frame, md)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) &&
				!errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrReplay) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		for _, g := range genuine {
			if g.suite == s && bytes.Equal(g.ct, frame) && bytes.Equal(g.md, md) {
				if !bytes.Equal(pt, g.pt) {
					t.Fatal("genuine frame decrypted wrongly")
				}
				return
			}
		}
		t.Fatalf("accepted a frame that was never sealed: %x", frame)
	})
}
