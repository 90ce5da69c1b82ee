package playout

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mixer mixes every remote sender's jitter buffer into one mono 48 kHz
// signal. Push and Read may run concurrently; Read never waits for a
// sender (a sender with nothing buffered contributes silence).
type Mixer struct {
	mu      sync.RWMutex
	senders map[string]*senderState
	target  int
	max     int

	readMu  sync.Mutex // serialises Read, which owns the two fields below
	scratch []float32
	states  []*senderState
}

type senderState struct {
	jb    *JitterBuffer
	level atomic.Uint64 // float64 bits: RMS of the last block read
	play  playing       // PlayingRTP
}

// NewMixer returns a mixer whose jitter buffers use the default delays.
func NewMixer() *Mixer { return NewMixerSize(DefaultTargetDelay, DefaultMaxDelay) }

// NewMixerSize returns a mixer with custom jitter buffer delays (samples).
func NewMixerSize(target, maxDelay int) *Mixer {
	return &Mixer{senders: map[string]*senderState{}, target: target, max: maxDelay}
}

func (m *Mixer) sender(id string) *senderState {
	m.mu.RLock()
	s := m.senders[id]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.senders[id]; s == nil {
		s = &senderState{jb: NewJitterBufferSize(m.target, m.max)}
		m.senders[id] = s
	}
	return s
}

// PushPCM queues sender's decoded mono 48 kHz samples starting at RTP
// timestamp ts (48 kHz clock); the receive pipeline calls it with each
// decoded Opus packet and its FrameInfo.RTPTimestamp. The sender's buffer
// is created on first use. The samples are copied. Errors are per packet
// (the packet is dropped and counted); the stream continues.
func (m *Mixer) PushPCM(sender string, ts uint32, pcm []float32) error {
	return m.sender(sender).jb.PushPCM(ts, pcm)
}

// Remove forgets a sender (it left the meeting).
func (m *Mixer) Remove(sender string) {
	m.mu.Lock()
	delete(m.senders, sender)
	m.mu.Unlock()
}

// Senders lists the senders currently mixed, sorted.
func (m *Mixer) Senders() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]string, 0, len(m.senders))
	for id := range m.senders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Stats returns a sender's jitter buffer counters.
func (m *Mixer) Stats(sender string) (JitterStats, bool) {
	m.mu.RLock()
	s := m.senders[sender]
	m.mu.RUnlock()
	if s == nil {
		return JitterStats{}, false
	}
	return s.jb.Stats(), true
}

// Level is the RMS (0…1 of full scale) of the sender's most recent
// played block; 0 for an unknown or silent sender.
func (m *Mixer) Level(sender string) float64 {
	m.mu.RLock()
	s := m.senders[sender]
	m.mu.RUnlock()
	if s == nil {
		return 0
	}
	return math.Float64frombits(s.level.Load())
}

// Levels returns every sender's Level.
func (m *Mixer) Levels() map[string]float64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]float64, len(m.senders))
	for id, s := range m.senders {
		out[id] = math.Float64frombits(s.level.Load())
	}
	return out
}

// ActiveSpeaker returns the loudest sender whose level is at least
// threshold (for example 0.01, about −40 dBFS).
func (m *Mixer) ActiveSpeaker(threshold float64) (string, bool) {
	levels := m.Levels()
	ids := make([]string, 0, len(levels))
	for id := range levels {
		ids = append(ids, id)
	}
	sort.Strings(ids) // ties go to the smallest ID
	best, bestLevel := "", 0.0
	for _, id := range ids {
		if l := levels[id]; l >= threshold && (best == "" || l > bestLevel) {
			best, bestLevel = id, l
		}
	}
	return best, best != ""
}

// Read fills out with the next len(out) samples of the mix (mono, 48 kHz,
// −1…1). It is what the output device callback calls; it never blocks on
// a sender.
func (m *Mixer) Read(out []float32) {
	m.readMu.Lock()
	defer m.readMu.Unlock()
	clear(out)
	if cap(m.scratch) < len(out) {
		m.scratch = make([]float32, len(out))
	}
	buf := m.scratch[:len(out)]
	m.mu.RLock()
	states := m.states[:0]
	for _, s := range m.senders {
		states = append(states, s)
	}
	m.mu.RUnlock()
	m.states = states
	defer clear(m.states) // do not keep removed senders alive
	now := time.Now()
	for _, s := range states {
		audible := s.jb.Pull(buf)
		s.play.record(s.jb, len(buf), now)
		if !audible {
			s.level.Store(0)
			continue
		}
		var sum float64
		for i, v := range buf {
			out[i] += v
			sum += float64(v) * float64(v)
		}
		s.level.Store(math.Float64bits(math.Sqrt(sum / float64(len(buf)))))
	}
	limit(out)
}

// Soft limiter: samples up to limitKnee pass unchanged; louder sums are
// compressed smoothly towards ±1 so several loud speakers never clip.
const limitKnee = 0.8

func limit(x []float32) {
	for i, v := range x {
		a := math.Abs(float64(v))
		if a <= limitKnee {
			continue
		}
		c := limitKnee + (1-limitKnee)*math.Tanh((a-limitKnee)/(1-limitKnee))
		x[i] = float32(math.Copysign(c, float64(v)))
	}
}

// Where each sender's audio is, for lip sync (media/lipsync): the RTP
// timestamp of the first sample of the block the device took last, and
// when it took it. The device plays a block one period after it takes it
// (OutputOptions.PeriodMillis).
type playing struct {
	mu sync.Mutex
	ts uint32
	at time.Time
	ok bool
}

func (p *playing) record(jb *JitterBuffer, n int, at time.Time) {
	next, ok := jb.NextRTP()
	p.mu.Lock()
	p.ts, p.at, p.ok = next-uint32(n), at, ok
	p.mu.Unlock()
}

// PlayingRTP returns, for sender, the RTP timestamp ts of the first sample
// of the last block handed to the output device, and at, when the device
// took that block; false when the sender is unknown or its buffer is not
// playing. Samples follow at 48 kHz: sample ts+n reaches the device at
// at + n/48 ms.
func (m *Mixer) PlayingRTP(sender string) (ts uint32, at time.Time, ok bool) {
	m.mu.RLock()
	s := m.senders[sender]
	m.mu.RUnlock()
	if s == nil {
		return 0, time.Time{}, false
	}
	s.play.mu.Lock()
	defer s.play.mu.Unlock()
	return s.play.ts, s.play.at, s.play.ok
}
