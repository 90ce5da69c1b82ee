// Package send is the outbound media pipeline of one local track:
//
//  1. capture   – a device or synthetic source produces raw media
//  2. encode    – VP8 or Opus turns it into one encoded frame at a time
//     (stages 1 and 2 sit behind Source)
//  3. encrypt   – each whole frame is sealed with SFrame under the
//     participant's current send key (Keys), metadata from package framing
//  4. packetize – the ciphertext is split into RTP payloads (VP8 payload
//     descriptor, or one Opus packet each) without reading its bytes
//  5. send      – the packets are written to the pion track (SRTP, NACK
//     and RTCP are the PeerConnection's)
//
// Nothing in this package sees a key: Keys holds the sealer.
//
// A running pipeline can change its source (SetSource: camera to screen and
// back) between two frames. The RTP track, sequence numbers, timestamps and
// the SFrame key and counter carry on; the first frame sent from a new video
// source is a keyframe, so receivers see one continuous VP8 stream whose
// picture size may change at that keyframe.
package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/framing"
)

// Frame is one encoded frame to seal and send.
type Frame = framing.Frame

// Source yields encoded frames (stages 1 and 2).
type Source interface {
	// ReadFrame blocks for the next frame; an error ends the pipeline.
	ReadFrame() (Frame, error)
	// RequestKeyframe asks the encoder to make the next frame a keyframe.
	RequestKeyframe()
}

// RTPWriter takes packetized ciphertext (stage 5); *webrtc.TrackLocalStaticRTP
// is one.
type RTPWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// SentFrame describes a frame handed to the network, for latency tracing.
type SentFrame struct {
	Kind         framing.Kind
	RTPTimestamp uint32
	CaptureTime  time.Time
	// KID and CTR name the frame uniquely (RFC 9605 §4.3); the receiver
	// reports the same pair for the frame it decodes.
	KID, CTR uint64
	Bytes    int
}

// Config builds a Pipeline.
type Config struct {
	Kind     framing.Kind
	Metadata []byte // framing.Metadata(meetingID, Kind)
	Source   Source
	Keys     *Keys
	Track    RTPWriter
	// OnSent, when set, is called after each frame is written. It runs on
	// the pipeline goroutine and must not block.
	OnSent func(SentFrame)
	// MinKeyframeDistance is the least media time between two keyframes
	// made on request (0: DefaultMinKeyframeDistance; < 0: none). A
	// request closer to the last keyframe is deferred until the distance
	// is reached, never dropped. A source switch is not held back.
	MinKeyframeDistance time.Duration
}

// DefaultMinKeyframeDistance bounds the keyframes receivers' requests can
// cause to two a second: a keyframe costs several inter frames for every
// receiver, and the relay already merges requests (docs/RELAY.md).
const DefaultMinKeyframeDistance = 500 * time.Millisecond

// Pipeline runs stages 3 to 5 for one track.
type Pipeline struct {
	cfg        Config
	packetizer framing.Packetizer
	clock      uint32
	seq        rtp.Sequencer

	source       atomic.Pointer[sourceBox] // current source (SetSource)
	wantKeyframe atomic.Bool
	enabled      atomic.Bool
	stats        counters
	media        mediaClock // MediaClock

	// Owned by the Run goroutine.
	// originTS is the RTP timestamp of firstT: random at the start (RFC
	// 3550 §5.1), then where the previous source left off after a switch.
	originTS uint32
	awaitKey bool // a new video source has not yet produced a keyframe
	// lastKeyTS is the RTP timestamp of the last keyframe sent (sentKey):
	// the keyframe distance is measured in media time.
	lastKeyTS uint32
	sentKey   bool
	deferring bool // a keyframe request is being held back
	buf       []byte
	pkt       rtp.Packet
	firstT    time.Time
	nextTS    uint32
	ts        uint32 // of the frame being packetized
	emit      func(payload []byte, last bool) error
}

