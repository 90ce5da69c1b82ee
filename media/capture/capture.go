// Package capture opens Sotto's local media: a camera, a screen or the
// synthetic test pattern for video, a microphone or the synthetic sine for
// audio, all through pion/mediadevices drivers, and encodes them (VP8 with
// Sotto's realtime encoder, Opus with mediadevices' libopus encoder).
//
// The output is encoded frames before packetization: one whole video frame
// or one 20 ms Opus packet per ReadFrame, ready to be encrypted.
//
// Pipeline of a video stream:
//
//  1. driver reader (camera / screen / videotest), opened once per process
//     and shared (see hub.go); pictures converted to I420
//  2. preview taps (OnVideoImage) see each captured picture
//  3. ReadFrame takes the newest picture (older unread ones are dropped),
//     and skips every second or third one while encoding overruns the
//     frame interval (cpu.go)
//  4. the realtime VP8 encoder encodes it at the target SetTargetBitrate
//     last set (the uplink estimate, up to the configured bitrate); a
//     pending keyframe request (RequestKeyframe, a lock-free flag) forces
//     an intra frame
//
// Pipeline of an audio stream:
//
//  1. driver reader (microphone / audiotest) shared per device; the level
//     of each chunk is kept for AudioLevel (or recorded PCM, PCMAudio)
//  2. the Options.AudioProcessor, if any, on each chunk as mono float32
//     (echo cancellation and the rest: process.go, media/audioproc)
//  3. chunks buffered into 20 ms at 48 kHz and mixed down to mono
//  4. Opus encoding (media/codec/opus: VoIP, constant bitrate, DTX off,
//     in-band FEC tuned by SetExpectedLoss from receiver reports)
//
// Streams are pull-based: encoding runs in the goroutine that calls
// ReadFrame, so a slow consumer drops pictures rather than queueing them.
package capture

import (
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/mediadevices/pkg/wave/mixer"

	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
)

// Defaults applied by Open.
const (
	defaultWidth  = 640
	defaultHeight = 480
	defaultFPS    = 30
	// defaultScreenFPS is the default rate for screen sharing, where
	// detail matters more than motion.
	defaultScreenFPS = 10
	// audioBitrate is the Opus CBR target: 32 kbit/s keeps libopus in
	// its SILK/hybrid speech modes with room for the FEC copy.
	audioBitrate = opus.DefaultBitrate
	// minVideoBitrate is the lowest target SetTargetBitrate sets.
	minVideoBitrate = 50_000
	// audioFrameDuration is the Opus packet duration.
	audioFrameDuration = 20 * time.Millisecond
	// audioSampleRate is the only capture rate Opus is fed at.
	audioSampleRate = 48000
	// keyFrameSeconds bounds the keyframe distance, in seconds of frames
	// at the configured rate, so a receiver whose keyframe request was
	// lost still recovers.
	keyFrameSeconds = 3
)

// SourceKind selects where a stream comes from.
type SourceKind int

// Source kinds. The zero value is no source.
const (
	SourceNone SourceKind = iota
	SourceSynthetic
	SourceCamera
	SourceScreen
	SourceMicrophone
	// SourcePCM is recorded audio (PCMAudio).
	SourcePCM
)

// VideoSource chooses the video device. The zero value means no video.
type VideoSource struct {
	Kind SourceKind
	// Device is the device ID, label or name (see Devices). Required for
	// cameras and screens; ignored for the synthetic pattern.
	Device string
}

// AudioSource chooses the audio device. The zero value means no audio.
type AudioSource struct {
	Kind   SourceKind
	Device string
	// PCM holds the samples of a SourcePCM (mono 48 kHz).
	PCM []float32
}

// SyntheticVideo is mediadevices' moving test pattern (color bars and a
// noise patch), scaled to the requested size.
func SyntheticVideo() VideoSource { return VideoSource{Kind: SourceSynthetic} }

// Camera selects a camera by ID, label or name.
func Camera(device string) VideoSource { return VideoSource{Kind: SourceCamera, Device: device} }

// Screen selects a screen by ID or label (for example "X11Screen0").
func Screen(device string) VideoSource { return VideoSource{Kind: SourceScreen, Device: device} }

// SyntheticAudio is mediadevices' 480 Hz sine at a quarter of full scale.
func SyntheticAudio() AudioSource { return AudioSource{Kind: SourceSynthetic} }

// Microphone selects a microphone by ID, label or name.
func Microphone(device string) AudioSource {
	return AudioSource{Kind: SourceMicrophone, Device: device}
}

