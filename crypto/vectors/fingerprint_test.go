package vectors

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

const fingerprintVectors = "../safety/testdata/fingerprint-vectors.json"

func TestFingerprintCorrupted(t *testing.T) {
	data, err := os.ReadFile(fingerprintVectors)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Fingerprint []map[string]any `json:"fingerprint"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	v := file.Fingerprint
	flip := func(s any) string { // change the first digit
		b := []byte(s.(string))
		b[0] = '0' + (b[0]-'0'+1)%10
		return string(b)
	}
	v[0]["local_digits"] = flip(v[0]["local_digits"])
	v[1]["display"] = flip(v[1]["display"])
	delete(v[2], "remote_id")
	v[3]["remote_key"] = "zz"
	v[4]["iterations"] = 0
	// v[5] untouched; one malformed entry and one duplicate with a wrong
	// remote key (changes remote_digits and display) are added.
	dup := map[string]any{}
	for k, val := range v[5] {
		dup[k] = val
	}
	dup["remote_key"] = "ff" + dup["remote_key"].(string)[2:]
	file.Fingerprint = append(v, map[string]any{"iterations": "many"}, dup)
	corrupt, _ := json.Marshal(file)

	var out bytes.Buffer
	passed, failed, err := CheckFingerprint(bytes.NewReader(corrupt), &out)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 1 || failed != 7 {
		t.Fatalf("%d passed, %d failed; want 1, 7\n%s", passed, failed, out.String())
	}
	want := []string{
		"fingerprint entry 0: mismatch in local_digits",
		"fingerprint entry 1: mismatch in display",
		"fingerprint entry 2: missing remote_id",
		"fingerprint entry 3: invalid hex in remote_key",
		"fingerprint entry 4: iterations out of range",
		"fingerprint entry 6: malformed entry",
		"fingerprint entry 7: mismatch in remote_digits, display",
	}
	if got := strings.TrimSpace(out.String()); got != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestFingerprintMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":  `{"fingerprint": [{"iterations": 2,`,
		"not json":   `fingerprint`,
		"no array":   `{"vectors": []}`,
		"wrong type": `{"fingerprint": {"iterations": 2}}`,
		"trailing":   `{"fingerprint": []} {}`,
	} {
		if _, _, err := CheckFingerprint(strings.NewReader(content), io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
