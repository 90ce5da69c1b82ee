// Package wavfile reads and writes the WAV files Sotto uses for test
// speech: RIFF/WAVE with 16-bit PCM or 32-bit float samples, mono or
// stereo. Reading is bounded and every malformed or unsupported file gets
// an error that says what is wrong, never a panic.
package wavfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// WAVE format tags (RIFF fmt chunk).
const (
	formatPCM        = 1
	formatFloat      = 3
	formatExtensible = 0xFFFE
)

// MaxSamples bounds what Read accepts: ten minutes of stereo at 48 kHz.
const MaxSamples = 10 * 60 * 48000 * 2

// ErrFormat is wrapped by every error about a file that is not a WAV
// file Sotto can read.
var ErrFormat = errors.New("wav")

// Audio is decoded audio: mono samples in −1…1 (stereo is mixed down).
type Audio struct {
	Samples    []float32
	SampleRate int
	Channels   int // of the file
}

// ReadFile reads a WAV file.
func ReadFile(path string) (Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return Audio{}, err
	}
	defer f.Close()
	a, err := Decode(bufio.NewReader(f))
	if err != nil {
		return Audio{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Decode reads a WAV stream.
func Decode(r io.Reader) (Audio, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Audio{}, formatErr("not a WAV file (too short)")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return Audio{}, formatErr("not a WAV file (no RIFF/WAVE header)")
	}
	var (
		haveFmt             bool
		tag, channels, bits uint16
		rate                uint32
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return Audio{}, formatErr("no data chunk")
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return Audio{}, formatErr("bad fmt chunk size %d", size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return Audio{}, formatErr("truncated fmt chunk")
			}
			tag = binary.LittleEndian.Uint16(b[0:2])
			channels = binary.LittleEndian.Uint16(b[2:4])
			rate = binary.LittleEndian.Uint32(b[4:8])
			bits = binary.LittleEndian.Uint16(b[14:16])
			if tag == formatExtensible && size >= 26 {
				tag = binary.LittleEndian.Uint16(b[24:26]) // sub-format GUID's first two bytes
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, formatErr("data before fmt chunk")
			}
			return decodeData(r, size, tag, channels, bits, rate)
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return Audio{}, formatErr("truncated %q chunk", id)
			}
		}
	}
}

func decodeData(r io.Reader, size uint32, tag, channels, bits uint16, rate uint32) (Audio, error) {
	var width int
	switch {
	case tag == formatPCM && bits == 16:
		width = 2
	case tag == formatFloat && bits == 32:
		width = 4
	default:
		return Audio{}, formatErr("unsupported sample format (tag %d, %d bits): need 16-bit PCM or 32-bit float", tag, bits)
	}
	if channels != 1 && channels != 2 {
		return Audio{}, formatErr("%d channels: need mono or stereo", channels)
	}
	if rate < 8000 || rate > 192000 {
		return Audio{}, formatErr("implausible sample rate %d Hz", rate)
	}
	frame := width * int(channels)
	n := int(size) / frame
	if size == 0xFFFFFFFF || n*int(channels) > MaxSamples {
		n = MaxSamples / int(channels) // streamed or huge: read what is there, bounded
	}
	out := make([]float32, 0, min(n, 1<<20))
	buf := make([]byte, 4096*frame)
	for len(out) < n {
		want := min(n-len(out), 4096) * frame
		k, err := io.ReadFull(r, buf[:want])
		for off := 0; off+frame <= k; off += frame {
			var s float32
			for c := 0; c < int(channels); c++ {
				b := buf[off+c*width:]
				if width == 2 {
					s += float32(int16(binary.LittleEndian.Uint16(b))) / 32768
				} else {
					v := math.Float32frombits(binary.LittleEndian.Uint32(b))
					if v != v || v > 8 || v < -8 { // NaN or absurd
						v = 0
					}
					s += v
				}
			}
			out = append(out, s/float32(channels))
		}
		if err != nil {
			break // a truncated data chunk: keep what was there
		}
	}
	if len(out) == 0 {
		return Audio{}, formatErr("no samples")
	}
	return Audio{Samples: out, SampleRate: int(rate), Channels: int(channels)}, nil
}

// Writer writes a mono 16-bit PCM WAV file; the header's sizes are filled
// in by Close.
type Writer struct {
	f    *os.File
	w    *bufio.Writer
	rate int
	n    uint32 // samples written
	err  error
}

// Create starts a mono 16-bit WAV file at rate.
func Create(path string, rate int) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), rate: rate}
	w.header()
	return w, w.err
}

func (w *Writer) header() {
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+2*w.n)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], formatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(w.rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(w.rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], 2*w.n)
	_, w.err = w.w.Write(h[:])
}

// Write appends samples (−1…1, clipped).
func (w *Writer) Write(samples []float32) error {
	if w.err != nil {
		return w.err
	}
	var b [2]byte
	for _, v := range samples {
		f := math.Round(float64(v) * 32767)
		binary.LittleEndian.PutUint16(b[:], uint16(int16(min(max(f, -32768), 32767))))
		if _, err := w.w.Write(b[:]); err != nil {
			w.err = err
			return err
		}
		w.n++
	}
	return nil
}

// Close fixes the header and closes the file.
func (w *Writer) Close() error {
	if err := w.w.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err == nil {
		if _, err := w.f.Seek(0, io.SeekStart); err != nil {
			w.err = err
		} else {
			w.w.Reset(w.f)
			w.header()
			if err := w.w.Flush(); err != nil && w.err == nil {
				w.err = err
			}
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}
