package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sottohq/sotto/internal/call"
	"github.com/sottohq/sotto/media/wavfile"
	"github.com/sottohq/sotto/relay/signal"
)

// speech48 is the far-end test recording at 48 kHz (linear
// interpolation from its 16 kHz file is enough for a test input).
func speech48(t *testing.T, name string, seconds float64) []float32 {
	t.Helper()
	a, err := wavfile.ReadFile(filepath.Join("..", "..", "media", "audioproc", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	n := min(len(a.Samples), int(seconds*float64(a.SampleRate)))
	out := make([]float32, 3*n)
	for i := range n {
		next := a.Samples[min(i+1, n-1)]
		for k := range 3 {
			out[3*i+k] = a.Samples[i] + (next-a.Samples[i])*float32(k)/3
		}
	}
	return out
}

// TestSpeechThroughTheMeeting sends real speech from one bot's WAV
// microphone, through its audio processing (on by default), Opus, SFrame
// and the relay, into the other bot's mix, recorded with -record, and
// checks the talker is recognisably there.
func TestSpeechThroughTheMeeting(t *testing.T) {
	dir := t.TempDir()
	speech := speech48(t, "far16k.wav", 5)
	lead := 48000 * 3 / 2 // 1.5 s of silence while the listener settles
	mic := make([]float32, lead+len(speech)+48000/2)
	copy(mic[lead:], speech)
	micPath, recPath := filepath.Join(dir, "talker.wav"), filepath.Join(dir, "heard.wav")
	writeWAV(t, micPath, mic)

	url := startRelay(t)
	meeting := signal.NewID().String()
	common := []string{"-relay", url, "-meeting", meeting, "-loopback", "-video", "none",
		"-test-key", "000102030405060708090a0b0c0d0e0f"}
	listener, err := parseFlags(append(common, "-duration", "9s", "-audio", "none", "-record", recPath), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	talker, err := parseFlags(append(common, "-duration", "8s", "-audio", "wav:"+micPath), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var talkerOut bytes.Buffer
	for i, o := range []options{listener, talker} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := io.Discard
			if i == 1 {
				out = &talkerOut
			}
			if err := run(context.Background(), o, out, io.Discard); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var st call.Stats
	if err := json.Unmarshal(talkerOut.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.AudioProcessing == nil || st.AudioProcessing.Frames < 500 {
		t.Fatalf("the talker's audio processing did not run: %s", talkerOut.String())
	}
	rec, err := wavfile.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SampleRate != 48000 || len(rec.Samples) < 48000*7 {
		t.Fatalf("recording: %d Hz, %d samples", rec.SampleRate, len(rec.Samples))
	}
	env, lag := envelopeMatch(speech, rec.Samples)
	t.Logf("the talker's speech in the listener's mix: envelope correlation %.3f at %.2f s", env, float64(lag)/48000)
	// Another talker's speech is the control: the measure tells voices apart.
	other, _ := envelopeMatch(speech48(t, "near16k.wav", 5), rec.Samples)
	t.Logf("control (a speech that was not sent): %.3f", other)
	if env < 0.7 || env < other+0.2 {
		t.Errorf("speech envelope correlation %.3f (control %.3f), want ≥ 0.7 and well above the control", env, other)
	}
}

// envelopeMatch finds x in y by the correlation of their 10 ms log
// energy envelopes; it returns the best normalised correlation and the
// lag in samples.
func envelopeMatch(x, y []float32) (float64, int) {
	ex, ey := envelope(x), envelope(y)
	best, bestLag := -1.0, 0
	for l := 0; l+len(ex) <= len(ey); l++ {
		if c := pearson(ex, ey[l:l+len(ex)]); c > best {
			best, bestLag = c, l
		}
	}
	return best, bestLag * 480
}

func envelope(x []float32) []float64 {
	var e []float64
	for i := 0; i+480 <= len(x); i += 480 {
		var s float64
		for _, v := range x[i : i+480] {
			s += float64(v) * float64(v)
		}
		e = append(e, 10*math.Log10(s/480+1e-7)) // floor at −70 dBFS
	}
	return e
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var ab, aa, bb float64
	for i := range a {
		ab += (a[i] - ma) * (b[i] - mb)
		aa += (a[i] - ma) * (a[i] - ma)
		bb += (b[i] - mb) * (b[i] - mb)
	}
	return ab / math.Sqrt(aa*bb+1e-20)
}

func writeWAV(t *testing.T, path string, x []float32) {
	t.Helper()
	w, err := wavfile.Create(path, 48000)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(x); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWAVMicrophoneErrors(t *testing.T) {
	dir := t.TempDir()
	header := func(tag, channels uint16, rate uint32, bits uint16) []byte {
		var b bytes.Buffer
		b.WriteString("RIFF")
		binary.Write(&b, binary.LittleEndian, uint32(36+4))
		b.WriteString("WAVEfmt ")
		binary.Write(&b, binary.LittleEndian, uint32(16))
		binary.Write(&b, binary.LittleEndian, tag)
		binary.Write(&b, binary.LittleEndian, channels)
		binary.Write(&b, binary.LittleEndian, rate)
		binary.Write(&b, binary.LittleEndian, rate*uint32(channels*bits/8))
		binary.Write(&b, binary.LittleEndian, channels*bits/8)
		binary.Write(&b, binary.LittleEndian, bits)
		b.WriteString("data")
		binary.Write(&b, binary.LittleEndian, uint32(4))
		b.Write([]byte{1, 2, 3, 4})
		return b.Bytes()
	}
	files := map[string][]byte{
		"text.wav":    []byte("this is not audio at all, just text"),
		"empty.wav":   nil,
		"16k.wav":     header(1, 1, 16000, 16),
		"8bit.wav":    header(1, 1, 48000, 8),
		"6ch.wav":     header(1, 6, 48000, 16),
		"nodata.wav":  header(1, 1, 48000, 16)[:36],
		"alaw.wav":    header(6, 1, 48000, 8),
		"hugefmt.wav": append([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f"), make([]byte, 64)...),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"missing.wav": "no such file",
		"text.wav":    "not a WAV file",
		"empty.wav":   "not a WAV file",
		"16k.wav":     "sample rate 16000 Hz, need 48000",
		"8bit.wav":    "need 16-bit PCM or 32-bit float",
		"6ch.wav":     "6 channels",
		"nodata.wav":  "no data chunk",
		"alaw.wav":    "unsupported sample format",
		"hugefmt.wav": "bad fmt chunk size",
	}
	for name, want := range cases {
		o, err := parseFlags([]string{"-relay", "ws://127.0.0.1:1/ws", "-meeting", signal.NewID().String(),
			"-audio", "wav:" + filepath.Join(dir, name)}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, err = captureOptions(o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, want)
			continue
		}
		if name != "missing.wav" && !errors.Is(err, wavfile.ErrFormat) {
			t.Errorf("%s: %v does not wrap wavfile.ErrFormat", name, err)
		}
	}
}

func TestProcessingFlags(t *testing.T) {
	base := []string{"-relay", "ws://127.0.0.1:1/ws", "-meeting", signal.NewID().String(), "-test-key", "000102030405060708090a0b0c0d0e0f"}
	for _, tc := range []struct {
		args []string
		want call.AudioProcessing
	}{
		{nil, call.AudioProcessing{}},
		{[]string{"-aec=false"}, call.AudioProcessing{NoEchoCancellation: true}},
		{[]string{"-ns=false", "-agc=false"}, call.AudioProcessing{NoNoiseSuppression: true, NoGainControl: true}},
	} {
		o, err := parseFlags(append(append([]string(nil), base...), tc.args...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg, cleanup, err := callConfig(o, nil)
		if err != nil {
			t.Fatal(err)
		}
		cleanup()
		if cfg.Processing != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.args, cfg.Processing, tc.want)
		}
	}
}
