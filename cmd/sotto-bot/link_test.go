package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With -link-out the link (whose fragment is the invite key) goes to the
// file only, never to the bot's stderr log stream; without it, to stderr.
func TestLinkStaysOutOfStderrWithLinkOut(t *testing.T) {
	const link = "sotto+insecure://127.0.0.1:1/00112233445566778899aabbccddeeff#fragment"
	var stderr strings.Builder
	file := filepath.Join(t.TempDir(), "link.txt")
	if err := announceLink(file, link, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Fatalf("link printed to stderr although -link-out was given: %q", stderr.String())
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != link+"\n" {
		t.Fatalf("link file %q, %v", b, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("link file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := announceLink("", link, &stderr); err != nil || !strings.Contains(stderr.String(), link) {
		t.Fatalf("without -link-out: printed %q, %v", stderr.String(), err)
	}
}
