// Package opustest holds what the audio tests share: the speech recording
// in media/codec/opus/testdata, a WAV reader, an encoder loop over Sotto's
// own Opus encoder and the SNR measure the loss tests and benchmarks use.
//
// testdata/speech48.wav (4 s, 48 kHz mono 16-bit) was made with
//
//	espeak-ng -s 150 -w sp.wav "The quick brown fox jumps over the lazy dog. \
//	  Meet me at the usual place at nine, and bring the papers."
//	sox sp.wav -r 48000 -c 1 -b 16 speech48.wav trim 0 4
//
// Speech, not a tone: a tone hides codec and concealment faults.
package opustest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sottohq/sotto/media/codec/opus"
)

// SpeechPath is the recording's path in the source tree.
func SpeechPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "speech48.wav")
}

// Speech returns the recording as float32 samples, trimmed to whole 20 ms
// frames.
func Speech(tb testing.TB) []float32 {
	tb.Helper()
	pcm, err := ReadWAV(SpeechPath())
	if err != nil {
		tb.Fatal(err)
	}
	return pcm[:len(pcm)/opus.FrameSamples*opus.FrameSamples]
}

// ReadWAV reads a 48 kHz mono 16-bit PCM WAV file.
func ReadWAV(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("wav: not a RIFF/WAVE file")
	}
	var fmtOK bool
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if size > len(body) {
			return nil, errors.New("wav: truncated chunk")
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("wav: short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(body[0:])
			ch := binary.LittleEndian.Uint16(body[2:])
			rate := binary.LittleEndian.Uint32(body[4:])
			bits := binary.LittleEndian.Uint16(body[14:])
			if format != 1 || ch != 1 || rate != opus.SampleRate || bits != 16 {
				return nil, fmt.Errorf("wav: want 48 kHz mono 16-bit PCM, got format %d, %d ch, %d Hz, %d bit", format, ch, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("wav: data before fmt")
			}
			pcm := make([]float32, size/2)
			for i := range pcm {
				pcm[i] = float32(int16(binary.LittleEndian.Uint16(body[2*i:]))) / 32768
			}
			return pcm, nil
		}
		p += 8 + size + size&1
	}
	return nil, errors.New("wav: no data chunk")
}

// Encode encodes pcm (whole 20 ms frames) with Sotto's encoder and
// returns one packet per frame.
func Encode(tb testing.TB, pcm []float32, p opus.EncoderParams) [][]byte {
	tb.Helper()
	enc, err := opus.NewEncoder(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	var pkts [][]byte
	for i := 0; i+opus.FrameSamples <= len(pcm); i += opus.FrameSamples {
		b, err := enc.Encode(pcm[i : i+opus.FrameSamples])
		if err != nil {
			tb.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), b...))
	}
	return pkts
}

// SNR is the signal-to-noise ratio of got against ref in dB over their
// common length: 10·log10(Σref² / Σ(ref−got)²).
func SNR(ref, got []float32) float64 {
	n := min(len(ref), len(got))
	var s, e float64
	for i := 0; i < n; i++ {
		d := float64(ref[i]) - float64(got[i])
		s += float64(ref[i]) * float64(ref[i])
		e += d * d
	}
	if e == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/e)
}

// LossPattern returns which of n packets a seeded uniform random loss of
// rate drops (the same pattern for every decoder compared). The first
// and last packets are kept so every loss has a neighbour.
func LossPattern(n int, rate float64, seed uint64) []bool {
	lost := make([]bool, n)
	x := seed*2862933555777941757 + 3037000493
	for i := 1; i < n-1; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		lost[i] = float64(x>>11)/float64(1<<53) < rate
	}
	return lost
}
