// Package bwe estimates the bandwidth of a client's uplink to the relay
// from transport-wide congestion control feedback, after Google
// Congestion Control (draft-ietf-rmcat-gcc-02, "GCC" below): the relay
// reports when each packet arrived, and the sender compares that with
// when it left.
//
// Two controllers run on every feedback; the estimate is the lower of the
// two (GCC §4):
//
//  1. Delay-based (GCC §5). Packets sent within 5 ms of each other form a
//     group (§5.2); the growth of one group's arrival spacing over its
//     send spacing is the queuing delay it met. Its accumulation,
//     smoothed, is fitted by a least-squares line over the last 20
//     groups: the slope (the trendline, as libwebrtc replaced the
//     draft's Kalman filter of §5.3) is compared with an adaptive
//     threshold (§5.4) to signal overuse, underuse or normal. The rate
//     controller (§5.5) decreases to 0.85 × the received rate on
//     overuse, holds on underuse, and increases otherwise:
//     multiplicatively while far from the rate of the last decrease,
//     additively (about one packet per response time) near it.
//  2. Loss-based (GCC §6). Over each 250 ms of feedback: above 10 % lost
//     the estimate drops to (1 − 0.5·loss) of itself; below 2 % a limit
//     set earlier grows by 5 % a second until it no longer binds.
//
// Two departures from the draft, both about the start of a call and an
// application-limited sender. The estimate starts at Config.Start (300
// kbit/s by default, not the draft's unspecified value, pion's 10 kbit/s)
// and, until the first decrease, doubles every second instead of growing
// 8 % (libwebrtc probes instead; Sotto sends no probes), so it reaches
// 1 Mbit/s in about two seconds on a free link. And it never rises above
// 1.5 times the rate that actually arrived (§5.5 states the bound; it
// also stops the estimate growing without evidence while the encoder
// sends less than it is allowed).
package bwe

import (
	"math"
	"time"
)

// Defaults of Config.
const (
	DefaultStart = 300_000
	DefaultMin   = 80_000
	DefaultMax   = 20_000_000
)

// Delay-based controller constants (GCC §5 and libwebrtc's trendline
// estimator, whose values the draft leaves open).
const (
	burstTime         = 5 * time.Millisecond // GCC §5.2: one group
	trendWindow       = 20                   // groups in the fit
	trendSmoothing    = 0.9                  // of the accumulated delay
	trendGain         = 4.0                  // slope to threshold units
	maxDeltas         = 60                   // the slope's weight saturates
	initialThreshold  = 12.5                 // ms, GCC §5.4 del_var_th(0)
	minThreshold      = 6.0                  // ms
	maxThreshold      = 600.0                // ms
	thresholdUp       = 0.0087               // K_u, GCC §5.4 (libwebrtc's)
	thresholdDown     = 0.039                // K_d
	overuseTime       = 10 * time.Millisecond
	beta              = 0.85 // GCC §5.5: decrease to β·R
	increasePerSecond = 1.08 // GCC §5.5: multiplicative, per second
	startupPerSecond  = 2.0  // until the first decrease (package doc)
	maxOverReceived   = 1.5  // GCC §5.5: A < 1.5·R
	responseTime      = 200 * time.Millisecond
	rateWindow        = 500 * time.Millisecond // GCC §5.5: R over 0.5 s
	minRateSpan       = 200 * time.Millisecond // R needs this much history
	capacityAlpha     = 0.05                   // link capacity average (libwebrtc)
	packetBits        = 1200 * 8               // additive step: one packet
)

// Loss-based controller constants (GCC §6).
const (
	lossInterval = 250 * time.Millisecond
	lossMinCount = 20
	lossHigh     = 0.10
	lossLow      = 0.02
	lossGrowth   = 1.05 // per second, while loss stays low
)

// Signal is the delay-based detector's verdict (GCC §5.4).
type Signal int

// Signals.
const (
	Normal Signal = iota
	Overuse
	Underuse
)

func (s Signal) String() string {
	return [...]string{"normal", "overuse", "underuse"}[s]
}

// state is the rate controller's (GCC §5.5, figure 2).
type state int

const (
	stateIncrease state = iota
	stateHold
	stateDecrease
)

// Config bounds the estimate, in bits per second. Zero fields take the
// defaults.
type Config struct {
	Start, Min, Max int
}

