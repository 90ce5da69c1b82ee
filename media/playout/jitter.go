// Package playout turns remote participants' Opus packets into sound: an
// adaptive jitter buffer per sender that also decodes, a mixer of all
// senders, and output through malgo (miniaudio) on the chosen device.
//
// Playout pipeline:
//
//  1. Push (receive goroutine): every authenticated Opus packet with its
//     RTP timestamp and arrival time goes into the sender's jitter buffer,
//     in whatever order the network delivered it. The buffer orders
//     packets by timestamp and is the only place that decides a packet is
//     late: it is late when it arrives after its playout time (the moment
//     its frame was decoded or concealed). Duplicates, malformed packets
//     and packets beyond the buffer's bounds are counted and dropped.
//  2. Refill (the mixer's playout goroutine, woken by every device
//     callback): the buffer decodes, in timestamp order, just enough
//     frames to keep a small decoded FIFO one device period plus a slack
//     ahead of the device, so a frame is decoded at most two periods and
//     the slack (25 ms with 10 ms periods) before the device gets it. The
//     slack starts at 5 ms and grows by 5 ms, up to 20 ms, whenever the
//     device found the FIFO short because the goroutine ran late (counted
//     as Starved); it shrinks again after 5 s without. A packet missing at its playout time is
//     recovered from the next packet's in-band FEC if that one is here,
//     otherwise concealed by libopus (PLC); after 60 ms with nothing to
//     play the buffer goes quiet and re-buffers.
//  3. Read (audio device callback): every sender's FIFO yields the next
//     samples; the mixer sums them, applies a soft limiter and records
//     each sender's level for the active-speaker highlight. The callback
//     only copies and sums: no decoding, no allocation, no waiting for
//     the receive side (its lock guards a memcpy), so a slow or hostile
//     packet can never make the audio thread miss its deadline.
//  4. the malgo device callback copies the mix to the output (stereo f32)
//
// Adaptive delay. Each packet's transit (arrival time minus its RTP
// timestamp, in samples) is recorded over a 4 s window. The earliest
// transit in the window is the path's base delay; a packet's delay
// variation is its transit minus that base. The target delay, from a
// packet's earliest possible arrival to the device, is the largest
// variation in the window plus 5 ms plus the decode lead (the most a
// frame is decoded before the device gets it), held between 20 and 200 ms:
// it rises at once when jitter rises and falls slowly (4 s time constant,
// after the window forgets the old peaks) when jitter falls. The delay the
// buffer actually runs at is measured at every decode: now minus the
// earliest time the frame could have arrived (its timestamp plus the base
// transit). The difference to the target is corrected by time-stretching
// the decoded 20 ms frame by resampling it to a few samples more or fewer
// (at most 4 % in speech, where a larger change would be heard as pitch,
// and 50 % in frames quieter than −40 dBFS). The same control absorbs
// clock drift between sender and receiver. Whole packets are dropped only
// as an emergency, when the buffer runs more than 100 ms above its target
// (a burst of packets from a sender whose clock jumped); that is counted.
//
// The RFC 3550 §6.4.1 interarrival jitter is computed as well and reported
// (JitterStats.JitterMillis); the target uses the windowed maximum instead
// because the RFC's mean deviation says nothing about how late the worst
// packets are, and those are the ones that would be discarded.
//
// Bounds against a hostile sender: at most DefaultMaxPackets packets are
// queued, none more than DefaultMaxDelay ahead of the playout point, each
// at most opus.MaxPacketSize bytes and 120 ms; the target is capped at
// 200 ms, so no arrival pattern can push latency or memory beyond these.
package playout

import (
	"errors"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
)

// Audio format of the playout path.
const (
	// SampleRate is the playout rate (Opus' native rate, also the RTP clock).
	SampleRate = opus.SampleRate
	// FrameSamples is one 20 ms Opus frame at SampleRate.
	FrameSamples = opus.FrameSamples
)

