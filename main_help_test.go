package main

import (
	"os/exec"
	"strings"
	"testing"
)

// `sotto -h` prints the usage and nothing else: no Fyne error from a
// theme lookup before the app exists, no sound library's diagnostics.
func TestHelpPrintsOnlyTheUsage(t *testing.T) {
	cmd := exec.Command(appBinary(t), "-h")
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sotto -h: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "Usage of ") {
		t.Fatalf("sotto -h does not start with the usage:\n%s", out)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "  -") && !strings.HasPrefix(l, "    \t") {
			t.Fatalf("sotto -h printed %q besides the usage:\n%s", l, out)
		}
	}
	if !strings.Contains(string(out), "-demo") {
		t.Fatalf("the usage lacks the flags:\n%s", out)
	}
}
