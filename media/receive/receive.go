// Package receive is the inbound media pipeline of one remote track:
//
//  1. receive    – RTP packets are read from the pion track (SRTP, NACK
//     and RTCP reports are the PeerConnection's)
//  2. reassemble – video parity packets (relay/fec) rebuild a lost packet
//     at once; video packets become whole encrypted frames in order
//     (Reassembler); after a loss the pipeline waits for a keyframe and
//     asks for one (PLI) instead of feeding the decoder a broken stream.
//     Audio packets pass in arrival order: media/playout orders them
//  3. decrypt    – SFrame opens the frame with the key its KID names;
//     unknown KIDs, replays and failed tags are counted and dropped
//  4. decode     – VP8 to an image; audio is only checked here (size and
//     TOC bounds) and decoded by the jitter buffer at playout time
//  5. render     – the image goes to the caller's renderer, the Opus
//     packet with its timestamp and arrival time to the jitter buffer
//
// The relay, and so every byte read in stage 1, is untrusted: nothing
// reaches a decoder before it is authenticated and size-bounded.
package receive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/relay/fec"
)

// Opener is stage 3: one SFrame receive context (*sframe.Receiver).
type Opener interface {
	Open(dst, frame, metadata []byte) ([]byte, sframe.Header, error)
}

// RTPReader is stage 1: *webrtc.TrackRemote is one.
type RTPReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// FrameInfo describes a frame that reached the decoder.
type FrameInfo struct {
	Kind         framing.Kind
	RTPTimestamp uint32
	KID, CTR     uint64
	Keyframe     bool
	// Decoded is when stage 4 finished; with the sender's capture time for
	// the same (KID, CTR) it gives the end-to-end latency. For audio,
	// stage 4 only checks the packet: the jitter buffer decodes it at
	// its playout time.
	Decoded time.Time
	// Arrived is when stage 1 read the frame's last packet: the arrival
	// time the audio jitter buffer measures jitter with.
	Arrived time.Time
}

// DefaultKeyframeInterval is the least time between two keyframe requests.
const DefaultKeyframeInterval = 300 * time.Millisecond

// Config builds a Pipeline. T is what the decoder produces: an
// image.Image for video, PCM samples for audio.
type Config[T any] struct {
	Kind     framing.Kind
	Metadata []byte // framing.Metadata(meetingID, Kind)
	Opener   Opener
	// Decode is stage 4. It receives only authenticated plaintext, one
	// whole frame per call; the slice is reused after it returns.
	Decode func(frame []byte) (T, error)
	// Render is stage 5; it runs on the pipeline goroutine and must hand
	// heavy work elsewhere.
	Render func(T, FrameInfo)
	// RequestKeyframe sends a PLI to the publisher (through the relay).
	// The pipeline calls it at most once per KeyframeInterval.
	RequestKeyframe  func()
	KeyframeInterval time.Duration // ≤ 0: DefaultKeyframeInterval
	// MaxWait fixes the reassembly wait for NACK; ≤ 0 derives it from RTT
	// (NackWait) before each packet.
	MaxWait time.Duration
	// RTT returns the measured round trip to the relay, 0 while unknown
	// (transport.Conn.RTT); nil is always unknown.
	RTT func() time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnRebuilt, when set, is called with the sequence number of each
	// video packet rebuilt from parity (the NACK generator stops asking
	// for it).
	OnRebuilt func(seq uint16)
}

// Pipeline runs stages 2 to 5 for one remote track. Push and Run must be
// used from one goroutine; Stats from any.
type Pipeline[T any] struct {
	cfg   Config[T]
	reasm *Reassembler
	fec   fec.Decoder // video only
	stats counters

	waitKeyframe bool
	lastPLI      time.Time
	plaintext    []byte
	pkt          rtp.Packet
	reasmSeen    ReassemblyStats
	arrived      time.Time // of the packet being pushed
}

// New checks cfg and returns a pipeline.
func New[T any](cfg Config[T]) (*Pipeline[T], error) {
	if cfg.Kind != framing.KindAudio && cfg.Kind != framing.KindVideo {
		return nil, fmt.Errorf("receive: unknown media kind %d", cfg.Kind)
	}
	if cfg.Opener == nil || cfg.Decode == nil || len(cfg.Metadata) == 0 {
		return nil, errors.New("receive: config needs opener, decoder and metadata")
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = DefaultKeyframeInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline[T]{cfg: cfg, reasm: NewReassembler(cfg.Kind, cfg.MaxWait)}
	if cfg.MaxWait <= 0 {
		p.reasm.SetMaxWait(NackWait(p.rtt()))
	}
	p.stats.kind = cfg.Kind
	// A video decoder starts without a reference frame.
	p.waitKeyframe = cfg.Kind == framing.KindVideo
	return p, nil
}

// Stats returns a snapshot of the pipeline's counters.
func (p *Pipeline[T]) Stats() Stats { return p.stats.snapshot(p.cfg.Now()) }

// Run reads packets from r until it fails (the track ended) or ctx ends.
func (p *Pipeline[T]) Run(ctx context.Context, r RTPReader) error {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		n, _, err := r.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive %s: read rtp: %w", p.cfg.Kind, err)
		}
		// 1. receive: the packet is untrusted and bounded by buf.
		if err := p.pkt.Unmarshal(buf[:n]); err != nil {
			p.stats.malformed.Add(1)
			continue
		}
		p.Push(&p.pkt)
	}
	return nil
}