type counters struct {
	frames, keyframes, bytes, packets atomic.Uint64
	noKey, sealErrors, writeErrors    atomic.Uint64
	keyframeRequests, skippedMuted    atomic.Uint64
	switches, skippedSwitch           atomic.Uint64
	keyframesDeferred                 atomic.Uint64
}

// sourceBox lets an interface value live in an atomic.Pointer.
type sourceBox struct{ s Source }

// Stats is a snapshot of a send pipeline's counters.
type Stats struct {
	Frames           uint64 `json:"frames"`
	Keyframes        uint64 `json:"keyframes"`
	Bytes            uint64 `json:"bytes"`
	Packets          uint64 `json:"packets"`
	NoKey            uint64 `json:"dropped_no_key"`
	SealErrors       uint64 `json:"seal_errors"`
	WriteErrors      uint64 `json:"write_errors"`
	KeyframeRequests uint64 `json:"keyframe_requests"`
	Muted            uint64 `json:"dropped_muted"`
	// SourceSwitches counts SetSource calls that took effect;
	// SwitchDropped counts frames not sent across a switch (the old
	// source's last frame, the new one's frames before its keyframe).
	SourceSwitches uint64 `json:"source_switches"`
	SwitchDropped  uint64 `json:"dropped_switching"`
	// KeyframesDeferred counts keyframe requests held back by
	// MinKeyframeDistance (each served once the distance is reached).
	KeyframesDeferred uint64 `json:"keyframes_deferred"`
}

// New checks cfg and returns a pipeline; Run starts it.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Kind != framing.KindAudio && cfg.Kind != framing.KindVideo {
		return nil, fmt.Errorf("send: unknown media kind %d", cfg.Kind)
	}
	if cfg.Source == nil || cfg.Keys == nil || cfg.Track == nil || len(cfg.Metadata) == 0 {
		return nil, errors.New("send: config needs source, keys, track and metadata")
	}
	p := &Pipeline{
		cfg:        cfg,
		packetizer: framing.Packetizer{Kind: cfg.Kind},
		clock:      framing.ClockRate(cfg.Kind),
		seq:        rtp.NewRandomSequencer(),
		originTS:   rand.Uint32(),
	}
	p.source.Store(&sourceBox{cfg.Source})
	p.nextTS = p.originTS
	p.emit = p.writePacket
	p.enabled.Store(true)
	return p, nil
}

// RequestKeyframe asks for a keyframe soon (on a PLI, or when a receiver
// joins). Safe from any goroutine: it only sets a flag that the pipeline
// goroutine acts on, because the encoder may block while waiting for its
// source.
func (p *Pipeline) RequestKeyframe() {
	p.stats.keyframeRequests.Add(1)
	p.wantKeyframe.Store(true)
}

// SetEnabled mutes (false) or unmutes the track. A muted track keeps
// draining its source but sends nothing; unmuting video asks for a keyframe
// so receivers can decode at once.
func (p *Pipeline) SetEnabled(on bool) {
	if was := p.enabled.Swap(on); !was && on && p.cfg.Kind == framing.KindVideo {
		p.wantKeyframe.Store(true)
	}
}

// SetSource replaces the pipeline's source from the next frame on, for
// example the camera by the screen. Safe from any goroutine. The frame the
// pipeline may be waiting for from the old source is dropped when it comes;
// an error from the old source after the switch (the caller closed it) is
// ignored. For video, frames of the new source are dropped until its first
// keyframe (which the pipeline requests at once), so receivers never get an
// inter frame that refers to the other source's pictures. The caller keeps
// ownership of both sources.
func (p *Pipeline) SetSource(s Source) error {
	if s == nil {
		return errors.New("send: nil source")
	}
	p.source.Store(&sourceBox{s})
	return nil
}