// Jitter buffer defaults.
const (
	// MinTargetDelay and MaxTargetDelay bound the adaptive target (samples).
	MinTargetDelay = SampleRate / 50 // 20 ms
	MaxTargetDelay = SampleRate / 5  // 200 ms
	// DefaultMaxDelay bounds how far ahead of the playout point a packet
	// may be (1 s); further ones are refused (Overflow).
	DefaultMaxDelay = 50 * FrameSamples
	// DefaultMaxPackets bounds the number of queued packets.
	DefaultMaxPackets = 64
	// initialTarget is the target before the window has seen much of the
	// path (100 ms): a buffer starting at the minimum would discard the
	// first packets of a jittery path as late before it learned the
	// jitter; on a calm path the target falls to the minimum within
	// about 3 s (the decay below).
	initialTarget = 5 * FrameSamples
	// lossTarget is the floor while packets are being lost (25 ms): the
	// FEC copy of a lost packet travels in the next one, so that one must
	// be here by the lost one's playout time.
	lossTarget = FrameSamples + targetMargin
	// targetMargin is added to the largest delay variation (5 ms).
	targetMargin = SampleRate / 200
	// jitterWindow is how many packets (4 s) the delay statistics cover.
	jitterWindow = 200
	// targetDecay: the target falls by 1/targetDecay of its excess over
	// the wanted value per frame (a 1 s time constant at 20 ms), once the
	// window has forgotten the higher delays.
	targetDecay = 50
	// hysteresis is how far (2.5 ms) the delay may stray from the target
	// before frames are stretched or shrunk.
	hysteresis = SampleRate / 400
	// maxAdjustSpeech and maxAdjustQuiet bound the samples one 20 ms
	// frame is stretched or shrunk by (4 % and 50 %).
	maxAdjustSpeech = FrameSamples / 25
	maxAdjustQuiet  = FrameSamples / 2
	// quietRMS is −40 dBFS: below it a frame is a pause.
	quietRMS = 0.01
	// emergencyExcess is how far above the target (100 ms) the delay
	// must be before whole packets are dropped.
	emergencyExcess = SampleRate / 10
	// concealFrames is how many frames are concealed with nothing
	// queued before the buffer goes quiet and re-buffers (60 ms).
	concealFrames = 3
	// fifoSize bounds the decoded FIFO (341 ms).
	fifoSize = 1 << 14
	// slackStep, maxSlack and slackCalm adapt the decode-ahead slack: up
	// by 5 ms each time the device finds the FIFO short, at most 20 ms,
	// down by 5 ms after 500 refills (5 s at 10 ms) without that.
	slackStep = SampleRate / 200
	maxSlack  = SampleRate / 50
	slackCalm = 500
	// maxStretched is the longest output of one decode step.
	maxStretched = opus.MaxPacketSamples + maxAdjustQuiet
)

// Errors returned by Push.
var (
	ErrMalformed = errors.New("playout: empty, over-long or unparsable audio packet")
	ErrLate      = errors.New("playout: packet arrived after its playout time")
	ErrDuplicate = errors.New("playout: duplicate packet")
	ErrOverflow  = errors.New("playout: packet beyond the jitter buffer's bounds")
)

// JitterStats counts what a jitter buffer did with its input. The JSON
// form is part of the receive statistics of sotto-bot.
type JitterStats struct {
	Received     uint64 `json:"received"`      // packets accepted into the buffer
	Played       uint64 `json:"played"`        // packets decoded at their playout time
	Late         uint64 `json:"late"`          // arrived after their playout time
	Duplicate    uint64 `json:"duplicate"`     // same timestamp twice
	Malformed    uint64 `json:"malformed"`     // empty, unparsable or longer than 120 ms
	Overflow     uint64 `json:"overflow"`      // refused: buffer full or too far ahead
	FECRecovered uint64 `json:"fec_recovered"` // lost frames rebuilt from the next packet's FEC
	Concealed    uint64 `json:"concealed"`     // frames replaced by libopus concealment
	DecodeErrors uint64 `json:"decode_errors"` // packets libopus refused (concealed instead)
	Underruns    uint64 `json:"underruns"`     // times the buffer ran dry and re-buffered
	Skipped      uint64 `json:"skipped"`       // packets dropped to cut an excess delay
	Stretched    uint64 `json:"stretched"`     // samples added by time-stretching
	Shrunk       uint64 `json:"shrunk"`        // samples removed by time-stretching
	Starved      uint64 `json:"starved"`       // samples the device wanted before they were decoded
	// TargetMillis is the current target delay and DelayMillis the delay
	// the last decoded frame gets, both from the packet's earliest
	// possible arrival to the device; JitterMillis is the RFC 3550
	// interarrival jitter.
	TargetMillis float64 `json:"target_ms"`
	DelayMillis  float64 `json:"delay_ms"`
	JitterMillis float64 `json:"jitter_ms"`
	Queued       int     `json:"queued"` // packets waiting to be decoded
}