// Push runs one RTP packet through stages 2 to 5.
func (p *Pipeline[T]) Push(pkt *rtp.Packet) {
	now := p.cfg.Now()
	p.stats.packets.Add(1)
	// 2. reassemble, waiting for retransmissions as long as the round
	// trip needs.
	if p.cfg.MaxWait <= 0 && p.cfg.Kind == framing.KindVideo {
		p.reasm.SetMaxWait(NackWait(p.rtt()))
	}
	p.arrived = now
	if p.cfg.Kind == framing.KindVideo {
		p.pushVideo(pkt, now)
	} else {
		p.reasm.Push(pkt, now, p.frame)
	}
	if p.syncReassemblyStats() && p.cfg.Kind == framing.KindVideo {
		// Frames were given up: the decoder needs a keyframe, and asks
		// now rather than after the next frame that completes, which
		// for a receiver whose frames never complete would be never.
		p.waitKeyframe = true
		p.requestKeyframe(now)
	}
}

// pushVideo hands a video packet to the parity decoder and the
// reassembler; a parity packet's number is a filler for the reassembler,
// and every packet the decoder rebuilds goes to the reassembler as if it
// had arrived.
func (p *Pipeline[T]) pushVideo(pkt *rtp.Packet, now time.Time) {
	rebuilt := func(seq uint16, r fec.Packet) {
		p.stats.fecRecovered.Add(1)
		if p.cfg.OnRebuilt != nil {
			p.cfg.OnRebuilt(seq)
		}
		rp := rtp.Packet{Header: pkt.Header, Payload: r.Payload}
		rp.SequenceNumber, rp.Timestamp, rp.Marker = seq, r.Timestamp, r.Marker
		p.reasm.Push(&rp, now, p.frame)
	}
	if fec.IsParity(pkt.Payload) {
		p.stats.fecParity.Add(1)
		// A malformed parity packet is counted and costs nothing else.
		if err := p.fec.Parity(pkt.SequenceNumber, pkt.Payload, rebuilt); err != nil {
			p.stats.malformed.Add(1)
		}
		p.reasm.PushFiller(pkt.SequenceNumber, now, p.frame)
		return
	}
	p.reasm.Push(pkt, now, p.frame)
	p.fec.Media(pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload, rebuilt)
}

func (p *Pipeline[T]) rtt() time.Duration {
	if p.cfg.RTT == nil {
		return 0
	}
	return p.cfg.RTT()
}

// syncReassemblyStats copies the reassembler's counters and reports
// whether it gave frames up since the last call.
func (p *Pipeline[T]) syncReassemblyStats() (gave bool) {
	s := p.reasm.Stats()
	gave = s.GivenUp > p.reasmSeen.GivenUp || s.Gaps > p.reasmSeen.Gaps
	p.stats.gap.Add(s.Gaps - p.reasmSeen.Gaps)
	p.stats.late.Add(s.Late - p.reasmSeen.Late)
	p.stats.malformed.Add(s.Malformed - p.reasmSeen.Malformed)
	p.reasmSeen = s
	return gave
}

func (p *Pipeline[T]) frame(f Assembled) {
	now := p.cfg.Now()
	p.stats.received.Add(1)
	p.stats.rate.add(now, len(f.Data))
	if f.AfterGap && p.cfg.Kind == framing.KindVideo {
		p.waitKeyframe = true
	}

	// 3. decrypt.
	pt, hdr, err := p.cfg.Opener.Open(p.plaintext[:0], f.Data, p.cfg.Metadata)
	if err != nil {
		switch {
		case errors.Is(err, sframe.ErrReplay):
			// A copy of a frame already accepted: the stream is intact.
			p.stats.replay.Add(1)
			return
		case errors.Is(err, sframe.ErrUnknownKey):
			p.stats.unknownKID.Add(1)
		case errors.Is(err, sframe.ErrAuthentication):
			p.stats.auth.Add(1)
		default:
			p.stats.malformed.Add(1)
		}
		// A frame of the stream is missing: later delta frames would
		// decode against a broken reference.
		if p.cfg.Kind == framing.KindVideo {
			p.waitKeyframe = true
		}
		return
	}
	p.plaintext = pt
	p.stats.decrypted.Add(1)
	p.stats.kid.Store(hdr.KID)
	p.stats.hasKID.Store(true)

	keyframe := p.cfg.Kind == framing.KindVideo && vp8.IsKeyframe(pt)
	if keyframe {
		p.stats.keyframes.Add(1)
		p.waitKeyframe = false
	}
	if p.waitKeyframe {
		p.stats.waitingKeyframe.Add(1)
		p.requestKeyframe(now)
		return
	}

	// 4. decode.
	out, err := p.cfg.Decode(pt)
	if err != nil {
		p.stats.decodeErr.Add(1)
		if p.cfg.Kind == framing.KindVideo {
			p.waitKeyframe = true
			p.requestKeyframe(now)
		}
		return
	}
	p.stats.decoded.Add(1)

	// 5. render or play.
	if p.cfg.Render != nil {
		p.cfg.Render(out, FrameInfo{
			Kind: p.cfg.Kind, RTPTimestamp: f.Timestamp, KID: hdr.KID, CTR: hdr.CTR,
			Keyframe: keyframe, Decoded: p.cfg.Now(), Arrived: p.arrived,
		})
	}
}

func (p *Pipeline[T]) requestKeyframe(now time.Time) {
	if p.cfg.RequestKeyframe == nil || (!p.lastPLI.IsZero() && now.Sub(p.lastPLI) < p.cfg.KeyframeInterval) {
		return
	}
	p.lastPLI = now
	p.stats.keyframeRequests.Add(1)
	p.cfg.RequestKeyframe()
}
