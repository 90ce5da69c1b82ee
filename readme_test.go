package main

// The README's commands, run as a reader would paste them. A shell block
// is run when the line before its fence is the marker below; the others
// need a desktop (the demo), root (installing) or a server (TLS). Each
// block runs in the repository with bash -e, within a time bound, and
// must leave nothing behind: no new file in the repository, no process,
// no relay on the example's port.

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// readmeMarker marks a block the suite runs.
	readmeMarker = "<!-- readme-test -->"
	// readmeBlockTimeout bounds one block, builds included.
	readmeBlockTimeout = 10 * time.Minute
	// readmeRelayAddr is where the README's local relay listens.
	readmeRelayAddr = "127.0.0.1:8080"
)

// readmeBlocks returns the shell blocks after readmeMarker, with the line
// each starts on.
func readmeBlocks(t *testing.T, path string) (blocks []string, lines []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, marked, in := 0, false, false
	var cur strings.Builder
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case in && l == "```":
			blocks = append(blocks, cur.String())
			cur.Reset()
			in = false
		case in:
			cur.WriteString(l + "\n")
		case marked && l == "```sh":
			in = true
			lines = append(lines, n+1)
		}
		marked = !in && strings.TrimSpace(l) == readmeMarker
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks, lines
}

// repoFiles lists the repository's top level, without what .gitignore
// names (the README's builds write to bin/).
func repoFiles(t *testing.T) []string {
	t.Helper()
	ignore, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, l := range strings.Split(string(ignore), "\n") {
		ignored[strings.Trim(strings.TrimSpace(l), "/")] = true
	}
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !ignored[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestReadmeCommands(t *testing.T) {
	blocks, lines := readmeBlocks(t, "README.md")
	if len(blocks) < 3 {
		t.Fatalf("%d marked blocks in README.md; the bot meeting, the vectors and the relay are marked", len(blocks))
	}
	if ln, err := net.Listen("tcp", readmeRelayAddr); err != nil {
		t.Fatalf("the README's relay port is taken before the test: %v", err)
	} else {
		ln.Close()
	}
	before := repoFiles(t)
	for i, block := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), readmeBlockTimeout)
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", block)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		// Anything the block left running is its failure; kill it so the
		// next block and the next run start clean.
		left := syscall.Kill(-cmd.Process.Pid, 0) == nil
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err != nil {
			t.Fatalf("README.md:%d: %v after %v\n%s\noutput:\n%s", lines[i], err, time.Since(t0).Round(time.Millisecond), block, out)
		}
		if left {
			t.Errorf("README.md:%d left processes running", lines[i])
		}
		if ln, err := net.Listen("tcp", readmeRelayAddr); err != nil {
			t.Errorf("README.md:%d left something listening on %s", lines[i], readmeRelayAddr)
		} else {
			ln.Close()
		}
		if after := repoFiles(t); !slices.Equal(before, after) {
			t.Errorf("README.md:%d left files behind: before %v, after %v", lines[i], before, after)
		}
		checkReadmeOutput(t, lines[i], block, string(out))
		t.Logf("README.md:%d ran in %v", lines[i], time.Since(t0).Round(time.Millisecond))
	}
}

// checkReadmeOutput checks that a block did what the README says it does.
func checkReadmeOutput(t *testing.T, line int, block, out string) {
	t.Helper()
	switch {
	case strings.Contains(block, "sotto-bot"):
		// Each bot's statistics: it decoded the other's video.
		bots := 0
		for _, l := range strings.Split(out, "\n") {
			var st struct {
				Remotes map[string]struct {
					Video *struct {
						FramesDecoded uint64 `json:"frames_decoded"`
					} `json:"video"`
				} `json:"remotes"`
			}
			if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &st) != nil {
				continue
			}
			for _, r := range st.Remotes {
				if r.Video != nil && r.Video.FramesDecoded > 0 {
					bots++
					break
				}
			}
		}
		if bots != 2 {
			t.Errorf("README.md:%d: %d bots decoded the other's video, want 2:\n%s", line, bots, out)
		}
	case strings.Contains(block, "cmd/vectors"):
		if strings.Count(out, " passed, 0 failed") != strings.Count(block, "go run ./cmd/vectors") {
			t.Errorf("README.md:%d: vectors failed:\n%s", line, out)
		}
	}
}
