package vectors

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	xhkdf "golang.org/x/crypto/hkdf"
)

// The reference below is written from RFC 9605 §4.3, §4.4 and §4.5 with
// other primitives (x/crypto HKDF, the standard library's CTR mode) so the
// generated vectors do not come from the code under test.

type refSuite struct {
	id   uint16
	hash func() hash.Hash
	nk   int
	nt   int
	ctr  bool
}

var refSuites = []refSuite{
	{1, sha256.New, 48, 10, true},
	{2, sha256.New, 48, 8, true},
	{3, sha256.New, 48, 4, true},
	{4, sha256.New, 16, 16, false},
	{5, sha512.New, 32, 16, false},
}

func refHeader(kid, ctr uint64) []byte {
	minBytes := func(v uint64) []byte {
		b := binary.BigEndian.AppendUint64(nil, v)
		for len(b) > 1 && b[0] == 0 {
			b = b[1:]
		}
		return b
	}
	var cfg byte
	var tail []byte
	if kid < 8 {
		cfg = byte(kid) << 4
	} else {
		k := minBytes(kid)
		cfg = 0x80 | byte(len(k)-1)<<4
		tail = append(tail, k...)
	}
	if ctr < 8 {
		cfg |= byte(ctr)
	} else {
		c := minBytes(ctr)
		cfg |= 0x08 | byte(len(c)-1)
		tail = append(tail, c...)
	}
	return append([]byte{cfg}, tail...)
}

func refAEADSeal(s refSuite, key, nonce, aad, pt []byte) []byte {
	if !s.ctr {
		block, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(block)
		return g.Seal(nil, nonce, pt, aad)
	}
	block, _ := aes.NewCipher(key[:16])
	ct := make([]byte, len(pt))
	cipher.NewCTR(block, append(bytes.Clone(nonce), 0, 0, 0, 0)).XORKeyStream(ct, pt)
	m := hmac.New(sha256.New, key[16:])
	var lens [24]byte
	binary.BigEndian.PutUint64(lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(lens[16:], uint64(s.nt))
	m.Write(lens[:])
	m.Write(nonce)
	m.Write(aad)
	m.Write(ct)
	return append(ct, m.Sum(nil)[:s.nt]...)
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// genVectors builds a vector file covering every suite.
func genVectors() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	h := hex.EncodeToString
	for _, kid := range []uint64{0, 7, 8, 255, 256, math.MaxUint64} {
		for _, ctr := range []uint64{0, 7, 8, 255, 256, math.MaxUint64} {
			out["header"] = append(out["header"], map[string]any{"kid": kid, "ctr": ctr, "encoded": h(refHeader(kid, ctr))})
		}
	}
	for _, s := range refSuites {
		if s.ctr {
			for _, n := range []int{0, 1, 21, 100} {
				key, nonce, aad, pt := pattern(48, byte(n)), pattern(12, 3), pattern(n%17, 5), pattern(n, 9)
				out["aes_ctr_hmac"] = append(out["aes_ctr_hmac"], map[string]any{
					"cipher_suite": s.id, "key": h(key), "enc_key": h(key[:16]), "auth_key": h(key[16:]),
					"nonce": h(nonce), "aad": h(aad), "pt": h(pt), "ct": h(refAEADSeal(s, key, nonce, aad, pt)),
				})
			}
		}
		for _, kc := range [][2]uint64{{0, 0}, {291, 17767}, {7, 8}, {math.MaxUint64, math.MaxUint64}} {
			kid, ctr := kc[0], kc[1]
			base := pattern(16, byte(kid))
			suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), s.id)
			keyLabel := append([]byte("SFrame 1.0 Secret key "), suffix...)
			saltLabel := append([]byte("SFrame 1.0 Secret salt "), suffix...)
			secret := xhkdf.Extract(s.hash, base, nil)
			key, salt := make([]byte, s.nk), make([]byte, 12)
			io.ReadFull(xhkdf.Expand(s.hash, secret, keyLabel), key)
			io.ReadFull(xhkdf.Expand(s.hash, secret, saltLabel), salt)
			nonce := bytes.Clone(salt)
			binary.BigEndian.PutUint64(nonce[4:], binary.BigEndian.Uint64(salt[4:])^ctr)
			md := pattern(int(ctr%13), 1)
			hdr := refHeader(kid, ctr)
			aad := append(bytes.Clone(hdr), md...)
			pt := pattern(33, 2)
			out["sframe"] = append(out["sframe"], map[string]any{
				"cipher_suite": s.id, "kid": kid, "ctr": ctr, "base_key": h(base),
				"sframe_key_label": h(keyLabel), "sframe_salt_label": h(saltLabel),
				"sframe_secret": h(secret), "sframe_key": h(key), "sframe_salt": h(salt),
				"metadata": h(md), "nonce": h(nonce), "aad": h(aad), "pt": h(pt),
				"ct": h(append(bytes.Clone(hdr), refAEADSeal(s, key, nonce, aad, pt)...)),
			})
		}
	}
	return out
}