// Options configures Open. Zero fields take defaults.
type Options struct {
	Video VideoSource
	Audio AudioSource
	// Width and Height are the requested picture size (default 640×480).
	// Cameras deliver their closest mode; the synthetic pattern is scaled;
	// screens keep their own size. A device already open in this process
	// (devices are shared, see hub.go) keeps the mode it was opened with.
	Width, Height int
	// FPS is the requested frame rate (default 30; 10 for screens).
	FPS int
	// VideoBitrate is the VP8 CBR target in bits/s (default by size:
	// 800 kbit/s up to 640×480, 1.5 Mbit/s up to 1280×720, else 2.5 Mbit/s).
	VideoBitrate int
	// AudioProcessor, if set, processes the microphone before encoding
	// (echo cancellation and the rest: media/audioproc). It is called
	// from the goroutine reading the audio stream (process.go).
	AudioProcessor Processor
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = defaultWidth, defaultHeight
	}
	if o.FPS <= 0 {
		o.FPS = defaultFPS
		if o.Video.Kind == SourceScreen {
			o.FPS = defaultScreenFPS
		}
	}
	if o.VideoBitrate <= 0 {
		switch px := o.Width * o.Height; {
		case px <= 640*480:
			o.VideoBitrate = 800_000
		case px <= 1280*720:
			o.VideoBitrate = 1_500_000
		default:
			o.VideoBitrate = 2_500_000
		}
	}
	return o
}

// Frame is one encoded frame of a stream.
type Frame = framing.Frame

// EncodedStream yields encoded frames of one track.
type EncodedStream interface {
	// ReadFrame blocks for the next frame; io.EOF after Close.
	ReadFrame() (Frame, error)
	// RequestKeyframe asks for an intra frame soon. It never blocks (safe
	// from an RTCP goroutine) and is a no-op for audio.
	RequestKeyframe()
}

// Source is an open set of capture streams.
type Source struct {
	opts  Options
	video *videoStream
	audio *audioStream
	once  sync.Once
}

// Open starts the requested devices and encoders.
func Open(opts Options) (*Source, error) {
	opts = opts.withDefaults()
	s := &Source{opts: opts}
	if opts.Video.Kind != SourceNone {
		v, err := openVideo(opts)
		if err != nil {
			return nil, err
		}
		s.video = v
	}
	if opts.Audio.Kind != SourceNone {
		a, err := openAudio(opts)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.audio = a
	}
	return s, nil
}

// Video returns the VP8 stream, or nil without video.
func (s *Source) Video() EncodedStream {
	if s.video == nil {
		return nil
	}
	return s.video
}

// Audio returns the Opus stream, or nil without audio.
func (s *Source) Audio() EncodedStream {
	if s.audio == nil {
		return nil
	}
	return s.audio
}

// OnVideoImage registers a preview tap called from the capture goroutine
// with every captured picture (an *image.YCbCr, 4:2:0) whether or not
// frames are being read. The picture is only valid during the call: copy
// or downscale it there, quickly, and do not call Source methods from it.
// The returned function removes the tap. Without video it does nothing.
func (s *Source) OnVideoImage(f func(image.Image)) (remove func()) {
	if s.video == nil || f == nil {
		return func() {}
	}
	return s.video.sub.h.addTap(f)
}

// AudioLevel is the RMS of the latest captured audio chunk, 0…1 of full
// scale (a full-scale sine reads 0.707). 0 without audio.
func (s *Source) AudioLevel() float64 {
	if s.audio == nil {
		return 0
	}
	if s.audio.sub == nil {
		return 0
	}
	return s.audio.sub.h.audioLevel()
}

// Close stops the streams; blocked ReadFrame calls return io.EOF.
func (s *Source) Close() error {
	s.once.Do(func() {
		if s.video != nil {
			s.video.close()
		}
		if s.audio != nil {
			s.audio.close()
		}
	})
	return nil
}

type videoStream struct {
	sub     *sub
	enc     *vp8.Encoder
	ceiling int // the configured bitrate: SetTargetBitrate goes no higher
	// CPU adaptation (cpu.go): every is how many pictures pass per one
	// encoded, seen counts pictures, encodeAvg is the smoothed encode
	// time, calm the encoded frames since it last had room to spare.
	every, seen, calm int
	encodeAvg         time.Duration
	slow              time.Duration // tests only: added to each encode

	mu   sync.Mutex // serialises ReadFrame
	t0   time.Time
	last int64
	n    int
	fps  int
}