// Position is where a sender's playout is, for lip sync: the RTP
// timestamp of the sample the device was handed At, and the playout
// delay: from the earliest possible arrival of a packet (its timestamp
// plus the path's base transit) to when it is handed to the device, as
// measured for the last decoded frame. The device's own latency (about
// one period) comes on top.
type Position struct {
	RTPTimestamp uint32
	At           time.Time
	Delay        time.Duration
}

type packet struct {
	ts      uint32
	samples int
	data    []byte
}

// JitterBuffer orders, times, decodes and conceals one sender's audio.
// Push, Refill and Pull may run on three goroutines at once.
type JitterBuffer struct {
	mu      sync.Mutex // packet queue, decoder, timing
	dec     *opus.Decoder
	pkts    []packet // sorted by timestamp (serial number order)
	playing bool
	started bool   // next is meaningful: something was played
	next    uint32 // timestamp of the next frame to play
	conceal int    // consecutive concealed frames with nothing queued
	maxPkts int
	maxSpan int
	stats   JitterStats // counters other than Starved

	// Timing: transits in samples relative to epoch, extended timestamps.
	epoch    time.Time
	haveTS   bool
	lastTS   uint32
	lastExt  int64
	transits [jitterWindow]int64
	nTransit int
	minT     int64 // earliest transit in the window
	maxT     int64
	prevT    int64
	jitter   float64 // RFC 3550 J, samples
	target   float64 // samples
	delay    int64   // delay at the last decode, samples
	lossyTil int     // nTransit until which lossTarget is the floor
	lead     int     // the most a frame is decoded before it reaches the device, samples
	// lastDelay and active mirror delay and playing for Pull, which must
	// not take mu.
	lastDelay atomic.Int64
	active    atomic.Bool
	// slack is the decoded audio kept beyond one device period; it grows
	// when the device found the FIFO short (the playout goroutine was
	// scheduled late) and shrinks again after calm (maxSlack, slackCalm).
	slack   atomic.Int64
	refills int // Refill calls since the slack last changed

	noAdjust bool                           // tests: never stretch
	trace    func(ts uint32, pcm []float32) // tests: every frame before stretching

	scratch []float32 // decoded frame
	adj     []float32 // stretched frame

	fifoMu  sync.Mutex // decoded FIFO; held only for copies
	fifo    [fifoSize]float32
	fifoTS  [fifoSize]uint32
	head    int
	fill    int
	starved uint64
	pos     Position
	posOK   bool
}

// NewJitterBuffer returns a buffer with the default bounds.
func NewJitterBuffer() (*JitterBuffer, error) {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		return nil, err
	}
	j := &JitterBuffer{
		dec:     dec,
		maxPkts: DefaultMaxPackets,
		maxSpan: DefaultMaxDelay,
		target:  initialTarget,
		scratch: make([]float32, opus.MaxPacketSamples),
		adj:     make([]float32, maxStretched),
	}
	j.slack.Store(refillSlack)
	return j, nil
}

// Close frees the decoder.
func (j *JitterBuffer) Close() {
	j.mu.Lock()
	j.dec.Close()
	j.mu.Unlock()
}

// before reports a < b in RTP timestamp serial arithmetic.
func before(a, b uint32) bool { return int32(a-b) < 0 }

// samplesSince is t−epoch in samples.
func (j *JitterBuffer) samplesSince(t time.Time) int64 {
	d := t.Sub(j.epoch) // split so that days of meeting cannot overflow
	return int64(d/time.Second)*SampleRate + int64(d%time.Second)*SampleRate/int64(time.Second)
}

// ext extends a timestamp around the last one seen.
func (j *JitterBuffer) ext(ts uint32) int64 { return j.lastExt + int64(int32(ts-j.lastTS)) }