func TestSFrameGeneratedVectorsAllSuites(t *testing.T) {
	v := genVectors()
	want := len(v["header"]) + len(v["aes_ctr_hmac"]) + len(v["sframe"])
	var out bytes.Buffer
	data, _ := json.Marshal(v)
	passed, failed, err := CheckSFrame(bytes.NewReader(data), &out)
	if err != nil {
		t.Fatal(err)
	}
	if passed != want || failed != 0 {
		t.Fatalf("%d passed, %d failed, want %d passed:\n%s", passed, failed, want, out.String())
	}
}

func TestSFrameCorruptedVectors(t *testing.T) {
	v := genVectors()
	flipHex := func(s any) string {
		b, _ := hex.DecodeString(s.(string))
		b[len(b)-1] ^= 0x01
		return hex.EncodeToString(b)
	}
	corrupt := []struct {
		section string
		index   int
		edit    func(map[string]any)
		line    string // expected in the failure line
	}{
		{"header", 3, func(e map[string]any) { e["encoded"] = flipHex(e["encoded"]) }, "mismatch in encode, decode"},
		{"header", 4, func(e map[string]any) { delete(e, "ctr") }, "missing ctr"},
		{"aes_ctr_hmac", 1, func(e map[string]any) { e["enc_key"] = flipHex(e["enc_key"]) }, "mismatch in enc_key"},
		{"aes_ctr_hmac", 2, func(e map[string]any) { e["ct"] = flipHex(e["ct"]) }, "mismatch in ct (encrypt), pt (decrypt)"},
		{"aes_ctr_hmac", 3, func(e map[string]any) { e["cipher_suite"] = 6 }, "unsupported cipher suite 0x0006"},
		{"aes_ctr_hmac", 4, func(e map[string]any) { e["cipher_suite"] = 4 }, "unsupported cipher suite 0x0004"},
		{"aes_ctr_hmac", 5, func(e map[string]any) { e["nonce"] = "zz" }, "invalid nonce"},
		{"sframe", 0, func(e map[string]any) { e["ct"] = flipHex(e["ct"]) }, "mismatch in ct (encrypt), pt (decrypt)"},
		{"sframe", 5, func(e map[string]any) { e["sframe_key"] = flipHex(e["sframe_key"]) }, "mismatch in sframe_key"},
		{"sframe", 6, func(e map[string]any) { e["sframe_salt"] = flipHex(e["sframe_salt"]) }, "mismatch in sframe_salt"},
		{"sframe", 7, func(e map[string]any) { e["nonce"] = flipHex(e["nonce"]) }, "mismatch in nonce"},
		{"sframe", 9, func(e map[string]any) { e["metadata"] = flipHex(e["metadata"]) }, "mismatch in aad, ct (encrypt), pt (decrypt)"},
		{"sframe", 10, func(e map[string]any) { e["cipher_suite"] = 0xF000 }, "unsupported cipher suite 0xf000"},
		{"sframe", 11, func(e map[string]any) { e["kid"] = -1 }, "invalid kid"},
		{"sframe", 12, func(e map[string]any) { e["cipher_suite"] = 70000 }, "invalid cipher_suite"},
		{"sframe", 13, func(e map[string]any) { e["sframe_secret"] = flipHex(e["sframe_secret"]) }, "mismatch in sframe_secret"},
	}
	for _, c := range corrupt {
		c.edit(v[c.section][c.index])
	}
	data, _ := json.Marshal(v)
	// An entry that is not an object at all.
	var raw map[string][]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	raw["sframe"] = append(raw["sframe"], json.RawMessage(`"not an object"`))
	data, _ = json.Marshal(raw)

	total := len(v["header"]) + len(v["aes_ctr_hmac"]) + len(v["sframe"]) + 1
	var out bytes.Buffer
	passed, failed, err := CheckSFrame(bytes.NewReader(data), &out)
	if err != nil {
		t.Fatal(err)
	}
	if failed != len(corrupt)+1 || passed != total-failed {
		t.Fatalf("%d passed, %d failed; want %d failed:\n%s", passed, failed, len(corrupt)+1, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != failed {
		t.Fatalf("%d output lines for %d failures", len(lines), failed)
	}
	for _, c := range corrupt {
		prefix := c.section + " entry " + strconv.Itoa(c.index) + ": "
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.Contains(l, c.line) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line %q…%q in:\n%s", prefix, c.line, out.String())
		}
	}
	if !strings.Contains(out.String(), "malformed entry") {
		t.Error("non-object entry not reported")
	}
	// No secret material in the report: no key or ciphertext hex appears.
	for _, e := range v["sframe"] {
		for _, f := range []string{"base_key", "sframe_key", "sframe_secret", "ct"} {
			if strings.Contains(out.String(), e[f].(string)) {
				t.Fatalf("failure report contains %s", f)
			}
		}
	}
}

func TestSFrameMalformedFiles(t *testing.T) {
	for _, bad := range []string{
		``,
		`{`,
		`{"header": [}`,
		`[]`,
		`{"header": 5}`,
		`{"other": []}`,
		`{"header": []} {"x": 1}`,
		`not json`,
	} {
		if _, _, err := CheckSFrame(strings.NewReader(bad), io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
