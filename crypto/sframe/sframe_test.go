package sframe

import (
	"bytes"
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"testing"

	xhkdf "golang.org/x/crypto/hkdf"
)

var allSuites = []CipherSuite{
	AES128CTRHMACSHA256_80, AES128CTRHMACSHA256_64, AES128CTRHMACSHA256_32,
	AES128GCMSHA256_128, AES256GCMSHA512_128,
}

var edgeValues = []uint64{0, 1, 7, 8, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 56, math.MaxUint64 - 1, math.MaxUint64}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSuiteConstants(t *testing.T) {
	// RFC 9605 §4.5 and §8.1.
	want := map[CipherSuite][5]int{ // Nh, Nk, Nn, Nt, value
		AES128CTRHMACSHA256_80: {32, 48, 12, 10, 1},
		AES128CTRHMACSHA256_64: {32, 48, 12, 8, 2},
		AES128CTRHMACSHA256_32: {32, 48, 12, 4, 3},
		AES128GCMSHA256_128:    {32, 16, 12, 16, 4},
		AES256GCMSHA512_128:    {64, 32, 12, 16, 5},
	}
	for s, w := range want {
		if got := [5]int{s.HashLen(), s.KeyLen(), s.NonceLen(), s.TagLen(), int(s)}; got != w {
			t.Errorf("%v: got %v want %v", s, got, w)
		}
		if !s.Supported() {
			t.Errorf("%v not supported", s)
		}
	}
	for _, s := range []CipherSuite{0, 6, 0xF000, 0xFFFF} {
		if s.Supported() || s.TagLen() != 0 || Overhead(s, 0, 0) != -1 {
			t.Errorf("suite %v should be unsupported", s)
		}
		if _, err := NewSender(s, 1, []byte("k")); !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("NewSender(%v): %v", s, err)
		}
		if err := NewReceiver(s).SetKey(1, []byte("k")); !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("SetKey(%v): %v", s, err)
		}
	}
	if AES128GCMSHA256_128.String() != "AES_128_GCM_SHA256_128" || CipherSuite(0x77).String() != "CipherSuite(0x77)" {
		t.Error("String")
	}
}

// refDeriveKeySalt is derive_key_salt of RFC 9605 §4.4.2 written directly
// from the pseudocode with an independent HKDF implementation.
func refDeriveKeySalt(s CipherSuite, kid uint64, baseKey []byte) (key, salt []byte) {
	h := map[bool]func() hash.Hash{false: sha256.New, true: sha512.New}[s == AES256GCMSHA512_128]
	nk := map[CipherSuite]int{1: 48, 2: 48, 3: 48, 4: 16, 5: 32}[s]
	secret := xhkdf.Extract(h, baseKey, nil)
	suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), uint16(s))
	key = make([]byte, nk)
	salt = make([]byte, 12)
	io.ReadFull(xhkdf.Expand(h, secret, append([]byte("SFrame 1.0 Secret key "), suffix...)), key)
	io.ReadFull(xhkdf.Expand(h, secret, append([]byte("SFrame 1.0 Secret salt "), suffix...)), salt)
	return key, salt
}

func TestDeriveKeySaltMatchesReference(t *testing.T) {
	for _, s := range allSuites {
		for _, kid := range edgeValues {
			base := randBytes(t, 16+int(kid%17))
			key, salt, err := DeriveKeySalt(s, kid, base)
			if err != nil {
				t.Fatal(err)
			}
			rk, rs := refDeriveKeySalt(s, kid, base)
			if !bytes.Equal(key, rk) || !bytes.Equal(salt, rs) {
				t.Fatalf("%v kid=%d: derivation differs from reference", s, kid)
			}
		}
	}
	if _, _, err := DeriveKeySalt(AES128GCMSHA256_128, 1, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("empty base key: %v", err)
	}
}

