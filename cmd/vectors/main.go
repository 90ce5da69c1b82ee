// Command vectors checks Sotto's cryptography against published test
// vectors.
//
//	vectors sframe FILE        RFC 9605 Appendix C vectors (header, aes_ctr_hmac, sframe)
//	vectors fingerprint FILE   safety-number vectors
//
// It prints one line per failing entry and ends with the line
// "N passed, M failed". The exit status is 0 only when M is 0 and N is
// not; 1 when an entry failed or the file held no entries; 2 for a usage
// error or a file that cannot be read or parsed.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitProblem = 2
)

// checkers maps a subcommand to the function that checks a vector file. Each
// prints its failing entries to stdout.
var checkers = map[string]func(path string) (passed, failed int, err error){
	"sframe":      runSFrame,
	"fingerprint": runFingerprint,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: vectors sframe|fingerprint FILE")
		return exitProblem
	}
	check, ok := checkers[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vectors: unknown vector kind %q (want sframe or fingerprint)\n", args[0])
		return exitProblem
	}
	passed, failed, err := check(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "vectors: %v\n", err)
		return exitProblem
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		return exitFailed
	}
	return exitOK
}

// decodeVectorFile reads at most limit bytes of a vector file from r and
// decodes its one JSON object into v; a larger file or trailing data after
// the object is an error. Errors start with what ("sframe vectors").
func decodeVectorFile(r io.Reader, limit int64, what string, v any) error {
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
