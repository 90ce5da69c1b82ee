package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sottohq/sotto/crypto/sframe"
)

// maxSFrameFile bounds how much of an SFrame vector file is read.
const maxSFrameFile = 64 << 20

// CheckSFrame checks every entry of an RFC 9605 test-vector file read from r
// (top-level arrays "header", "aes_ctr_hmac" and "sframe", Appendix C)
// against crypto/sframe, writing one line per failing entry to out.
func CheckSFrame(r io.Reader, out io.Writer) (passed, failed int, err error) {
	var file struct {
		Header     *[]json.RawMessage `json:"header"`
		AESCTRHMAC *[]json.RawMessage `json:"aes_ctr_hmac"`
		SFrame     *[]json.RawMessage `json:"sframe"`
	}
	if err := decodeFile(r, maxSFrameFile, "sframe vectors", &file); err != nil {
		return 0, 0, err
	}
	if file.Header == nil && file.AESCTRHMAC == nil && file.SFrame == nil {
		return 0, 0, errors.New(`sframe vectors: no "header", "aes_ctr_hmac" or "sframe" array`)
	}
	sections := []struct {
		name    string
		entries *[]json.RawMessage
		check   func(*entry) string
	}{
		{"header", file.Header, checkHeaderEntry},
		{"aes_ctr_hmac", file.AESCTRHMAC, checkAESCTRHMACEntry},
		{"sframe", file.SFrame, checkSFrameEntry},
	}
	for _, sec := range sections {
		if sec.entries == nil {
			continue
		}
		for i, raw := range *sec.entries {
			problem := checkEntry(raw, sec.check)
			if problem != "" {
				fmt.Fprintf(out, "%s entry %d: %s\n", sec.name, i, problem)
				failed++
			} else {
				passed++
			}
		}
	}
	return passed, failed, nil
}

// checkEntry parses one entry and runs check on it; it returns "" if the
// entry passes, else what is wrong.
func checkEntry(raw json.RawMessage, check func(*entry) string) string {
	e := &entry{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e.fields); err != nil || e.fields == nil {
		return "malformed entry (not a JSON object)"
	}
	return check(e)
}

// entry reads the fields of one vector entry, collecting what is missing or
// unparsable instead of failing at the first problem.
type entry struct {
	fields  map[string]json.RawMessage
	missing []string
	bad     []string
}

func (e *entry) raw(name string) (json.RawMessage, bool) {
	v, ok := e.fields[name]
	if !ok {
		e.missing = append(e.missing, name)
	}
	return v, ok
}

// uint reads a non-negative integer no larger than max: a JSON number as in
// RFC 9605 Appendix C, or a "0x"-prefixed hex string as in its text form.
func (e *entry) uint(name string, max uint64) uint64 {
	v, ok := e.raw(name)
	if !ok {
		return 0
	}
	var n json.Number
	var s string
	var err error
	var x uint64
	switch {
	case json.Unmarshal(v, &n) == nil:
		x, err = strconv.ParseUint(n.String(), 10, 64)
	case json.Unmarshal(v, &s) == nil && (strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")):
		x, err = strconv.ParseUint(s[2:], 16, 64)
	default:
		err = errors.New("not a number")
	}
	if err != nil || x > max {
		e.bad = append(e.bad, name)
		return 0
	}
	return x
}

// hex reads a byte string written in hex.
func (e *entry) hex(name string) []byte {
	v, ok := e.raw(name)
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		e.bad = append(e.bad, name)
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		e.bad = append(e.bad, name)
		return nil
	}
	return b
}

// problem reports missing or unparsable fields, if any.
func (e *entry) problem() string {
	var p []string
	if len(e.missing) > 0 {
		p = append(p, "missing "+strings.Join(e.missing, ", "))
	}
	if len(e.bad) > 0 {
		p = append(p, "invalid "+strings.Join(e.bad, ", "))
	}
	return strings.Join(p, "; ")
}

// mismatches collects the names of values that differ from the vector.
type mismatches []string

func (m *mismatches) check(name string, ok bool) {
	if !ok {
		*m = append(*m, name)
	}
}

func (m mismatches) problem(prefix string) string {
	if len(m) == 0 {
		return ""
	}
	return prefix + "mismatch in " + strings.Join(m, ", ")
}

// checkHeaderEntry: encoding kid and ctr gives the encoded header, and
// decoding it gives kid and ctr back (RFC 9605 Appendix C.1). The RFC text
// calls the encoded value "header"; its JSON calls it "encoded".
func checkHeaderEntry(e *entry) string {
	kid := e.uint("kid", math.MaxUint64)
	ctr := e.uint("ctr", math.MaxUint64)
	name := "encoded"
	if _, ok := e.fields[name]; !ok {
		if _, ok := e.fields["header"]; ok {
			name = "header"
		}
	}
	enc := e.hex(name)
	if p := e.problem(); p != "" {
		return p
	}
	want := sframe.Header{KID: kid, CTR: ctr}
	var m mismatches
	got := want.AppendTo(nil)
	m.check("encode", bytes.Equal(got, enc) && want.Len() == len(enc))
	// The header is followed by the ciphertext in a frame: trailing bytes
	// must not change what decodes.
	h, n, err := sframe.ParseHeader(enc)
	ht, nt, errt := sframe.ParseHeader(append(bytes.Clone(enc), 0xff, 0x00))
	m.check("decode", err == nil && h == want && n == len(enc) && errt == nil && ht == want && nt == n)
	return m.problem(fmt.Sprintf("kid %d ctr %d: ", kid, ctr))
}

