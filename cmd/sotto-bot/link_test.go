package main

import (
	"os"
	"path/filepath"
	"testing"
)

// With -link-out the link (whose fragment is the invite key) goes to the
// file only, never to the bot's stderr log stream; without it, to stderr.
func TestLinkStaysOutOfStderrWithLinkOut(t *testing.T) {
	const link = "sotto+insecure://127.0.0.1:1/00112233445566778899aabbccddeeff#fragment"
	var printed []string
	k := &meetingKeying{linkWriter: func(s string) { printed = append(printed, s) }}
	k.opts.linkOut = filepath.Join(t.TempDir(), "link.txt")
	if err := k.announceLink(link); err != nil {
		t.Fatal(err)
	}
	if len(printed) != 0 {
		t.Fatalf("link printed to stderr although -link-out was given: %q", printed)
	}
	b, err := os.ReadFile(k.opts.linkOut)
	if err != nil || string(b) != link+"\n" {
		t.Fatalf("link file %q, %v", b, err)
	}
	if fi, err := os.Stat(k.opts.linkOut); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("link file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k.opts.linkOut = ""
	if err := k.announceLink(link); err != nil || len(printed) != 1 || printed[0] != link {
		t.Fatalf("without -link-out: printed %q, %v", printed, err)
	}
}
