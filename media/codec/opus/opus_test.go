package opus_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	mdopus "github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"

	"github.com/sottohq/sotto/media/codec/opus"
)

// encodedSine returns n packets of a 480 Hz sine at a quarter of full
// scale (the signal of mediadevices' synthetic microphone) encoded at
// 32 kbit/s, the capture default.
func encodedSine(t testing.TB, n int) [][]byte {
	return encodedSineAt(t, n, 32000)
}

// encodedSineAt encodes the sine with mediadevices' libopus encoder, the
// one media/capture uses, configured the same way (20 ms, mono, 48 kHz),
// without the synthetic device's real-time pacing.
func encodedSineAt(t testing.TB, n, bitrate int) [][]byte {
	t.Helper()
	const chunk = opus.SampleRate / 50 // 20 ms
	phase := 0
	sine := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a := wave.NewFloat32Interleaved(wave.ChunkInfo{Channels: 1, Len: chunk, SamplingRate: opus.SampleRate})
		for i := range a.Data {
			a.Data[i] = float32(0.25 * math.Sin(2*math.Pi*480*float64(phase)/opus.SampleRate))
			phase++
		}
		return a, func() {}, nil
	})
	params, err := mdopus.NewParams()
	if err != nil {
		t.Fatal(err)
	}
	params.BitRate = bitrate
	params.Latency = mdopus.Latency20ms
	enc, err := params.BuildAudioEncoder(sine, prop.Media{Audio: prop.Audio{SampleRate: opus.SampleRate, ChannelCount: 1, Latency: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var pkts [][]byte
	for range n {
		p, release, err := enc.Read()
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), p...))
		release()
	}
	return pkts
}

// goertzel returns the power of frequency f in x, scaled so that a sine
// of amplitude a at f gives a²/2 (its mean power).
func goertzel(x []float32, f float64) float64 {
	w := 2 * math.Pi * f / opus.SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) * 2 / float64(len(x)) / float64(len(x))
}

// Each bitrate drives libopus into a different mode: SILK-only at 12
// kbit/s, hybrid then CELT at 32 and 64 kbit/s. The decoder must
// reproduce the tone in all of them, and the packet sizes must follow the
// configured bitrate.
func TestDecodesSyntheticSine(t *testing.T) {
	for _, bitrate := range []int{12000, 32000, 64000} {
		t.Run(fmt.Sprint(bitrate), func(t *testing.T) {
			pkts := encodedSineAt(t, 50, bitrate) // 1 s
			dec, err := opus.NewDecoder(1)
			if err != nil {
				t.Fatal(err)
			}
			var pcm []float32
			buf := make([]float32, opus.MaxPacketSamples)
			modes := map[string]bool{}
			bytes := 0
			for i, p := range pkts {
				want, err := opus.PacketSamples(p)
				if err != nil || want != 960 {
					t.Fatalf("packet %d: PacketSamples %d, %v", i, want, err)
				}
				modes[mode(p[0])] = true
				bytes += len(p)
				n, err := dec.Decode(p, buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if n != 960 {
					t.Fatalf("packet %d: %d samples, want 960", i, n)
				}
				pcm = append(pcm, buf[:n]...)
			}
			got := float64(bytes) * 8 / float64(len(pkts)) * 50
			t.Logf("modes %v, %.1f kbit/s", modes, got/1000)
			if got < 0.5*float64(bitrate) || got > 1.3*float64(bitrate) {
				t.Fatalf("encoded at %.0f bit/s for a %d target", got, bitrate)
			}
			tail := pcm[len(pcm)/2:] // past the encoder's start-up
			var energy float64
			for _, v := range tail {
				energy += float64(v) * float64(v)
			}
			rms := math.Sqrt(energy / float64(len(tail)))
			// The source is a 0.25-amplitude sine: RMS 0.177.
			if rms < 0.14 || rms > 0.21 {
				t.Fatalf("decoded RMS %.3f, want ≈0.177", rms)
			}
			// Nearly all power sits at 480 Hz (power of a sine = a²/2).
			tone := goertzel(tail, 480)
			if share := tone / (rms * rms); share < 0.9 {
				t.Fatalf("480 Hz holds %.2f of the power, want > 0.9", share)
			}
			if off := goertzel(tail, 1000) / (rms * rms); off > 0.01 {
				t.Fatalf("1 kHz holds %.3f of the power", off)
			}
		})
	}
}

// mode names an Opus packet's coding mode from its TOC byte (RFC 6716 §3.1).
func mode(toc byte) string {
	switch c := toc >> 3; {
	case c < 12:
		return "SILK"
	case c < 16:
		return "hybrid"
	default:
		return "CELT"
	}
}

func TestRejectsGarbage(t *testing.T) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, opus.MaxPacketSamples)
	if _, err := dec.Decode(nil, buf); !errors.Is(err, opus.ErrEmptyPacket) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := dec.Decode(make([]byte, opus.MaxPacketSize+1), buf); !errors.Is(err, opus.ErrPacketTooBig) {
		t.Fatalf("huge: %v", err)
	}
	if _, err := dec.Decode([]byte{0x03, 0x00}, buf); !errors.Is(err, opus.ErrMalformed) {
		t.Fatalf("zero-frame code 3: %v", err)
	}
	if _, err := dec.Decode([]byte{0xf8, 0x00}, buf[:10]); !errors.Is(err, opus.ErrBufferTooSmall) {
		t.Fatalf("small buffer: %v", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		p := make([]byte, 1+r.IntN(400))
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		_, _ = dec.Decode(p, buf) // must not panic
	}
	// Still decodes real packets afterwards.
	dec.Reset()
	for i, p := range encodedSine(t, 5) {
		if _, err := dec.Decode(p, buf); err != nil {
			t.Fatalf("packet %d after garbage: %v", i, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xfc, 0xff, 0xfe})
	f.Add([]byte{0x4b, 0x41, 0x01, 0x02})
	dec, _ := opus.NewDecoder(2)
	buf := make([]float32, 2*opus.MaxPacketSamples)
	f.Fuzz(func(t *testing.T, p []byte) {
		n, err := dec.Decode(p, buf)
		if err == nil && (n <= 0 || n > opus.MaxPacketSamples) {
			t.Fatalf("decoded %d samples without error", n)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	pkts := encodedSine(b, 50)
	dec, _ := opus.NewDecoder(1)
	buf := make([]float32, opus.MaxPacketSamples)
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(pkts[i%len(pkts)], buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/1000/float64(b.N), "cpu-µs/frame")
}

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
