package playout

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/opus/opustest"
)

// The jitter buffer tests run on simulated time: a sender emits one
// packet of the speech recording every 20 ms, the network delays (or
// drops) each, and a device asks for one period of audio at a time, the
// playout goroutine refilling right after each callback as in Mixer. Every
// call gets its time explicitly, so runs are exact and repeatable.

const period = SampleRate / 100 // 10 ms device period

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var tsBase = uint32(0xffff0000) // exercises timestamp wrap-around

type simConfig struct {
	frames   int                       // packets sent (the recording loops)
	delay    func(k int) time.Duration // network delay of packet k
	lost     func(k int) bool          // packet k never arrives
	interval time.Duration             // sender's packet interval (20 ms; less: a fast clock)
	noAdjust bool                      // turn time-stretching off
	onPull   func(at time.Time, jb *JitterBuffer)
}

// frameRec is one frame the buffer produced, before stretching.
type frameRec struct {
	ts  uint32
	pcm []float32
}

type simResult struct {
	out      []float32 // everything the device played
	frames   []frameRec
	stats    JitterStats // when the last packet was decoded (before the stream's end is concealed)
	reorders int         // packets that arrived after a later-sent one
	jb       *JitterBuffer
}

var speechPackets = func() func(t testing.TB) [][]byte {
	var pkts [][]byte
	return func(t testing.TB) [][]byte {
		if pkts == nil {
			pkts = opustest.Encode(t, opustest.Speech(t), opus.EncoderParams{LossPercent: 10})
		}
		return pkts
	}
}()

func simulate(t testing.TB, c simConfig) simResult {
	t.Helper()
	pkts := speechPackets(t)
	if c.interval == 0 {
		c.interval = 20 * time.Millisecond
	}
	if c.delay == nil {
		c.delay = func(int) time.Duration { return 0 }
	}
	if c.lost == nil {
		c.lost = func(int) bool { return false }
	}
	jb, err := NewJitterBuffer()
	if err != nil {
		t.Fatal(err)
	}
	jb.noAdjust = c.noAdjust
	var res simResult
	jb.trace = func(ts uint32, pcm []float32) {
		res.frames = append(res.frames, frameRec{ts, slices.Clone(pcm)})
	}
	type arrival struct {
		at time.Time
		k  int
	}
	var arr []arrival
	for k := range c.frames {
		if !c.lost(k) {
			// Packet k leaves when its 20 ms frame is complete.
			arr = append(arr, arrival{t0.Add(time.Duration(k+1)*c.interval + c.delay(k)), k})
		}
	}
	slices.SortStableFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	maxK := -1
	for _, a := range arr {
		if a.k < maxK {
			res.reorders++
		}
		maxK = max(maxK, a.k)
	}
	end := t0.Add(time.Duration(c.frames+2)*c.interval + 300*time.Millisecond)
	buf := make([]float32, period)
	tick := t0
	i := 0
	snap := false
	for tick.Before(end) {
		for i < len(arr) && !arr[i].at.After(tick) {
			k := arr[i].k
			_ = jb.Push(tsBase+uint32(k*FrameSamples), pkts[k%len(pkts)], arr[i].at)
			i++
		}
		jb.Pull(buf, tick)
		if c.onPull != nil {
			c.onPull(tick, jb)
		}
		res.out = append(res.out, buf...)
		jb.Refill(period, tick)
		if s := jb.Stats(); !snap && i == len(arr) && s.Queued == 0 {
			res.stats, snap = s, true
		}
		tick = tick.Add(10 * time.Millisecond)
	}
	res.jb = jb
	return res
}

// uniformJitter delays every packet by a uniform random 0…2·mean.
func uniformJitter(mean time.Duration, seed uint64) func(int) time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	memo := map[int]time.Duration{}
	return func(k int) time.Duration {
		if d, ok := memo[k]; ok {
			return d
		}
		d := time.Duration(r.Float64() * 2 * float64(mean))
		memo[k] = d
		return d
	}
}

