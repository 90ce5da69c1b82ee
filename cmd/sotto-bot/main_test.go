package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/participant"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// startRelay runs the real relay on loopback and returns its WebSocket URL.
func startRelay(t testing.TB) string {
	t.Helper()
	r, err := relay.New(relay.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() {
		r.Shutdown(context.Background())
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func TestTwoBotsExchangeMedia(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID()

	args := []string{"-relay", url, "-meeting", meeting, "-duration", "4s", "-loopback",
		"-width", "320", "-height", "240", "-test-key", "000102030405060708090a0b0c0d0e0f"}
	var wg sync.WaitGroup
	out := make([]bytes.Buffer, 2)
	for i := range out {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(context.Background(), o, &out[i], io.Discard); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()

	var st [2]participant.Stats
	for i := range out {
		line := out[i].Bytes()
		if bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("bot %d printed %q, want one JSON line", i, line)
		}
		if err := json.Unmarshal(line, &st[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range st {
		me, other := st[i], st[1-i]
		rem, ok := me.Remotes[other.Session]
		if !ok || rem.Video == nil || rem.Audio == nil {
			t.Fatalf("bot %d has no stats for %s: %s", i, other.Session, out[i].String())
		}
		sentV, sentA := other.Sent.Video.Frames, other.Sent.Audio.Frames
		// The later bot joins 200 ms late and the first keyframe needs a
		// round trip: most, not all, frames decode.
		if rem.Video.FramesDecoded < sentV*3/4 || rem.Audio.FramesDecoded < sentA*3/4 {
			t.Errorf("bot %d decoded video %d of %d, audio %d of %d", i,
				rem.Video.FramesDecoded, sentV, rem.Audio.FramesDecoded, sentA)
		}
		// Frames can arrive before a bot has installed the key of a peer
		// that just joined (unknown_kid, for a moment); nothing may fail
		// authentication or replay.
		for _, d := range []receive.Drops{rem.Video.Dropped, rem.Audio.Dropped} {
			if d.Auth != 0 || d.Replay != 0 || d.Malformed != 0 || d.UnknownKID > 50 {
				t.Errorf("bot %d decrypt failures: %s", i, out[i].String())
			}
		}
	}
}

func TestFlagsRequireRelayMeetingAndKey(t *testing.T) {
	if _, err := parseFlags([]string{"-meeting", "x"}, io.Discard); err == nil {
		t.Error("missing -relay accepted")
	}
	o, err := parseFlags([]string{"-relay", "ws://x", "-meeting", "y"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newKeying(o); err == nil {
		t.Error("no key source accepted")
	}
	o.testKey = "zz"
	if _, err := newKeying(o); err == nil {
		t.Error("bad hex key accepted")
	}
	o.video = "webcam"
	if _, err := captureOptions(o); err == nil {
		t.Error("unknown video source accepted")
	}
}
