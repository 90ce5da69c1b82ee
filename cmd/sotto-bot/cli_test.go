package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay/signal"
)

// buildBot compiles the command for tests that run it as a process.
func buildBot(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sotto-bot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// The command line end to end in meeting-protocol mode: a host bot prints
// its link, a second bot joins with it, both get per-sender keys through
// admission and print one statistics line with media and meeting state.
func TestCommandLineHostAndJoin(t *testing.T) {
	bin := buildBot(t)
	relayURL := startRelay(t)
	linkFile := filepath.Join(t.TempDir(), "link")
	small := []string{"-loopback", "-width", "160", "-height", "120", "-fps", "15"}

	host := exec.Command(bin, append([]string{"-relay", relayURL, "-meeting", signal.NewID().String(), "-duration", "8s",
		"-host", "-admit", "all", "-link-out", linkFile}, small...)...)
	var hostOut strings.Builder
	host.Stdout = &hostOut
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	var link string
	waittest.Until(t, "the host bot's link file", 15*time.Second, func() bool {
		if b, err := os.ReadFile(linkFile); err == nil && strings.HasSuffix(string(b), "\n") {
			link = strings.TrimSpace(string(b))
		}
		return link != ""
	})
	joiner := exec.Command(bin, append([]string{"-link", link, "-duration", "5s"}, small...)...)
	joinOut, err := joiner.Output()
	if err != nil {
		t.Fatalf("joiner: %v", err)
	}
	if err := host.Wait(); err != nil {
		t.Fatalf("host: %v", err)
	}

	type line struct {
		Session string `json:"session"`
		Remotes map[string]struct {
			Video *struct {
				FramesDecoded uint64 `json:"frames_decoded"`
			} `json:"video"`
		} `json:"remotes"`
		Meeting *struct {
			Members []json.RawMessage `json:"members"`
		} `json:"meeting"`
	}
	var h, j line
	for _, c := range []struct {
		out string
		to  *line
	}{{hostOut.String(), &h}, {string(joinOut), &j}} {
		if strings.Count(c.out, "\n") != 1 {
			t.Fatalf("want one JSON line, got %q", c.out)
		}
		if err := json.Unmarshal([]byte(c.out), c.to); err != nil {
			t.Fatal(err)
		}
	}
	// The joiner leaves first: it reports both members, the host only
	// itself by the time it prints.
	for _, c := range []struct {
		me      line
		other   string
		members int
	}{{h, j.Session, 1}, {j, h.Session, 2}} {
		if c.me.Meeting == nil || len(c.me.Meeting.Members) != c.members {
			t.Errorf("%s: meeting state has %d members, want %d", c.me.Session, len(c.me.Meeting.Members), c.members)
		}
		if v := c.me.Remotes[c.other].Video; v == nil || v.FramesDecoded < 15 {
			t.Errorf("%s decoded too little video from %s: %+v", c.me.Session, c.other, v)
		}
	}
}