// refCTRHMACSeal is AEAD.Encrypt of RFC 9605 §4.5.1 written directly from
// the pseudocode with the standard library's CTR mode.
func refCTRHMACSeal(nt int, key, nonce, aad, pt []byte) []byte {
	encKey, authKey := key[:16], key[16:]
	block, _ := aes.NewCipher(encKey)
	iv := append(append([]byte(nil), nonce...), 0, 0, 0, 0)
	ct := make([]byte, len(pt))
	cipher.NewCTR(block, iv).XORKeyStream(ct, pt)
	var authData []byte
	authData = binary.BigEndian.AppendUint64(authData, uint64(len(aad)))
	authData = binary.BigEndian.AppendUint64(authData, uint64(len(ct)))
	authData = binary.BigEndian.AppendUint64(authData, uint64(nt))
	authData = append(authData, nonce...)
	authData = append(authData, aad...)
	authData = append(authData, ct...)
	m := hmac.New(sha256.New, authKey)
	m.Write(authData)
	return append(ct, m.Sum(nil)[:nt]...)
}

func TestCTRHMACMatchesReference(t *testing.T) {
	for _, s := range allSuites[:3] {
		for _, n := range []int{0, 1, 15, 16, 17, 511, 512, 513, 4097, 70000} {
			key := randBytes(t, 48)
			nonce := randBytes(t, 12)
			aad := randBytes(t, n%40)
			pt := randBytes(t, n)
			want := refCTRHMACSeal(s.TagLen(), key, nonce, aad, pt)
			got, err := SealAEAD(s, key, nonce, aad, pt)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v len %d: seal differs from reference (err=%v)", s, n, err)
			}
			back, err := OpenAEAD(s, key, nonce, aad, got)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("%v len %d: open: %v", s, n, err)
			}
			// Every single-bit change is an authentication failure.
			for _, i := range []int{0, len(got) / 2, len(got) - 1} {
				bad := append([]byte(nil), got...)
				bad[i] ^= 0x01
				if _, err := OpenAEAD(s, key, nonce, aad, bad); !errors.Is(err, ErrAuthentication) {
					t.Fatalf("%v: flipped byte %d: %v", s, i, err)
				}
			}
			if _, err := OpenAEAD(s, key, nonce, append(aad, 0), got); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("%v: longer aad accepted", s)
			}
			if _, err := OpenAEAD(s, key, nonce, aad, got[:s.TagLen()-1]); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("%v: short ciphertext: %v", s, err)
			}
		}
	}
}

func TestGCMMatchesStandardLibrary(t *testing.T) {
	for _, s := range allSuites[3:] {
		key := randBytes(t, s.KeyLen())
		nonce, aad, pt := randBytes(t, 12), randBytes(t, 9), randBytes(t, 1000)
		block, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(block)
		got, err := SealAEAD(s, key, nonce, aad, pt)
		if err != nil || !bytes.Equal(got, g.Seal(nil, nonce, pt, aad)) {
			t.Fatalf("%v: differs from AES-GCM (err=%v)", s, err)
		}
	}
	if _, err := SealAEAD(AES128GCMSHA256_128, make([]byte, 32), make([]byte, 12), nil, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("wrong key size: %v", err)
	}
	if _, err := SealAEAD(AES128CTRHMACSHA256_80, make([]byte, 48), make([]byte, 11), nil, nil); err == nil {
		t.Error("wrong nonce size accepted")
	}
	if _, _, err := SplitKey(AES128GCMSHA256_128, make([]byte, 16)); err == nil {
		t.Error("SplitKey on a GCM suite")
	}
}

func TestNonce(t *testing.T) {
	salt := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	n, err := Nonce(salt, 0x0102)
	if err != nil || !bytes.Equal(n, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ^ 1, 11 ^ 2}) {
		t.Fatalf("nonce %x err %v", n, err)
	}
	n, _ = Nonce(salt, math.MaxUint64)
	if !bytes.Equal(n[:4], salt[:4]) || n[4] != 4^0xff {
		t.Fatalf("nonce %x", n)
	}
	if _, err := Nonce(salt[:11], 1); err == nil {
		t.Error("short salt accepted")
	}
}