func openVideo(o Options) (*videoStream, error) {
	var (
		kind           Kind
		query          string
		scaleW, scaleH int
	)
	switch o.Video.Kind {
	case SourceSynthetic:
		kind, query = KindCamera, SyntheticVideoLabel
		scaleW, scaleH = o.Width, o.Height
	case SourceCamera:
		kind, query = KindCamera, o.Video.Device
	case SourceScreen:
		kind, query = KindScreen, o.Video.Device
	default:
		return nil, fmt.Errorf("capture: invalid video source kind %d", o.Video.Kind)
	}
	d, err := findDevice(kind, query)
	if err != nil {
		return nil, err
	}
	want := prop.MediaConstraints{VideoConstraints: prop.VideoConstraints{
		Width:     prop.Int(o.Width),
		Height:    prop.Int(o.Height),
		FrameRate: prop.Float(float32(o.FPS)),
	}}
	h, s, err := acquireHub(d, want, true, scaleW, scaleH)
	if err != nil {
		return nil, err
	}
	w, ht := h.media.Width, h.media.Height
	if scaleW > 0 {
		w, ht = scaleW, scaleH
	}
	if w <= 0 || ht <= 0 {
		w, ht = o.Width, o.Height
	}
	enc, err := vp8.NewEncoder(w, ht, vp8.Params{
		Bitrate:          o.VideoBitrate,
		KeyFrameInterval: keyFrameSeconds * o.FPS,
		ScreenContent:    o.Video.Kind == SourceScreen,
	})
	if err != nil {
		s.release()
		return nil, err
	}
	return &videoStream{sub: s, enc: enc, fps: o.FPS, ceiling: o.VideoBitrate, every: 1}, nil
}

// SetTargetBitrate sets the encoder's target (bits per second) from the
// next frame on, at most the stream's configured VideoBitrate; it never
// blocks (participant.BitrateAware).
func (v *videoStream) SetTargetBitrate(bps int) {
	_ = v.enc.SetBitRate(min(max(bps, minVideoBitrate), v.ceiling))
}

func (v *videoStream) ReadFrame() (Frame, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for {
		p, err := v.sub.next()
		if err != nil {
			return Frame{}, err
		}
		v.seen++
		if v.seen%v.every != 0 {
			v.sub.recycle(p) // skipped: the CPU cannot encode every picture
			continue
		}
		// Timestamps follow the real capture clock, so that CBR budgets
		// match a camera that delivers fewer frames than nominal.
		var pts, dur int64
		if v.n == 0 {
			v.t0 = p.at
			dur = framing.Ticks(time.Second/time.Duration(v.fps), vp8.TimebaseHz)
		} else {
			pts = framing.Ticks(p.at.Sub(v.t0), vp8.TimebaseHz)
			if pts <= v.last {
				pts = v.last + 1
			}
			dur = min(pts-v.last, vp8.TimebaseHz)
		}
		v.n++
		v.last = pts
		began := time.Now()
		f, err := v.enc.Encode(p.img, pts, dur)
		if v.slow > 0 {
			time.Sleep(v.slow)
		}
		v.adaptCPU(time.Since(began))
		v.sub.recycle(p)
		if err != nil {
			if errors.Is(err, vp8.ErrClosed) {
				return Frame{}, io.EOF
			}
			return Frame{}, err
		}
		if f.Data == nil {
			continue // dropped by rate control
		}
		return Frame{
			Data:        f.Data,
			Keyframe:    f.Keyframe,
			Duration:    framing.DurationOfTicks(uint64(dur), vp8.TimebaseHz),
			CaptureTime: p.at,
			Release:     func() {},
		}, nil
	}
}

func (v *videoStream) RequestKeyframe() { v.enc.ForceKeyFrame() }

func (v *videoStream) close() {
	v.sub.release()
	v.enc.Close()
}

type audioStream struct {
	sub  *sub         // nil for SourcePCM
	pcmr *pcmReader   // SourcePCM
	src  audio.Reader // 20 ms mono chunks
	enc  *opus.Encoder
	mu   sync.Mutex
	pcm  []float32
}

