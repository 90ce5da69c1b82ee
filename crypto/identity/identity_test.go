package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustGenerate(t testing.TB) *Identity {
	t.Helper()
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPublicRoundTrip(t *testing.T) {
	id := mustGenerate(t)
	pub := id.Public()
	enc := pub.Marshal()
	if len(enc) != PublicSize || PublicSize != 129 {
		t.Fatalf("encoding is %d bytes, PublicSize %d, want 129", len(enc), PublicSize)
	}
	if enc[0] != 0x01 {
		t.Fatalf("version byte %#x, want 0x01", enc[0])
	}
	got, err := ParsePublic(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) || !bytes.Equal(got.Marshal(), enc) {
		t.Fatal("round trip changed the identity")
	}
	// The binding is the documented signature, checkable with plain Ed25519.
	msg := append([]byte("sotto identity binding v1"), pub.Exchange[:]...)
	if !ed25519.Verify(pub.Signing, msg, pub.Binding) {
		t.Fatal("binding is not Ed25519 over label ‖ exchange key")
	}
}

func TestParsePublicRejects(t *testing.T) {
	pub := mustGenerate(t).Public()
	enc := pub.Marshal()
	if _, err := ParsePublic(enc[:PublicSize-1]); !errors.Is(err, ErrPublicSize) {
		t.Errorf("short: %v", err)
	}
	if _, err := ParsePublic(append(enc, 0)); !errors.Is(err, ErrPublicSize) {
		t.Errorf("long: %v", err)
	}
	bad := bytes.Clone(enc)
	bad[0] = 0x02
	if _, err := ParsePublic(bad); !errors.Is(err, ErrPublicVersion) {
		t.Errorf("version: %v", err)
	}
	// Any change to a key or the binding breaks the binding.
	for i := 1; i < PublicSize; i++ {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x01
		if _, err := ParsePublic(bad); !errors.Is(err, ErrBadBinding) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	// A binding made by another identity's key does not bind this key.
	other := mustGenerate(t).Public()
	swapped := pub.clone()
	swapped.Exchange = other.Exchange
	if _, err := ParsePublic(swapped.Marshal()); !errors.Is(err, ErrBadBinding) {
		t.Errorf("foreign exchange key: %v", err)
	}
	// A hand-built Public with a short key still marshals to PublicSize and
	// fails to parse instead of shifting fields.
	if n := len((Public{Signing: []byte{1}}).Marshal()); n != PublicSize {
		t.Errorf("malformed Public marshals to %d bytes", n)
	}
}

func TestSignVerify(t *testing.T) {
	id := mustGenerate(t)
	pub := id.Public()
	msg := []byte("hello")
	sig := id.Sign(msg)
	if !pub.Verify(msg, sig) {
		t.Fatal("valid signature rejected")
	}
	if pub.Verify([]byte("hellp"), sig) {
		t.Fatal("signature accepted for another message")
	}
	if mustGenerate(t).Public().Verify(msg, sig) {
		t.Fatal("signature accepted under another key")
	}
	if (Public{}).Verify(msg, sig) {
		t.Fatal("empty key verified a signature")
	}
}

func TestECDH(t *testing.T) {
	a, b := mustGenerate(t), mustGenerate(t)
	ab, err := a.ECDH(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	ba, err := b.ECDH(a.Public())
	if err != nil {
		t.Fatal(err)
	}
	if len(ab) != 32 || !bytes.Equal(ab, ba) {
		t.Fatal("shared secrets differ")
	}
	c := mustGenerate(t)
	ac, _ := a.ECDH(c.Public())
	if bytes.Equal(ab, ac) {
		t.Fatal("different peers gave the same secret")
	}
	// Low-order points (RFC 7748 §6.1) give the all-zero secret: u=0, u=1
	// and the order-8 point below.
	order8, _ := hex.DecodeString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
	for _, u := range [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...), order8} {
		var p Public
		copy(p.Exchange[:], u)
		if _, err := a.ECDH(p); !errors.Is(err, ErrLowOrderPoint) {
			t.Errorf("low-order point %x: %v", u[:4], err)
		}
	}
}

func TestEqualAndKeys(t *testing.T) {
	id := mustGenerate(t)
	p := id.Public()
	q := id.Public()
	if !p.Equal(q) {
		t.Fatal("same identity not equal")
	}
	other := mustGenerate(t).Public()
	if p.Equal(other) {
		t.Fatal("different identities equal")
	}
	mixed := p.clone()
	mixed.Exchange = other.Exchange
	if p.Equal(mixed) {
		t.Fatal("identity equal despite different exchange key")
	}

	sk := p.SafetyKey()
	want := append(append([]byte{0x01}, p.Signing...), p.Exchange[:]...)
	if !bytes.Equal(sk, want) || len(sk) != SafetyKeySize {
		t.Fatalf("SafetyKey = %x, want version ‖ signing ‖ exchange", sk)
	}

	fp := p.Fingerprint()
	if fp != sha256.Sum256(p.Marshal()) {
		t.Fatal("Fingerprint is not SHA-256(Marshal())")
	}
	s := p.FingerprintString()
	if s != hex.EncodeToString(fp[:]) {
		t.Fatalf("FingerprintString = %q", s)
	}
	back, err := ParseFingerprint(strings.ToUpper(s))
	if err != nil || back != fp {
		t.Fatalf("ParseFingerprint: %v", err)
	}
	for _, bad := range []string{"", s[:63], s + "0", "zz" + s[2:]} {
		if _, err := ParseFingerprint(bad); !errors.Is(err, ErrFingerprint) {
			t.Errorf("ParseFingerprint(%q): %v", bad, err)
		}
	}
}

func TestPublicIsACopy(t *testing.T) {
	id := mustGenerate(t)
	p := id.Public()
	before := p.Marshal()
	p.Signing[0] ^= 0xff
	p.Binding[0] ^= 0xff
	if !bytes.Equal(id.Public().Marshal(), before) {
		t.Fatal("mutating a returned Public changed the identity")
	}
}

func TestPublicStringRedacted(t *testing.T) {
	p := mustGenerate(t).Public()
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p)} {
		for _, secretish := range []string{
			hex.EncodeToString(p.Signing), hex.EncodeToString(p.Exchange[:]), p.FingerprintString()[:16],
			fmt.Sprint([]byte(p.Signing)),
		} {
			if strings.Contains(s, secretish) {
				t.Fatalf("printing a Public reveals it: %q", s)
			}
		}
	}
}