func TestHeaderRoundTripAndStrictness(t *testing.T) {
	for _, kid := range edgeValues {
		for _, ctr := range edgeValues {
			h := Header{KID: kid, CTR: ctr}
			b := h.AppendTo([]byte{0xaa})
			if len(b) != 1+h.Len() || b[0] != 0xaa {
				t.Fatalf("%+v: AppendTo clobbered prefix or wrong length", h)
			}
			got, n, err := ParseHeader(b[1:])
			if err != nil || got != h || n != h.Len() {
				t.Fatalf("%+v: parse: %+v %d %v", h, got, n, err)
			}
			for cut := 0; cut < n; cut++ {
				if _, _, err := ParseHeader(b[1 : 1+cut]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("%+v truncated to %d: %v", h, cut, err)
				}
			}
		}
	}
	if (Header{KID: math.MaxUint64, CTR: math.MaxUint64}).Len() != MaxHeaderLen {
		t.Error("MaxHeaderLen")
	}
	for _, bad := range [][]byte{
		{0x80, 0x05},             // KID 5 in extended form
		{0x08, 0x07},             // CTR 7 in extended form
		{0x90, 0x00, 0xff},       // leading zero KID byte
		{0x09, 0x00, 0x10},       // leading zero CTR byte
		{0xf0, 1, 2, 3, 4, 5, 6}, // 8-byte KID, 6 present
	} {
		if _, _, err := ParseHeader(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", bad, err)
		}
	}
	// Every config byte with every short tail parses or fails cleanly.
	for c := 0; c < 256; c++ {
		for n := 0; n <= 16; n++ {
			b := append([]byte{byte(c)}, bytes.Repeat([]byte{0x80}, n)...)
			h, l, err := ParseHeader(b)
			if err == nil && !bytes.Equal(h.AppendTo(nil), b[:l]) {
				t.Fatalf("%x: accepted non-canonical header", b)
			}
		}
	}
}

func TestRoundTripAllSuitesEdgeValues(t *testing.T) {
	metas := [][]byte{nil, []byte("m"), bytes.Repeat([]byte{7}, 300)}
	for _, s := range allSuites {
		for _, kid := range edgeValues {
			for _, ctr := range edgeValues {
				base := randBytes(t, 16)
				snd, err := NewSenderAt(s, kid, base, ctr)
				if err != nil {
					t.Fatal(err)
				}
				rcv := NewReceiver(s)
				if err := rcv.SetKey(kid, base); err != nil {
					t.Fatal(err)
				}
				pt := randBytes(t, int(ctr%200))
				md := metas[int(kid%3)]
				frame, err := snd.Seal(nil, pt, md)
				if err != nil {
					t.Fatal(err)
				}
				if len(frame) != len(pt)+Overhead(s, kid, ctr) {
					t.Fatalf("%v kid=%d ctr=%d: frame %d bytes, want %d", s, kid, ctr, len(frame), len(pt)+Overhead(s, kid, ctr))
				}
				got, h, err := rcv.Open(nil, frame, md)
				if err != nil || !bytes.Equal(got, pt) || h != (Header{kid, ctr}) {
					t.Fatalf("%v kid=%d ctr=%d: open %v", s, kid, ctr, err)
				}
				if ctr == math.MaxUint64 {
					if _, err := snd.Seal(nil, pt, md); !errors.Is(err, ErrCounterExhausted) {
						t.Fatalf("seal after CTR 2^64-1: %v", err)
					}
					if snd.Counter() != math.MaxUint64 {
						t.Fatal("Counter after exhaustion")
					}
				} else if snd.Counter() != ctr+1 {
					t.Fatalf("counter %d after one frame from %d", snd.Counter(), ctr)
				}
			}
		}
	}
}

