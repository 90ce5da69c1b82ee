package sframe

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// Test vectors in the JSON form of RFC 9605 Appendix C.
type vectorFile struct {
	Header []struct {
		KID     uint64   `json:"kid"`
		CTR     uint64   `json:"ctr"`
		Encoded hexBytes `json:"encoded"`
	} `json:"header"`
	AESCTRHMAC []struct {
		CipherSuite CipherSuite `json:"cipher_suite"`
		Key         hexBytes    `json:"key"`
		EncKey      hexBytes    `json:"enc_key"`
		AuthKey     hexBytes    `json:"auth_key"`
		Nonce       hexBytes    `json:"nonce"`
		AAD         hexBytes    `json:"aad"`
		PT          hexBytes    `json:"pt"`
		CT          hexBytes    `json:"ct"`
	} `json:"aes_ctr_hmac"`
	SFrame []sframeVector `json:"sframe"`
}

type sframeVector struct {
	CipherSuite CipherSuite `json:"cipher_suite"`
	KID         uint64      `json:"kid"`
	CTR         uint64      `json:"ctr"`
	BaseKey     hexBytes    `json:"base_key"`
	KeyLabel    hexBytes    `json:"sframe_key_label"`
	SaltLabel   hexBytes    `json:"sframe_salt_label"`
	Secret      hexBytes    `json:"sframe_secret"`
	Key         hexBytes    `json:"sframe_key"`
	Salt        hexBytes    `json:"sframe_salt"`
	Metadata    hexBytes    `json:"metadata"`
	Nonce       hexBytes    `json:"nonce"`
	AAD         hexBytes    `json:"aad"`
	PT          hexBytes    `json:"pt"`
	CT          hexBytes    `json:"ct"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/test-vectors-public.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Header) == 0 || len(v.SFrame) == 0 {
		t.Fatal("vector file has no header or sframe vectors")
	}
	return &v
}

func TestVectorsHeader(t *testing.T) {
	v := loadVectors(t)
	for i, tc := range v.Header {
		h := Header{KID: tc.KID, CTR: tc.CTR}
		if got := h.AppendTo(nil); !bytes.Equal(got, tc.Encoded) {
			t.Errorf("header[%d] encode kid=%d ctr=%d: got %x want %x", i, tc.KID, tc.CTR, got, []byte(tc.Encoded))
		}
		if h.Len() != len(tc.Encoded) {
			t.Errorf("header[%d] Len=%d want %d", i, h.Len(), len(tc.Encoded))
		}
		got, n, err := ParseHeader(tc.Encoded)
		if err != nil || got != h || n != len(tc.Encoded) {
			t.Errorf("header[%d] decode %x: got %+v n=%d err=%v", i, []byte(tc.Encoded), got, n, err)
		}
		// Trailing payload bytes are not part of the header.
		got, n, err = ParseHeader(append(append([]byte(nil), tc.Encoded...), 0xff, 0x00))
		if err != nil || got != h || n != len(tc.Encoded) {
			t.Errorf("header[%d] decode with payload: got %+v n=%d err=%v", i, got, n, err)
		}
	}
}

func TestVectorsAESCTRHMAC(t *testing.T) {
	v := loadVectors(t)
	for i, tc := range v.AESCTRHMAC {
		enc, auth, err := SplitKey(tc.CipherSuite, tc.Key)
		if err != nil || !bytes.Equal(enc, tc.EncKey) || !bytes.Equal(auth, tc.AuthKey) {
			t.Errorf("aes_ctr_hmac[%d]: subkeys mismatch (err=%v)", i, err)
		}
		ct, err := SealAEAD(tc.CipherSuite, tc.Key, tc.Nonce, tc.AAD, tc.PT)
		if err != nil || !bytes.Equal(ct, tc.CT) {
			t.Errorf("aes_ctr_hmac[%d]: encrypt mismatch (err=%v)", i, err)
		}
		pt, err := OpenAEAD(tc.CipherSuite, tc.Key, tc.Nonce, tc.AAD, tc.CT)
		if err != nil || !bytes.Equal(pt, tc.PT) {
			t.Errorf("aes_ctr_hmac[%d]: decrypt mismatch (err=%v)", i, err)
		}
	}
}

func TestVectorsSFrame(t *testing.T) {
	v := loadVectors(t)
	for i, tc := range v.SFrame {
		s := tc.CipherSuite
		if got := KeyLabel(s, tc.KID); !bytes.Equal(got, tc.KeyLabel) {
			t.Errorf("sframe[%d]: key label %x", i, got)
		}
		if got := SaltLabel(s, tc.KID); !bytes.Equal(got, tc.SaltLabel) {
			t.Errorf("sframe[%d]: salt label %x", i, got)
		}
		secret, err := DeriveSecret(s, tc.BaseKey)
		if err != nil || !bytes.Equal(secret, tc.Secret) {
			t.Errorf("sframe[%d]: secret mismatch (err=%v)", i, err)
		}
		key, salt, err := DeriveKeySalt(s, tc.KID, tc.BaseKey)
		if err != nil || !bytes.Equal(key, tc.Key) || !bytes.Equal(salt, tc.Salt) {
			t.Fatalf("sframe[%d]: key/salt mismatch (err=%v)", i, err)
		}
		nonce, err := Nonce(salt, tc.CTR)
		if err != nil || !bytes.Equal(nonce, tc.Nonce) {
			t.Errorf("sframe[%d]: nonce mismatch (err=%v)", i, err)
		}
		aad := append(Header{KID: tc.KID, CTR: tc.CTR}.AppendTo(nil), tc.Metadata...)
		if !bytes.Equal(aad, tc.AAD) {
			t.Errorf("sframe[%d]: aad mismatch", i)
		}
		snd, err := NewSenderAt(s, tc.KID, tc.BaseKey, tc.CTR)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := snd.Seal([]byte("prefix"), tc.PT, tc.Metadata)
		if err != nil || !bytes.Equal(ct, append([]byte("prefix"), tc.CT...)) {
			t.Errorf("sframe[%d]: encrypt mismatch (err=%v)", i, err)
		}
		rcv := NewReceiver(s)
		if err := rcv.SetKey(tc.KID, tc.BaseKey); err != nil {
			t.Fatal(err)
		}
		pt, h, err := rcv.Open(nil, tc.CT, tc.Metadata)
		if err != nil || !bytes.Equal(pt, tc.PT) || h != (Header{KID: tc.KID, CTR: tc.CTR}) {
			t.Errorf("sframe[%d]: decrypt mismatch (err=%v)", i, err)
		}
		if _, _, err := rcv.Open(nil, tc.CT, tc.Metadata); !errors.Is(err, ErrReplay) {
			t.Errorf("sframe[%d]: second open: got %v, want ErrReplay", i, err)
		}
	}
}
