// Package playout turns remote participants' decoded audio into sound: a
// jitter buffer per sender, a mixer of all senders, and output through
// malgo (miniaudio) on the chosen playback device.
//
// Playout pipeline:
//
//  1. PushPCM (receive goroutine): one decoded packet (mono 48 kHz samples)
//     with its RTP timestamp goes into the sender's jitter buffer (bounded,
//     ordered by timestamp; duplicates, late and oversized packets are
//     counted and dropped)
//  2. Read (audio device callback): for every sender, the buffer yields
//     the next 20 ms in timestamp order; a missing packet is concealed by
//     fading out the previous frame, a sender with nothing buffered
//     contributes silence
//  3. the mixer sums the senders, applies a soft limiter against clipping
//     and records each sender's level for the active-speaker highlight
//  4. the malgo device callback copies the mix to the output (stereo f32)
//
// Decoding happens before stage 1, on the receive goroutine
// (media/receive's stage 4), not in the device callback: the callback then
// only copies and sums samples, so a slow or hostile packet can never make
// the audio thread miss its deadline.
package playout

import (
	"errors"
	"math"
	"sort"
	"sync"

	"github.com/sottohq/sotto/media/codec/opus"
)

// Audio format of the playout path.
const (
	// SampleRate is the playout rate (Opus' native rate, also the RTP clock).
	SampleRate = opus.SampleRate
	// FrameSamples is one 20 ms Opus frame at SampleRate.
	FrameSamples = SampleRate / 50
)

// Jitter buffer defaults.
const (
	// DefaultTargetDelay is how much audio (in samples, 60 ms) a buffer
	// collects before it starts playing, absorbing network jitter.
	DefaultTargetDelay = 3 * FrameSamples
	// DefaultMaxDelay bounds buffered audio (1 s): beyond it the oldest
	// packets are dropped, so a burst can neither grow memory nor latency.
	DefaultMaxDelay = 50 * FrameSamples
	// DefaultMaxPackets bounds the number of queued packets.
	DefaultMaxPackets = 64
	// concealFrames is how many missing frames are concealed by fading the
	// last frame out before the buffer plays silence and re-buffers.
	concealFrames = 4
	// driftSlack is how far above the target the buffer may run before a
	// packet is skipped to catch up with a sender whose clock runs fast.
	driftSlack = 10 * FrameSamples
)

// Errors returned by Push.
var (
	ErrMalformed = errors.New("playout: empty or over-long audio packet")
	ErrLate      = errors.New("playout: packet arrived after its playout time")
	ErrDuplicate = errors.New("playout: duplicate packet")
)

// JitterStats counts what a jitter buffer did with its input.
type JitterStats struct {
	Received   uint64 // packets accepted into the buffer
	Played     uint64 // packets played
	Late       uint64 // arrived after their playout time
	Duplicate  uint64 // same timestamp twice
	Malformed  uint64 // empty or longer than 120 ms
	Overflow   uint64 // dropped because the buffer was full
	Concealed  uint64 // frames replaced by concealment
	Underruns  uint64 // times the buffer ran dry and re-buffered
	Skipped    uint64 // packets skipped to correct clock drift
	Buffered   int    // samples currently queued
	TargetSize int    // target delay in samples
}

type packet struct {
	ts  uint32
	pcm []float32 // decoded mono samples
}

// JitterBuffer smooths one sender's packet arrival. It is safe for
// concurrent Push and Pull.
type JitterBuffer struct {
	mu       sync.Mutex
	pkts     []packet // sorted by timestamp (serial number order)
	playing  bool
	next     uint32 // timestamp of the next frame to play
	pcm      []float32
	pcmPos   int
	pcmLen   int
	last     []float32 // the last decoded frame, for concealment
	lastLen  int
	conceal  int // consecutive concealed frames
	target   int
	maxDelay int
	maxPkts  int
	stats    JitterStats
}

// NewJitterBuffer returns a buffer with the default delays.
func NewJitterBuffer() *JitterBuffer {
	return NewJitterBufferSize(DefaultTargetDelay, DefaultMaxDelay)
}

// NewJitterBufferSize returns a buffer with a custom target and maximum
// delay, both in samples at 48 kHz.
func NewJitterBufferSize(target, maxDelay int) *JitterBuffer {
	if target < FrameSamples {
		target = FrameSamples
	}
	if maxDelay < 2*target {
		maxDelay = 2 * target
	}
	return &JitterBuffer{
		pcm:      make([]float32, opus.MaxPacketSamples),
		last:     make([]float32, opus.MaxPacketSamples),
		target:   target,
		maxDelay: maxDelay,
		maxPkts:  DefaultMaxPackets,
	}
}

// before reports a < b in RTP timestamp serial arithmetic.
func before(a, b uint32) bool { return int32(a-b) < 0 }