func TestTamperingIsAuthenticationFailure(t *testing.T) {
	for _, s := range allSuites {
		base := randBytes(t, 16)
		snd, _ := NewSenderAt(s, 300, base, 1000)
		md := []byte("metadata")
		pt := randBytes(t, 64)
		frame, _ := snd.Seal(nil, pt, md)
		hl := Header{300, 1000}.Len()
		for i := range frame {
			for _, bit := range []byte{0x01, 0x80} {
				rcv := NewReceiver(s)
				rcv.SetKey(300, base)
				bad := append([]byte(nil), frame...)
				bad[i] ^= bit
				_, _, err := rcv.Open(nil, bad, md)
				if i >= hl && !errors.Is(err, ErrAuthentication) {
					t.Fatalf("%v: byte %d flipped: %v", s, i, err)
				}
				if err == nil {
					t.Fatalf("%v: byte %d flipped: accepted", s, i)
				}
			}
		}
		rcv := NewReceiver(s)
		rcv.SetKey(300, base)
		for _, c := range []struct {
			frame, md []byte
		}{
			{frame, []byte("metadatA")},
			{frame, nil},
			{append(append([]byte(nil), frame...), 0), md},
			{frame[:len(frame)-1], md},
			{frame[:hl+s.TagLen()-1], md},
			{frame[:hl], md},
		} {
			if _, _, err := rcv.Open(nil, c.frame, c.md); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("%v: got %v, want ErrAuthentication", s, err)
			}
		}
		// Wrong key for the right KID.
		other := NewReceiver(s)
		other.SetKey(300, randBytes(t, 16))
		if _, _, err := other.Open(nil, frame, md); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("%v wrong key: %v", s, err)
		}
		// Failures did not consume the counter: the real frame still opens.
		if got, _, err := rcv.Open(nil, frame, md); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%v: genuine frame after forgeries: %v", s, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	s := AES128GCMSHA256_128
	base := randBytes(t, 16)
	snd, _ := NewSender(s, 9, base)
	frame, _ := snd.Seal(nil, []byte("hi"), nil)
	rcv := NewReceiver(s)
	if _, h, err := rcv.Open(nil, frame, nil); !errors.Is(err, ErrUnknownKey) || h.KID != 9 {
		t.Fatalf("no keys: %v %+v", err, h)
	}
	rcv.SetKey(10, base)
	if _, _, err := rcv.Open(nil, frame, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other kid: %v", err)
	}
	if _, _, err := rcv.Open(nil, nil, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty frame: %v", err)
	}
	if _, _, err := rcv.Open(nil, []byte{0xff, 1}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated header: %v", err)
	}
	rcv.SetKey(9, base)
	if _, _, err := rcv.Open(nil, frame, nil); err != nil {
		t.Fatal(err)
	}
	rcv.RemoveKey(9)
	rcv.RemoveKey(12345) // absent: no effect
	if _, _, err := rcv.Open(nil, frame, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key: %v", err)
	}
	rcv.Destroy()
	rcv.Destroy()
	if err := rcv.SetKey(9, base); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("SetKey after Destroy: %v", err)
	}
	if _, _, err := rcv.Open(nil, frame, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open after Destroy: %v", err)
	}
	snd.Destroy()
	snd.Destroy()
	if _, err := snd.Seal(nil, []byte("x"), nil); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Seal after Destroy: %v", err)
	}
	if _, err := NewSender(s, 1, nil); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty base key: %v", err)
	}
}

func TestReplayWindow(t *testing.T) {
	s := AES128CTRHMACSHA256_32
	base := randBytes(t, 16)
	frames := map[uint64][]byte{}
	seal := func(ctr uint64) []byte {
		if f, ok := frames[ctr]; ok {
			return f
		}
		snd, _ := NewSenderAt(s, 1, base, ctr)
		f, _ := snd.Seal(nil, []byte{byte(ctr)}, nil)
		frames[ctr] = f
		return f
	}
	rcv := NewReceiver(s)
	rcv.SetKey(1, base)
	open := func(ctr uint64) error {
		_, _, err := rcv.Open(nil, seal(ctr), nil)
		return err
	}
	steps := []struct {
		ctr  uint64
		want error
	}{
		{5000, nil},        // first frame may start anywhere
		{5000, ErrReplay},  // duplicate
		{4990, nil},        // late but inside the window
		{4990, ErrReplay},  // duplicate of a late frame
		{5001, nil},        // next
		{3977, ErrReplay},  // 5001-3977 = 1024: just outside
		{3978, nil},        // 1023 below top: inside
		{3978, ErrReplay},  // and now seen
		{7000, nil},        // jump forward by more than a window
		{5001, ErrReplay},  // everything before 7000-1023 is too old
		{5977, nil},        // 7000-5977 = 1023: inside and unseen
		{6999, nil},        // inside, unseen
		{7000 + 1023, nil}, // slide by 1023: 7000 stays inside
		{7000, ErrReplay},  // still remembered
		{6999, ErrReplay},  // 1024 below top: too old now
		{8100, nil},        // slide by 77: bits for 8024..8100 cleared
		{8024, nil},        // reused bit slot (8024 = 7000+1024) must be clear
		{math.MaxUint64, nil},
		{math.MaxUint64, ErrReplay},
		{math.MaxUint64 - 1023, nil},
		{math.MaxUint64 - 1024, ErrReplay},
	}
	for i, st := range steps {
		if err := open(st.ctr); !errors.Is(err, st.want) {
			t.Fatalf("step %d ctr %d: got %v want %v", i, st.ctr, err, st.want)
		}
	}
}