// Stats describe the estimator's last update.
type Stats struct {
	Target   int     // the estimate: min of the two controllers, bounded
	Delay    int     // the delay-based controller's rate
	Loss     int     // the loss-based limit, 0 when it does not bind
	Received int     // R: what arrived over the last 0.5 s, bits/s
	Signal   Signal  // the detector's last verdict
	Trend    float64 // the modified trend compared with Threshold, ms
	// Threshold is the detector's adaptive threshold, ms.
	Threshold float64
	LossRate  float64 // of the last loss interval
	// Overuses and Decreases count since the start.
	Overuses, Decreases uint64
}

// Estimator is one uplink's bandwidth estimate. It is not safe for
// concurrent use.
type Estimator struct {
	cfg    Config
	target float64
	delay  float64 // delay-based rate A_d
	limit  float64 // loss-based limit A_s, 0: none
	state  state
	// startup: no decrease yet.
	startup      bool
	lastIncrease time.Time

	// Inter-arrival groups (GCC §5.2).
	cur, prev   group
	havePrev    bool
	trend       trendline
	signal      Signal
	lastTrendMs float64

	// Received rate: acked packets by arrival time.
	acked     []ackedPacket
	ackedBits int           // of the packets in acked
	newest    time.Duration // latest arrival seen
	received  float64
	// Link capacity at decreases, kbit/s (libwebrtc's AIMD "link
	// capacity").
	capacity, capacityVar float64

	// Loss accounting since the last loss interval.
	lost, counted int
	lossAt        time.Time
	lossRate      float64

	overuses, decreases uint64
}

type group struct {
	firstSent, lastSent time.Time
	lastArrival         time.Duration
	valid               bool
}

type ackedPacket struct {
	at   time.Duration
	size int
}