// checkAESCTRHMACEntry: derive_subkeys, AEAD.Encrypt and AEAD.Decrypt of the
// AES-CTR + HMAC construction (RFC 9605 §4.5.1, Appendix C.2); a ciphertext
// with a changed tag must not decrypt.
func checkAESCTRHMACEntry(e *entry) string {
	suite := sframe.CipherSuite(e.uint("cipher_suite", math.MaxUint16))
	key, encKey, authKey := e.hex("key"), e.hex("enc_key"), e.hex("auth_key")
	nonce, aad, pt, ct := e.hex("nonce"), e.hex("aad"), e.hex("pt"), e.hex("ct")
	if p := e.problem(); p != "" {
		return p
	}
	if !suite.Supported() || suite.KeyLen() != 48 {
		return fmt.Sprintf("unsupported cipher suite 0x%04x for AES-CTR-HMAC", uint16(suite))
	}
	prefix := fmt.Sprintf("suite 0x%04x: ", uint16(suite))
	var m mismatches
	ek, ak, err := sframe.SplitKey(suite, key)
	if err != nil {
		return prefix + "key has the wrong length"
	}
	m.check("enc_key", bytes.Equal(ek, encKey))
	m.check("auth_key", bytes.Equal(ak, authKey))
	if len(nonce) != suite.NonceLen() {
		return prefix + "nonce has the wrong length"
	}
	got, err := sframe.SealAEAD(suite, key, nonce, aad, pt)
	m.check("ct (encrypt)", err == nil && bytes.Equal(got, ct))
	dec, err := sframe.OpenAEAD(suite, key, nonce, aad, ct)
	decrypted := err == nil && bytes.Equal(dec, pt)
	m.check("pt (decrypt)", decrypted)
	if decrypted && len(ct) > 0 {
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		_, err = sframe.OpenAEAD(suite, key, nonce, aad, bad)
		m.check("tag check (modified ct accepted)", errors.Is(err, sframe.ErrAuthentication))
	}
	return m.problem(prefix)
}

// checkSFrameEntry: key derivation, nonce and AAD formation, encryption at
// the vector's CTR and decryption (RFC 9605 §4.4, Appendix C.3).
func checkSFrameEntry(e *entry) string {
	suite := sframe.CipherSuite(e.uint("cipher_suite", math.MaxUint16))
	kid := e.uint("kid", math.MaxUint64)
	ctr := e.uint("ctr", math.MaxUint64)
	baseKey := e.hex("base_key")
	keyLabel, saltLabel := e.hex("sframe_key_label"), e.hex("sframe_salt_label")
	secret, key, salt := e.hex("sframe_secret"), e.hex("sframe_key"), e.hex("sframe_salt")
	metadata, nonce, aad := e.hex("metadata"), e.hex("nonce"), e.hex("aad")
	pt, ct := e.hex("pt"), e.hex("ct")
	if p := e.problem(); p != "" {
		return p
	}
	if !suite.Supported() {
		return fmt.Sprintf("unsupported cipher suite 0x%04x", uint16(suite))
	}
	prefix := fmt.Sprintf("suite 0x%04x: ", uint16(suite))
	var m mismatches
	m.check("sframe_key_label", bytes.Equal(sframe.KeyLabel(suite, kid), keyLabel))
	m.check("sframe_salt_label", bytes.Equal(sframe.SaltLabel(suite, kid), saltLabel))
	gotSecret, err := sframe.DeriveSecret(suite, baseKey)
	if err != nil {
		return prefix + "base_key rejected"
	}
	m.check("sframe_secret", bytes.Equal(gotSecret, secret))
	gotKey, gotSalt, err := sframe.DeriveKeySalt(suite, kid, baseKey)
	if err != nil {
		return prefix + "key derivation failed"
	}
	m.check("sframe_key", bytes.Equal(gotKey, key))
	m.check("sframe_salt", bytes.Equal(gotSalt, salt))
	gotNonce, err := sframe.Nonce(gotSalt, ctr)
	m.check("nonce", err == nil && bytes.Equal(gotNonce, nonce))
	hdr := sframe.Header{KID: kid, CTR: ctr}
	m.check("aad", bytes.Equal(append(hdr.AppendTo(nil), metadata...), aad))
	clear(gotKey)
	clear(gotSalt)

	snd, err := sframe.NewSenderAt(suite, kid, baseKey, ctr)
	if err != nil {
		return prefix + "sender setup failed"
	}
	defer snd.Destroy()
	// Seal appends: what the buffer held before stays in front.
	lead := []byte("lead")
	frame, err := snd.Seal(bytes.Clone(lead), pt, metadata)
	m.check("ct (encrypt)", err == nil && bytes.Equal(frame, append(lead, ct...)))

	rcv := sframe.NewReceiver(suite)
	defer rcv.Destroy()
	if err := rcv.SetKey(kid, baseKey); err != nil {
		return prefix + "receiver setup failed"
	}
	got, h, err := rcv.Open(nil, ct, metadata)
	decrypted := err == nil && bytes.Equal(got, pt) && h == hdr
	m.check("pt (decrypt)", decrypted)
	if decrypted {
		// The same frame again is a replay (RFC 9605 §7.4).
		_, _, err = rcv.Open(nil, ct, metadata)
		m.check("replay (second open accepted)", errors.Is(err, sframe.ErrReplay))
	}
	return m.problem(prefix)
}
