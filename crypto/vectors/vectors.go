// Package vectors checks the crypto core against test-vector files: the
// SFrame vectors of RFC 9605 Appendix C ([CheckSFrame]) and Sotto's
// safety-number vectors (docs/PROTOCOL.md §2, [CheckFingerprint]).
//
// It is the one checker of those files: the vectors command runs it on a
// file given on its command line, and this package's table test runs it on
// the files under crypto/sframe/testdata and crypto/safety/testdata.
//
// A checker reads the file's one JSON object, checks every entry on its own
// and writes one line per failing entry to out, naming the entry and the
// values that differ; it never writes key, plaintext or ciphertext bytes.
// A file that cannot be read or parsed is an error; a malformed entry or one
// for an unsupported cipher suite is a failure.
package vectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// decodeFile reads at most limit bytes of a vector file from r and decodes
// its one JSON object into v; a larger file or trailing data after the
// object is an error. Errors start with what ("sframe vectors").
func decodeFile(r io.Reader, limit int64, what string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return errors.New(what + ": file too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if dec.More() {
		return errors.New(what + ": trailing data after the JSON object")
	}
	return nil
}
