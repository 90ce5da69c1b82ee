// Package audioproc is Sotto's microphone processing, the stage between
// capture and the Opus encoder: a high-pass filter, acoustic echo
// cancellation against the far-end mix the app plays, noise suppression
// and automatic gain control, all on by default.
//
// Pipeline of one 10 ms frame (48 kHz in and out):
//
//  1. the microphone frame and as many samples of the far-end Reference
//     (the mix the speakers played, tapped in media/playout) are resampled
//     to the processing rate (16 kHz by default)
//  2. high-pass filter (100 Hz, 4th order): DC, rumble, mains hum
//  3. delay estimation (GCC-PHAT, delay.go) aligns the reference with its
//     echo, so the filter is spent on the room, not on buffers
//  4. echo cancellation: speexdsp's MDF adaptive filter subtracts the
//     echo estimated from the delayed reference
//  5. speexdsp's preprocessor: residual echo suppression linked to the
//     canceller, and stationary noise suppression
//  6. automatic gain control (agc.go) towards TargetDBFS
//  7. resampled back to 48 kHz
//
// Why speexdsp and why 16 kHz is in BENCHMARKS.md: a C library with no
// C++ runtime that cross-builds with mingw-w64 and is in Homebrew, MSYS2
// and Debian; at 16 kHz its MDF filter with a 128 ms tail costs a small
// fraction of the Opus encoder's time. The price is speech bandwidth: with
// echo cancellation or noise suppression on, the microphone carries
// nothing above 8 kHz (wideband speech).
package audioproc

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// SampleRate is the rate of Process's input and output and of Reference.
const SampleRate = 48000

// FrameDuration is the processing frame.
const FrameDuration = 10 * time.Millisecond

const frame48 = SampleRate / 100

// Defaults of Config.
const (
	DefaultProcessRate   = 16000
	DefaultEchoTail      = 128 * time.Millisecond
	DefaultNoiseSuppress = -30 // dB
	// delayMargin is how much of the filter stays before the estimated
	// direct path: the estimate is ±a few ms, and a short filter that
	// starts after the direct path cancels nothing.
	delayMargin = 16 * time.Millisecond
	// roomTail is the part of the filter kept after the direct path for
	// the room's reverberation; when the estimate moves so far that less
	// is left, the reference delay is re-aligned.
	roomTail = 80 * time.Millisecond
)

// Config chooses the stages. The zero value processes nothing; Defaults
// switches everything on.
type Config struct {
	EchoCancellation bool
	NoiseSuppression bool
	GainControl      bool
	HighPass         bool
	// Reference is the far-end signal; required for EchoCancellation.
	Reference *Reference
	// ProcessRate is the rate of stages 2–6: 16000 (default) or 24000.
	ProcessRate int
	// EchoTail is the echo canceller's filter length (default 128 ms).
	EchoTail time.Duration
	// NoiseSuppressDB is the noise suppressor's maximum attenuation
	// (negative dB, default −30).
	NoiseSuppressDB int
}

// Defaults returns every stage on, with reference ref.
func Defaults(ref *Reference) Config {
	return Config{EchoCancellation: true, NoiseSuppression: true, GainControl: true, HighPass: true, Reference: ref}
}

// Enabled reports whether any stage is on.
func (c Config) Enabled() bool {
	return c.EchoCancellation || c.NoiseSuppression || c.GainControl || c.HighPass
}

// Stats are a processor's counters.
type Stats struct {
	Frames uint64 `json:"frames"`
	// DelayMillis is the estimated echo delay (−1 while unknown).
	DelayMillis int `json:"delay_ms"`
	// Realigned counts re-alignments of the reference after the echo
	// delay moved.
	Realigned uint64 `json:"realigned"`
	// ReferenceMissing and ReferenceDropped are samples of far-end
	// reference that were not there when needed (silence used) or were
	// dropped for a full buffer.
	ReferenceMissing uint64 `json:"reference_missing"`
	ReferenceDropped uint64 `json:"reference_dropped"`
}

// Processor runs the stages on a microphone stream. Process is called by
// one goroutine at a time (the capture goroutine); Close may race with it
// (a stream being shut down); Stats is safe from any goroutine.
type Processor struct {
	mu     sync.Mutex // Process against Close
	closed bool
	cfg    Config
	rate   int
	n      int // samples per frame at the processing rate
	low    bool

	in, out []float32 // 48 kHz FIFOs (see Process)

	down, refDown, up *resampler
	hp                *highPass
	est               *delayEstimator
	aec               *echoCanceller
	pp                *preprocessor
	agc               *agc

	// Delay line of the reference at the processing rate.
	line       []int16
	linePos    int
	offset     int  // current reference delay, samples
	aligned    bool // offset follows an estimate
	alignedLag int  // the estimate the filter's alignment was made for
	check      shiftCheck

	m48, r48    []float32
	mi48, ri48  []int16
	m, r, rd, e []int16
	f           []float32
	o48         []int16

	frames, realigned atomic.Uint64
	delay             atomic.Int64
}

