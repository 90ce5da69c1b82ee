package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/participant"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
	"github.com/sottohq/sotto/transport"
)

// bot runs one bot's participant with meeting keying, as run does.
type bot struct {
	p    *participant.Participant
	k    *meetingKeying
	done chan struct{}
}

func startBot(t *testing.T, relayURL, meetingID string, args []string) *bot {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	registerMeetingFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if !meetingMode() {
		t.Fatal("meeting mode not selected")
	}
	if currentMeetingOptions().link != "" {
		u, m, err := meetingTransport()
		if err != nil || u != relayURL || m != meetingID {
			t.Fatalf("link names %s %s (%v)", u, m, err)
		}
	}
	k, err := newMeetingKeying(relayURL, meetingID)
	if err != nil {
		t.Fatal(err)
	}
	k.linkWriter = func(string) {}
	mid, err := signal.ParseID(meetingID)
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(capture.Options{Video: capture.SyntheticVideo(), Audio: capture.SyntheticAudio(), Width: 160, Height: 120, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	p, err := participant.Join(context.Background(), participant.Config{
		Transport: transport.Config{URL: relayURL, MeetingID: mid, SettingEngine: signal.LoopbackOnly},
		Video:     src.Video(), Audio: src.Audio(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := k.start(p); err != nil {
		t.Fatal(err)
	}
	b := &bot{p: p, k: k, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for ev := range p.Conn().Events() {
			if err := k.event(p, ev); err != nil {
				t.Error(err)
			}
		}
	}()
	t.Cleanup(k.stop)
	return b
}

func TestBotsJoinThroughAdmission(t *testing.T) {
	r, err := relay.New(relay.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	defer r.Shutdown(context.Background())
	relayURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
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

	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		var code string
		for i, b := range bots {
			line, err := json.Marshal(statsLine(b.p.Stats(), b.k))
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
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bots did not converge and decode each other")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The identity was saved and is reused.
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatal(err)
	}
	if j1.k.name != "bot one" || host.k.link.String() != link {
		t.Fatal("bot names or link mismatch")
	}
}

func TestMeetingFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-host", "-link", "sotto://x/00000000000000000000000000000000#AAAA"},
		{"-link", "https://example.org/"},
		{"-host", "-admit", "sometimes"},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		registerMeetingFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := newMeetingKeying("ws://127.0.0.1:1/ws", "00000000000000000000000000000000"); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	for _, u := range []string{"http://relay/ws", "ws://relay/other", "ws:///ws", "ws://relay:99999/ws"} {
		if _, err := hostLink(u, meeting.Invite{InviteKey: [32]byte{1}}); err == nil {
			t.Fatalf("hostLink(%s) accepted", u)
		}
	}
}