// With 40 ms mean jitter packets arrive heavily out of order; the buffer
// orders them and, once its target has followed the jitter, plays every
// one: none is discarded as late, none concealed.
func TestReorderedPacketsAreAllPlayed(t *testing.T) {
	const frames = 500 // 10 s
	warm := 0
	r := simulate(t, simConfig{frames: frames, delay: uniformJitter(40*time.Millisecond, 3),
		onPull: func(at time.Time, jb *JitterBuffer) {
			if at.Sub(t0) < time.Second {
				warm = int(jb.Stats().Late)
			}
		}})
	s := r.stats
	t.Logf("%d reordered arrivals; %+v", r.reorders, s)
	if r.reorders < frames/5 {
		t.Fatalf("only %d reordered arrivals: the test proves nothing", r.reorders)
	}
	if s.Late != 0 {
		t.Errorf("%d packets discarded as late (%d in the first second)", s.Late, warm)
	}
	if s.Played != frames || s.Concealed != 0 || s.FECRecovered != 0 {
		t.Errorf("played %d of %d, concealed %d, FEC %d", s.Played, frames, s.Concealed, s.FECRecovered)
	}
	// 80 ms of variation, the 5 ms margin and the 25 ms decode lead.
	if s.TargetMillis < 105 || s.TargetMillis > 115 {
		t.Errorf("target %.1f ms for jitter spanning 0–80 ms", s.TargetMillis)
	}
	if s.Skipped != 0 {
		t.Errorf("%d whole packets dropped", s.Skipped)
	}
}

// At 10 % loss the buffer recovers a lost packet from the next one's FEC
// when that one is there and conceals otherwise: its output is the
// reference libopus decode with FEC and concealment of the same stream
// (goal: SNR within 1 dB of it), far better than concealment alone. The
// frames are compared before time-stretching, which shifts samples in
// time and would make a sample-wise SNR meaningless.
func TestLossRecoveredByFECAndConcealment(t *testing.T) {
	pkts := speechPackets(t)
	frames := len(pkts)
	lost := opustest.LossPattern(frames, 0.10, 1)
	r := simulate(t, simConfig{frames: frames, lost: func(k int) bool { return lost[k] }})
	s := r.stats
	nLost, isolated := 0, 0
	for k := range frames {
		if lost[k] {
			nLost++
			if k+1 < frames && !lost[k+1] {
				isolated++
			}
		}
	}
	t.Logf("%d lost (%d with the next packet present); %+v", nLost, isolated, s)
	if int(s.FECRecovered) != isolated || int(s.Concealed) < nLost-isolated {
		t.Errorf("FEC recovered %d (want %d), concealed %d (want ≥ %d)", s.FECRecovered, isolated, s.Concealed, nLost-isolated)
	}
	if int(s.Played) != frames-nLost || s.Late != 0 {
		t.Errorf("played %d, want %d; late %d", s.Played, frames-nLost, s.Late)
	}
	var got []float32
	for i, f := range r.frames {
		if want := tsBase + uint32(i*FrameSamples); f.ts != want || len(f.pcm) != FrameSamples {
			t.Fatalf("frame %d: timestamp %d, %d samples", i, f.ts-tsBase, len(f.pcm))
		}
		if i < frames {
			got = append(got, f.pcm...)
		}
	}
	clean := referenceDecode(t, pkts, make([]bool, frames), true)
	ref := referenceDecode(t, pkts, lost, true)
	plc := referenceDecode(t, pkts, lost, false)
	snr, snrRef, snrPLC := opustest.SNR(clean, got), opustest.SNR(clean, ref), opustest.SNR(clean, plc)
	t.Logf("SNR against the loss-free decode: jitter buffer %.2f dB, libopus FEC+PLC %.2f dB, libopus PLC only %.2f dB", snr, snrRef, snrPLC)
	if math.Abs(snr-snrRef) > 1 {
		t.Errorf("jitter buffer SNR %.2f dB, reference %.2f dB", snr, snrRef)
	}
	if snr < snrPLC+3 {
		t.Errorf("jitter buffer SNR %.2f dB is no better than concealment alone (%.2f dB)", snr, snrPLC)
	}
}

