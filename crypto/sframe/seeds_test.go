package sframe

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// The RFC 9605 Appendix C vectors, read as fuzz seeds. They are checked by
// crypto/vectors (its table test and the vectors command), not here.
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