// PushPCM queues one decoded packet: mono samples at 48 kHz starting at
// RTP timestamp ts (48 kHz clock). The samples are copied.
func (j *JitterBuffer) PushPCM(ts uint32, pcm []float32) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(pcm) == 0 || len(pcm) > opus.MaxPacketSamples {
		j.stats.Malformed++
		return ErrMalformed
	}
	if j.playing && before(ts, j.next) {
		j.stats.Late++
		return ErrLate
	}
	i := sort.Search(len(j.pkts), func(i int) bool { return !before(j.pkts[i].ts, ts) })
	if i < len(j.pkts) && j.pkts[i].ts == ts {
		j.stats.Duplicate++
		return ErrDuplicate
	}
	j.pkts = append(j.pkts, packet{})
	copy(j.pkts[i+1:], j.pkts[i:])
	j.pkts[i] = packet{ts: ts, pcm: append([]float32(nil), pcm...)}
	j.stats.Received++
	// Bound the queue: drop the oldest packets.
	for len(j.pkts) > j.maxPkts || j.bufferedLocked() > j.maxDelay {
		old := j.pkts[0]
		j.pkts = j.pkts[1:]
		j.stats.Overflow++
		if j.playing && !before(old.ts, j.next) {
			j.next = old.ts + uint32(len(old.pcm))
		}
	}
	return nil
}

// bufferedLocked is the span of queued audio in samples.
func (j *JitterBuffer) bufferedLocked() int {
	if len(j.pkts) == 0 {
		return 0
	}
	first := j.pkts[0].ts
	if j.playing && before(j.next, first) {
		first = j.next
	}
	last := j.pkts[len(j.pkts)-1]
	return int(last.ts-first) + len(last.pcm)
}

// Stats returns the buffer's counters.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Buffered = j.bufferedLocked()
	s.TargetSize = j.target
	return s
}

// Pull fills out (mono, 48 kHz) with the sender's audio and returns
// whether any of it was real (decoded or concealed) audio rather than
// silence. It never waits.
func (j *JitterBuffer) Pull(out []float32) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	audible := false
	for len(out) > 0 {
		if j.pcmPos == j.pcmLen {
			if !j.refillLocked() {
				clear(out)
				return audible
			}
		}
		n := copy(out, j.pcm[j.pcmPos:j.pcmLen])
		j.pcmPos += n
		out = out[n:]
		audible = true
	}
	return audible
}

// NextRTP returns the RTP timestamp of the next sample Pull will hand
// out, and false while the buffer is not playing (before it has buffered
// its target delay, and after it ran dry). Lip sync reads it through
// Mixer.PlayingRTP.
func (j *JitterBuffer) NextRTP() (uint32, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.playing {
		return 0, false
	}
	// next follows the frame in pcm (played or concealed) in every case.
	return j.next - uint32(j.pcmLen-j.pcmPos), true
}

// refillLocked produces the next frame into pcm. It returns false when the
// buffer is (re)buffering and the caller should play silence.
func (j *JitterBuffer) refillLocked() bool {
	j.pcmPos, j.pcmLen = 0, 0
	if !j.playing {
		if len(j.pkts) == 0 || j.bufferedLocked() < j.target {
			return false
		}
		j.playing = true
		j.next = j.pkts[0].ts
	}
	// Drop anything that is now in the past (possible after concealment).
	for len(j.pkts) > 0 && before(j.pkts[0].ts, j.next) {
		j.pkts = j.pkts[1:]
		j.stats.Late++
	}
	// Clock drift: the sender produces faster than we play. Skip a packet.
	if j.bufferedLocked() > j.target+driftSlack && len(j.pkts) > 1 {
		j.next = j.pkts[1].ts
		j.pkts = j.pkts[1:]
		j.stats.Skipped++
	}
	if len(j.pkts) > 0 && j.pkts[0].ts == j.next {
		p := j.pkts[0]
		j.pkts = j.pkts[1:]
		j.next = p.ts + uint32(len(p.pcm))
		n := copy(j.pcm, p.pcm)
		j.stats.Played++
		j.conceal = 0
		j.pcmLen = n
		copy(j.last, j.pcm[:n])
		j.lastLen = n
		return true
	}
	if len(j.pkts) == 0 {
		// Ran dry: conceal briefly, then go quiet and re-buffer.
		if j.conceal >= concealFrames {
			j.playing = false
			j.stats.Underruns++
			j.conceal = 0
			return false
		}
		j.next += FrameSamples
		return j.concealLocked(FrameSamples)
	}
	// A gap before the next queued packet: the packet for now was lost.
	gap := int(j.pkts[0].ts - j.next)
	n := min(gap, FrameSamples)
	j.next += uint32(n)
	return j.concealLocked(n)
}

// concealLocked fills n samples replacing a lost frame: the last decoded
// frame repeated with a gain that halves every frame (no pops: the gain
// ramps continuously), then silence.
func (j *JitterBuffer) concealLocked(n int) bool {
	j.stats.Concealed++
	j.conceal++
	n = min(n, len(j.pcm))
	if j.lastLen == 0 || j.conceal > concealFrames {
		clear(j.pcm[:n])
		j.pcmLen = n
		return true
	}
	g0 := math.Pow(0.5, float64(j.conceal-1))
	g1 := g0 / 2
	if j.conceal == concealFrames {
		g1 = 0
	}
	for i := 0; i < n; i++ {
		g := g0 + (g1-g0)*float64(i)/float64(n)
		j.pcm[i] = j.last[i%j.lastLen] * float32(g)
	}
	j.pcmLen = n
	return true
}