// New builds a processor. Close it to free the C state.
func New(cfg Config) (*Processor, error) {
	if cfg.EchoCancellation && cfg.Reference == nil {
		return nil, errors.New("audioproc: echo cancellation needs the far-end reference")
	}
	if cfg.ProcessRate == 0 {
		cfg.ProcessRate = DefaultProcessRate
	}
	if cfg.ProcessRate != 16000 && cfg.ProcessRate != 24000 {
		return nil, fmt.Errorf("audioproc: unsupported processing rate %d Hz (16000 or 24000)", cfg.ProcessRate)
	}
	if cfg.EchoTail <= 0 {
		cfg.EchoTail = DefaultEchoTail
	}
	if cfg.NoiseSuppressDB == 0 {
		cfg.NoiseSuppressDB = DefaultNoiseSuppress
	}
	p := &Processor{cfg: cfg, low: cfg.EchoCancellation || cfg.NoiseSuppression}
	p.delay.Store(-1)
	p.rate = SampleRate
	if p.low {
		p.rate = cfg.ProcessRate
	}
	p.n = p.rate / 100
	p.in = make([]float32, 0, 4*frame48)
	p.out = make([]float32, frame48, 4*frame48) // one frame of latency
	p.m48, p.r48 = make([]float32, frame48), make([]float32, frame48)
	p.mi48, p.ri48, p.o48 = make([]int16, frame48), make([]int16, frame48), make([]int16, frame48+16)
	p.m, p.r, p.rd, p.e = make([]int16, p.n+16), make([]int16, p.n+16), make([]int16, p.n), make([]int16, p.n)
	p.f = make([]float32, p.n)
	if err := p.build(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Processor) build() error {
	var err error
	if p.low {
		if p.down, err = newResampler(SampleRate, p.rate); err != nil {
			return err
		}
		if p.up, err = newResampler(p.rate, SampleRate); err != nil {
			return err
		}
	}
	if p.cfg.HighPass {
		p.hp = newHighPass(p.rate)
	}
	if p.cfg.EchoCancellation {
		if p.refDown, err = newResampler(SampleRate, p.rate); err != nil {
			return err
		}
		tail := int(p.cfg.EchoTail.Seconds() * float64(p.rate))
		if p.aec, err = newEchoCanceller(p.n, tail, p.rate); err != nil {
			return err
		}
		p.est = newDelayEstimator(p.rate)
		p.line = make([]int16, delayMaxLag*(p.rate/delayRateHz)+p.n)
	}
	if p.low {
		nsDB := p.cfg.NoiseSuppressDB
		if !p.cfg.NoiseSuppression {
			nsDB = 0 // residual echo suppression only (see newPreprocessor)
		}
		if p.pp, err = newPreprocessor(p.n, p.rate, nsDB, p.aec); err != nil {
			return err
		}
	}
	if p.cfg.GainControl {
		p.agc = newAGC(0.01)
	}
	return nil
}

// Process runs the stages on pcm (mono 48 kHz, −1…1) in place. Any length
// is accepted; the output lags the input by one 10 ms frame. With every
// stage off it returns pcm unchanged.
func (p *Processor) Process(pcm []float32) {
	if !p.cfg.Enabled() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.in = append(p.in, pcm...)
	for len(p.in) >= frame48 {
		p.frame(p.in[:frame48])
		p.out = append(p.out, p.m48...)
		p.in = p.in[:copy(p.in, p.in[frame48:])]
	}
	// len(out)+len(in) is one frame more than what was returned so far,
	// so out holds at least len(pcm) samples.
	copy(pcm, p.out)
	p.out = p.out[:copy(p.out, p.out[len(pcm):])]
}

// frame processes one 10 ms frame of x into p.m48.
func (p *Processor) frame(x []float32) {
	p.frames.Add(1)
	if p.cfg.EchoCancellation {
		p.cfg.Reference.read(p.r48)
	}
	if !p.low {
		copy(p.m48, x)
		if p.hp != nil {
			p.hp.process(p.m48)
		}
		if p.agc != nil {
			p.agc.process(p.m48, 0)
		}
		return
	}
	toInt16(p.mi48, x)
	got := p.down.process(p.mi48, p.m)
	mic := fit(p.m, got, p.n)
	if p.hp != nil {
		fromInt16(p.f, mic)
		p.hp.process(p.f)
		toInt16(mic, p.f)
	}
	inPower := powerInt16(mic)
	out := mic
	if p.aec != nil {
		toInt16(p.ri48, p.r48)
		ref := fit(p.r, p.refDown.process(p.ri48, p.r), p.n)
		p.align(mic, ref)
		p.aec.cancel(mic, p.rd, p.e)
		p.checkShift(inPower, powerInt16(p.e), powerInt16(p.rd))
		out = p.e
	}
	p.pp.run(out)
	fromInt16(p.f, out)
	if p.agc != nil {
		p.agc.process(p.f, inPower)
	}
	toInt16(out, p.f)
	n := p.up.process(out, p.o48)
	fromInt16(p.m48, fit(p.o48, n, frame48))
}

// align feeds the delay estimator and writes the reference, delayed by
// the current offset, into p.rd.
func (p *Processor) align(mic, ref []int16) {
	lag, changed := p.est.push(mic, ref)
	if lag >= 0 {
		p.delay.Store(int64(lag * 1000 / p.rate))
	}
	if changed {
		margin := int(delayMargin.Seconds() * float64(p.rate))
		room := int(roomTail.Seconds() * float64(p.rate))
		tail := int(p.cfg.EchoTail.Seconds() * float64(p.rate))
		inBand := func(off int) bool { rel := lag - off; return rel >= margin/2 && rel <= tail-room }
		maxOff := len(p.line) - p.n
		switch {
		case !p.aligned && inBand(p.offset):
			// The filter already covers the echo: keep what it learned.
			p.aligned, p.alignedLag = true, lag
		case !p.aligned || !inBand(p.offset):
			// A delay that jumps (a device buffer growing, a clock
			// slipping) moves the whole echo: shifting the reference by
			// the jump keeps the adapted filter valid. The first
			// estimate, and a shift that does not land in the filter,
			// start the filter afresh with the direct path margin in.
			shifted := p.offset + lag - p.alignedLag
			if p.aligned && shifted >= 0 && shifted <= maxOff && inBand(shifted) {
				p.offset = shifted
				p.check = shiftCheck{active: true}
			} else {
				p.offset = min(max(0, lag-margin), maxOff)
				p.aec.reset()
			}
			p.aligned, p.alignedLag = true, lag
			p.realigned.Add(1)
		}
	}
	// The line holds the last len(line) reference samples; read the
	// frame that ends offset samples ago.
	for i, v := range ref {
		p.line[(p.linePos+i)%len(p.line)] = v
	}
	p.linePos = (p.linePos + len(ref)) % len(p.line)
	start := p.linePos - len(ref) - p.offset
	for i := range p.rd {
		p.rd[i] = p.line[((start+i)%len(p.line)+len(p.line))%len(p.line)]
	}
}

// shiftCheck watches the filter after the reference was shifted without
// a reset: if the echo path changed more than its delay, the shifted
// filter cancels little, and learning afresh is faster than adapting it.
type shiftCheck struct {
	active   bool
	frames   int
	mic, out float64
}

const (
	// shiftCheckFrames of far-end activity decide (0.5 s).
	shiftCheckFrames = 50
	// shiftCheckMinDB is the cancellation a valid shifted filter gives.
	shiftCheckMinDB = 6.0
)

func (p *Processor) checkShift(micPow, outPow, refPow float64) {
	c := &p.check
	if !c.active || powToDB(refPow) < delayMinRefDBFS {
		return
	}
	c.mic += micPow
	c.out += outPow
	if c.frames++; c.frames < shiftCheckFrames {
		return
	}
	if powToDB(c.mic)-powToDB(c.out) < shiftCheckMinDB {
		p.aec.reset()
	}
	*c = shiftCheck{}
}

// fit returns s[:want], zero-padding when the resampler gave fewer.
func fit(s []int16, got, want int) []int16 {
	if got < want {
		clear(s[got:want])
	}
	return s[:want]
}

func powerInt16(x []int16) float64 {
	var s float64
	for _, v := range x {
		f := float64(v) / 32768
		s += f * f
	}
	return s/float64(len(x)) + 1e-12
}

func toInt16(dst []int16, src []float32) {
	for i, v := range src {
		f := math.Round(float64(v) * 32767)
		dst[i] = int16(min(max(f, -32768), 32767))
	}
}

func fromInt16(dst []float32, src []int16) {
	for i, v := range src {
		dst[i] = float32(v) / 32768
	}
}

// Stats returns the counters.
func (p *Processor) Stats() Stats {
	st := Stats{Frames: p.frames.Load(), DelayMillis: int(p.delay.Load()), Realigned: p.realigned.Load()}
	if r := p.cfg.Reference; r != nil {
		st.ReferenceMissing, st.ReferenceDropped = r.missing.Load(), r.dropped.Load()
	}
	return st
}

// Close frees the C state; later Process calls pass audio through.
func (p *Processor) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, r := range []*resampler{p.down, p.refDown, p.up} {
		if r != nil {
			r.close()
		}
	}
	if p.pp != nil {
		p.pp.close()
	}
	if p.aec != nil {
		p.aec.close()
	}
}
