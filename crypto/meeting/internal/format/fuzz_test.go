package format

import (
	"bytes"
	"testing"
)

// FuzzEnvelope: the clear header and the plaintext padding never panic,
// and what they accept is exactly what the encoders produce.
func FuzzEnvelope(f *testing.F) {
	a := testAEAD(f)
	inner := AppendInner(nil, KindAck, [SIDSize]byte{1}, [SIDSize]byte{2}, 1, AppendAck(nil, 1))
	inner = append(inner, make([]byte, SigSize)...)
	env, _ := SealEnvelope(a, bytes.NewReader(make([]byte, NonceSize)), [KeySize]byte{1}, [KeySize]byte{2}, inner)
	f.Add(env)
	f.Add(Pad(inner))
	f.Add(make([]byte, 2*PadBlock)) // more zero padding than Pad writes
	f.Add(inner)
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseHeader(b); err == nil {
			if b[0] != Version || (h.Type != TypeHello && h.Type != TypeSealed) || len(b) > MaxEnvelope {
				t.Fatalf("accepted header %x", b[:2])
			}
			if h.Type == TypeHello {
				_, _ = OpenHello(a, b)
			} else {
				_, _ = OpenSealed(a, b)
			}
		}
		// Unpad accepts padding beyond the next block boundary (§6.3 asks
		// only for zeros), so Pad's output is a prefix of what was accepted.
		if in, err := Unpad(b); err == nil {
			p := Pad(in)
			if len(p) > len(b) || !bytes.Equal(p, b[:len(p)]) || !bytes.Equal(b[len(p):], make([]byte, len(b)-len(p))) {
				t.Fatal("accepted plaintext is not the padding of its content")
			}
		}
		if in, err := ParseInner(b); err == nil {
			again := append(AppendInner(nil, in.Kind, in.From, in.To, in.Seq, in.Body), in.Sig...)
			if !bytes.Equal(again, b) {
				t.Fatal("accepted inner message does not re-encode identically")
			}
		}
	})
}

// FuzzParseRoster: what parses re-encodes to the same bytes, so a roster
// has one encoding and one hash.
func FuzzParseRoster(f *testing.F) {
	r, enc := testRoster(f, 3)
	f.Add(enc)
	f.Add(enc[:len(enc)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, body, sig, err := ParseRoster(b, r.MeetingID)
		if err != nil {
			return
		}
		if !bytes.Equal(append(got.AppendBody(nil), sig...), b) || !bytes.Equal(body, b[:len(b)-SigSize]) {
			t.Fatal("accepted roster does not re-encode identically")
		}
	})
}

// FuzzBodies: every body decoder either rejects or accepts bytes its
// encoder gives back exactly.
func FuzzBodies(f *testing.F) {
	id, pub := newPublic(f)
	cert := HostCert{Epoch: 2, Host: pub, Sig: id.Sign([]byte("x"))}
	var priv [KeySize]byte
	for _, b := range [][]byte{
		AppendHello(nil, pub, "Ada"),
		AppendDeny(nil, pub, pub, []HostCert{cert}),
		AppendSenderKey(nil, 1<<16, make([]byte, BaseKeySize)),
		AppendAck(nil, 3),
		AppendChat(nil, 7, "hi"),
		AppendLobby(nil, 4, [SIDSize]byte{1}),
		AppendHandOver(nil, cert, &priv),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(kind string, ok bool, again []byte) {
			if ok && !bytes.Equal(again, b) {
				t.Fatalf("accepted %s body does not re-encode identically", kind)
			}
		}
		p, name, err := ParseHello(b)
		check("hello", err == nil, AppendHello(nil, p, name))
		s, o, certs, err := ParseDeny(b)
		check("deny", err == nil, AppendDeny(nil, s, o, certs))
		kid, key, err := ParseSenderKey(b)
		check("sender key", err == nil, AppendSenderKey(nil, kid, key))
		seq, err := ParseAck(b)
		check("ack", err == nil, AppendAck(nil, seq))
		prev, text, err := ParseChat(b)
		check("chat", err == nil, AppendChat(nil, prev, text))
		e, sids, err := ParseLobby(b)
		check("lobby", err == nil, AppendLobby(nil, e, sids...))
		c, pk, err := ParseHandOver(b)
		if err == nil {
			var ip [KeySize]byte
			copy(ip[:], pk)
			check("hand-over", true, AppendHandOver(nil, c, &ip))
		}
	})
}
