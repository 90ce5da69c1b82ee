// Package lipsync shows a remote sender's pictures when the sound captured
// with them is heard. ITU-R BT.1359 finds a picture that leads its sound
// by more than 45 ms, or lags it by more than 125 ms, detectable; Sotto's
// audio waits in a jitter buffer (60 ms and more) while a decoded picture
// could be shown at once, so without this package the picture leads.
//
// The sync stage, between the video receive pipeline and the renderer:
//
//  1. clocks    – each track's RTCP sender reports (RFC 3550 §6.4.1) map
//     its RTP timestamps onto the sender's report clock (Clock); a
//     sender's audio and video reports share that clock, so the two
//     tracks become comparable. Reports that jump are ignored until a
//     second one confirms the jump.
//  2. playing   – the audio output says which audio sample it is handing
//     to the device (playout.Mixer.PlayingRTP), which the audio clock
//     turns into the sender's capture instant being heard.
//  3. hold      – a decoded picture is held until its own capture instant
//     is heard (Sync.Hold), never longer than MaxHold: a picture that
//     is already late is shown at once (holding audio back instead is
//     the jitter buffer's decision, not this stage's).
//  4. render    – a Queue copies held pictures and renders them in order
//     on its own goroutine at their time; it holds at most MaxPictures,
//     dropping the oldest beyond.
//
// Sender reports reach the receiver through the relay and are not
// authenticated end to end. A hostile relay can shift one track's mapping
// and so move pictures against the sound, but by no more than MaxHold
// later, and no earlier than they would be shown without this package
// (it could do as much by delaying packets).
package lipsync

import (
	"errors"
	"sync"
	"time"
)

// Defaults.
const (
	// DefaultMaxHold bounds how long a picture is held: the most a forged
	// sender report can delay video, and more than any jitter buffer
	// Sotto runs.
	DefaultMaxHold = 500 * time.Millisecond
	// maxJitter is how far a report may stray from the mapping of the
	// previous ones and still be taken as is: capture times jitter by a
	// few milliseconds, and sender and report clocks drift apart by a
	// few parts per million.
	maxJitter = 40 * time.Millisecond
	// staleAudio is how old the audio output's position may be: a device
	// that stopped calling back is not playing.
	staleAudio = 200 * time.Millisecond
)

// ErrJump reports a sender report off its track's mapping by more than
// maxJitter; it is ignored until the next report agrees with it.
var ErrJump = errors.New("lipsync: sender report jumps against the previous ones")

// Clock maps one track's RTP timestamps onto its sender's report clock
// (NTP timestamps, RFC 5905 §6, 32.32 fixed point; only differences
// matter, and Sotto's senders start theirs at a random origin). It is not
// safe for concurrent use.
type Clock struct {
	rate    uint32
	have    bool
	ntp     uint64 // the accepted mapping: ntp is the report time of rtp
	rtp     uint32
	pending struct {
		have bool
		ntp  uint64
		rtp  uint32
	}
}

// NewClock returns the clock of a track with an RTP clock of rate Hz.
func NewClock(rate uint32) *Clock { return &Clock{rate: rate} }

// Report feeds one sender report. The first is taken as is. A later one
// that agrees with the mapping to within maxJitter replaces it (following
// slow drift); one that does not is ignored (ErrJump) unless the report
// before it made the same jump, which is then taken: a sender's mapping
// does change, for instance when it switches from the camera to the
// screen.
func (c *Clock) Report(ntp uint64, rtp uint32) error {
	if !c.have {
		c.have, c.ntp, c.rtp = true, ntp, rtp
		return nil
	}
	if abs(c.deviation(c.ntp, c.rtp, ntp, rtp)) <= maxJitter {
		c.ntp, c.rtp = ntp, rtp
		c.pending.have = false
		return nil
	}
	if c.pending.have && abs(c.deviation(c.pending.ntp, c.pending.rtp, ntp, rtp)) <= maxJitter {
		c.ntp, c.rtp = ntp, rtp
		c.pending.have = false
		return nil
	}
	c.pending.have, c.pending.ntp, c.pending.rtp = true, ntp, rtp
	return ErrJump
}

// deviation is how far the report (ntp, rtp) is from the mapping through
// (ntp0, rtp0) with slope rate.
func (c *Clock) deviation(ntp0 uint64, rtp0 uint32, ntp uint64, rtp uint32) time.Duration {
	return NTPSub(ntp, ntp0) - c.ticks(int32(rtp-rtp0))
}

func (c *Clock) ticks(n int32) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(c.rate))
}

// At returns the report-clock time of RTP timestamp ts relative to the
// mapping's anchor, as an NTP timestamp; false before the first report.
// Timestamps are compared within ±2³¹ ticks (6.6 hours of video).
func (c *Clock) At(ts uint32) (uint64, bool) {
	if !c.have {
		return 0, false
	}
	return c.ntp + ntpOf(c.ticks(int32(ts-c.rtp))), true
}