// Enabled reports whether the track is sending.
func (p *Pipeline) Enabled() bool { return p.enabled.Load() }

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	c := &p.stats
	return Stats{
		Frames: c.frames.Load(), Keyframes: c.keyframes.Load(), Bytes: c.bytes.Load(),
		Packets: c.packets.Load(), NoKey: c.noKey.Load(), SealErrors: c.sealErrors.Load(),
		WriteErrors: c.writeErrors.Load(), KeyframeRequests: c.keyframeRequests.Load(),
		Muted: c.skippedMuted.Load(), SourceSwitches: c.switches.Load(), SwitchDropped: c.skippedSwitch.Load(),
		KeyframesDeferred: c.keyframesDeferred.Load(),
	}
}

// Run moves frames from the source to the track until the source fails or
// ctx ends. It returns nil on a clean end (ctx cancelled or source EOF).
func (p *Pipeline) Run(ctx context.Context) error {
	cur := p.source.Load()
	for ctx.Err() == nil {
		if b := p.source.Load(); b != cur {
			cur = b
			p.switched()
		}
		if p.wantKeyframe.Load() {
			if p.keyframeDue() {
				p.wantKeyframe.Store(false)
				p.deferring = false
				cur.s.RequestKeyframe()
			} else if !p.deferring {
				p.deferring = true
				p.stats.keyframesDeferred.Add(1)
			}
		}
		// 1+2. capture and encode.
		f, err := cur.s.ReadFrame()
		if p.source.Load() != cur {
			// SetSource ran while we waited: this frame (or error) is
			// the old source's.
			if err == nil && f.Release != nil {
				f.Release()
			}
			if err == nil {
				p.stats.skippedSwitch.Add(1)
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("send %s: read frame: %w", p.cfg.Kind, err)
		}
		if p.awaitKey {
			if !f.Keyframe {
				p.stats.skippedSwitch.Add(1)
				p.wantKeyframe.Store(true)
				if f.Release != nil {
					f.Release()
				}
				continue
			}
			p.awaitKey = false
		}
		p.sendFrame(f)
	}
	return nil
}

// keyframeDue reports whether a requested keyframe may be made now: the
// last one sent is at least MinKeyframeDistance of media time ago, or the
// receivers cannot decode without one (nothing sent yet, a new source).
func (p *Pipeline) keyframeDue() bool {
	if p.cfg.Kind != framing.KindVideo || p.awaitKey || !p.sentKey || p.cfg.MinKeyframeDistance < 0 {
		return true
	}
	d := p.cfg.MinKeyframeDistance
	if d == 0 {
		d = DefaultMinKeyframeDistance
	}
	return p.nextTS-p.lastKeyTS >= framing.RTPTicks(d, p.clock)
}

// switched starts the timeline of a new source where the old one ended,
// and for video waits for the new source's keyframe.
func (p *Pipeline) switched() {
	p.stats.switches.Add(1)
	p.originTS = p.nextTS
	p.firstT = time.Time{}
	if p.cfg.Kind == framing.KindVideo {
		p.awaitKey = true
		p.wantKeyframe.Store(true)
	}
}

func (p *Pipeline) sendFrame(f Frame) {
	if f.Release != nil {
		defer f.Release()
	}
	ts := p.timestamp(f)
	if !p.enabled.Load() {
		p.stats.skippedMuted.Add(1)
		return
	}
	if len(f.Data) == 0 {
		return
	}
	// 3. encrypt the whole frame: no VP8 header stays in clear.
	ct, kid, err := p.cfg.Keys.Seal(p.buf[:0], f.Data, p.cfg.Metadata)
	switch {
	case errors.Is(err, ErrNoKey):
		p.stats.noKey.Add(1)
		return
	case err != nil:
		p.stats.sealErrors.Add(1)
		return
	}
	p.buf = ct
	// 4. packetize and 5. send (the track copies each packet).
	p.ts = ts
	if err := p.packetizer.Packetize(ct, p.emit); err != nil {
		p.stats.writeErrors.Add(1)
		return
	}
	p.stats.frames.Add(1)
	p.stats.bytes.Add(uint64(len(ct)))
	if f.Keyframe {
		p.stats.keyframes.Add(1)
		p.lastKeyTS, p.sentKey = ts, true
	}
	if p.cfg.OnSent != nil {
		h, _, _ := sframe.ParseHeader(ct)
		p.cfg.OnSent(SentFrame{Kind: p.cfg.Kind, RTPTimestamp: ts, CaptureTime: f.CaptureTime, KID: kid, CTR: h.CTR, Bytes: len(ct)})
	}
}

func (p *Pipeline) writePacket(payload []byte, last bool) error {
	p.pkt.Header = rtp.Header{
		Version:        2,
		Marker:         last,
		SequenceNumber: p.seq.NextSequenceNumber(),
		Timestamp:      p.ts,
	}
	p.pkt.Payload = payload
	if err := p.cfg.Track.WriteRTP(&p.pkt); err != nil {
		return err
	}
	p.stats.packets.Add(1)
	return nil
}

// audioResync is how far the capture clock may run ahead of an audio
// stream's sample count before the timestamp follows it (a pause).
const audioResync = 100 * time.Millisecond

// timestamp maps a frame to its RTP timestamp: capture time relative to the
// first frame, on the codec clock, from a random origin (RFC 3550 §5.1), so
// receivers see true media timing and no wall-clock time reaches the relay.
// After a source switch the new source's first frame continues from the
// old source's last timestamp plus its duration.
// Frames without a capture time advance by their duration.
//
// Audio timestamps count samples (RFC 3550 §5.1: consecutive packets of
// 20 ms differ by exactly 960 at 48 kHz), so the receiver's jitter buffer
// can play them back to back: capture times of audio chunks wobble by a
// millisecond or two with the device's scheduling. The capture clock only
// decides when audio resumes after a pause (mute): once it runs more than
// audioResync ahead of the sample count, the timestamp jumps to it.
func (p *Pipeline) timestamp(f Frame) uint32 {
	if p.cfg.Kind == framing.KindAudio && !f.CaptureTime.IsZero() && !p.firstT.IsZero() {
		ts := p.nextTS
		if wall := p.originTS + framing.RTPTicks(f.CaptureTime.Sub(p.firstT), p.clock); int32(wall-ts) > int32(framing.RTPTicks(audioResync, p.clock)) {
			ts = wall
		}
		p.nextTS = ts + framing.RTPTicks(f.Duration, p.clock)
		// An audio frame is complete when its last chunk is captured
		// (framing.Frame); its timestamp is that of its first sample.
		p.media.set(ts, f.CaptureTime.Add(-f.Duration))
		return ts
	}
	var ts uint32
	switch {
	case !f.CaptureTime.IsZero() && !p.firstT.IsZero():
		ts = p.originTS + framing.RTPTicks(f.CaptureTime.Sub(p.firstT), p.clock)
	case !f.CaptureTime.IsZero():
		p.firstT = f.CaptureTime
		ts = p.originTS
	default:
		ts = p.nextTS
	}
	p.nextTS = ts + framing.RTPTicks(f.Duration, p.clock)
	if !f.CaptureTime.IsZero() {
		at := f.CaptureTime
		if p.cfg.Kind == framing.KindAudio {
			// An audio frame is complete when its last chunk is captured
			// (framing.Frame); its timestamp is that of its first sample.
			at = at.Add(-f.Duration)
		}
		p.media.set(ts, at)
	}
	return ts
}

// MediaClock returns the RTP timestamp of the last captured frame and the
// instant its first sample was captured (false before the first frame):
// the relation between the track's RTP clock and local time that its RTCP
// sender reports carry (transport.Conn.SetMediaClock). Safe from any
// goroutine.
func (p *Pipeline) MediaClock() (ts uint32, at time.Time, ok bool) { return p.media.get() }

type mediaClock struct {
	mu sync.Mutex
	ts uint32
	at time.Time
}

func (c *mediaClock) set(ts uint32, at time.Time) {
	c.mu.Lock()
	c.ts, c.at = ts, at
	c.mu.Unlock()
}

func (c *mediaClock) get() (uint32, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ts, c.at, !c.at.IsZero()
}