// referenceDecode is libopus on the packet stream without any buffer.
func referenceDecode(t *testing.T, pkts [][]byte, lost []bool, fec bool) []float32 {
	dec, err := opus.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out []float32
	buf := make([]float32, FrameSamples)
	for i, p := range pkts {
		switch {
		case !lost[i]:
			_, err = dec.Decode(p, buf)
		case fec && i+1 < len(pkts) && !lost[i+1]:
			_, err = dec.DecodeFEC(pkts[i+1], buf)
		default:
			_, err = dec.Conceal(buf)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf...)
	}
	return out
}

// The target follows the jitter: up at once when it rises, down slowly
// when it falls; the delay the buffer runs at follows the target by
// stretching frames, never by dropping packets.
func TestTargetFollowsJitter(t *testing.T) {
	const frames = 1500 // 30 s
	calm, rough := uniformJitter(2*time.Millisecond, 5), uniformJitter(50*time.Millisecond, 6)
	delay := func(k int) time.Duration {
		if k >= 250 && k < 500 { // 5–10 s: jitter spanning 0–100 ms
			return rough(k)
		}
		return calm(k)
	}
	type sample struct {
		at             time.Duration
		target, actual float64
	}
	var trace []sample
	r := simulate(t, simConfig{frames: frames, delay: delay, onPull: func(at time.Time, jb *JitterBuffer) {
		s := jb.Stats()
		trace = append(trace, sample{at.Sub(t0), s.TargetMillis, s.DelayMillis})
	}})
	at := func(d time.Duration) sample {
		i := slices.IndexFunc(trace, func(s sample) bool { return s.at >= d })
		return trace[i]
	}
	for _, d := range []time.Duration{4000, 5500, 9000, 11000, 13000, 20000, 30000} {
		s := at(d * time.Millisecond)
		t.Logf("%5.1f s: target %.1f ms, delay %.1f ms", s.at.Seconds(), s.target, s.actual)
	}
	t.Logf("%+v", r.stats)
	// Calm: 0–4 ms of variation, the margin and the 25 ms decode lead.
	if s := at(4 * time.Second); s.target > 40 || math.Abs(s.actual-s.target) > 10 {
		t.Errorf("calm: target %.1f, delay %.1f ms", s.target, s.actual)
	}
	if s := at(5500 * time.Millisecond); s.target < 100 {
		t.Errorf("0.5 s into 0–100 ms jitter the target is %.1f ms", s.target)
	}
	if s := at(9 * time.Second); math.Abs(s.actual-s.target) > 15 {
		t.Errorf("rough: delay %.1f ms for target %.1f", s.actual, s.target)
	}
	if s := at(11 * time.Second); s.target < 100 {
		t.Errorf("1 s after the jitter fell the target is already %.1f ms: not slow", s.target)
	}
	if s := at(30 * time.Second); s.target > 40 || s.actual > s.target+15 {
		t.Errorf("20 s after the jitter fell: target %.1f, delay %.1f ms", s.target, s.actual)
	}
	if r.stats.Skipped != 0 || r.stats.Stretched == 0 || r.stats.Shrunk == 0 {
		t.Errorf("adjusted by skipping %d packets, stretching %d and shrinking %d samples", r.stats.Skipped, r.stats.Stretched, r.stats.Shrunk)
	}
	if late := r.stats.Late; late > 10 {
		t.Errorf("%d packets late", late)
	}
}

// A sender whose clock runs 0.5 % fast: the buffer sheds the excess by
// shrinking frames, keeps its delay and drops no packet.
func TestClockDriftCorrectedBySamples(t *testing.T) {
	var worst float64
	r := simulate(t, simConfig{frames: 1500, interval: 19900 * time.Microsecond,
		onPull: func(at time.Time, jb *JitterBuffer) {
			if at.Sub(t0) > 2*time.Second {
				s := jb.Stats()
				worst = max(worst, s.DelayMillis-s.TargetMillis)
			}
		}})
	s := r.stats
	t.Logf("%+v; worst excess %.1f ms", s, worst)
	if s.Skipped != 0 || s.Late != 0 || s.Concealed != 0 {
		t.Errorf("drift cost packets: %+v", s)
	}
	// 0.5 % of 30 s is 150 ms (7200 samples) to remove.
	if s.Shrunk < 6000 || worst > 10 {
		t.Errorf("shrunk %d samples, worst excess %.1f ms", s.Shrunk, worst)
	}
}

