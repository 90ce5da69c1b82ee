package vectors

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sottohq/sotto/crypto/safety"
)

const (
	// maxFingerprintFile bounds how much of a vector file is read.
	maxFingerprintFile = 16 << 20
	// maxFingerprintIterations bounds the work one entry can ask for.
	maxFingerprintIterations = 1_000_000
)

// fingerprintEntry is one safety-number vector. Pointers tell a missing
// field from an empty one (stable IDs are often empty).
type fingerprintEntry struct {
	Iterations   *int    `json:"iterations"`
	LocalKey     *string `json:"local_key"`
	LocalID      *string `json:"local_id"`
	RemoteKey    *string `json:"remote_key"`
	RemoteID     *string `json:"remote_id"`
	LocalDigits  *string `json:"local_digits"`
	RemoteDigits *string `json:"remote_digits"`
	Display      *string `json:"display"`
}

// CheckFingerprint checks every entry of a safety-number vector file read
// from r ({"fingerprint": [...]}) against crypto/safety, writing one line per
// failing entry to out.
func CheckFingerprint(r io.Reader, out io.Writer) (passed, failed int, err error) {
	var file struct {
		Fingerprint *[]json.RawMessage `json:"fingerprint"`
	}
	if err := decodeFile(r, maxFingerprintFile, "fingerprint vectors", &file); err != nil {
		return 0, 0, err
	}
	if file.Fingerprint == nil {
		return 0, 0, errors.New(`fingerprint vectors: no "fingerprint" array`)
	}
	for i, raw := range *file.Fingerprint {
		if problem := checkFingerprintEntry(raw); problem != "" {
			fmt.Fprintf(out, "fingerprint entry %d: %s\n", i, problem)
			failed++
		} else {
			passed++
		}
	}
	return passed, failed, nil
}

// checkFingerprintEntry returns "" if the entry passes, else what is wrong.
func checkFingerprintEntry(raw json.RawMessage) string {
	var e fingerprintEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return "malformed entry"
	}
	var missing []string
	for _, f := range []struct {
		name    string
		present bool
	}{
		{"iterations", e.Iterations != nil},
		{"local_key", e.LocalKey != nil}, {"local_id", e.LocalID != nil},
		{"remote_key", e.RemoteKey != nil}, {"remote_id", e.RemoteID != nil},
		{"local_digits", e.LocalDigits != nil}, {"remote_digits", e.RemoteDigits != nil},
		{"display", e.Display != nil},
	} {
		if !f.present {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ")
	}
	if n := *e.Iterations; n < 1 || n > maxFingerprintIterations {
		return "iterations out of range"
	}
	var bad []string
	decode := func(name, s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			bad = append(bad, name)
		}
		return b
	}
	lk, li := decode("local_key", *e.LocalKey), decode("local_id", *e.LocalID)
	rk, ri := decode("remote_key", *e.RemoteKey), decode("remote_id", *e.RemoteID)
	if len(bad) > 0 {
		return "invalid hex in " + strings.Join(bad, ", ")
	}
	n := *e.Iterations
	local, remote := safety.PartyDigits(lk, li, n), safety.PartyDigits(rk, ri, n)
	var mismatched []string
	if local != *e.LocalDigits {
		mismatched = append(mismatched, "local_digits")
	}
	if remote != *e.RemoteDigits {
		mismatched = append(mismatched, "remote_digits")
	}
	// The number is computed from scratch rather than from the digits above,
	// so the public entry points are what is checked; both parties must see
	// the same number (§2.2), and Number must agree at its own iteration
	// count.
	display := safety.NumberIterations(lk, li, rk, ri, n) == *e.Display &&
		safety.NumberIterations(rk, ri, lk, li, n) == *e.Display &&
		(n != safety.Iterations || safety.Number(lk, li, rk, ri) == *e.Display)
	if !display {
		mismatched = append(mismatched, "display")
	}
	if len(mismatched) > 0 {
		return "mismatch in " + strings.Join(mismatched, ", ")
	}
	return ""
}
