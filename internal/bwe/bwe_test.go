package bwe

import (
	"math"
	"testing"
	"time"
)

// link is a bottleneck for the estimator's tests: a FIFO at rate bits/s
// (0: unlimited) with a tail-drop queue of queue, then a fixed delay
// each way; every lossEvery-th packet is lost (0: none).
type link struct {
	rate      float64
	queue     time.Duration
	delay     time.Duration
	lossEvery int
	// jitter adds a pseudo-random delay in [0, jitter) to each packet
	// (packets overtake each other).
	jitter time.Duration
}

// simulate sends at the estimate (capped at appMax bits/s, 0: no cap) for
// d, in 10 ms bursts of up to 1200-byte packets, with feedback every 50
// ms, and returns the estimate sampled at each feedback.
func simulate(t *testing.T, e *Estimator, l link, appMax float64, d time.Duration) []Stats {
	t.Helper()
	// Runs on one estimator continue where the last ended.
	t0 := clock[e]
	if t0.IsZero() {
		t0 = time.Unix(1000, 0)
	}
	defer func() { clock[e] = t0.Add(d) }()
	type pkt struct {
		sent, arrival time.Time
		size          int
		lost          bool
	}
	var (
		pending  []pkt
		out      []Stats
		busy     = t0
		n        int
		results  []Result
		lastFeed = t0
	)
	for now := t0; now.Before(t0.Add(d)); now = now.Add(10 * time.Millisecond) {
		rate := float64(e.Target())
		if appMax > 0 {
			rate = math.Min(rate, appMax)
		}
		bytes := int(rate * 0.010 / 8)
		for bytes > 0 {
			size := min(bytes, 1200)
			bytes -= size
			n++
			p := pkt{sent: now, size: size}
			start := now
			if busy.After(now) {
				start = busy
			}
			switch {
			case l.lossEvery > 0 && n%l.lossEvery == 0:
				p.lost = true
			case l.rate > 0 && start.Sub(now) > l.queue:
				p.lost = true
			default:
				if l.rate > 0 {
					busy = start.Add(time.Duration(float64(size*8) / l.rate * float64(time.Second)))
					start = busy
				}
				p.arrival = start.Add(l.delay)
				if l.jitter > 0 {
					p.arrival = p.arrival.Add(time.Duration(uint64(n)*0x9e3779b97f4a7c15>>40) % l.jitter)
				}
			}
			pending = append(pending, p)
		}
		if now.Sub(lastFeed) < 50*time.Millisecond {
			continue
		}
		lastFeed = now
		// The relay reports what arrived by now; the report takes delay
		// to come back. Losses are known once a later packet arrived.
		results = results[:0]
		k := 0
		for k < len(pending) {
			p := pending[k]
			if !p.lost && p.arrival.After(now.Add(-l.delay-l.jitter)) {
				break
			}
			k++
		}
		for _, p := range pending[:k] {
			results = append(results, Result{Sent: p.sent, Size: p.size, Received: !p.lost, Arrival: p.arrival.Sub(time.Unix(0, 0))})
		}
		pending = append(pending[:0], pending[k:]...)
		e.Update(now, results)
		out = append(out, e.Stats())
	}
	return out
}

// clock is where each estimator's simulated time stands.
var clock = map[*Estimator]time.Time{}

// mean of the targets over the last part of a run.
func meanTarget(s []Stats, from int) float64 {
	sum := 0.0
	for _, x := range s[from:] {
		sum += float64(x.Target)
	}
	return sum / float64(len(s)-from)
}

func TestRampOnFreeLink(t *testing.T) {
	e := New(Config{})
	s := simulate(t, e, link{delay: 20 * time.Millisecond}, 0, 6*time.Second)
	at := -1
	for i, x := range s {
		if x.Target >= 1_000_000 {
			at = i
			break
		}
	}
	// 300 kbit/s doubling each second: about 1.7 s plus the rate window.
	if at < 0 || at > 60 {
		t.Fatalf("estimate reached 1 Mbit/s after %d feedbacks (want ≤ 60, 3 s): %+v", at, s[len(s)-1])
	}
	if d := s[len(s)-1].Decreases; d != 0 {
		t.Errorf("%d decreases on a free link", d)
	}
	t.Logf("1 Mbit/s after %.2f s", float64(at+1)*0.05)
}

func TestApplicationLimited(t *testing.T) {
	e := New(Config{})
	s := simulate(t, e, link{delay: 20 * time.Millisecond}, 400_000, 20*time.Second)
	last := s[len(s)-1]
	// Sending 400 kbit/s: the estimate stops at 1.5 × what arrives.
	if last.Target > 650_000 || last.Target < 500_000 {
		t.Errorf("application-limited at 400 kbit/s: estimate %d, want 1.5 × 400k ± 50k", last.Target)
	}
}