func TestReplayWindowNotAdvancedByForgery(t *testing.T) {
	s := AES128GCMSHA256_128
	base := randBytes(t, 16)
	rcv := NewReceiver(s)
	rcv.SetKey(1, base)
	snd, _ := NewSenderAt(s, 1, base, 10)
	good, _ := snd.Seal(nil, []byte("a"), nil)
	// A forged frame with a huge CTR and a bogus tag.
	forged := Header{KID: 1, CTR: 1 << 40}.AppendTo(nil)
	forged = append(forged, make([]byte, 40)...)
	if _, _, err := rcv.Open(nil, forged, nil); !errors.Is(err, ErrAuthentication) {
		t.Fatal(err)
	}
	if _, _, err := rcv.Open(nil, good, nil); err != nil {
		t.Fatalf("forgery advanced the window: %v", err)
	}
}

func TestSetSameKeyKeepsReplayWindow(t *testing.T) {
	s := AES128GCMSHA256_128
	base := randBytes(t, 16)
	rcv := NewReceiver(s)
	rcv.SetKey(3, base)
	snd, _ := NewSender(s, 3, base)
	f, _ := snd.Seal(nil, []byte("x"), nil)
	if _, _, err := rcv.Open(nil, f, nil); err != nil {
		t.Fatal(err)
	}
	if err := rcv.SetKey(3, bytes.Clone(base)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rcv.Open(nil, f, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay after re-installing the same key: %v", err)
	}
}

func TestReplaceKeyResetsState(t *testing.T) {
	s := AES128GCMSHA256_128
	a, b := randBytes(t, 16), randBytes(t, 16)
	rcv := NewReceiver(s)
	rcv.SetKey(3, a)
	sa, _ := NewSender(s, 3, a)
	fa, _ := sa.Seal(nil, []byte("x"), nil)
	if _, _, err := rcv.Open(nil, fa, nil); err != nil {
		t.Fatal(err)
	}
	rcv.SetKey(3, b)
	if _, _, err := rcv.Open(nil, fa, nil); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("old key's frame under new key: %v", err)
	}
	sb, _ := NewSender(s, 3, b)
	fb, _ := sb.Seal(nil, []byte("y"), nil)
	if got, _, err := rcv.Open(nil, fb, nil); err != nil || string(got) != "y" {
		t.Fatalf("new key: %v", err)
	}
}