func openAudio(o Options) (*audioStream, error) {
	if o.Audio.Kind == SourcePCM {
		return openPCMAudio(o)
	}
	var query string
	switch o.Audio.Kind {
	case SourceSynthetic:
		query = SyntheticAudioLabel
	case SourceMicrophone:
		query = o.Audio.Device
	default:
		return nil, fmt.Errorf("capture: invalid audio source kind %d", o.Audio.Kind)
	}
	d, err := findDevice(KindMicrophone, query)
	if err != nil {
		return nil, err
	}
	want := prop.MediaConstraints{AudioConstraints: prop.AudioConstraints{
		SampleRate:   prop.Int(audioSampleRate),
		ChannelCount: prop.Int(1),
		Latency:      prop.Duration(audioFrameDuration),
	}}
	h, s, err := acquireHub(d, want, false, 0, 0)
	if err != nil {
		return nil, err
	}
	if h.media.SampleRate != audioSampleRate {
		s.release()
		return nil, fmt.Errorf("capture: microphone runs at %d Hz, need %d", h.media.SampleRate, audioSampleRate)
	}
	var src audio.Reader = audio.ReaderFunc(s.readAudio)
	if o.AudioProcessor != nil {
		src = processAudio(src, o.AudioProcessor)
	}
	a, err := newAudioStream(src)
	if err != nil {
		s.release()
		return nil, err
	}
	a.sub = s
	return a, nil
}

// openPCMAudio encodes recorded samples paced in real time.
func openPCMAudio(o Options) (*audioStream, error) {
	r := newPCMReader(o.Audio.PCM)
	var src audio.Reader = r
	if o.AudioProcessor != nil {
		src = processAudio(src, o.AudioProcessor)
	}
	a, err := newAudioStream(src)
	if err != nil {
		return nil, err
	}
	a.pcmr = r
	return a, nil
}

// newAudioStream is stages 3 and 4 of the audio pipeline over src: 20 ms
// mono chunks into Sotto's Opus encoder.
func newAudioStream(src audio.Reader) (*audioStream, error) {
	enc, err := opus.NewEncoder(opus.EncoderParams{Bitrate: audioBitrate})
	if err != nil {
		return nil, fmt.Errorf("capture: opus encoder: %w", err)
	}
	// Whatever the source gives is mixed down to mono and cut into 20 ms.
	toMono := audio.NewChannelMixer(1, &mixer.MonoMixer{})
	frames := audio.NewBuffer(opus.FrameSamples)
	return &audioStream{enc: enc, src: toMono(frames(src)), pcm: make([]float32, opus.FrameSamples)}, nil
}

func (a *audioStream) ReadFrame() (Frame, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	chunk, release, err := a.src.Read()
	if err != nil {
		return Frame{}, err
	}
	err = toFloat(a.pcm, chunk)
	if release != nil {
		release()
	}
	if err != nil {
		return Frame{}, err
	}
	data, err := a.enc.Encode(a.pcm)
	if err != nil {
		if errors.Is(err, opus.ErrClosed) {
			return Frame{}, io.EOF
		}
		return Frame{}, err
	}
	at := time.Now()
	if a.sub != nil {
		at = time.Unix(0, a.sub.lastAt.Load())
	}
	return Frame{
		Data:        append([]byte(nil), data...),
		Duration:    audioFrameDuration,
		CaptureTime: at,
		Release:     func() {},
	}, nil
}

// toFloat copies one 20 ms mono chunk into dst as float32 in −1…1.
func toFloat(dst []float32, chunk wave.Audio) error {
	switch c := chunk.(type) {
	case *wave.Float32Interleaved:
		if len(c.Data) != len(dst) {
			return fmt.Errorf("capture: audio chunk of %d samples, want %d", len(c.Data), len(dst))
		}
		copy(dst, c.Data)
	case *wave.Int16Interleaved:
		if len(c.Data) != len(dst) {
			return fmt.Errorf("capture: audio chunk of %d samples, want %d", len(c.Data), len(dst))
		}
		for i, v := range c.Data {
			dst[i] = float32(v) / 32768
		}
	default:
		return fmt.Errorf("capture: unsupported audio sample format %T", chunk)
	}
	return nil
}

func (a *audioStream) RequestKeyframe() {}

// SetExpectedLoss tunes the encoder's in-band FEC to the packet loss
// receivers report (0…100 %); safe from the RTCP goroutine.
func (a *audioStream) SetExpectedLoss(percent int) {
	_ = a.enc.SetPacketLossPercent(min(max(percent, 0), 100))
}

func (a *audioStream) close() {
	if a.sub != nil {
		a.sub.release()
	} else {
		close(a.pcmr.done)
	}
	a.enc.Close() // safe while ReadFrame runs: the encoder locks itself
}
