package opus_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/opus/opustest"
)

// sine returns n 20 ms frames of a 480 Hz sine at a quarter of full scale
// (the signal of the synthetic microphone).
func sine(n int) []float32 {
	pcm := make([]float32, n*opus.FrameSamples)
	for i := range pcm {
		pcm[i] = float32(0.25 * math.Sin(2*math.Pi*480*float64(i)/opus.SampleRate))
	}
	return pcm
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

// Each bitrate drives libopus into a different mode (SILK at 12 kbit/s,
// SILK or hybrid at 32, CELT at 64). The decoder must reproduce the tone
// in all of them, and CBR packets must all have the size the bitrate gives.
func TestEncodeDecodeSine(t *testing.T) {
	for _, bitrate := range []int{12000, 32000, 64000} {
		t.Run(fmt.Sprint(bitrate), func(t *testing.T) {
			pkts := opustest.Encode(t, sine(50), opus.EncoderParams{Bitrate: bitrate})
			dec, err := opus.NewDecoder(1)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			var pcm []float32
			buf := make([]float32, opus.MaxPacketSamples)
			modes := map[string]bool{}
			for i, p := range pkts {
				if want, err := opus.PacketSamples(p); err != nil || want != 960 {
					t.Fatalf("packet %d: PacketSamples %d, %v", i, want, err)
				}
				if want := bitrate / 8 / 50; len(p) != want {
					t.Fatalf("packet %d: %d bytes, CBR at %d bit/s gives %d", i, len(p), bitrate, want)
				}
				modes[mode(p[0])] = true
				n, err := dec.Decode(p, buf)
				if err != nil || n != 960 {
					t.Fatalf("packet %d: %d samples, %v", i, n, err)
				}
				pcm = append(pcm, buf[:n]...)
			}
			t.Logf("modes %v", modes)
			tail := pcm[len(pcm)/2:]
			var energy float64
			for _, v := range tail {
				energy += float64(v) * float64(v)
			}
			rms := math.Sqrt(energy / float64(len(tail)))
			if rms < 0.14 || rms > 0.21 { // a 0.25 sine has RMS 0.177
				t.Fatalf("decoded RMS %.3f, want ≈0.177", rms)
			}
			if share := goertzel(tail, 480) / (rms * rms); share < 0.9 {
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

// speaking labels each 20 ms frame of pcm as speech (RMS above −40 dBFS)
// or silence.
func speaking(pcm []float32) []bool {
	out := make([]bool, len(pcm)/opus.FrameSamples)
	for i := range out {
		var e float64
		for _, v := range pcm[i*opus.FrameSamples : (i+1)*opus.FrameSamples] {
			e += float64(v) * float64(v)
		}
		out[i] = math.Sqrt(e/opus.FrameSamples) > 0.01
	}
	return out
}

// bestThreshold is the accuracy of the best "size ≥ threshold means
// speech" rule an observer of packet sizes could pick.
func bestThreshold(sizes []int, speech []bool) float64 {
	best := 0.0
	for th := 0; th <= 1276; th++ {
		ok := 0
		for i, s := range sizes {
			if (s >= th) == speech[i] {
				ok++
			}
		}
		best = max(best, float64(ok)/float64(len(sizes)))
	}
	return best
}

// With VBR a size threshold tells speech from silence; Sotto's CBR packets
// all have one size, so the best threshold does no better than always
// guessing the more common class.
func TestCBRSizesDoNotRevealSpeech(t *testing.T) {
	pcm := opustest.Speech(t)
	speech := speaking(pcm)
	nSpeech := 0
	for _, s := range speech {
		if s {
			nSpeech++
		}
	}
	if nSpeech < len(speech)/4 || nSpeech > len(speech)*3/4 {
		t.Fatalf("recording has %d of %d speech frames: not a mix of speech and pauses", nSpeech, len(speech))
	}
	majority := math.Max(float64(nSpeech), float64(len(speech)-nSpeech)) / float64(len(speech))
	sizes := func(p opus.EncoderParams) []int {
		var out []int
		for _, b := range opustest.Encode(t, pcm, p) {
			out = append(out, len(b))
		}
		return out
	}
	vbr := bestThreshold(sizes(opus.EncoderParams{VBR: true, LossPercent: 10}), speech)
	cbrSizes := sizes(opus.EncoderParams{LossPercent: 10})
	cbr := bestThreshold(cbrSizes, speech)
	t.Logf("speech frames %d/%d; size-threshold accuracy: VBR %.1f%%, CBR %.1f%% (majority class %.1f%%)",
		nSpeech, len(speech), 100*vbr, 100*cbr, 100*majority)
	for i, s := range cbrSizes {
		if s != cbrSizes[0] {
			t.Fatalf("CBR packet %d has %d bytes, packet 0 has %d", i, s, cbrSizes[0])
		}
	}
	if cbr > majority+1e-9 {
		t.Errorf("CBR sizes classify speech at %.3f, above the majority rate %.3f", cbr, majority)
	}
	if vbr < majority+0.1 {
		t.Errorf("VBR sizes classify speech at only %.3f: the measurement cannot tell a leak", vbr)
	}
}

// decodeLossy decodes pkts with lost packets missing: concealed by libopus
// PLC, or recovered from the next packet's FEC when fec is set and that
// packet arrived.
func decodeLossy(t testing.TB, pkts [][]byte, lost []bool, fec bool) (pcm []float32, recovered int) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	buf := make([]float32, opus.MaxPacketSamples)
	for i, p := range pkts {
		var err error
		var n int
		switch {
		case !lost[i]:
			n, err = dec.Decode(p, buf)
		case fec && i+1 < len(pkts) && !lost[i+1]:
			n, err = dec.DecodeFEC(pkts[i+1], buf[:opus.FrameSamples])
			recovered++
		default:
			n, err = dec.Conceal(buf[:opus.FrameSamples])
		}
		if err != nil || n != opus.FrameSamples {
			t.Fatalf("packet %d: %d samples, %v", i, n, err)
		}
		pcm = append(pcm, buf[:n]...)
	}
	return pcm, recovered
}

// A lost packet recovered from the next packet's FEC is much closer to
// the loss-free decode than the decoder's concealment of it.
func TestFECBeatsConcealment(t *testing.T) {
	pcm := opustest.Speech(t)
	pkts := opustest.Encode(t, pcm, opus.EncoderParams{LossPercent: 10})
	clean, _ := decodeLossy(t, pkts, make([]bool, len(pkts)), false)
	lost := opustest.LossPattern(len(pkts), 0.10, 1)
	plc, _ := decodeLossy(t, pkts, lost, false)
	fec, rec := decodeLossy(t, pkts, lost, true)
	snrPLC, snrFEC := opustest.SNR(clean, plc), opustest.SNR(clean, fec)
	t.Logf("%d packets, %d recovered by FEC; SNR against the loss-free decode: PLC %.1f dB, FEC+PLC %.1f dB",
		len(pkts), rec, snrPLC, snrFEC)
	if rec == 0 {
		t.Fatal("no packet recovered")
	}
	if snrFEC < snrPLC+3 {
		t.Errorf("FEC gains only %.1f dB over concealment", snrFEC-snrPLC)
	}
}

// Concealment continues the signal after speech, fades within about
// 100 ms and rejects lengths that are not whole 2.5 ms steps.
func TestConceal(t *testing.T) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	buf := make([]float32, opus.MaxPacketSamples)
	for _, p := range opustest.Encode(t, sine(10), opus.EncoderParams{}) {
		if _, err := dec.Decode(p, buf); err != nil {
			t.Fatal(err)
		}
	}
	rms := func(x []float32) float64 {
		var e float64
		for _, v := range x {
			e += float64(v) * float64(v)
		}
		return math.Sqrt(e / float64(len(x)))
	}
	n, err := dec.Conceal(buf[:opus.FrameSamples])
	if err != nil || n != opus.FrameSamples {
		t.Fatalf("conceal: %d, %v", n, err)
	}
	if r := rms(buf[:n]); r < 0.05 {
		t.Errorf("first concealed frame RMS %.3f: a gap, not a continuation", r)
	}
	for range 10 {
		if _, err := dec.Conceal(buf[:opus.FrameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	if r := rms(buf[:opus.FrameSamples]); r > 0.05 {
		t.Errorf("concealment 200 ms into a gap still at RMS %.3f", r)
	}
	for _, bad := range []int{0, 100, opus.MaxPacketSamples + 120} {
		if _, err := dec.Conceal(make([]float32, bad)); !errors.Is(err, opus.ErrBadArgument) {
			t.Errorf("conceal %d samples: %v", bad, err)
		}
	}
	if _, err := dec.DecodeFEC(nil, buf[:opus.FrameSamples]); !errors.Is(err, opus.ErrEmptyPacket) {
		t.Errorf("FEC from nothing: %v", err)
	}
}

func TestEncoderSettings(t *testing.T) {
	enc, err := opus.NewEncoder(opus.EncoderParams{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetPacketLossPercent(101); !errors.Is(err, opus.ErrBadArgument) {
		t.Errorf("loss 101%%: %v", err)
	}
	if err := enc.SetBitrate(100); !errors.Is(err, opus.ErrBadArgument) {
		t.Errorf("100 bit/s: %v", err)
	}
	if _, err := enc.Encode(make([]float32, 100)); !errors.Is(err, opus.ErrBadArgument) {
		t.Errorf("short frame: %v", err)
	}
	if err := enc.SetBitrate(24000); err != nil {
		t.Fatal(err)
	}
	b, err := enc.Encode(make([]float32, opus.FrameSamples))
	if err != nil || len(b) != 24000/8/50 {
		t.Fatalf("24 kbit/s CBR frame: %d bytes, %v", len(b), err)
	}
	if la := enc.Lookahead(); la <= 0 || la > 960 {
		t.Errorf("lookahead %d", la)
	}
	enc.Close()
	if _, err := enc.Encode(make([]float32, opus.FrameSamples)); !errors.Is(err, opus.ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	enc.Close() // twice is fine
}

func TestRejectsGarbage(t *testing.T) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
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
		_, _ = dec.Decode(p, buf) // must not crash
		_, _ = dec.DecodeFEC(p, buf[:opus.FrameSamples])
	}
	dec.Reset()
	for i, p := range opustest.Encode(t, sine(5), opus.EncoderParams{}) {
		if _, err := dec.Decode(p, buf); err != nil {
			t.Fatalf("packet %d after garbage: %v", i, err)
		}
	}
	dec.Close()
	if _, err := dec.Decode([]byte{0xf8, 0xff, 0xfe}, buf); !errors.Is(err, opus.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// FuzzDecode is seeded with real speech packets (CBR with FEC) and feeds
// each input to Decode and, as the "next" packet, to DecodeFEC.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xfc, 0xff, 0xfe})
	f.Add([]byte{0x4b, 0x41, 0x01, 0x02})
	pkts := opustest.Encode(f, opustest.Speech(f), opus.EncoderParams{LossPercent: 20})
	for i := 0; i < len(pkts); i += 20 {
		f.Add(pkts[i])
	}
	dec, _ := opus.NewDecoder(2)
	buf := make([]float32, 2*opus.MaxPacketSamples)
	f.Fuzz(func(t *testing.T, p []byte) {
		n, err := dec.Decode(p, buf)
		if err == nil && (n <= 0 || n > opus.MaxPacketSamples) {
			t.Fatalf("decoded %d samples without error", n)
		}
		n, err = dec.DecodeFEC(p, buf[:2*opus.FrameSamples])
		if err == nil && n != opus.FrameSamples {
			t.Fatalf("FEC gave %d samples", n)
		}
	})
}

// BenchmarkEncode is the CPU cost of one 20 ms speech frame, Sotto's CBR
// with FEC against VBR in the same run.
func BenchmarkEncode(b *testing.B) {
	pcm := opustest.Speech(b)
	for _, c := range []struct {
		name string
		p    opus.EncoderParams
	}{
		{"CBR-FEC", opus.EncoderParams{LossPercent: 10}},
		{"VBR-FEC", opus.EncoderParams{VBR: true, LossPercent: 10}},
		{"VBR", opus.EncoderParams{VBR: true, NoFEC: true}},
		{"CBR-29k-FEC", opus.EncoderParams{Bitrate: 29400, LossPercent: 10}},
	} {
		b.Run(c.name, func(b *testing.B) {
			enc, err := opus.NewEncoder(c.p)
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			frames := len(pcm) / opus.FrameSamples
			bytes := 0
			// Quality at this setting: the decode of one pass over the
			// recording against the recording, aligned by the look-ahead.
			pkts := opustest.Encode(b, pcm, c.p)
			dec, _ := decodeLossy(b, pkts, make([]bool, len(pkts)), false)
			la := enc.Lookahead()
			snr := opustest.SNR(pcm[:len(pcm)-la], dec[la:])
			c0 := cpuNow()
			for i := 0; b.Loop(); i++ {
				f := i % frames
				out, err := enc.Encode(pcm[f*opus.FrameSamples : (f+1)*opus.FrameSamples])
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(out)
			}
			b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/1000/float64(b.N), "cpu-µs/frame")
			b.ReportMetric(float64(bytes)*8*50/float64(b.N)/1000, "kbit/s")
			b.ReportMetric(snr, "dB-SNR")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	pkts := opustest.Encode(b, opustest.Speech(b), opus.EncoderParams{LossPercent: 10})
	dec, _ := opus.NewDecoder(1)
	defer dec.Close()
	buf := make([]float32, opus.MaxPacketSamples)
	for _, c := range []string{"decode", "fec", "conceal"} {
		b.Run(c, func(b *testing.B) {
			c0 := cpuNow()
			for i := 0; b.Loop(); i++ {
				var err error
				p := pkts[i%len(pkts)]
				switch c {
				case "decode":
					_, err = dec.Decode(p, buf)
				case "fec":
					_, err = dec.DecodeFEC(p, buf[:opus.FrameSamples])
				case "conceal":
					_, err = dec.Conceal(buf[:opus.FrameSamples])
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/1000/float64(b.N), "cpu-µs/frame")
		})
	}
}

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLossSNR measures speech quality at 10 % random loss (seed 1,
// the same packet stream and pattern for each decoder): SNR in dB of the
// lossy decode against the loss-free decode of the same packets, so the
// figure is what the loss costs, not the codec's own coding noise.
func BenchmarkLossSNR(b *testing.B) {
	pcm := opustest.Speech(b)
	pkts := opustest.Encode(b, pcm, opus.EncoderParams{LossPercent: 10})
	clean, _ := decodeLossy(b, pkts, make([]bool, len(pkts)), false)
	lost := opustest.LossPattern(len(pkts), 0.10, 1)
	for _, c := range []struct {
		name string
		fec  bool
	}{{"libopus-PLC", false}, {"libopus-FEC-PLC", true}} {
		b.Run(c.name, func(b *testing.B) {
			var snr float64
			for b.Loop() {
				got, _ := decodeLossy(b, pkts, lost, c.fec)
				snr = opustest.SNR(clean, got)
			}
			b.ReportMetric(snr, "dB-SNR")
		})
	}
}