func TestBuffers(t *testing.T) {
	for _, s := range allSuites {
		base := randBytes(t, 16)
		snd, _ := NewSender(s, 1000, base)
		rcv := NewReceiver(s)
		rcv.SetKey(1000, base)
		pt := randBytes(t, 100)
		// Exact in-place seal: plaintext sits right after the header room.
		hl := Header{KID: 1000, CTR: 0}.Len()
		buf := make([]byte, hl+len(pt)+s.TagLen())
		copy(buf[hl:], pt)
		frame, err := snd.Seal(buf[:0], buf[hl:hl+len(pt)], nil)
		if err != nil || &frame[0] != &buf[0] {
			t.Fatalf("%v in-place seal: %v", s, err)
		}
		// Exact in-place open.
		got, _, err := rcv.Open(frame[hl:hl], frame, nil)
		if err != nil || !bytes.Equal(got, pt) || &got[0] != &buf[hl] {
			t.Fatalf("%v in-place open: %v", s, err)
		}
		// Inexact overlaps are refused, not panics.
		buf2 := make([]byte, 400)
		copy(buf2[1:], pt)
		if _, err := snd.Seal(buf2[:0], buf2[1:101], nil); !errors.Is(err, ErrBufferOverlap) {
			t.Fatalf("%v overlapping seal: %v", s, err)
		}
		frame2, _ := snd.Seal(nil, pt, nil)
		copy(buf2, frame2)
		if _, _, err := rcv.Open(buf2[:0], buf2[:len(frame2)], nil); !errors.Is(err, ErrBufferOverlap) {
			t.Fatalf("%v overlapping open: %v", s, err)
		}
		// Appending to a non-empty dst keeps the prefix.
		f3, _ := snd.Seal([]byte("abc"), pt, []byte("md"))
		if string(f3[:3]) != "abc" {
			t.Fatal("prefix lost")
		}
		got, _, err = rcv.Open([]byte("xyz"), f3[3:], []byte("md"))
		if err != nil || string(got[:3]) != "xyz" || !bytes.Equal(got[3:], pt) {
			t.Fatalf("%v open append: %v", s, err)
		}
	}
}

func TestNoAllocationsPerFrame(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			base := randBytes(t, 16)
			snd, _ := NewSender(s, 77, base)
			rcv := NewReceiver(s)
			rcv.SetKey(77, base)
			pt := randBytes(t, 1200)
			md := []byte("sotto-metadata")
			frame := make([]byte, 0, 2048)
			out := make([]byte, 0, 2048)
			var err error
			sealAllocs := testing.AllocsPerRun(200, func() {
				frame, err = snd.Seal(frame[:0], pt, md)
				if err != nil {
					t.Fatal(err)
				}
			})
			// Open needs a fresh CTR each run; seal a batch first.
			frames := make([][]byte, 300)
			for i := range frames {
				frames[i], _ = snd.Seal(nil, pt, md)
			}
			i := 0
			openAllocs := testing.AllocsPerRun(200, func() {
				out, _, err = rcv.Open(out[:0], frames[i], md)
				i++
				if err != nil {
					t.Fatal(err)
				}
			})
			if sealAllocs != 0 || openAllocs != 0 {
				t.Fatalf("allocs per frame: seal %v open %v", sealAllocs, openAllocs)
			}
		})
	}
}

// TestConcurrentKeyRotation runs Open on media goroutines while another
// goroutine adds and removes keys; run with -race.
func TestConcurrentKeyRotation(t *testing.T) {
	s := AES128GCMSHA256_128
	const senders = 4
	bases := make([][]byte, senders)
	frames := make([][][]byte, senders)
	for k := range senders {
		bases[k] = randBytes(t, 16)
		snd, _ := NewSender(s, uint64(k), bases[k])
		for range 500 {
			f, _ := snd.Seal(nil, []byte(fmt.Sprint("frame ", k)), nil)
			frames[k] = append(frames[k], f)
		}
	}
	rcv := NewReceiver(s)
	for k := range senders {
		rcv.SetKey(uint64(k), bases[k])
	}
	var mediaWG, rotWG sync.WaitGroup
	stop := make(chan struct{})
	rotWG.Add(1)
	go func() { // key rotation: churn KID 2 and unrelated KIDs
		defer rotWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rcv.SetKey(uint64(100+i%10), randBytes(t, 16))
			rcv.RemoveKey(uint64(100 + (i+5)%10))
			if i%7 == 0 {
				rcv.RemoveKey(2)
				rcv.SetKey(2, bases[2])
			}
		}
	}()
	errs := make(chan error, senders)
	for k := range senders {
		mediaWG.Add(1)
		go func() {
			defer mediaWG.Done()
			for _, f := range frames[k] {
				pt, _, err := rcv.Open(nil, f, nil)
				switch {
				case err == nil:
					if string(pt) != fmt.Sprint("frame ", k) {
						errs <- fmt.Errorf("sender %d: wrong plaintext", k)
						return
					}
				case k == 2 && (errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrReplay)):
				default:
					errs <- fmt.Errorf("sender %d: %w", k, err)
					return
				}
			}
		}()
	}
	// Two goroutines opening the same KID concurrently: each CTR once.
	snd, _ := NewSender(s, 50, bases[0])
	rcv.SetKey(50, bases[0])
	var shared [][]byte
	for range 400 {
		f, _ := snd.Seal(nil, []byte("s"), nil)
		shared = append(shared, f)
	}
	var mu sync.Mutex
	accepted := 0
	for range 2 {
		mediaWG.Add(1)
		go func() {
			defer mediaWG.Done()
			for _, f := range shared {
				if _, _, err := rcv.Open(nil, f, nil); err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				} else if !errors.Is(err, ErrReplay) {
					errs <- err
					return
				}
			}
		}()
	}
	mediaWG.Wait()
	close(stop)
	rotWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if accepted != len(shared) {
		t.Fatalf("shared KID: %d frames accepted, want exactly %d", accepted, len(shared))
	}
}

