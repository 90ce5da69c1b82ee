package format

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sottohq/sotto/crypto/identity"
)

// The offsets of docs/PROTOCOL.md §6.3 and §6.4 tables.
func TestSizesMatchTheSpec(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"hello ciphertext offset", HelloHeaderSize, 58},
		{"sealed ciphertext offset", SealedHeaderSize, 90},
		{"inner body offset", InnerHeaderSize, 41},
		{"host certificate", CertSize, 8 + 129 + 64},
		{"sender key body", SenderKeySize, 40},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	// The largest inner message, padded and sealed, fits MaxEnvelope, and
	// its length fits the u16 prefix.
	if n := SealedHeaderSize + len(Pad(make([]byte, MaxInner))) + TagSize; n > MaxEnvelope || MaxInner > 0xffff {
		t.Errorf("largest sealed envelope is %d bytes", n)
	}
}

func testAEAD(t testing.TB) AEAD {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPad(t *testing.T) {
	for _, n := range []int{0, 1, PadBlock - LenPrefixSize, PadBlock - LenPrefixSize + 1, MaxInner} {
		in := bytes.Repeat([]byte{0xa5}, n)
		p := Pad(in)
		if len(p)%PadBlock != 0 || len(p) < LenPrefixSize+n || len(p) >= LenPrefixSize+n+PadBlock {
			t.Fatalf("%d bytes padded to %d", n, len(p))
		}
		got, err := Unpad(p)
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: unpad %v", n, err)
		}
	}
	p := Pad([]byte("x"))
	for name, bad := range map[string][]byte{
		"non-zero padding": append(bytes.Clone(p[:PadBlock-1]), 1),
		"length past end":  append([]byte{0x01, 0x00}, make([]byte, PadBlock-2)...),
		"not a block":      p[:PadBlock-1],
		"empty":            nil,
	} {
		if _, err := Unpad(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	a := testAEAD(t)
	var mS, mR [KeySize]byte
	mS[0], mR[0] = 1, 2
	inner := AppendInner(nil, KindChat, [SIDSize]byte{3}, [SIDSize]byte{4}, 7, []byte("body"))
	inner = append(inner, make([]byte, SigSize)...)

	env, err := SealEnvelope(a, rand.Reader, mS, mR, inner)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(env)
	if err != nil || h.Type != TypeSealed || h.Sender != mS || h.To != mR {
		t.Fatalf("sealed header %+v, %v", h, err)
	}
	got, err := OpenSealed(a, env)
	if err != nil || !bytes.Equal(got, inner) {
		t.Fatalf("open sealed: %v", err)
	}
	in, err := ParseInner(got)
	if err != nil || in.Kind != KindChat || in.From != [SIDSize]byte{3} || in.To != [SIDSize]byte{4} || in.Seq != 7 ||
		string(in.Body) != "body" || len(in.Sig) != SigSize || !bytes.Equal(in.Signed, inner[:len(inner)-SigSize]) {
		t.Fatalf("inner %+v, %v", in, err)
	}
	// The clear header is authenticated: moving the envelope to another
	// recipient key breaks it.
	env[2+KeySize] ^= 1
	if _, err := OpenSealed(a, env); err == nil {
		t.Fatal("a re-addressed envelope opened")
	}

	hello, err := SealHello(a, rand.Reader, mS, inner)
	if err != nil {
		t.Fatal(err)
	}
	h, err = ParseHeader(hello)
	if err != nil || h.Type != TypeHello || h.Sender != mS || h.To != ([KeySize]byte{}) {
		t.Fatalf("hello header %+v, %v", h, err)
	}
	if got, err := OpenHello(a, hello); err != nil || !bytes.Equal(got, inner) {
		t.Fatalf("open hello: %v", err)
	}
	hello[len(hello)-1] ^= 1
	if _, err := OpenHello(a, hello); err == nil {
		t.Fatal("a changed hello opened")
	}
}

func TestParseHeaderRejects(t *testing.T) {
	ok := make([]byte, SealedHeaderSize+PadBlock+TagSize)
	ok[0], ok[1] = Version, TypeSealed
	if _, err := ParseHeader(ok); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{Version + 1}, ok[1:]...),
		"type":         append([]byte{Version, 0x03}, ok[2:]...),
		"short sealed": ok[:len(ok)-1],
		"short hello":  append([]byte{Version, TypeHello}, make([]byte, HelloHeaderSize+PadBlock+TagSize-3)...),
		"too long":     append(bytes.Clone(ok), make([]byte, MaxEnvelope)...),
	} {
		if _, err := ParseHeader(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseInner(make([]byte, InnerHeaderSize+SigSize-1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("short inner: %v", err)
	}
}

func newPublic(t testing.TB) (*identity.Identity, identity.Public) {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id, id.Public()
}

func testRoster(t testing.TB, n int) (Roster, []byte) {
	t.Helper()
	id, pub := newPublic(t)
	r := Roster{MeetingID: [MeetingIDSize]byte{9}, Epoch: 3, Prev: [HashSize]byte{1}, Origin: pub}
	for i := range n {
		p := pub
		if i > 0 {
			_, p = newPublic(t)
		}
		r.Members = append(r.Members, Member{Session: [SIDSize]byte{byte(i + 1)}, Identity: p, MemberKey: [KeySize]byte{byte(i + 1)}, Name: strings.Repeat("n", i+1)})
	}
	r.Certs = []HostCert{{Epoch: 2, Host: pub, Sig: id.Sign(HostCertMessage(r.MeetingID, 2, pub))}}
	body := r.AppendBody(nil)
	return r, append(body, id.Sign(RosterMessage(body))...)
}

func TestRosterRoundTrip(t *testing.T) {
	want, enc := testRoster(t, 3)
	got, body, sig, err := ParseRoster(enc, want.MeetingID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(body, sig...), enc) || !bytes.Equal(got.AppendBody(nil), body) {
		t.Fatal("parsed roster does not re-encode identically")
	}
	if got.Epoch != 3 || got.Host != 0 || len(got.Members) != 3 || got.Members[2].Name != "nnn" || len(got.Certs) != 1 ||
		!got.Origin.Equal(want.Origin) || !got.Members[0].Identity.Verify(RosterMessage(body), sig) {
		t.Fatalf("parsed roster %+v", got)
	}
	if RosterHash(body) == RosterHash(append(bytes.Clone(body), 0)) {
		t.Fatal("roster hash ignores its input")
	}
}

func TestParseRosterRejects(t *testing.T) {
	base, _ := testRoster(t, 2)
	encode := func(edit func(*Roster)) []byte {
		r := base
		r.Members = append([]Member(nil), base.Members...)
		edit(&r)
		return append(r.AppendBody(nil), make([]byte, SigSize)...)
	}
	for name, enc := range map[string][]byte{
		"short":          make([]byte, SigSize-1),
		"version":        append([]byte{RosterVersion + 1}, encode(func(*Roster) {})[1:]...),
		"epoch 0":        encode(func(r *Roster) { r.Epoch = 0 }),
		"host index":     encode(func(r *Roster) { r.Host = 2 }),
		"no members":     encode(func(r *Roster) { r.Members = nil }),
		"duplicate sid":  encode(func(r *Roster) { r.Members[1].Session = r.Members[0].Session }),
		"duplicate key":  encode(func(r *Roster) { r.Members[1].MemberKey = r.Members[0].MemberKey }),
		"duplicate id":   encode(func(r *Roster) { r.Members[1].Identity = r.Members[0].Identity }),
		"zero sid":       encode(func(r *Roster) { r.Members[1].Session = [SIDSize]byte{} }),
		"bad name":       encode(func(r *Roster) { r.Members[1].Name = "a\nb" }),
		"empty name":     encode(func(r *Roster) { r.Members[1].Name = "" }),
		"other meeting":  encode(func(r *Roster) { r.MeetingID[0] ^= 1 }),
		"too many certs": encode(func(r *Roster) { r.Certs = make([]HostCert, MaxCerts+1) }),
		"trailing byte":  append(encode(func(*Roster) {}), 0),
	} {
		if _, _, _, err := ParseRoster(enc, base.MeetingID); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"Ada": true, strings.Repeat("é", 32): true, strings.Repeat("x", MaxNameChars): true,
		strings.Repeat("é", MaxNameChars): true, strings.Repeat("名", MaxNameChars): true,
		strings.Repeat("😀", 63): true, strings.Repeat("😀", 64): false,
		strings.Repeat("名", MaxNameChars+1): false,
		"":                                  false, strings.Repeat("x", MaxNameChars+1): false, "a\x00": false, "\u0085": false, "\xff": false,
	} {
		if ValidName(s) != want {
			t.Errorf("ValidName(%q) = %v", s, !want)
		}
	}
}

func TestBodiesRoundTrip(t *testing.T) {
	id, pub := newPublic(t)
	cert := HostCert{Epoch: 5, Host: pub, Sig: id.Sign([]byte("x"))}

	if p, name, err := ParseHello(AppendHello(nil, pub, "Ada")); err != nil || !p.Equal(pub) || name != "Ada" {
		t.Errorf("hello: %q %v", name, err)
	}
	s, o, certs, err := ParseDeny(AppendDeny(nil, pub, pub, []HostCert{cert, cert}))
	if err != nil || !s.Equal(pub) || !o.Equal(pub) || len(certs) != 2 || certs[1].Epoch != 5 || !bytes.Equal(certs[1].Sig, cert.Sig) {
		t.Errorf("deny: %v", err)
	}
	key := bytes.Repeat([]byte{7}, BaseKeySize)
	if kid, k, err := ParseSenderKey(AppendSenderKey(nil, 0x30201, key)); err != nil || kid != 0x30201 || !bytes.Equal(k, key) {
		t.Errorf("sender key: %v", err)
	}
	if seq, err := ParseAck(AppendAck(nil, 1<<40)); err != nil || seq != 1<<40 {
		t.Errorf("ack: %v", err)
	}
	if text, err := ParseChat(AppendChat(nil, "héllo")); err != nil || text != "héllo" {
		t.Errorf("chat: %v", err)
	}
	e, sids, err := ParseLobby(AppendLobby(nil, 9, [SIDSize]byte{1}, [SIDSize]byte{2}))
	if err != nil || e != 9 || len(sids) != 2 || sids[1] != [SIDSize]byte{2} {
		t.Errorf("lobby: %v", err)
	}
	var priv [KeySize]byte
	priv[31] = 8
	c, p, err := ParseHandOver(AppendHandOver(nil, cert, &priv))
	if err != nil || c.Epoch != 5 || !c.Host.Equal(pub) || !bytes.Equal(p, priv[:]) {
		t.Errorf("hand-over: %v", err)
	}
}

func TestBodiesReject(t *testing.T) {
	_, pub := newPublic(t)
	hello := AppendHello(nil, pub, "Ada")
	deny := AppendDeny(nil, pub, pub, nil)
	var priv [KeySize]byte
	handOver := AppendHandOver(nil, HostCert{Host: pub, Sig: make([]byte, SigSize)}, &priv)
	tooManyCerts := append(bytes.Clone(deny[:len(deny)-1]), MaxCerts+1)
	for _, c := range []struct {
		name  string
		parse func([]byte) error
		in    []byte
	}{
		{"hello short", helloErr, hello[:identity.PublicSize]},
		{"hello name length", helloErr, hello[:len(hello)-1]},
		{"hello trailing", helloErr, append(bytes.Clone(hello), 'x')},
		{"hello bad identity", helloErr, append(make([]byte, identity.PublicSize), 0)},
		{"deny short", denyErr, deny[:len(deny)-1]},
		{"deny trailing", denyErr, append(bytes.Clone(deny), 0)},
		{"deny too many certs", denyErr, tooManyCerts},
		{"sender key short", senderKeyErr, make([]byte, SenderKeySize-1)},
		{"sender key long", senderKeyErr, make([]byte, SenderKeySize+1)},
		{"ack", ackErr, make([]byte, SeqSize+1)},
		{"chat empty", chatErr, nil},
		{"chat length", chatErr, []byte{0, 2, 'x'}},
		{"lobby short", lobbyErr, make([]byte, 8)},
		{"lobby count", lobbyErr, append(make([]byte, 8), 1)},
		{"hand-over short", handOverErr, handOver[:len(handOver)-1]},
		{"hand-over trailing", handOverErr, append(bytes.Clone(handOver), 0)},
	} {
		if err := c.parse(c.in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func helloErr(b []byte) error     { _, _, err := ParseHello(b); return err }
func denyErr(b []byte) error      { _, _, _, err := ParseDeny(b); return err }
func senderKeyErr(b []byte) error { _, _, err := ParseSenderKey(b); return err }
func ackErr(b []byte) error       { _, err := ParseAck(b); return err }
func chatErr(b []byte) error      { _, err := ParseChat(b); return err }
func lobbyErr(b []byte) error     { _, _, err := ParseLobby(b); return err }
func handOverErr(b []byte) error  { _, _, err := ParseHandOver(b); return err }
