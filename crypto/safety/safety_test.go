package safety

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type vector struct {
	Iterations   int    `json:"iterations"`
	LocalKey     string `json:"local_key"`
	LocalID      string `json:"local_id"`
	RemoteKey    string `json:"remote_key"`
	RemoteID     string `json:"remote_id"`
	LocalDigits  string `json:"local_digits"`
	RemoteDigits string `json:"remote_digits"`
	Display      string `json:"display"`
}

// loadVectors reads the safety-number vectors for the tests below; the
// vectors themselves are checked by crypto/vectors.
func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/fingerprint-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Fingerprint []vector `json:"fingerprint"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Fingerprint) == 0 {
		t.Fatal("no vectors")
	}
	return f.Fingerprint
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHashConstruction pins the hash chain independently of the vectors:
// round 1 hashes version ‖ key ‖ id ‖ key, later rounds previous ‖ key.
func TestHashConstruction(t *testing.T) {
	key, id := []byte("key bytes"), []byte("id")
	h := sha512.Sum512(append(append(append([]byte{0, 0}, key...), id...), key...))
	if got := partyHash(key, id, 1); !bytes.Equal(got, h[:]) {
		t.Fatal("one round differs from SHA-512(0x0000 ‖ key ‖ id ‖ key)")
	}
	h = sha512.Sum512(append(h[:], key...))
	if got := partyHash(key, id, 2); !bytes.Equal(got, h[:]) {
		t.Fatal("two rounds differ from SHA-512(round1 ‖ key)")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("zero iterations accepted")
		}
	}()
	partyHash(key, id, 0)
}

func TestDigitsEncoding(t *testing.T) {
	hash := make([]byte, 64)
	// Chunk 0 = 0x0000000001 → 00001; chunk 1 = 0xffffffffff = 1099511627775 → 27775.
	hash[4] = 1
	for i := 5; i < 10; i++ {
		hash[i] = 0xff
	}
	if got := digits(hash); got != "000012777500000000000000000000" {
		t.Fatalf("digits = %s", got)
	}
}

func TestGroupsAndFormat(t *testing.T) {
	v := loadVectors(t)[0]
	g := Groups(v.Display)
	if len(g) != 12 {
		t.Fatalf("%d groups", len(g))
	}
	for _, s := range g {
		if len(s) != GroupSize {
			t.Fatalf("group %q", s)
		}
	}
	if strings.Join(g, "") != v.Display {
		t.Fatal("groups do not rejoin to the number")
	}
	want := "07891 14705 47453 39077 52067 44239 71550 02325 79354 45484 84570 47856"
	if got := Format(v.Display); got != want {
		t.Fatalf("Format = %q", got)
	}
	if got := Groups("1234567"); len(got) != 2 || got[1] != "67" {
		t.Fatalf("partial group: %q", got)
	}
	if got := Groups(""); len(got) != 0 {
		t.Fatalf("empty: %q", got)
	}
}

func TestNumberDistinguishes(t *testing.T) {
	a, b, c := []byte("alice key"), []byte("bob key"), []byte("carol key")
	n := Number(a, nil, b, nil)
	if len(n) != NumberLen || strings.Trim(n, "0123456789") != "" {
		t.Fatalf("number %q is not 60 digits", n)
	}
	if n == Number(a, nil, c, nil) {
		t.Fatal("different remote keys, same number")
	}
	if n == Number(a, []byte("x"), b, nil) {
		t.Fatal("different stable IDs, same number")
	}
}

func TestScannable(t *testing.T) {
	a, b, m := []byte("alice key"), []byte("bob key"), []byte("mallory key")
	aliceSees := Scannable(a, nil, b, nil)
	bobSees := Scannable(b, nil, a, nil)
	if len(aliceSees) != ScannableSize || aliceSees[0] != 0x01 {
		t.Fatalf("form %x", aliceSees)
	}
	// The form carries the same hashes the digits come from.
	s, err := ParseScannable(aliceSees)
	if err != nil {
		t.Fatal(err)
	}
	if digits(s.Local[:]) != PartyDigits(a, nil, Iterations) || digits(s.Remote[:]) != PartyDigits(b, nil, Iterations) {
		t.Fatal("scannable hashes disagree with the digits")
	}
	if !bytes.Equal(s.Marshal(), aliceSees) {
		t.Fatal("Marshal(Parse(x)) != x")
	}

	for _, tc := range []struct {
		name    string
		local   []byte
		scanned []byte
		ok      bool
		err     error
	}{
		{"alice scans bob", aliceSees, bobSees, true, nil},
		{"bob scans alice", bobSees, aliceSees, true, nil},
		// Mallory in the middle: Alice holds M for Bob, Bob holds M for Alice.
		{"alice scans bob via mitm", Scannable(a, nil, m, nil), Scannable(b, nil, m, nil), false, nil},
		{"bob's view of someone else", aliceSees, Scannable(b, nil, m, nil), false, nil},
		{"own code", aliceSees, aliceSees, false, ErrOwnCode},
		{"empty", aliceSees, nil, false, ErrScannableLength},
		{"short", aliceSees, bobSees[:ScannableSize-1], false, ErrScannableLength},
		{"long", aliceSees, append(bytes.Clone(bobSees), 0), false, ErrScannableLength},
		{"version 0", aliceSees, append([]byte{0}, bobSees[1:]...), false, ErrScannableVersion},
		{"version 2", aliceSees, append([]byte{2}, bobSees[1:]...), false, ErrScannableVersion},
		{"bad local", aliceSees[:10], bobSees, false, ErrScannableLength},
	} {
		ok, err := VerifyScanned(tc.local, tc.scanned)
		if ok != tc.ok || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, %v; want %v, %v", tc.name, ok, err, tc.ok, tc.err)
		}
	}
	// One flipped bit anywhere in either hash breaks the match.
	for i := 1; i < ScannableSize; i++ {
		bad := bytes.Clone(bobSees)
		bad[i] ^= 0x40
		if ok, err := VerifyScanned(aliceSees, bad); ok || err != nil {
			t.Fatalf("flipped byte %d: %v, %v", i, ok, err)
		}
	}
	// Talking to oneself: the swapped form is the form itself, and matches.
	self := Scannable(a, nil, a, nil)
	if ok, err := VerifyScanned(self, self); !ok || err != nil {
		t.Fatalf("self conversation: %v, %v", ok, err)
	}
}

func FuzzVerifyScanned(f *testing.F) {
	for _, v := range loadVectors(f)[:2] {
		lk, li, rk, ri := unhex(f, v.LocalKey), unhex(f, v.LocalID), unhex(f, v.RemoteKey), unhex(f, v.RemoteID)
		local := Scannable(lk, li, rk, ri)
		remote := Scannable(rk, ri, lk, li)
		f.Add(local, remote)
		f.Add(local, local)
		f.Add(local, remote[:40])
		f.Add(remote, append([]byte{9}, local[1:]...))
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, local, scanned []byte) {
		ok, err := VerifyScanned(local, scanned)
		ls, lerr := ParseScannable(local)
		ss, serr := ParseScannable(scanned)
		if (lerr != nil || serr != nil) != (err != nil && !errors.Is(err, ErrOwnCode)) {
			t.Fatalf("error %v but parse errors %v, %v", err, lerr, serr)
		}
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
		want := lerr == nil && serr == nil && ls.Local == ss.Remote && ls.Remote == ss.Local
		if ok != want {
			t.Fatalf("VerifyScanned = %v, want %v", ok, want)
		}
		if serr == nil && !bytes.Equal(ss.Marshal(), scanned) {
			t.Fatal("parse does not round trip")
		}
	})
}

// BenchmarkNumber measures a full safety number (two parties, 5200 rounds
// each); BenchmarkSHA512Round is one round of the chain, the baseline.
func BenchmarkNumber(b *testing.B) {
	lk := bytes.Repeat([]byte{1}, 65)
	rk := bytes.Repeat([]byte{2}, 65)
	for b.Loop() {
		Number(lk, nil, rk, nil)
	}
}

func BenchmarkSHA512Round(b *testing.B) {
	in := make([]byte, 64+65)
	for b.Loop() {
		sha512.Sum512(in)
	}
}
