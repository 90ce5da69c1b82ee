package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fingerprintVectors = "../../crypto/safety/testdata/fingerprint-vectors.json"

func TestRunFingerprintPublishedVectors(t *testing.T) {
	passed, failed, err := runFingerprint(fingerprintVectors)
	if err != nil {
		t.Fatal(err)
	}
	if passed != 6 || failed != 0 {
		t.Fatalf("%d passed, %d failed; want 6 passed, 0 failed", passed, failed)
	}
}

func TestRunFingerprintCorrupted(t *testing.T) {
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
	passed, failed, err := checkFingerprint(bytes.NewReader(corrupt), &out)
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

	// The same through the file entry point.
	path := filepath.Join(t.TempDir(), "corrupt.json")
	if err := os.WriteFile(path, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	if passed, failed, err := runFingerprint(path); err != nil || passed != 1 || failed != 7 {
		t.Fatalf("runFingerprint: %d passed, %d failed, %v", passed, failed, err)
	}
}

func TestRunFingerprintMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated":  `{"fingerprint": [{"iterations": 2,`,
		"not json":   `fingerprint`,
		"no array":   `{"vectors": []}`,
		"wrong type": `{"fingerprint": {"iterations": 2}}`,
		"trailing":   `{"fingerprint": []} {}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runFingerprint(path); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, _, err := runFingerprint(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}
