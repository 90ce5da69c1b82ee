package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sottohq/sotto/internal/call"
	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// startRelay runs the real relay on loopback and returns its WebSocket URL.
func startRelay(t testing.TB) string {
	_, url := relaytest.Start(t, relay.Config{})
	return url
}

func TestTwoBotsExchangeMedia(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID().String()

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
		// The bots join and leave 200 ms apart, the first keyframe needs a
		// round trip and frames still in flight at exit are lost: most,
		// not all, frames decode (the participant tests hold delivery to
		// 90%; this checks the command end to end).
		if rem.Video.FramesDecoded < sentV/2 || rem.Audio.FramesDecoded < sentA/2 {
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
	var cfg call.Config
	if err := keyConfig(o, &cfg); err == nil {
		t.Error("no key source accepted")
	}
	o.testKey = "zz"
	if err := keyConfig(o, &cfg); err == nil {
		t.Error("bad hex key accepted")
	}
	o.video = "webcam"
	if _, err := captureOptions(o); err == nil {
		t.Error("unknown video source accepted")
	}
}

// writeIVF encodes frames of a test pattern into a VP8 IVF file.
func writeIVF(t *testing.T, path string, frames int) {
	t.Helper()
	enc, err := vp8.NewEncoder(160, 120, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	img := image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420)
	h := make([]byte, ivfFileHeaderLen)
	copy(h, ivfSignature)
	binary.LittleEndian.PutUint16(h[6:], ivfFileHeaderLen)
	copy(h[8:], ivfFourCCVP8)
	binary.LittleEndian.PutUint16(h[12:], 160)
	binary.LittleEndian.PutUint16(h[14:], 120)
	binary.LittleEndian.PutUint32(h[16:], 30) // timebase 1/30 s
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(frames))
	out := h
	for i := range frames {
		for j := range img.Y {
			img.Y[j] = byte(j + 5*i)
		}
		f, err := enc.Encode(img, int64(i)*3000, 3000)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f.Data)))
		out = binary.LittleEndian.AppendUint64(out, uint64(i))
		out = append(out, f.Data...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A bot plays a VP8 file (looping a 1 s clip for 4 s); another bot decodes it.
func TestBotPlaysIVFFile(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID().String()
	path := filepath.Join(t.TempDir(), "clip.ivf")
	writeIVF(t, path, 30)
	key := "000102030405060708090a0b0c0d0e0f"
	var wg sync.WaitGroup
	var fileOut, viewOut bytes.Buffer
	for _, c := range []struct {
		args []string
		out  *bytes.Buffer
	}{
		{[]string{"-video", "ivf:" + path, "-audio", "none", "-duration", "5s"}, &fileOut},
		{[]string{"-video", "none", "-audio", "none", "-duration", "4s"}, &viewOut},
	} {
		o, err := parseFlags(append([]string{"-relay", url, "-meeting", meeting, "-loopback", "-test-key", key}, c.args...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(context.Background(), o, c.out, io.Discard); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var sender, viewer participant.Stats
	if err := json.Unmarshal(fileOut.Bytes(), &sender); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(viewOut.Bytes(), &viewer); err != nil {
		t.Fatal(err)
	}
	v := viewer.Remotes[sender.Session].Video
	// The clip loops: more frames than it holds, paced at 30 frames/s.
	if sender.Sent.Video == nil || sender.Sent.Video.Frames < 60 || sender.Sent.Video.Frames > 160 {
		t.Fatalf("sent %+v", sender.Sent.Video)
	}
	if v == nil || v.FramesDecoded < 45 || v.DecryptFailures != 0 {
		t.Fatalf("viewer decoded %+v", v)
	}
}

func TestIVFRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"short":       []byte("DKIF"),
		"not vp8":     append([]byte("DKIF\x00\x00\x20\x00VP90"), make([]byte, 20)...),
		"no timebase": append([]byte("DKIF\x00\x00\x20\x00VP80"), make([]byte, 20)...),
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, data, 0o600)
		if _, err := openIVF(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A frame header claiming 4 GB is refused before anything is allocated.
	p := filepath.Join(dir, "huge")
	writeIVF(t, p, 1)
	b, _ := os.ReadFile(p)
	binary.LittleEndian.PutUint32(b[ivfFileHeaderLen:], 0xffffffff)
	os.WriteFile(p, b, 0o600)
	s, err := openIVF(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReadFrame(); err == nil {
		t.Error("4 GB frame accepted")
	}
}
