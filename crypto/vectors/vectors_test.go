package vectors

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// TestPublishedVectors is the one table test over the vector files the
// repository carries: every entry passes, and the files hold as many
// entries as when they were added (a truncated file would pass vacuously).
func TestPublishedVectors(t *testing.T) {
	for _, c := range []struct {
		path   string
		check  func(io.Reader, io.Writer) (int, int, error)
		passed int
	}{
		{"../sframe/testdata/test-vectors-public.json", CheckSFrame, 290},
		{"../safety/testdata/fingerprint-vectors.json", CheckFingerprint, 6},
	} {
		t.Run(c.path, func(t *testing.T) {
			f, err := os.Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out bytes.Buffer
			passed, failed, err := c.check(f, &out)
			if err != nil {
				t.Fatal(err)
			}
			if passed != c.passed || failed != 0 || out.Len() != 0 {
				t.Fatalf("%d passed, %d failed, want %d passed:\n%s", passed, failed, c.passed, out.String())
			}
		})
	}
}