// Push queues one authenticated Opus packet with RTP timestamp ts (48 kHz
// clock) that arrived at arrival. The packet is copied.
func (j *JitterBuffer) Push(ts uint32, pkt []byte, arrival time.Time) error {
	samples, err := opus.PacketSamples(pkt)
	if err != nil || len(pkt) > opus.MaxPacketSize {
		j.mu.Lock()
		j.stats.Malformed++
		j.mu.Unlock()
		return ErrMalformed
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.observe(ts, arrival)
	if j.started && !j.playing && int32(j.next-ts) > int32(j.maxSpan) {
		// Re-buffering and far behind what was played: the sender's
		// timestamps restarted; take it as a new stream.
		j.started = false
	}
	if j.started && before(ts, j.next) {
		j.stats.Late++
		return ErrLate
	}
	if j.playing && int32(ts-j.next) > int32(j.maxSpan) {
		j.stats.Overflow++
		return ErrOverflow
	}
	i := sort.Search(len(j.pkts), func(i int) bool { return !before(j.pkts[i].ts, ts) })
	if i < len(j.pkts) && j.pkts[i].ts == ts {
		j.stats.Duplicate++
		return ErrDuplicate
	}
	if len(j.pkts) >= j.maxPkts {
		if j.playing || i == 0 {
			// Playing: the queue already holds over a second ahead.
			j.stats.Overflow++
			return ErrOverflow
		}
		// Not playing (nobody reads, or re-buffering after a gap):
		// the newest audio is what will be wanted.
		j.pkts = j.pkts[1:]
		j.stats.Overflow++
		i--
	}
	j.pkts = append(j.pkts, packet{})
	copy(j.pkts[i+1:], j.pkts[i:])
	j.pkts[i] = packet{ts: ts, samples: samples, data: append([]byte(nil), pkt...)}
	j.stats.Received++
	// Before playback (re)starts nothing bounds the queue's span but
	// itself: a sender that paused (muted) resumes far ahead.
	for !j.playing && len(j.pkts) > 1 && int32(j.pkts[len(j.pkts)-1].ts-j.pkts[0].ts) > int32(j.maxSpan) {
		j.pkts = j.pkts[1:]
		j.stats.Overflow++
	}
	return nil
}

// observe records a packet's transit for the delay statistics.
func (j *JitterBuffer) observe(ts uint32, arrival time.Time) {
	if !j.haveTS {
		j.haveTS, j.epoch, j.lastTS, j.lastExt = true, arrival, ts, 0
	}
	e := j.ext(ts)
	if e > j.lastExt {
		j.lastTS, j.lastExt = ts, e
	}
	t := j.samplesSince(arrival) - e
	if j.nTransit > 0 {
		d := math.Abs(float64(t - j.prevT))
		j.jitter += (d - j.jitter) / 16 // RFC 3550 §6.4.1
	}
	j.prevT = t
	j.transits[j.nTransit%jitterWindow] = t
	j.nTransit++
	n := min(j.nTransit, jitterWindow)
	j.minT, j.maxT = j.transits[0], j.transits[0]
	for _, v := range j.transits[1:n] {
		j.minT, j.maxT = min(j.minT, v), max(j.maxT, v)
	}
	if want := j.wantTarget(); want > j.target {
		j.target = want
	}
}

// wantTarget is the delay the current window calls for.
//
// The target is the delay from a packet's earliest possible arrival to
// when it is heard. A frame is decoded up to lead samples before it is
// heard, and the packet must be here then: the target covers the largest
// delay variation, the margin and the lead.
func (j *JitterBuffer) wantTarget() float64 {
	floor := float64(MinTargetDelay)
	if j.nTransit < j.lossyTil {
		floor = float64(lossTarget + j.lead)
	}
	return math.Min(math.Max(float64(j.maxT-j.minT+targetMargin+int64(j.lead)), floor), MaxTargetDelay)
}

// lossSeen raises the floor to lossTarget for one window.
func (j *JitterBuffer) lossSeen() {
	j.lossyTil = j.nTransit + jitterWindow
	j.target = max(j.target, j.wantTarget())
}

// delayOf is how long after its earliest possible arrival the frame at
// ts is played if it is decoded now.
func (j *JitterBuffer) delayOf(ts uint32, now time.Time) int64 {
	return j.samplesSince(now) - j.ext(ts) - j.minT
}

// Stats returns the buffer's counters.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	s := j.stats
	s.TargetMillis = j.target * 1000 / SampleRate
	s.DelayMillis = float64(j.delay) * 1000 / SampleRate
	s.JitterMillis = j.jitter * 1000 / SampleRate
	s.Queued = len(j.pkts)
	j.mu.Unlock()
	j.fifoMu.Lock()
	s.Starved = j.starved
	j.fifoMu.Unlock()
	return s
}