func TestDestroy(t *testing.T) {
	id := mustGenerate(t)
	seed, scalar := id.secrets()
	if bytes.Equal(seed, make([]byte, 32)) || bytes.Equal(scalar, make([]byte, 32)) {
		t.Fatal("fresh identity has zero secrets")
	}
	signing := id.signing // same backing array
	id.Destroy()
	if !bytes.Equal(signing, make([]byte, len(signing))) {
		t.Fatal("Destroy left signing key bytes")
	}
	if id.exchange != [32]byte{} {
		t.Fatal("Destroy left exchange scalar")
	}
	for name, use := range map[string]func(){
		"Sign":   func() { id.Sign(nil) },
		"ECDH":   func() { id.ECDH(mustGenerate(t).Public()) },
		"Public": func() { id.Public() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s after Destroy did not panic", name)
				}
			}()
			use()
		}()
	}
	id.Destroy() // idempotent
	var nilID *Identity
	nilID.Destroy()
}

func TestFromSecretsDeterministic(t *testing.T) {
	id := mustGenerate(t)
	seed, scalar := id.secrets()
	again, err := fromSecrets(seed, scalar)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Public().Marshal(), id.Public().Marshal()) {
		t.Fatal("rebuilding from secrets changed the public encoding")
	}
	if _, err := fromSecrets(seed[:31], scalar); err == nil {
		t.Fatal("short seed accepted")
	}
}