// New returns an estimator at cfg.Start.
func New(cfg Config) *Estimator {
	if cfg.Min <= 0 {
		cfg.Min = DefaultMin
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Max < cfg.Min {
		cfg.Max = cfg.Min
	}
	if cfg.Start <= 0 {
		cfg.Start = DefaultStart
	}
	cfg.Start = min(max(cfg.Start, cfg.Min), cfg.Max)
	e := &Estimator{cfg: cfg, target: float64(cfg.Start), delay: float64(cfg.Start), startup: true}
	e.trend.threshold = initialThreshold
	e.trend.lastUpdateMs = math.NaN()
	return e
}

// Target is the current estimate in bits per second.
func (e *Estimator) Target() int { return int(e.target) }

// Stats returns the estimator's state.
func (e *Estimator) Stats() Stats {
	return Stats{
		Target: int(e.target), Delay: int(e.delay), Loss: int(e.limit), Received: int(e.received),
		Signal: e.signal, Trend: e.trend.lastModified, Threshold: e.trend.threshold, LossRate: e.lossRate,
		Overuses: e.overuses, Decreases: e.decreases,
	}
}

// Update feeds the Results of one feedback, received at now, and returns
// the new estimate.
func (e *Estimator) Update(now time.Time, rs []Result) int {
	for _, r := range rs {
		e.counted++
		if !r.Received {
			e.lost++
			continue
		}
		e.ack(r)
		e.arrive(r)
	}
	e.rateControl(now)
	e.lossControl(now)
	t := e.delay
	if e.limit > 0 && e.limit < t {
		t = e.limit
	}
	e.target = math.Min(math.Max(t, float64(e.cfg.Min)), float64(e.cfg.Max))
	return int(e.target)
}

// ack adds a received packet to the received rate's window.
func (e *Estimator) ack(r Result) {
	e.acked = append(e.acked, ackedPacket{at: r.Arrival, size: r.Size})
	e.ackedBits += r.Size * 8
	e.newest = max(e.newest, r.Arrival)
	i := 0
	for i < len(e.acked) && e.newest-e.acked[i].at > rateWindow {
		e.ackedBits -= e.acked[i].size * 8
		i++
	}
	if i > 0 {
		e.acked = append(e.acked[:0], e.acked[i:]...)
	}
	if len(e.acked) < 2 {
		return
	}
	span := e.newest - e.acked[0].at
	if span < minRateSpan {
		return
	}
	// The first packet's bits arrived before the span began.
	e.received = float64(e.ackedBits-e.acked[0].size*8) / span.Seconds()
}

// arrive runs one received packet through the grouping (GCC §5.2) and,
// when it closes a group, the trendline and the detector.
func (e *Estimator) arrive(r Result) {
	if !e.cur.valid {
		e.cur = group{firstSent: r.Sent, lastSent: r.Sent, lastArrival: r.Arrival, valid: true}
		return
	}
	if r.Sent.Sub(e.cur.firstSent) <= burstTime && !r.Sent.Before(e.cur.firstSent) {
		e.cur.lastSent = r.Sent
		e.cur.lastArrival = max(e.cur.lastArrival, r.Arrival)
		return
	}
	if r.Sent.Before(e.cur.lastSent) {
		return // reordered on the sender's side: cannot happen with seq order
	}
	done := e.cur
	e.cur = group{firstSent: r.Sent, lastSent: r.Sent, lastArrival: r.Arrival, valid: true}
	if !e.havePrev {
		e.prev, e.havePrev = done, true
		return
	}
	sendDelta := done.lastSent.Sub(e.prev.lastSent)
	arrivalDelta := done.lastArrival - e.prev.lastArrival
	e.prev = done
	if arrivalDelta < 0 {
		return // reordered on the path
	}
	ms := float64(arrivalDelta-sendDelta) / float64(time.Millisecond)
	nowMs := float64(done.lastArrival) / float64(time.Millisecond)
	sig := e.trend.update(ms, nowMs, float64(sendDelta)/float64(time.Millisecond))
	if sig == Overuse && e.signal != Overuse {
		e.overuses++
	}
	e.signal = sig
}

// rateControl is GCC §5.5: the state machine on the detector's signal,
// then the change of rate A_d.
func (e *Estimator) rateControl(now time.Time) {
	switch e.signal {
	case Overuse:
		e.state = stateDecrease
	case Underuse:
		e.state = stateHold
	case Normal:
		if e.state == stateHold {
			e.state = stateIncrease
		} else if e.state == stateDecrease {
			e.state = stateHold
		}
	}
	if e.received == 0 {
		e.lastIncrease = now
		return // nothing measured yet
	}
	switch e.state {
	case stateIncrease:
		dt := now.Sub(e.lastIncrease)
		if e.lastIncrease.IsZero() || dt < 0 {
			dt = 0
		}
		dt = min(dt, time.Second)
		next := e.delay
		switch {
		case e.startup:
			next *= math.Pow(startupPerSecond, dt.Seconds())
		case e.nearCapacity():
			alpha := 0.5 * math.Min(float64(dt)/float64(responseTime), 1)
			next += math.Max(1000, alpha*packetBits)
		default:
			next *= math.Pow(increasePerSecond, dt.Seconds())
		}
		// Never above 1.5·R, but an increase never lowers the rate.
		if lim := maxOverReceived * e.received; next > lim {
			next = math.Max(e.delay, lim)
		}
		e.delay = next
	case stateDecrease:
		next := beta * e.received
		if next < e.delay {
			e.delay = next
			e.decreases++
		}
		e.updateCapacity(e.received)
		e.startup = false
		e.state = stateHold
	}
	e.lastIncrease = now
	e.delay = math.Min(math.Max(e.delay, float64(e.cfg.Min)), float64(e.cfg.Max))
}

// nearCapacity reports R within three deviations of the rate at recent
// decreases: increase carefully there (GCC §5.5). R far above it means
// the path changed; the average is forgotten.
func (e *Estimator) nearCapacity() bool {
	if e.capacity == 0 {
		return false
	}
	r := e.received / 1000
	dev := math.Sqrt(e.capacityVar * e.capacity)
	if r > e.capacity+3*dev {
		e.capacity, e.capacityVar = 0, 0
		return false
	}
	return r > e.capacity-3*dev
}

// updateCapacity averages the received rate at decreases, in kbit/s, with
// a normalised variance bounded as libwebrtc bounds it (0.4…2.5): near
// 500 kbit/s, three deviations are 40–100 kbit/s.
func (e *Estimator) updateCapacity(bps float64) {
	r := bps / 1000
	if e.capacity == 0 {
		e.capacity, e.capacityVar = r, 0.4
		return
	}
	e.capacity = (1-capacityAlpha)*e.capacity + capacityAlpha*r
	d := e.capacity - r
	e.capacityVar = (1-capacityAlpha)*e.capacityVar + capacityAlpha*d*d/math.Max(e.capacity, 1)
	e.capacityVar = math.Min(math.Max(e.capacityVar, 0.4), 2.5)
}

// lossControl is GCC §6, once per loss interval.
func (e *Estimator) lossControl(now time.Time) {
	if e.lossAt.IsZero() {
		e.lossAt = now
	}
	dt := now.Sub(e.lossAt)
	if dt < lossInterval || e.counted < lossMinCount {
		return
	}
	p := float64(e.lost) / float64(e.counted)
	e.lossRate = p
	e.lost, e.counted, e.lossAt = 0, 0, now
	switch {
	case p > lossHigh:
		e.limit = e.target * (1 - 0.5*p)
		e.startup = false
	case p < lossLow && e.limit > 0:
		e.limit *= math.Pow(lossGrowth, math.Min(dt.Seconds(), 1))
		if e.limit >= e.delay {
			e.limit = 0
		}
	}
}

// trendline is the delay-gradient filter and overuse detector (GCC §5.3
// and §5.4, with libwebrtc's trendline in place of the Kalman filter).
type trendline struct {
	accumulated, smoothed float64
	firstMs               float64
	haveFirst             bool
	xs, ys                [trendWindow]float64
	n, next               int
	deltas                int
	threshold             float64
	lastUpdateMs          float64
	lastModified          float64
	prevTrend             float64
	overMs                float64 // time over the threshold, −1: not over
	overCount             int
}

// update adds one group's delay variation (ms) arriving at nowMs, sent
// sendDeltaMs after the previous group, and returns the signal.
func (t *trendline) update(deltaMs, nowMs, sendDeltaMs float64) Signal {
	if !t.haveFirst {
		t.firstMs, t.haveFirst, t.overMs = nowMs, true, -1
	}
	t.deltas = min(t.deltas+1, 1000)
	t.accumulated += deltaMs
	t.smoothed = trendSmoothing*t.smoothed + (1-trendSmoothing)*t.accumulated
	t.xs[t.next], t.ys[t.next] = nowMs-t.firstMs, t.smoothed
	t.next = (t.next + 1) % trendWindow
	t.n = min(t.n+1, trendWindow)
	if t.n < trendWindow {
		return Normal
	}
	slope := fitSlope(t.xs[:], t.ys[:])
	return t.detect(slope, nowMs, sendDeltaMs)
}

// fitSlope is the least-squares slope of ys over xs.
func fitSlope(xs, ys []float64) float64 {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// detect is GCC §5.4: overuse once the modified trend has stayed above
// the threshold for overuseTime and is still growing.
func (t *trendline) detect(slope, nowMs, sendDeltaMs float64) Signal {
	m := float64(min(t.deltas, maxDeltas)) * slope * trendGain
	t.lastModified = m
	sig := Normal
	switch {
	case m > t.threshold:
		if t.overMs < 0 {
			t.overMs = sendDeltaMs / 2
		} else {
			t.overMs += sendDeltaMs
		}
		t.overCount++
		if t.overMs > float64(overuseTime)/float64(time.Millisecond) && t.overCount > 1 && slope >= t.prevTrend {
			t.overMs, t.overCount = 0, 0
			sig = Overuse
		} else {
			sig = Normal
		}
	case m < -t.threshold:
		t.overMs, t.overCount = -1, 0
		sig = Underuse
	default:
		t.overMs, t.overCount = -1, 0
	}
	t.prevTrend = slope
	t.adapt(m, nowMs)
	return sig
}

// adapt moves the threshold towards |m| (GCC §5.4): quickly down, slowly
// up, so that the detector neither starves against a concurrent TCP flow
// nor fires on noise. Outliers do not move it.
func (t *trendline) adapt(m, nowMs float64) {
	if math.IsNaN(t.lastUpdateMs) {
		t.lastUpdateMs = nowMs
	}
	if math.Abs(m) > t.threshold+15 {
		t.lastUpdateMs = nowMs
		return
	}
	k := thresholdUp
	if math.Abs(m) < t.threshold {
		k = thresholdDown
	}
	dt := math.Min(nowMs-t.lastUpdateMs, 100)
	t.threshold += k * (math.Abs(m) - t.threshold) * dt
	t.threshold = math.Min(math.Max(t.threshold, minThreshold), maxThreshold)
	t.lastUpdateMs = nowMs
}
