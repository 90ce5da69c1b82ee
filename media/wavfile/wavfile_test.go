package wavfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	w, err := Create(path, 48000)
	if err != nil {
		t.Fatal(err)
	}
	in := []float32{0, 0.5, -0.5, 1, -1, 2 /* clipped */}
	if err := w.Write(in[:3]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(in[3:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate != 48000 || a.Channels != 1 || len(a.Samples) != len(in) {
		t.Fatalf("read %d Hz, %d channels, %d samples", a.SampleRate, a.Channels, len(a.Samples))
	}
	for i, v := range in {
		want := math.Max(-1, math.Min(1, float64(v)))
		if math.Abs(float64(a.Samples[i])-want) > 1e-4 {
			t.Errorf("sample %d: %v, want %v", i, a.Samples[i], want)
		}
	}
}

// floatStereo is a 32-bit float stereo file with an extra chunk before
// the data.
func floatStereo(frames [][2]float32) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(0))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(formatFloat))
	le(uint16(2))
	le(uint32(44100))
	le(uint32(44100 * 8))
	le(uint16(8))
	le(uint16(32))
	b.WriteString("LIST")
	le(uint32(3))
	b.Write([]byte{1, 2, 3, 0}) // odd size, padded
	b.WriteString("data")
	le(uint32(8 * len(frames)))
	for _, f := range frames {
		le(f[0])
		le(f[1])
	}
	return b.Bytes()
}

func TestFloatStereoMixedDown(t *testing.T) {
	a, err := Decode(bytes.NewReader(floatStereo([][2]float32{{0.5, 0.1}, {-1, 1}, {float32(math.NaN()), 0.2}})))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.3, 0, 0.1}
	if a.SampleRate != 44100 || a.Channels != 2 || len(a.Samples) != 3 {
		t.Fatalf("%+v", a)
	}
	for i := range want {
		if math.Abs(float64(a.Samples[i]-want[i])) > 1e-6 {
			t.Errorf("sample %d: %v, want %v", i, a.Samples[i], want[i])
		}
	}
}

func TestTruncatedDataKeepsWhatIsThere(t *testing.T) {
	b := floatStereo([][2]float32{{0.5, 0.5}, {0.25, 0.25}, {0.1, 0.1}})
	a, err := Decode(bytes.NewReader(b[:len(b)-6]))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) != 2 {
		t.Fatalf("%d samples from a file cut in its third frame", len(a.Samples))
	}
}

func TestErrorsWrapErrFormat(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":   nil,
		"riff":    []byte("RIFF\x00\x00\x00\x00AVI "),
		"no fmt":  []byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd"),
		"nothing": []byte("RIFF\x00\x00\x00\x00WAVE"),
	} {
		if _, err := Decode(bytes.NewReader(data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(floatStereo([][2]float32{{0.5, 0.1}}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\xbb\x00\x00\x00\x77\x01\x00\x02\x00\x10\x00data\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(bytes.NewReader(b))
		if err == nil && (len(a.Samples) == 0 || a.SampleRate <= 0) {
			t.Fatalf("accepted %+v", a)
		}
	})
}