// TestConcurrentSealDistinctCounters hammers one Sender from many
// goroutines (run with -race): every frame must get its own CTR, the CTRs
// must be exactly the next ones in order with none skipped, and every frame
// must open, so no two frames share a nonce (RFC 9605 §9.1).
func TestConcurrentSealDistinctCounters(t *testing.T) {
	for _, s := range []CipherSuite{AES128GCMSHA256_128, AES128CTRHMACSHA256_80} {
		t.Run(s.String(), func(t *testing.T) {
			const goroutines, perG, first = 16, 200, 1000
			base := randBytes(t, 16)
			snd, _ := NewSenderAt(s, 1, base, first)
			frames := make([][][]byte, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dst := make([]byte, 0, 256)
					for i := range perG {
						f, err := snd.Seal(dst[:0], []byte{byte(g), byte(i)}, []byte("md"))
						if err != nil {
							t.Error(err)
							return
						}
						frames[g] = append(frames[g], bytes.Clone(f))
					}
				}()
			}
			wg.Wait()
			rcv := NewReceiver(s)
			rcv.SetKey(1, base)
			// Open in CTR order so that the replay window keeps up.
			byCTR := map[uint64][]byte{}
			want := map[uint64][2]byte{}
			for g := range goroutines {
				for i, f := range frames[g] {
					h, _, err := ParseHeader(f)
					if _, dup := byCTR[h.CTR]; err != nil || dup {
						t.Fatalf("ctr %d used twice (%v)", h.CTR, err)
					}
					byCTR[h.CTR] = f
					want[h.CTR] = [2]byte{byte(g), byte(i)}
				}
			}
			for c := uint64(first); c < first+goroutines*perG; c++ {
				f, ok := byCTR[c]
				if !ok {
					t.Fatalf("ctr %d skipped", c)
				}
				pt, _, err := rcv.Open(nil, f, []byte("md"))
				if err != nil || [2]byte(pt) != want[c] {
					t.Fatalf("frame with ctr %d: %v", c, err)
				}
			}
			if snd.Counter() != first+goroutines*perG {
				t.Fatalf("next counter %d", snd.Counter())
			}
		})
	}
}

