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

// The checks themselves are crypto/vectors, which the repository's own
// table test runs on the same files.

import (
	"fmt"
	"io"
	"os"

	"github.com/sottohq/sotto/crypto/vectors"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitProblem = 2
)

// checkers maps a subcommand to the checker of its vector files. Each writes
// its failing entries to the writer it is given.
var checkers = map[string]func(r io.Reader, out io.Writer) (passed, failed int, err error){
	"sframe":      vectors.CheckSFrame,
	"fingerprint": vectors.CheckFingerprint,
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
	passed, failed, err := checkFile(args[0], args[1], check, stdout)
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

// checkFile runs check on the file at path. An open error names the kind
// ("sframe vectors: open …") as the checkers' own errors do.
func checkFile(kind, path string, check func(io.Reader, io.Writer) (int, int, error), out io.Writer) (passed, failed int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("%s vectors: %w", kind, err)
	}
	defer f.Close()
	return check(f, out)
}