// Position returns where the sender's playout was at the last Pull; false
// before anything was played.
func (j *JitterBuffer) Position() (Position, bool) {
	j.fifoMu.Lock()
	defer j.fifoMu.Unlock()
	return j.pos, j.posOK
}

// Pull fills out (mono, 48 kHz) from the decoded FIFO and returns whether
// any of it was audio rather than silence. It never decodes and never
// waits for Push or Refill beyond a copy; now is the time the samples go
// to the device.
func (j *JitterBuffer) Pull(out []float32, now time.Time) bool {
	j.fifoMu.Lock()
	defer j.fifoMu.Unlock()
	n := min(len(out), j.fill)
	if n > 0 {
		j.pos = Position{RTPTimestamp: j.fifoTS[j.head], At: now,
			Delay: time.Duration(j.lastDelay.Load()) * time.Second / SampleRate}
		j.posOK = true
	}
	for i := 0; i < n; {
		k := copy(out[i:n], j.fifo[j.head:min(j.head+n-i, fifoSize)])
		i += k
		j.head = (j.head + k) % fifoSize
	}
	j.fill -= n
	if n < len(out) {
		clear(out[n:])
		if j.active.Load() {
			j.starved += uint64(len(out) - n)
			j.slack.Store(min(j.slack.Load()+slackStep, maxSlack))
		}
	}
	return n > 0
}

// Buffered is the number of decoded samples waiting for the device.
func (j *JitterBuffer) Buffered() int {
	j.fifoMu.Lock()
	defer j.fifoMu.Unlock()
	return j.fill
}

// Refill decodes frames until the FIFO holds one device period (period
// samples, the size of the last device read) plus the slack, or until
// the buffer has nothing to play yet. It runs right after a device read;
// now is the current time and decides which packets are late.
func (j *JitterBuffer) Refill(period int, now time.Time) {
	period = max(min(period, (fifoSize-maxStretched)/2), 1)
	slack := int(j.slack.Load())
	if j.refills++; j.refills >= slackCalm {
		j.refills = 0
		slack = max(slack-slackStep, refillSlack)
		j.slack.Store(int64(slack))
	}
	want := period + slack
	for {
		fill := j.Buffered()
		if fill >= want {
			return
		}
		j.mu.Lock()
		pcm, ts, n := j.produce(now, fill, period, slack)
		j.mu.Unlock()
		if pcm == nil {
			return
		}
		j.fifoMu.Lock()
		tail := (j.head + j.fill) % fifoSize
		for i, v := range pcm {
			k := (tail + i) % fifoSize
			j.fifo[k] = v
			// Stretching maps output samples back to source time.
			j.fifoTS[k] = ts + uint32(i*n/len(pcm))
		}
		j.fill += len(pcm)
		j.fifoMu.Unlock()
	}
}