func TestDestroyZeroesKeys(t *testing.T) {
	base := randBytes(t, 16)
	snd, _ := NewSender(AES128CTRHMACSHA256_80, 1, base)
	k := snd.k
	c := k.ctr
	snd.Destroy()
	if !allZero(k.salt[:]) || !allZero(c.encKey) || !allZero(c.authKey) || k.aead != nil {
		t.Fatal("sender key material not zeroed")
	}
	rcv := NewReceiver(AES128GCMSHA256_128)
	rcv.SetKey(1, base)
	rk := rcv.keys.Load().find(1)
	ks := rk.k
	rcv.Destroy()
	if !allZero(ks.salt[:]) || rk.k != nil {
		t.Fatal("receiver key material not zeroed")
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestManyKIDs installs, replaces and removes keys of many KIDs in random
// order (beyond the table's linear-scan size) and checks that every frame
// opens under exactly its own KID's key.
func TestManyKIDs(t *testing.T) {
	s := AES128GCMSHA256_128
	rcv := NewReceiver(s)
	const n = 40
	kids := make([]uint64, n)
	bases := map[uint64][]byte{}
	for i := range kids {
		kids[i] = uint64(i)*7919 + 3 // spread out, some extended
	}
	perm := mathrand.Perm(n)
	for _, i := range perm {
		bases[kids[i]] = randBytes(t, 16)
		if err := rcv.SetKey(kids[i], bases[kids[i]]); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range perm[:n/2] { // replace half of them
		bases[kids[i]] = randBytes(t, 16)
		rcv.SetKey(kids[i], bases[kids[i]])
	}
	for _, i := range perm[n/4 : n/2] { // remove a quarter
		rcv.RemoveKey(kids[i])
		delete(bases, kids[i])
	}
	for _, kid := range kids {
		base, ok := bases[kid]
		if !ok {
			base = randBytes(t, 16)
		}
		snd, _ := NewSender(s, kid, base)
		f, _ := snd.Seal(nil, []byte("x"), nil)
		_, h, err := rcv.Open(nil, f, nil)
		switch {
		case !ok && !errors.Is(err, ErrUnknownKey):
			t.Fatalf("removed kid %d: %v", kid, err)
		case ok && (err != nil || h.KID != kid):
			t.Fatalf("kid %d: %v", kid, err)
		}
	}
	if tab := *rcv.keys.Load(); len(tab) != len(bases) || !slices.IsSortedFunc(tab, func(a, b keyEntry) int { return cmp.Compare(a.kid, b.kid) }) {
		t.Fatalf("table of %d entries (want %d), sorted: %v", len(tab), len(bases), tab)
	}
}

// SetReorderLimit narrows the window: a frame n or more counters below the
// newest is refused although the replay window still holds it, one less
// far behind is opened, and the default keeps the whole window.
func TestReorderLimit(t *testing.T) {
	s := AES128GCMSHA256_128
	base := randBytes(t, 16)
	seal := func(ctr uint64) []byte {
		snd, _ := NewSenderAt(s, 1, base, ctr)
		f, _ := snd.Seal(nil, []byte("f"), nil)
		return f
	}
	for _, c := range []struct {
		limit  uint64
		ctr    uint64
		refuse bool
	}{
		{256, 1000 - 255, false},
		{256, 1000 - 256, true},
		{256, 1000 - 1000, true},
		{0, 1000 - 1000, false},
		{0, 1000 - 256, false},
	} {
		rcv := NewReceiver(s)
		rcv.SetKey(1, base)
		rcv.SetReorderLimit(c.limit)
		if _, _, err := rcv.Open(nil, seal(1000), nil); err != nil {
			t.Fatal(err)
		}
		_, _, err := rcv.Open(nil, seal(c.ctr), nil)
		if refused := errors.Is(err, ErrReplay); refused != c.refuse || (!refused && err != nil) {
			t.Errorf("limit %d, %d behind: %v", c.limit, 1000-c.ctr, err)
		}
	}
}

// SplitKey (RFC 9605 §4.5.1) exists only for the AES-CTR suites and only
// for a key of Nka + Nh bytes.
func TestSplitKeyRejects(t *testing.T) {
	if _, _, err := SplitKey(AES128GCMSHA256_128, make([]byte, 16)); !errors.Is(err, ErrUnsupportedSuite) {
		t.Errorf("GCM suite: %v", err)
	}
	for _, n := range []int{47, 49} {
		if _, _, err := SplitKey(AES128CTRHMACSHA256_80, make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	enc, auth, err := SplitKey(AES128CTRHMACSHA256_80, make([]byte, 48))
	if err != nil || len(enc) != 16 || len(auth) != 32 {
		t.Fatalf("48-byte key: %d, %d, %v", len(enc), len(auth), err)
	}
}