// NTPSub returns a − b for two NTP timestamps of one clock, saturating
// at ±292 years.
func NTPSub(a, b uint64) time.Duration {
	d := int64(a - b) // 32.32 signed
	sec, frac := d>>32, uint64(d)&0xffffffff
	const lim = int64(1<<63-1) / int64(time.Second)
	if sec >= lim || sec < -lim {
		if sec < 0 {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	return time.Duration(sec)*time.Second + time.Duration((frac*uint64(time.Second))>>32)
}

// ntpOf is d in 32.32 fixed point, two's complement when negative.
func ntpOf(d time.Duration) uint64 {
	neg := d < 0
	mag := uint64(d)
	if neg {
		mag = -mag
	}
	v := (mag/uint64(time.Second))<<32 + ((mag%uint64(time.Second))<<32)/uint64(time.Second)
	if neg {
		return -v
	}
	return v
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Config configures a Sync.
type Config struct {
	// AudioRate and VideoRate are the tracks' RTP clocks (48 000 and
	// 90 000 for Opus and VP8).
	AudioRate, VideoRate uint32
	// Playing reports the sender's audio at the output: the RTP
	// timestamp of a sample and when it was handed to the device
	// (playout.Mixer.PlayingRTP); false while none plays.
	Playing func() (ts uint32, at time.Time, ok bool)
	// OutputLatency is the time from handing a sample to the device to
	// hearing it (the device period).
	OutputLatency time.Duration
	// MaxHold bounds the hold; ≤ 0 means DefaultMaxHold.
	MaxHold time.Duration
}

// Sync aligns one remote sender's video with its audio. It is safe for
// concurrent use: reports arrive on RTCP goroutines, pictures on the video
// pipeline's.
type Sync struct {
	cfg Config

	mu           sync.Mutex
	audio, video *Clock
	stats        Stats
}

// Stats counts what a Sync did.
type Stats struct {
	// Reports counts sender reports taken, Jumps those ignored as jumps.
	Reports uint64 `json:"reports"`
	Jumps   uint64 `json:"report_jumps"`
	// Held counts pictures held back; Late those whose sound was already
	// heard (shown at once); Clamped holds cut to MaxHold; Unsynced
	// pictures shown at once for want of reports or of playing audio.
	Held     uint64 `json:"held"`
	Late     uint64 `json:"late"`
	Clamped  uint64 `json:"clamped"`
	Unsynced uint64 `json:"unsynced"`
	// LastHoldMs is the hold of the most recent picture.
	LastHoldMs float64 `json:"last_hold_ms"`
}

// New returns the Sync of one sender.
func New(cfg Config) *Sync {
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	return &Sync{cfg: cfg, audio: NewClock(cfg.AudioRate), video: NewClock(cfg.VideoRate)}
}

// AudioReport and VideoReport feed a sender report of the sender's audio
// or video track; the error is ErrJump for a report ignored.
func (s *Sync) AudioReport(ntp uint64, rtp uint32) error { return s.report(s.audio, ntp, rtp) }

// VideoReport: see AudioReport.
func (s *Sync) VideoReport(ntp uint64, rtp uint32) error { return s.report(s.video, ntp, rtp) }

func (s *Sync) report(c *Clock, ntp uint64, rtp uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := c.Report(ntp, rtp)
	if err != nil {
		s.stats.Jumps++
	} else {
		s.stats.Reports++
	}
	return err
}

// Hold returns how long to hold a picture with RTP timestamp ts, decoded
// at now, so that it shows when the audio captured with it is heard: 0
// when that audio is already heard or there is nothing to align with, at
// most MaxHold.
func (s *Sync) Hold(ts uint32, now time.Time) time.Duration {
	var (
		aTS uint32
		at  time.Time
		ok  bool
	)
	if s.cfg.Playing != nil {
		aTS, at, ok = s.cfg.Playing()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hold, synced := s.holdLocked(ts, now, aTS, at, ok)
	switch {
	case !synced:
		s.stats.Unsynced++
	case hold < 0:
		s.stats.Late++
		hold = 0
	case hold > s.cfg.MaxHold:
		s.stats.Clamped++
		s.stats.Held++
		hold = s.cfg.MaxHold
	case hold > 0:
		s.stats.Held++
	}
	s.stats.LastHoldMs = float64(hold) / float64(time.Millisecond)
	return hold
}

func (s *Sync) holdLocked(ts uint32, now time.Time, aTS uint32, at time.Time, playing bool) (time.Duration, bool) {
	if !playing || now.Sub(at) > staleAudio {
		return 0, false
	}
	nv, ok1 := s.video.At(ts)
	na, ok2 := s.audio.At(aTS)
	if !ok1 || !ok2 {
		return 0, false
	}
	// Audio sample aTS is heard at at + OutputLatency; the picture's
	// capture instant is heard nv − na later.
	heard := at.Add(s.cfg.OutputLatency + NTPSub(nv, na))
	return heard.Sub(now), true
}

// Stats returns a snapshot of the counters.
func (s *Sync) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