func TestConvergesUnderBottleneck(t *testing.T) {
	for _, c := range []float64{500_000, 1_500_000} {
		e := New(Config{})
		s := simulate(t, e, link{rate: c, queue: 400 * time.Millisecond, delay: 20 * time.Millisecond}, 0, 30*time.Second)
		m := meanTarget(s, len(s)/2)
		if m < 0.6*c || m > 1.1*c {
			t.Errorf("bottleneck %.0f kbit/s: mean estimate %.0f kbit/s over the last 15 s (want 60–110 %%)", c/1000, m/1000)
		}
		if s[len(s)-1].Overuses == 0 {
			t.Errorf("bottleneck %.0f kbit/s: no overuse ever detected", c/1000)
		}
		t.Logf("bottleneck %.0f kbit/s: mean %.0f kbit/s, %+v", c/1000, m/1000, s[len(s)-1])
	}
}

func TestFollowsCapacityDrop(t *testing.T) {
	e := New(Config{})
	simulate(t, e, link{rate: 2_000_000, queue: 400 * time.Millisecond, delay: 20 * time.Millisecond}, 0, 15*time.Second)
	high := e.Target()
	s := simulate(t, e, link{rate: 400_000, queue: 400 * time.Millisecond, delay: 20 * time.Millisecond}, 0, 10*time.Second)
	m := meanTarget(s, len(s)/2)
	if high < 1_200_000 || m > 460_000 || m < 220_000 {
		t.Errorf("2 Mbit/s then 400 kbit/s: %d, then mean %.0f over the last 5 s", high, m)
	}
}

func TestLossLowersEstimate(t *testing.T) {
	e := New(Config{})
	// 20 % random-ish loss, no queue: only the loss controller sees it.
	s := simulate(t, e, link{delay: 20 * time.Millisecond, lossEvery: 5}, 0, 10*time.Second)
	last := s[len(s)-1]
	if last.Target > 300_000 || last.LossRate < 0.15 {
		t.Errorf("20 %% loss: estimate %d, loss %.2f", last.Target, last.LossRate)
	}
	// The loss ends: the limit lifts, 5 % a second at first.
	s = simulate(t, e, link{delay: 20 * time.Millisecond}, 0, 20*time.Second)
	if got := s[len(s)-1].Target; got < 2*last.Target {
		t.Errorf("after the loss ended: %d, want above %d", got, 2*last.Target)
	}
}

func TestBounds(t *testing.T) {
	e := New(Config{Start: 1, Min: 100_000, Max: 200_000})
	if e.Target() != 100_000 {
		t.Errorf("start below min: %d", e.Target())
	}
	s := simulate(t, e, link{delay: time.Millisecond}, 0, 10*time.Second)
	if got := s[len(s)-1].Target; got != 200_000 {
		t.Errorf("capped at 200k: %d", got)
	}
	// A feedback of nothing changes nothing.
	if got := e.Update(time.Unix(2000, 0), nil); got != 200_000 {
		t.Errorf("empty update: %d", got)
	}
}

func TestTrendlineSignals(t *testing.T) {
	var tr trendline
	tr.threshold, tr.lastUpdateMs = initialThreshold, math.NaN()
	// Constant spacing: no delay growth, normal.
	for i := range 40 {
		if s := tr.update(0, float64(i*10), 10); s != Normal {
			t.Fatalf("steady: %v at %d", s, i)
		}
	}
	// Each group 2 ms later than the last: a queue filling.
	over := false
	for i := 40; i < 80; i++ {
		if tr.update(2, float64(i*10), 10) == Overuse {
			over = true
		}
	}
	if !over {
		t.Errorf("a growing queue never signalled overuse (trend %.1f, threshold %.1f)", tr.lastModified, tr.threshold)
	}
	// Draining: underuse.
	under := false
	for i := 80; i < 120; i++ {
		if tr.update(-2, float64(i*10), 10) == Underuse {
			under = true
		}
	}
	if !under {
		t.Errorf("a draining queue never signalled underuse")
	}
}

// Random delay that does not grow (a jittery path, packets reordered) is
// not congestion: the estimate still ramps, with few decreases.
func TestJitterIsNotCongestion(t *testing.T) {
	e := New(Config{})
	s := simulate(t, e, link{delay: 20 * time.Millisecond, jitter: 40 * time.Millisecond}, 0, 10*time.Second)
	last := s[len(s)-1]
	if last.Target < 2_000_000 {
		t.Errorf("40 ms of jitter on a free link: estimate %d after 10 s, want ≥ 2 Mbit/s (%+v)", last.Target, last)
	}
	t.Logf("%+v", last)
}