// Mouth-to-ear at no loss and no network delay: capture of one 20 ms
// frame, the encoder's look-ahead, the jitter buffer, the decoded FIFO
// and one device period. Goal ≤ 80 ms.
func TestMouthToEarBudget(t *testing.T) {
	enc, err := opus.NewEncoder(opus.EncoderParams{})
	if err != nil {
		t.Fatal(err)
	}
	lookahead := time.Duration(enc.Lookahead()) * time.Second / SampleRate
	enc.Close()
	var worst, sum, delays time.Duration
	n := 0
	simulate(t, simConfig{frames: 500, onPull: func(at time.Time, jb *JitterBuffer) {
		p, ok := jb.Position()
		if !ok || p.At != at || at.Sub(t0) < 5*time.Second {
			return // the target starts at 100 ms and falls within seconds
		}
		delays += p.Delay
		// The sample at RTPTimestamp was spoken at its capture time.
		spoken := t0.Add(time.Duration(p.RTPTimestamp-tsBase) * time.Second / SampleRate)
		m2e := at.Sub(spoken) + lookahead + 10*time.Millisecond
		worst = max(worst, m2e)
		sum += m2e
		n++
	}})
	mean := sum / time.Duration(n)
	t.Logf("mouth-to-ear at 0 loss and 0 RTT: mean %v, worst %v (look-ahead %v, playout delay %v, device period 10 ms)",
		mean, worst, lookahead, delays/time.Duration(n))
	if worst > 80*time.Millisecond {
		t.Errorf("worst mouth-to-ear %v > 80 ms", worst)
	}
}

// A hostile sender cannot grow the buffer beyond its bounds or crash it:
// random timestamps, far-future ones, garbage and wild arrival times.
func TestHostileSenderIsBounded(t *testing.T) {
	jb, err := NewJitterBuffer()
	if err != nil {
		t.Fatal(err)
	}
	defer jb.Close()
	good := speechPackets(t)
	r := rand.New(rand.NewPCG(9, 9))
	now := t0
	buf := make([]float32, period)
	for i := range 20000 {
		var pkt []byte
		switch i % 4 {
		case 0:
			pkt = good[i%len(good)]
		case 1:
			pkt = make([]byte, 1+r.IntN(1500))
			for k := range pkt {
				pkt[k] = byte(r.Uint32())
			}
		case 2:
			pkt = make([]byte, opus.MaxPacketSize+1)
		case 3:
			pkt = []byte{0xfb, 0xff} // code 3, 63 frames of 20 ms
		}
		ts := r.Uint32()
		arr := now.Add(time.Duration(r.Int64N(int64(10 * time.Second))))
		_ = jb.Push(ts, pkt, arr)
		if i%7 == 0 {
			jb.Pull(buf, now)
			jb.Refill(period, now)
			now = now.Add(10 * time.Millisecond)
		}
		if s := jb.Stats(); s.Queued > DefaultMaxPackets || s.TargetMillis > 200 {
			t.Fatalf("after %d packets: %+v", i, s)
		}
	}
	s := jb.Stats()
	t.Logf("%+v", s)
	if s.Malformed == 0 || s.Overflow+s.Late == 0 {
		t.Errorf("hostile input not refused: %+v", s)
	}
	if n := jb.Buffered(); n > fifoSize {
		t.Errorf("FIFO holds %d samples", n)
	}
}

// Duplicates are refused; a packet after its playout time is late.
func TestDuplicateAndLate(t *testing.T) {
	jb, err := NewJitterBuffer()
	if err != nil {
		t.Fatal(err)
	}
	defer jb.Close()
	pkts := speechPackets(t)
	if err := jb.Push(tsBase, pkts[0], t0); err != nil {
		t.Fatal(err)
	}
	if err := jb.Push(tsBase, pkts[0], t0); err != ErrDuplicate {
		t.Fatalf("duplicate: %v", err)
	}
	buf := make([]float32, period)
	now := t0
	for range 30 { // 300 ms: the first packet is played (the initial target is 100 ms), then concealed frames
		jb.Refill(period, now)
		jb.Pull(buf, now)
		now = now.Add(10 * time.Millisecond)
	}
	if err := jb.Push(tsBase+FrameSamples, pkts[1], now); err != ErrLate {
		t.Fatalf("packet after its playout time: %v", err)
	}
	if err := jb.Push(tsBase, nil, now); err != ErrMalformed {
		t.Fatalf("empty packet: %v", err)
	}
	s := jb.Stats()
	if s.Duplicate != 1 || s.Late != 1 || s.Malformed != 1 || s.Played != 1 || s.Concealed == 0 {
		t.Fatalf("%+v", s)
	}
}

