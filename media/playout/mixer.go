package playout

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mixer mixes every remote sender's jitter buffer into one mono 48 kHz
// signal. Push, Read and the playout goroutine may run concurrently; Read
// never waits for a sender (a sender with nothing decoded contributes
// silence) and never decodes.
type Mixer struct {
	mu      sync.RWMutex
	senders map[string]*senderState
	now     func() time.Time

	// The playout goroutine decodes ahead of the device: every Read wakes
	// it with the device period (the read's size), and it restores the
	// FIFO to one period plus refillSlack. It starts with the first Read
	// and ends with Close.
	wake     chan struct{}
	done     chan struct{}
	want     atomic.Int64
	start    sync.Once
	stopOnce sync.Once
	stopped  chan struct{}
	manual   bool // tests: no playout goroutine, the test calls Refill

	readMu  sync.Mutex // serialises Read, which owns the two fields below
	scratch []float32
	states  []*senderState
}

// refillSlack is decoded audio kept beyond one device period (5 ms): the
// time the playout goroutine has to run after a callback before the next.
const refillSlack = SampleRate / 200

type senderState struct {
	jb    *JitterBuffer
	level atomic.Uint64 // float64 bits: RMS of the last block read
}

// NewMixer returns an empty mixer.
func NewMixer() *Mixer {
	return &Mixer{senders: map[string]*senderState{}, now: time.Now,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
}

func (m *Mixer) sender(id string) (*senderState, error) {
	m.mu.RLock()
	s := m.senders[id]
	m.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.senders[id]; s == nil {
		jb, err := NewJitterBuffer()
		if err != nil {
			return nil, err
		}
		s = &senderState{jb: jb}
		m.senders[id] = s
	}
	return s, nil
}

// Push queues one of sender's authenticated Opus packets with its RTP
// timestamp (48 kHz clock), received at arrival; the receive pipeline
// calls it with every packet in the order the network delivered them.
// The sender's buffer is created on first use; the packet is copied.
// Errors are per packet (dropped and counted); the stream continues.
func (m *Mixer) Push(sender string, ts uint32, pkt []byte, arrival time.Time) error {
	s, err := m.sender(sender)
	if err != nil {
		return err
	}
	return s.jb.Push(ts, pkt, arrival)
}

// Remove forgets a sender (it left the meeting).
func (m *Mixer) Remove(sender string) {
	m.mu.Lock()
	s := m.senders[sender]
	delete(m.senders, sender)
	m.mu.Unlock()
	if s != nil {
		s.jb.Close()
	}
}

// Refill decodes every sender's audio until one device period (period
// samples) plus a little slack waits decoded (or the sender has nothing to
// play). The playout goroutine runs it after every Read with the size of
// that read; tests call it directly.
func (m *Mixer) Refill(period int) {
	now := m.now()
	m.mu.RLock()
	states := make([]*senderState, 0, len(m.senders))
	for _, s := range m.senders {
		states = append(states, s)
	}
	m.mu.RUnlock()
	for _, s := range states {
		s.jb.Refill(period, now)
	}
}

func (m *Mixer) run() {
	defer close(m.stopped)
	for {
		select {
		case <-m.wake:
			m.Refill(int(m.want.Load()))
		case <-m.done:
			return
		}
	}
}

// Close stops the playout goroutine and frees the decoders.
func (m *Mixer) Close() {
	m.stopOnce.Do(func() {
		close(m.done)
		started := true
		m.start.Do(func() { started = false })
		if started {
			<-m.stopped
		}
		m.mu.Lock()
		for id, s := range m.senders {
			s.jb.Close()
			delete(m.senders, id)
		}
		m.mu.Unlock()
	})
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

// Position is where a sender's playout is (for lip sync); false for an
// unknown sender or one not played yet.
func (m *Mixer) Position(sender string) (Position, bool) {
	m.mu.RLock()
	s := m.senders[sender]
	m.mu.RUnlock()
	if s == nil {
		return Position{}, false
	}
	return s.jb.Position()
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
	now := m.now()
	for _, s := range states {
		if !s.jb.Pull(buf, now) {
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
	// Wake the playout goroutine to decode the next period ahead.
	m.want.Store(int64(len(out)))
	if m.manual {
		return
	}
	m.start.Do(func() { go m.run() })
	select {
	case m.wake <- struct{}{}:
	default:
	}
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

// PlayingRTP returns, for sender, the RTP timestamp ts of the first sample
// of the last block handed to the output device, and at, when the device
// took that block; false before the sender's audio has played. Samples
// follow at 48 kHz: sample ts+n reaches the device at at + n/48 ms. Lip
// sync (media/lipsync) holds pictures against it.
func (m *Mixer) PlayingRTP(sender string) (ts uint32, at time.Time, ok bool) {
	p, ok := m.Position(sender)
	return p.RTPTimestamp, p.At, ok
}
