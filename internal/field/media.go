package field

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"sync"
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
)

// Media formats of the scenarios.
const (
	Width, Height = 320, 240
	FrameInterval = time.Second / 30
	SampleRate    = 48000
	// PacketSamples is one 20 ms Opus packet.
	PacketSamples = SampleRate / 50
	packetTime    = 20 * time.Millisecond
	// speechRate is the stored recording's rate (testdata/README.md).
	speechRate = 16000
)

//go:embed testdata/speech16.wav
var speechWAV []byte

var (
	speechOnce sync.Once
	speech48   []float32
	speechErr  error
)

// Speech returns the test recording at 48 kHz, mono, −1…1.
func Speech() ([]float32, error) {
	speechOnce.Do(func() {
		var pcm []int16
		pcm, speechErr = readWAV16(speechWAV, speechRate)
		if speechErr == nil {
			speech48 = upsample3(pcm)
		}
	})
	return speech48, speechErr
}

// readWAV16 parses a mono 16-bit PCM RIFF/WAVE file of the given rate.
func readWAV16(b []byte, rate int) ([]int16, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("field: not a WAVE file")
	}
	b = b[12:]
	var fmtOK bool
	for len(b) >= 8 {
		id, n := string(b[:4]), int(binary.LittleEndian.Uint32(b[4:]))
		b = b[8:]
		if n > len(b) {
			return nil, errors.New("field: truncated WAVE chunk")
		}
		switch id {
		case "fmt ":
			if n < 16 {
				return nil, errors.New("field: short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(b)
			ch := binary.LittleEndian.Uint16(b[2:])
			sr := binary.LittleEndian.Uint32(b[4:])
			bits := binary.LittleEndian.Uint16(b[14:])
			if format != 1 || ch != 1 || int(sr) != rate || bits != 16 {
				return nil, fmt.Errorf("field: want mono 16-bit PCM at %d Hz", rate)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("field: data before fmt")
			}
			pcm := make([]int16, n/2)
			if err := binary.Read(bytes.NewReader(b[:n/2*2]), binary.LittleEndian, pcm); err != nil {
				return nil, err
			}
			return pcm, nil
		}
		b = b[n+n&1:]
	}
	return nil, errors.New("field: no data chunk")
}

// upsample3 converts 16 kHz to 48 kHz with a windowed-sinc interpolator
// (cut-off 7.2 kHz, 24 taps per phase, Blackman window): deterministic,
// and good enough that the codec, not the resampler, limits the SNR.
func upsample3(in []int16) []float32 {
	const (
		factor = 3
		half   = 12 // input taps each side
		cutoff = 0.45
	)
	var taps [factor][2 * half]float64
	for ph := range factor {
		sum := 0.0
		for k := range 2 * half {
			// Distance in input samples from output position ph/factor.
			x := float64(k-half+1) - float64(ph)/factor
			w := 0.42 + 0.5*math.Cos(math.Pi*x/half) + 0.08*math.Cos(2*math.Pi*x/half)
			if math.Abs(x) >= half {
				w = 0
			}
			s := 2 * cutoff
			if x != 0 {
				s = math.Sin(2*math.Pi*cutoff*x) / (math.Pi * x)
			}
			taps[ph][k] = s * w
			sum += s * w
		}
		for k := range taps[ph] {
			taps[ph][k] /= sum
		}
	}
	out := make([]float32, len(in)*factor)
	for i := range in {
		for ph := range factor {
			acc := 0.0
			for k := range 2 * half {
				j := i + k - half + 1
				if j >= 0 && j < len(in) {
					acc += taps[ph][k] * float64(in[j]) / 32768
				}
			}
			out[i*factor+ph] = float32(acc)
		}
	}
	return out
}

// AudioEncoder turns 20 ms of mono 48 kHz audio into one Opus packet.
type AudioEncoder interface {
	Encode(pcm []float32) ([]byte, error)
	Close() error
}

// NewOpusEncoder returns Sotto's libopus encoder configured as
// media/capture's microphone stream is (media/codec/opus defaults: VoIP,
// constant bitrate, DTX off, in-band FEC; the scenarios set the expected
// loss the receivers' reports would tune it to).
func NewOpusEncoder() (AudioEncoder, error) {
	enc, err := opus.NewEncoder(opus.EncoderParams{})
	if err != nil {
		return nil, err
	}
	return sottoEncoder{enc}, nil
}

type sottoEncoder struct{ *opus.Encoder }

func (e sottoEncoder) Encode(pcm []float32) ([]byte, error) {
	if len(pcm) != PacketSamples {
		return nil, fmt.Errorf("field: encode wants %d samples", PacketSamples)
	}
	b, err := e.Encoder.Encode(pcm)
	return append([]byte(nil), b...), err
}

// libopusReference is the SNR goal's reference: libopus decoding what the
// impaired receiver got, in order, with in-band FEC and its concealment.
type libopusReference struct {
	dec *opus.Decoder
	pcm []float32
}

func newLibopusReference() (ReferenceDecoder, error) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		return nil, err
	}
	return &libopusReference{dec: dec, pcm: make([]float32, opus.MaxPacketSamples)}, nil
}