// produce makes the next frame: decoded, recovered from FEC or concealed,
// then stretched towards the target delay. It returns the samples (valid
// until the next call), the timestamp of their first source sample and
// the number of source samples they cover; nil when nothing plays.
//
// fill is what waits decoded in the FIFO. The device read for now has
// happened, so the new frame reaches the device one period plus fill
// samples from now; the most that can be is lead: two periods and the
// slack.
func (j *JitterBuffer) produce(now time.Time, fill, period, slack int) ([]float32, uint32, int) {
	j.lead = 2*period + slack
	if !j.playing {
		// Start when the first frame, heard at once, is target late.
		if len(j.pkts) == 0 || j.delayOf(j.pkts[0].ts, now)+int64(fill+period) < int64(j.target) {
			return nil, 0, 0
		}
		j.playing, j.started, j.next, j.conceal = true, true, j.pkts[0].ts, 0
		j.active.Store(true)
	}
	for len(j.pkts) > 0 && before(j.pkts[0].ts, j.next) {
		// Only possible after an overlap of odd-sized packets.
		j.pkts = j.pkts[1:]
		j.stats.Late++
	}
	// The frame will be heard fill samples from now (exact: the device
	// drains the FIFO at a steady rate), which is what the control
	// compares with the target.
	j.delay = j.delayOf(j.next, now) + int64(fill+period)
	j.lastDelay.Store(j.delay)
	// Decay the target slowly towards what the window calls for.
	if want := j.wantTarget(); want < j.target {
		j.target -= (j.target - want) / targetDecay
	}
	excess := j.delay - int64(j.target)
	for excess > emergencyExcess && len(j.pkts) > 1 && j.pkts[0].ts == j.next {
		p := j.pkts[0]
		j.pkts = j.pkts[1:]
		j.next = p.ts + uint32(p.samples)
		j.stats.Skipped++
		excess -= int64(p.samples)
	}
	ts := j.next
	var (
		n   int
		err error
	)
	switch {
	case len(j.pkts) > 0 && j.pkts[0].ts == j.next:
		p := j.pkts[0]
		j.pkts = j.pkts[1:]
		n, err = j.dec.Decode(p.data, j.scratch)
		if err != nil {
			j.stats.DecodeErrors++
			n, err = j.dec.Conceal(j.scratch[:p.samples/120*120])
		} else {
			j.stats.Played++
		}
		j.conceal = 0
	case len(j.pkts) > 0:
		// The packet for now is missing: it is lost or late.
		gap := int(j.pkts[0].ts - j.next)
		n = min(gap, FrameSamples) / 120 * 120
		if n == 0 {
			// Less than 2.5 ms: skip the sliver to the next packet.
			j.next = j.pkts[0].ts
			return j.produce(now, fill, period, slack)
		}
		if gap == n && n == FrameSamples {
			n, err = j.dec.DecodeFEC(j.pkts[0].data, j.scratch[:n])
			j.stats.FECRecovered++
		} else {
			n, err = j.dec.Conceal(j.scratch[:n])
			j.stats.Concealed++
		}
		j.conceal = 0
		j.lossSeen()
	default:
		if j.conceal >= concealFrames {
			j.playing = false
			j.active.Store(false)
			j.stats.Underruns++
			return nil, 0, 0
		}
		j.conceal++
		n, err = j.dec.Conceal(j.scratch[:FrameSamples])
		j.stats.Concealed++
	}
	if err != nil || n <= 0 {
		// Concealment of a valid length cannot fail; if libopus does,
		// play silence for the frame rather than stall.
		n = FrameSamples
		clear(j.scratch[:n])
	}
	j.next = ts + uint32(n)
	if j.trace != nil {
		j.trace(ts, j.scratch[:n])
	}
	return j.stretch(j.scratch[:n], excess), ts, n
}

// stretch resamples a 20 ms frame to move the delay towards the target by
// up to maxAdjustSpeech samples (maxAdjustQuiet in a pause). Linear
// interpolation over the same span keeps the frame's first and last
// samples, so frames join without clicks.
func (j *JitterBuffer) stretch(x []float32, excess int64) []float32 {
	if j.noAdjust || len(x) != FrameSamples || (excess <= hysteresis && excess >= -hysteresis) {
		return x
	}
	limit := int64(maxAdjustSpeech)
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	if math.Sqrt(e/float64(len(x))) < quietRMS {
		limit = maxAdjustQuiet
	}
	d := max(min(excess, limit), -limit) // >0: too much delay, shrink
	m := len(x) - int(d)
	out := j.adj[:m]
	scale := float64(len(x)-1) / float64(m-1)
	for i := range out {
		p := float64(i) * scale
		k := int(p)
		if k >= len(x)-1 {
			out[i] = x[len(x)-1]
			continue
		}
		f := float32(p - float64(k))
		out[i] = x[k] + (x[k+1]-x[k])*f
	}
	if d > 0 {
		j.stats.Shrunk += uint64(d)
	} else {
		j.stats.Stretched += uint64(-d)
	}
	return out
}
