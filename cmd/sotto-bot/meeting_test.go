package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/call"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay/signal"
)

// bot is one bot's meeting, configured from its command line as run
// configures it.
type bot struct {
	c    *call.Call
	name string
}

func startBot(t *testing.T, relayURL, meetingID string, args []string) *bot {
	t.Helper()
	base := []string{"-relay", relayURL, "-meeting", meetingID}
	for _, a := range args {
		if a == "-link" {
			base = nil // the link names relay and meeting
		}
	}
	o, err := parseFlags(append(append(base, "-loopback", "-width", "160", "-height", "120", "-fps", "15"), args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.relay != relayURL || o.meeting != meetingID {
		t.Fatalf("flags name %s %s", o.relay, o.meeting)
	}
	cfg, cleanup, err := callConfig(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	c, err := call.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Leave)
	go func() {
		for range c.Events() {
		}
	}()
	if o.host {
		if err := announceLink(o.linkOut, c.InviteLink(), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return &bot{c: c, name: cfg.Name}
}

func TestBotsJoinThroughAdmission(t *testing.T) {
	relayURL := startRelay(t)
	meetingID := signal.NewID().String()
	dir := t.TempDir()
	linkFile := filepath.Join(dir, "link")

	host := startBot(t, relayURL, meetingID, []string{"-host", "-admit", "all", "-link-out", linkFile, "-name", "host bot"})
	raw, err := os.ReadFile(linkFile)
	if err != nil {
		t.Fatal(err)
	}
	link := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(link, "sotto+insecure://") {
		t.Fatalf("link %q", link)
	}
	keyFile := filepath.Join(dir, "bot.key")
	j1 := startBot(t, relayURL, meetingID, []string{"-link", link, "-identity", keyFile, "-name", "bot one"})
	j2 := startBot(t, relayURL, meetingID, []string{"-link", link})
	bots := []*bot{host, j1, j2}

	waittest.Until(t, "bots to converge and decode each other", 20*time.Second, func() bool {
		ok := true
		var code string
		for i, b := range bots {
			line, err := json.Marshal(b.c.Stats())
			if err != nil {
				t.Fatal(err)
			}
			var st struct {
				Remotes map[string]struct {
					Video *struct {
						FramesDecoded uint64 `json:"frames_decoded"`
					} `json:"video"`
				} `json:"remotes"`
				Meeting *struct {
					Epoch   uint64 `json:"epoch"`
					Code    string `json:"security_code"`
					Members []struct {
						HasKey bool `json:"has_key"`
					} `json:"members"`
				} `json:"meeting"`
			}
			if err := json.Unmarshal(line, &st); err != nil {
				t.Fatal(err)
			}
			if st.Meeting == nil {
				t.Fatal("statistics line has no meeting state")
			}
			if i == 0 {
				code = st.Meeting.Code
			}
			ok = ok && st.Meeting.Epoch == 3 && st.Meeting.Code == code && len(st.Meeting.Members) == 3
			for _, m := range st.Meeting.Members {
				ok = ok && m.HasKey
			}
			decoding := 0
			for _, r := range st.Remotes {
				if r.Video != nil && r.Video.FramesDecoded > 5 {
					decoding++
				}
			}
			ok = ok && decoding == 2
		}
		return ok
	})
	// The identity was saved and is reused.
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatal(err)
	}
	if j1.name != "bot one" || host.c.InviteLink() != link {
		t.Fatal("bot names or link mismatch")
	}
}

func TestMeetingFlagErrors(t *testing.T) {
	const mid = "00000000000000000000000000000000"
	for _, args := range [][]string{
		{"-relay", "ws://127.0.0.1:1/ws", "-meeting", mid, "-host", "-link", "sotto://x/" + mid + "#AAAA"},
		{"-link", "https://example.org/"},
		{"-relay", "ws://127.0.0.1:1/ws", "-meeting", mid, "-host", "-admit", "sometimes"},
		{"-relay", "ws://127.0.0.1:1/ws", "-meeting", "not-an-id", "-host"},
	} {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			continue // refused at parse time
		}
		if _, _, err := callConfig(o, slog.New(slog.DiscardHandler)); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	// A host bot makes its link from -relay: it must name a relay a link
	// can carry.
	for _, u := range []string{"http://relay/ws", "ws://relay/other", "ws:///ws", "ws://relay:99999/ws"} {
		o, err := parseFlags([]string{"-relay", u, "-meeting", mid, "-host"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := callConfig(o, slog.New(slog.DiscardHandler)); err == nil {
			t.Fatalf("-relay %s accepted for a host", u)
		}
	}
}