// BenchmarkJitterAt40ms reports what the buffer did with 10 s of speech
// at 40 ms mean jitter (uniform 0–80 ms) and at 40 ms mean exponential
// jitter (a long tail beyond the 200 ms cap), and the CPU per frame.
func BenchmarkJitterAt40ms(b *testing.B) {
	exp := func(seed uint64) func(int) time.Duration {
		r := rand.New(rand.NewPCG(seed, 2))
		memo := map[int]time.Duration{}
		return func(k int) time.Duration {
			if d, ok := memo[k]; ok {
				return d
			}
			d := time.Duration(r.ExpFloat64() * float64(40*time.Millisecond))
			memo[k] = d
			return d
		}
	}
	for _, c := range []struct {
		name  string
		delay func(uint64) func(int) time.Duration
	}{
		{"uniform", func(s uint64) func(int) time.Duration { return uniformJitter(40*time.Millisecond, s) }},
		{"exponential", exp},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s JitterStats
			var reorders int
			for b.Loop() {
				r := simulate(b, simConfig{frames: 500, delay: c.delay(3)})
				s, reorders = r.stats, r.reorders
			}
			total := float64(s.Played + s.FECRecovered + s.Concealed)
			b.ReportMetric(100*float64(s.Late)/500, "late-%")
			b.ReportMetric(100*float64(s.Concealed)/total, "concealed-%")
			b.ReportMetric(float64(reorders)/5, "reordered-%")
			b.ReportMetric(s.TargetMillis, "target-ms")
		})
	}
}

// A buffer nobody reads for 3 s keeps the newest packets and plays live
// audio soon after reading starts; a sender that pauses (muted) for 5 s
// and resumes far ahead is played again after re-buffering.
func TestIdleThenReadAndPauseThenResume(t *testing.T) {
	jb, err := NewJitterBuffer()
	if err != nil {
		t.Fatal(err)
	}
	defer jb.Close()
	pkts := speechPackets(t)
	buf := make([]float32, period)
	k := 0
	sendUntil := func(at time.Time) {
		for ; !t0.Add(time.Duration(k+1) * 20 * time.Millisecond).After(at); k++ {
			arr := t0.Add(time.Duration(k+1) * 20 * time.Millisecond)
			_ = jb.Push(tsBase+uint32(k*FrameSamples), pkts[k%len(pkts)], arr)
		}
	}
	now := t0.Add(3 * time.Second)
	sendUntil(now)
	if s := jb.Stats(); s.Queued > DefaultMaxPackets || s.Played != 0 {
		t.Fatalf("unread buffer: %+v", s)
	}
	play := func(d time.Duration) (audible int) {
		for end := now.Add(d); now.Before(end); now = now.Add(10 * time.Millisecond) {
			sendUntil(now)
			if jb.Pull(buf, now) {
				audible++
			}
			jb.Refill(period, now)
		}
		return audible
	}
	play(500 * time.Millisecond) // catching up on the backlog
	before := jb.Stats()
	if n := play(2 * time.Second); n < 195 {
		t.Fatalf("%d of 200 periods audible after reading started; %+v", n, jb.Stats())
	}
	if s := jb.Stats(); s.DelayMillis > s.TargetMillis+15 || s.Played-before.Played < 95 {
		t.Fatalf("not live after catching up: %+v", s)
	}
	// Pause: the timestamps jump 5 s ahead when the sender resumes.
	k += 250
	for end := now.Add(5 * time.Second); now.Before(end); now = now.Add(10 * time.Millisecond) {
		jb.Pull(buf, now)
		jb.Refill(period, now)
	}
	k = int(now.Sub(t0) / (20 * time.Millisecond))
	if n := play(2 * time.Second); n < 180 {
		t.Fatalf("%d of 200 periods audible after the pause; %+v", n, jb.Stats())
	}
}
