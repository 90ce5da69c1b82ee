package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	sframePublicVectors = "../../crypto/sframe/testdata/test-vectors-public.json"
	fingerprintVectors  = "../../crypto/safety/testdata/fingerprint-vectors.json"
)

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vectors.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// corrupted returns the published SFrame file with one entry's cipher suite
// changed to one that does not exist.
func corrupted(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(sframePublicVectors)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string][]map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // 64-bit KIDs and CTRs do not fit a float64
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	v["sframe"][0]["cipher_suite"] = 9
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The command's contract (package doc): the summary line, one line per
// failing entry, and the exit status.
func TestRunExitStatus(t *testing.T) {
	bad := writeFile(t, corrupted(t))
	empty := writeFile(t, []byte(`{"header": []}`))
	malformed := writeFile(t, []byte(`{"sframe": [`))
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"sframe", sframePublicVectors}, exitOK, "290 passed, 0 failed\n"},
		{[]string{"fingerprint", fingerprintVectors}, exitOK, "6 passed, 0 failed\n"},
		{[]string{"sframe", bad}, exitFailed, "sframe entry 0: unsupported cipher suite 0x0009\n289 passed, 1 failed\n"},
		{[]string{"sframe", empty}, exitFailed, "0 passed, 0 failed\n"},
		{[]string{"sframe", malformed}, exitProblem, ""},
		{[]string{"fingerprint", sframePublicVectors}, exitProblem, ""},
		{[]string{"sframe", filepath.Join(t.TempDir(), "none.json")}, exitProblem, ""},
		{[]string{"sframe"}, exitProblem, ""},
		{[]string{"nonsense", sframePublicVectors}, exitProblem, ""},
		{nil, exitProblem, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || stdout.String() != c.out {
			t.Errorf("run %q: exit %d stdout %q, want exit %d and %q", c.args, code, stdout.String(), c.code, c.out)
		}
		if c.code == exitProblem && !strings.HasPrefix(stderr.String(), "usage: ") && !strings.HasPrefix(stderr.String(), "vectors: ") {
			t.Errorf("run %q: error message %q", c.args, stderr.String())
		}
	}
	var stderr bytes.Buffer
	run([]string{"fingerprint", filepath.Join(t.TempDir(), "none.json")}, &bytes.Buffer{}, &stderr)
	if !strings.HasPrefix(stderr.String(), "vectors: fingerprint vectors: open ") {
		t.Errorf("missing file: %q", stderr.String())
	}
}