func (r *libopusReference) Decode(packet []byte) ([]float32, error) {
	n, err := r.dec.Decode(packet, r.pcm)
	return append([]float32(nil), r.pcm[:n]...), err
}

func (r *libopusReference) Recover(next []byte) ([]float32, error) {
	var n int
	var err error
	if next != nil {
		n, err = r.dec.DecodeFEC(next, r.pcm[:PacketSamples])
	} else {
		n, err = r.dec.Conceal(r.pcm[:PacketSamples])
	}
	return append([]float32(nil), r.pcm[:n]...), err
}

// speechSource publishes the recording, looped, as 20 ms Opus packets in
// bubble time: packet n carries samples [n·960, (n+1)·960) and is ready
// when its last sample has been "spoken", at start + (n+1)·20 ms.
type speechSource struct {
	enc   AudioEncoder
	pcm   []float32
	start time.Time
	until time.Time
	n     int
	buf   []float32
}

func newSpeechSource(enc AudioEncoder, pcm []float32, start, until time.Time) *speechSource {
	return &speechSource{enc: enc, pcm: pcm, start: start, until: until, buf: make([]float32, PacketSamples)}
}

// sample returns input sample k (the looped recording).
func (s *speechSource) sample(k int) float32 { return s.pcm[k%len(s.pcm)] }

func (s *speechSource) ReadFrame() (framing.Frame, error) {
	at := s.start.Add(time.Duration(s.n+1) * packetTime)
	if at.After(s.until) {
		return framing.Frame{}, io.EOF
	}
	time.Sleep(time.Until(at))
	for i := range s.buf {
		s.buf[i] = s.sample(s.n*PacketSamples + i)
	}
	s.n++
	b, err := s.enc.Encode(s.buf)
	if err != nil {
		return framing.Frame{}, err
	}
	return framing.Frame{Data: b, Duration: packetTime, CaptureTime: time.Now(), Release: func() {}}, nil
}

func (s *speechSource) RequestKeyframe() {}

// SetExpectedLoss tunes the encoder's in-band FEC to the loss receivers
// report, as the microphone stream does (participant.LossAware).
func (s *speechSource) SetExpectedLoss(percent int) {
	if e, ok := s.enc.(interface{ SetPacketLossPercent(int) error }); ok {
		_ = e.SetPacketLossPercent(min(max(percent, 0), 100))
	}
}

// videoSource encodes a moving picture (a scrolling gradient with a
// bouncing square) at 30 frames/s of bubble time.
type videoSource struct {
	enc   *vp8.Encoder
	img   *image.YCbCr
	n     int
	start time.Time
	until time.Time
	mu    sync.Mutex
	key   bool
}

func newVideoSource(start, until time.Time) (*videoSource, error) {
	enc, err := vp8.NewEncoder(Width, Height, vp8.Params{})
	if err != nil {
		return nil, err
	}
	img := image.NewYCbCr(image.Rect(0, 0, Width, Height), image.YCbCrSubsampleRatio420)
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	return &videoSource{enc: enc, img: img, start: start, until: until}, nil
}

func (g *videoSource) ReadFrame() (framing.Frame, error) {
	at := g.start.Add(time.Duration(g.n) * FrameInterval)
	if at.After(g.until) {
		return framing.Frame{}, io.EOF
	}
	time.Sleep(time.Until(at))
	bx := 20 + (g.n*4)%(Width-80)
	by := 20 + (g.n*3)%(Height-80)
	for y := range Height {
		for x := range Width {
			v := byte(x*2 + y + 3*g.n)
			if x >= bx && x < bx+40 && y >= by && y < by+40 {
				v = byte(255 - (x^y)&0x3f)
			}
			g.img.Y[y*g.img.YStride+x] = v
		}
	}
	g.mu.Lock()
	key := g.key
	g.key = false
	g.mu.Unlock()
	if key {
		if err := g.enc.ForceKeyFrame(); err != nil {
			return framing.Frame{}, err
		}
	}
	f, err := g.enc.Encode(g.img, int64(g.n)*3000, 3000)
	g.n++
	if err != nil {
		return framing.Frame{}, err
	}
	return framing.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: FrameInterval, CaptureTime: time.Now(), Release: func() {}}, nil
}

// RequestKeyframe marks the next frame; it never blocks (the send
// pipeline calls it from RTCP goroutines).
func (g *videoSource) RequestKeyframe() {
	g.mu.Lock()
	g.key = true
	g.mu.Unlock()
}

// SetTargetBitrate follows the publisher's uplink estimate
// (participant.BitrateAware), up to the encoder's default 800 kbit/s as
// media/capture's camera stream does at this size.
func (g *videoSource) SetTargetBitrate(bps int) {
	_ = g.enc.SetBitRate(min(max(bps, 50_000), vp8.DefaultBitrate))
}

func (g *videoSource) Close() error { return g.enc.Close() }
