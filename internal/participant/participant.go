// Package participant is the media engine of one person in a Sotto
// meeting: over a relay connection it is handed (it never dials), it runs
// a send pipeline per local track (media/send) and a receive pipeline per
// remote track (media/receive), holds the SFrame keys, and keeps
// per-sender statistics. internal/call builds one per meeting:
//
//	p, _ := participant.New(cfg)
//	conn, _ := transport.Dial(ctx, transport.Config{..., OnTrack: p.OnTrack})
//	p.Start(conn)
//
// Keys come from the meeting protocol (meetingnet.Keys): SetSendKey when
// this participant rotates its key, SetReceiveKey / RemoveReceiveKey as
// other participants' keys arrive and expire. A receive key opens frames
// only on its sender's own tracks. All are safe to call while media flows;
// a send key switch takes effect between two frames. Until a send key is
// set nothing is sent; frames whose KID has no receive key are counted and
// dropped.
//
// Bitrate: the video encoder follows the connection's uplink estimate,
// less audio's share (bitrate.go, docs/PROTOCOL.md §4.4.1).
//
// Lip sync: the sender reports of each remote session's tracks say which
// audio and video timestamps were captured together; pictures are held
// until the audio of their instant plays (docs/PROTOCOL.md §5.5).
package participant

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/lipsync"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/media/send"
	"github.com/sottohq/sotto/relay/rtx"
	"github.com/sottohq/sotto/relay/signal"
)

// Stream is a local encoded stream; capture.EncodedStream is one.
type Stream = send.Source

// Config configures New.
type Config struct {
	// MeetingID is bound into every frame's SFrame metadata; it must be
	// the meeting the relay connection joined.
	MeetingID signal.ID
	// Video and Audio are the local streams to publish; nil publishes
	// nothing of that kind.
	Video, Audio Stream
	// OnVideo receives every decoded remote picture, on a goroutine of
	// that track (never the UI thread): its receive goroutine, or, with
	// lip sync, its hold queue's once the sound captured with it plays
	// (lipsync.go; lip sync needs an AudioOut with PlayingRTP, such as
	// *playout.Mixer). The picture is reused for a later frame of the
	// same track once OnVideo returns: draw or copy it before returning.
	OnVideo func(session signal.ID, img image.Image)
	// AudioOut plays remote audio; nil decodes it (and counts it) without
	// playing.
	AudioOut AudioOutput
	// OnSent and OnDecoded trace every frame sent and every frame decoded
	// (measurements and tests). They run on pipeline goroutines and must
	// not block.
	OnSent    func(send.SentFrame)
	OnDecoded func(session signal.ID, fi receive.FrameInfo)
	// Logger; nil discards. Nothing logged contains keys or media.
	Logger *slog.Logger

	// test is set only by this package's tests.
	test *testHooks
}

// testHooks let this package's tests watch the pipeline's edges.
type testHooks struct {
	// rtp sees every raw RTP packet a remote track delivers, before stage
	// 2, and may modify it: the relay's forwarded bytes as they arrive
	// (the SRTP hop ends at the relay).
	rtp func(session signal.ID, kind framing.Kind, pkt []byte)
	// decode sees every frame handed to a decoder.
	decode func(session signal.ID, kind framing.Kind, frame []byte)
}

// Participant is one meeting participant's media.
type Participant struct {
	cfg  Config
	conn *transport.Conn // set by Start
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// started is closed by Start (or Close): remote tracks wait for it.
	started   chan struct{}
	startOnce sync.Once

	videoMD, audioMD []byte // SFrame metadata per kind

	keys  *send.Keys
	rx    *sframe.Receiver
	video *send.Pipeline // nil without a local video stream
	audio *send.Pipeline
	// audioLoss is the expected loss the audio encoder is tuned to; nil
	// when the audio stream is not LossAware.
	audioLoss atomic.Pointer[lossEstimator]
	// bitrate passes the uplink estimate to the video encoder; nil
	// without a video track or an estimate (bitrate.go).
	bitrate *bitrateControl

	// owners binds a receive KID to the relay session whose track may
	// carry it (SetReceiveKey).
	ownersMu sync.RWMutex
	owners   map[uint64]signal.ID

	mu      sync.Mutex
	remotes map[signal.ID]*remote
	running int    // receive pipelines running, all sessions
	refused uint64 // remote tracks refused over maxRemoteTracks
	closed  bool
	// syncs: lip sync per session (lipsync.go).
	syncs map[signal.ID]*syncEntry
}

// Bounds on what the relay can make a participant hold: the relay decides
// which tracks it offers, and a hostile one could offer without end.
var (
	// maxRemoteTracks bounds the receive pipelines running at once; each
	// holds a decoder and a goroutine. Further tracks are refused (and
	// counted) until one ends.
	maxRemoteTracks = 256
	// maxRemotes bounds the per-session statistics kept: beyond it, the
	// entries of sessions with no track running are forgotten.
	maxRemotes = 1024
)

// closeWait bounds how long Close waits for the pipelines to end.
const closeWait = 5 * time.Second

// remote is one other participant, by relay session ID.
type remote struct {
	video, audio interface{ Stats() receive.Stats }
	playout      *playout.JitterStats // the last counters of an ended audio track
	running      int                  // receive pipelines running for this session
}

// New prepares a participant's media. Hand OnTrack to the relay
// connection (transport.Config.OnTrack) and call Start with it once it is
// dialled; frames are sealed only after SetSendKey.
func New(cfg Config) (*Participant, error) {
	videoMD, err := framing.Metadata(cfg.MeetingID.String(), framing.KindVideo)
	if err != nil {
		return nil, err
	}
	audioMD, err := framing.Metadata(cfg.MeetingID.String(), framing.KindAudio)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pctx, stop := context.WithCancel(context.Background())
	return &Participant{
		cfg:     cfg,
		log:     log,
		ctx:     pctx,
		stop:    stop,
		started: make(chan struct{}),
		videoMD: videoMD,
		audioMD: audioMD,
		keys: send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) {
			return sframe.NewSender(framing.Suite, kid, key)
		}),
		rx:      newReceiver(),
		owners:  make(map[uint64]signal.ID),
		remotes: make(map[signal.ID]*remote),
	}, nil
}

// Start publishes the local streams on conn and lets remote tracks flow.
// Call it once. The caller owns conn and closes it after Close.
func (p *Participant) Start(conn *transport.Conn) error {
	p.mu.Lock()
	if p.closed || p.conn != nil {
		p.mu.Unlock()
		return errors.New("participant: already started or closed")
	}
	p.conn = conn
	p.mu.Unlock()
	p.startOnce.Do(func() { close(p.started) })
	var err error
	if p.cfg.Video != nil {
		if p.video, err = p.publish(framing.KindVideo, p.cfg.Video, p.videoMD); err != nil {
			return err
		}
	}
	if p.cfg.Audio != nil {
		if p.audio, err = p.publish(framing.KindAudio, p.cfg.Audio, p.audioMD); err != nil {
			return err
		}
	}
	// The video encoder follows the uplink estimate from the first
	// packet on: it starts at the estimate's start, not at its ceiling.
	if p.video != nil && conn.UplinkEstimate() > 0 {
		b := &bitrateControl{audio: p.cfg.Audio != nil}
		b.setStream(p.cfg.Video)
		b.estimate(conn.UplinkEstimate())
		p.mu.Lock()
		p.bitrate = b
		p.mu.Unlock()
		conn.OnUplinkEstimate(func(bps int) { b.estimate(bps) })
	}
	return nil
}

// publish runs the send pipeline of one local stream.
func (p *Participant) publish(kind framing.Kind, s Stream, md []byte) (*send.Pipeline, error) {
	capab := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: framing.VideoClockRate}
	if kind == framing.KindAudio {
		capab = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: framing.AudioClockRate, Channels: 2}
	}
	track, err := webrtc.NewTrackLocalStaticRTP(capab, kind.String(), "sotto")
	if err != nil {
		return nil, fmt.Errorf("participant: %s track: %w", kind, err)
	}
	pipe, err := send.New(send.Config{
		Kind: kind, Metadata: md, Source: s, Keys: p.keys, Track: track, OnSent: p.cfg.OnSent,
	})
	if err != nil {
		return nil, err
	}
	sender, err := p.conn.AddTrack(track)
	if err != nil {
		return nil, fmt.Errorf("participant: publish %s: %w", kind, err)
	}
	// Sender reports map capture instants (docs/PROTOCOL.md §5.5).
	p.conn.SetMediaClock(sender, pipe.MediaClock)
	p.wg.Add(2)
	var loss *lossEstimator
	if la, ok := s.(LossAware); ok && kind == framing.KindAudio {
		if enc := sender.GetParameters().Encodings; len(enc) > 0 {
			loss = newLossEstimator(uint32(enc[0].SSRC))
			p.audioLoss.Store(loss)
			la.SetExpectedLoss(0)
		}
	}
	go func() {
		defer p.wg.Done()
		p.readRTCP(sender, pipe, loss, s)
	}()
	go func() {
		defer p.wg.Done()
		if err := pipe.Run(p.ctx); err != nil {
			p.log.Warn("send pipeline ended", "kind", kind.String(), "err", err)
		}
	}()
	return pipe, nil
}

// readRTCP turns receivers' keyframe requests into keyframes and, for
// audio, receiver reports into the encoder's expected loss (loss.go).
// Reading also lets the NACK responder see NACKs.
func (p *Participant) readRTCP(sender *webrtc.RTPSender, pipe *send.Pipeline, loss *lossEstimator, s Stream) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pipe.RequestKeyframe()
			case *rtcp.ReceiverReport:
				if loss == nil {
					continue
				}
				if pct, changed := loss.add(pkt, time.Now()); changed {
					s.(LossAware).SetExpectedLoss(pct)
				}
			}
		}
	}
}

// OnTrack runs the receive pipeline of one remote track until it ends;
// give it to transport.Config.OnTrack (it runs on its own goroutine).
// Tracks that arrive before Start wait for it.
func (p *Participant) OnTrack(rt transport.RemoteTrack) {
	select {
	case <-p.started:
	case <-p.ctx.Done():
		return
	}
	if !p.reserve() {
		return
	}
	defer p.release()
	sy := p.acquireSync(rt.SessionID)
	defer p.releaseSync(rt.SessionID)
	var (
		run   func(context.Context) error
		stats interface{ Stats() receive.Stats }
		kind  framing.Kind
		err   error
	)
	switch rt.Track.Kind() {
	case webrtc.RTPCodecTypeVideo:
		kind = framing.KindVideo
		run, stats, err = p.videoReceiver(rt, sy)
	case webrtc.RTPCodecTypeAudio:
		kind = framing.KindAudio
		run, stats, err = p.audioReceiver(rt)
	default:
		return
	}
	if err != nil {
		p.log.Error("receive pipeline", "kind", kind.String(), "err", err)
		return
	}
	r := p.register(rt.SessionID, kind, stats)
	if r == nil {
		return
	}
	p.log.Info("receiving", "session", rt.SessionID, "kind", kind.String())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readReports(rt, kind, sy)
	}()
	defer func() {
		p.mu.Lock()
		r.running--
		p.mu.Unlock()
		p.wg.Done()
	}()
	if err := run(p.ctx); err != nil {
		p.log.Debug("receive pipeline ended", "session", rt.SessionID, "kind", kind.String(), "err", err)
	}
}

// reserve takes one of the maxRemoteTracks pipeline slots before a
// decoder is built for it; false (and counted) when none is left.
func (p *Participant) reserve() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running >= maxRemoteTracks {
		p.refused++
		p.log.Warn("remote track refused: too many running")
		return false
	}
	p.running++
	return true
}

func (p *Participant) release() {
	p.mu.Lock()
	p.running--
	p.mu.Unlock()
}

// register records a running pipeline's statistics under its session; nil
// once the participant is closed.
func (p *Participant) register(session signal.ID, kind framing.Kind, stats interface{ Stats() receive.Stats }) *remote {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	r := p.remotes[session]
	if r == nil {
		if len(p.remotes) >= maxRemotes {
			for id, o := range p.remotes {
				if o.running == 0 {
					delete(p.remotes, id)
					break
				}
			}
		}
		r = &remote{}
		p.remotes[session] = r
	}
	if kind == framing.KindVideo {
		r.video = stats
	} else {
		r.audio = stats
	}
	r.running++
	p.wg.Add(1)
	return r
}

// videoReceiver builds stages 2–5 for a remote video track: reassemble,
// open, VP8 decode, hand the picture to OnVideo (held for lip sync when sy
// is set).
func (p *Participant) videoReceiver(rt transport.RemoteTrack, sy *lipsync.Sync) (func(context.Context) error, interface{ Stats() receive.Stats }, error) {
	session, ssrc := rt.SessionID, rt.Track.SSRC()
	dec, err := vp8.NewDecoder()
	if err != nil {
		return nil, nil, err
	}
	var render func(*image.YCbCr, uint32) // set by run: the hold queue lives as long as the pipeline runs
	pipe, err := receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: p.videoMD, Opener: trackOpener{p, session},
		Decode: decoder(p, session, framing.KindVideo, dec.Decode),
		Render: func(img *image.YCbCr, fi receive.FrameInfo) {
			p.traceDecoded(session, fi)
			render(img, fi.RTPTimestamp)
		},
		RequestKeyframe: func() {
			if err := p.conn.RequestKeyframe(ssrc); err != nil {
				p.log.Debug("keyframe request failed", "err", err)
			}
		},
		// The wait for retransmissions follows the round trip to the relay.
		RTT: p.conn.RTT,
		// The NACK generator stops asking for what parity rebuilt.
		OnRebuilt: func(seq uint16) { p.conn.Rebuilt(uint32(ssrc), seq) },
	})
	if err != nil {
		dec.Close()
		return nil, nil, err
	}
	run := func(ctx context.Context) error {
		defer dec.Close()
		var stop func()
		render, stop = p.videoStage(session, sy)
		defer stop()
		return pipe.Run(ctx, p.reader(rt, framing.KindVideo))
	}
	return run, pipe, nil
}

// audioReceiver builds stages 2–5 for a remote audio track: pass on in
// arrival order, open, bound, push to the jitter buffer of AudioOut (which
// orders and decodes at playout time).
func (p *Participant) audioReceiver(rt transport.RemoteTrack) (func(context.Context) error, interface{ Stats() receive.Stats }, error) {
	session := rt.SessionID
	play, err := newAudioPlay(p.cfg.AudioOut, session.String(), func(js playout.JitterStats) {
		p.mu.Lock()
		if r := p.remotes[session]; r != nil {
			r.playout = &js
		}
		p.mu.Unlock()
	})
	if err != nil {
		return nil, nil, err
	}
	pipe, err := receive.New(receive.Config[[]byte]{
		Kind: framing.KindAudio, Metadata: p.audioMD, Opener: trackOpener{p, session},
		Decode: decoder(p, session, framing.KindAudio, play.Decode),
		Render: func(pkt []byte, fi receive.FrameInfo) {
			p.traceDecoded(session, fi)
			play.Play(pkt, fi)
		},
	})
	if err != nil {
		play.Close()
		return nil, nil, err
	}
	run := func(ctx context.Context) error {
		defer play.Close()
		return pipe.Run(ctx, p.reader(rt, framing.KindAudio))
	}
	return run, pipe, nil
}

func (p *Participant) traceDecoded(session signal.ID, fi receive.FrameInfo) {
	if p.cfg.OnDecoded != nil {
		p.cfg.OnDecoded(session, fi)
	}
}

func (p *Participant) reader(rt transport.RemoteTrack, kind framing.Kind) receive.RTPReader {
	if p.cfg.test == nil || p.cfg.test.rtp == nil {
		return rt.Track
	}
	return tapReader{r: rt.Track, tap: func(b []byte) { p.cfg.test.rtp(rt.SessionID, kind, b) }}
}

// decoder wraps stage 4 with the test hook, if any.
func decoder[T any](p *Participant, session signal.ID, kind framing.Kind, dec func([]byte) (T, error)) func([]byte) (T, error) {
	if p.cfg.test == nil || p.cfg.test.decode == nil {
		return dec
	}
	return func(b []byte) (T, error) {
		p.cfg.test.decode(session, kind, b)
		return dec(b)
	}
}

type tapReader struct {
	r   receive.RTPReader
	tap func([]byte)
}

func (t tapReader) Read(b []byte) (int, interceptor.Attributes, error) {
	n, a, err := t.r.Read(b)
	if err == nil {
		t.tap(b[:n])
	}
	return n, a, err
}

// SetSendKey switches this participant's media to a new key under a new
// KID, from the next frame of each track. A KID can be used only once
// (send.ErrKIDReused): a new key restarts the SFrame counter. The caller
// may zero baseKey afterwards.
func (p *Participant) SetSendKey(kid uint64, baseKey []byte) error {
	_, had := p.keys.KID()
	if err := p.keys.Set(kid, baseKey); err != nil {
		return err
	}
	if !had && p.video != nil {
		// Receivers have seen nothing decodable yet: start with a keyframe.
		p.video.RequestKeyframe()
	}
	return nil
}

// StopSending drops (and zeroes) the current send key: from the next frame
// nothing is sealed or sent until SetSendKey gives a new key under a new
// KID. The meeting protocol calls it when this member leaves or is removed.
func (p *Participant) StopSending() { p.keys.Close() }

// SendKID returns the current send KID, false before SetSendKey.
func (p *Participant) SendKID() (uint64, bool) { return p.keys.KID() }

// SetReceiveKey installs the key for KID kid of the participant whose
// relay session is session: frames under kid are accepted only on that
// session's tracks. The relay names the publisher of each track it
// forwards, so without the binding it could show one member's media in
// another's place; with it, such frames are dropped and counted as auth
// failures. The caller may zero baseKey afterwards.
func (p *Participant) SetReceiveKey(session signal.ID, kid uint64, baseKey []byte) error {
	p.ownersMu.Lock()
	p.owners[kid] = session
	p.ownersMu.Unlock()
	if err := p.rx.SetKey(kid, baseKey); err != nil {
		p.ownersMu.Lock()
		delete(p.owners, kid)
		p.ownersMu.Unlock()
		return err
	}
	return nil
}

// RemoveReceiveKey forgets (and zeroes) the key of KID kid: later frames
// under it are dropped as unknown_kid.
func (p *Participant) RemoveReceiveKey(kid uint64) {
	p.rx.RemoveKey(kid)
	p.ownersMu.Lock()
	delete(p.owners, kid)
	p.ownersMu.Unlock()
}

// errOtherSender reports a frame sealed under a KID bound to another
// session than the track's: the relay moved a member's media.
var errOtherSender = fmt.Errorf("participant: frame under another session's key: %w", sframe.ErrAuthentication)

// trackOpener is stage 3 for one remote track: it refuses frames whose KID
// is bound to another session before they reach the SFrame receiver (and
// its replay window), then opens them.
type trackOpener struct {
	p       *Participant
	session signal.ID
}

func (o trackOpener) Open(dst, frame, metadata []byte) ([]byte, sframe.Header, error) {
	h, _, err := sframe.ParseHeader(frame)
	if err != nil {
		return nil, h, err
	}
	o.p.ownersMu.RLock()
	owner, bound := o.p.owners[h.KID]
	o.p.ownersMu.RUnlock()
	if bound && owner != o.session {
		return nil, h, errOtherSender
	}
	return o.p.rx.Open(dst, frame, metadata)
}

// SetVideoEnabled turns the camera's sending on or off (the stream keeps
// being read). It does nothing without a video stream.
func (p *Participant) SetVideoEnabled(on bool) {
	if p.video != nil {
		p.video.SetEnabled(on)
	}
}

// SetVideoSource switches the published video track to another local
// stream, for example from the camera to a screen and back, between two
// frames. Receivers see the same track: the SFrame key and counter, RTP
// sequence and timestamps carry on, and the first frame of the new stream
// is a keyframe (at the new picture size, which the receivers' decoders
// follow). The caller keeps ownership of both streams and may close the
// old one once this returns. It fails when Join published no video.
func (p *Participant) SetVideoSource(s Stream) error {
	if s == nil {
		return errors.New("participant: nil video stream")
	}
	if p.video == nil {
		return errors.New("participant: no video track published")
	}
	if err := p.video.SetSource(s); err != nil {
		return err
	}
	p.mu.Lock()
	b := p.bitrate
	p.mu.Unlock()
	if b != nil {
		b.setStream(s)
	}
	return nil
}

// SetAudioEnabled mutes (false) or unmutes the microphone.
func (p *Participant) SetAudioEnabled(on bool) {
	if p.audio != nil {
		p.audio.SetEnabled(on)
	}
}

// Stats is a JSON-serialisable snapshot of a participant's media.
type Stats struct {
	Session string                 `json:"session"`
	SendKID *uint64                `json:"send_kid,omitempty"`
	Sent    SentStats              `json:"sent"`
	Remotes map[string]RemoteStats `json:"remotes"` // by relay session ID
	// RefusedTracks counts remote tracks not received because too many
	// were running (a relay offering more tracks than a meeting has).
	RefusedTracks uint64 `json:"refused_tracks,omitempty"`
	// Retransmission counts the connection's NACKs and resends, and its
	// round trip to the relay.
	Retransmission *rtx.Stats `json:"retransmission,omitempty"`
	// AudioExpectedLoss is the packet loss (percent) the audio encoder's
	// FEC is tuned to, from receiver reports; absent without a
	// loss-aware audio stream.
	AudioExpectedLoss *int `json:"audio_expected_loss_pct,omitempty"`
	// UplinkEstimate is the estimated bandwidth to the relay and
	// VideoTarget the video encoder's target from it, in bits per second
	// (0: no estimate, or a video stream that is not BitrateAware).
	UplinkEstimate int `json:"uplink_estimate_bps,omitempty"`
	VideoTarget    int `json:"video_target_bps,omitempty"`
}

// SentStats are the local tracks' counters.
type SentStats struct {
	Video *send.Stats `json:"video,omitempty"`
	Audio *send.Stats `json:"audio,omitempty"`
}

// RemoteStats are the counters of one other participant's tracks.
type RemoteStats struct {
	Video *receive.Stats `json:"video,omitempty"`
	Audio *receive.Stats `json:"audio,omitempty"`
	// LipSync: how pictures were held to match the sound (lipsync.go).
	LipSync *LipSyncStats `json:"lip_sync,omitempty"`
	// AudioPlayout is the jitter buffer's account of the audio: late,
	// FEC-recovered and concealed frames, target delay (when AudioOut
	// reports it).
	AudioPlayout *playout.JitterStats `json:"audio_playout,omitempty"`
}

// Stats returns a snapshot; safe from any goroutine.
func (p *Participant) Stats() Stats {
	s := Stats{Remotes: make(map[string]RemoteStats)}
	p.mu.Lock()
	if p.conn != nil {
		s.Session = p.conn.SessionID().String()
		r := p.conn.RetransmissionStats()
		s.Retransmission = &r
		s.UplinkEstimate = p.conn.UplinkEstimate()
	}
	if p.bitrate != nil {
		s.VideoTarget = p.bitrate.target()
	}
	p.mu.Unlock()
	if kid, ok := p.keys.KID(); ok {
		s.SendKID = &kid
	}
	if p.video != nil {
		v := p.video.Stats()
		s.Sent.Video = &v
	}
	if p.audio != nil {
		a := p.audio.Stats()
		s.Sent.Audio = &a
	}
	if l := p.audioLoss.Load(); l != nil {
		pct := max(l.percent(), 0)
		s.AudioExpectedLoss = &pct
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.RefusedTracks = p.refused
	for id, r := range p.remotes {
		var rs RemoteStats
		if r.video != nil {
			v := r.video.Stats()
			rs.Video = &v
		}
		if r.audio != nil {
			a := r.audio.Stats()
			rs.Audio = &a
		}
		rs.LipSync = p.lipSyncStatsLocked(id)
		if ps, ok := p.cfg.AudioOut.(playoutStats); ok {
			if js, ok := ps.Stats(id.String()); ok {
				rs.AudioPlayout = &js
			} else if r.playout != nil {
				js := *r.playout
				rs.AudioPlayout = &js
			}
		}
		s.Remotes[id.String()] = rs
	}
	return s
}

// Close stops every pipeline and zeroes the keys. It closes neither the
// relay connection nor the local streams: their owner closes the
// connection first (which ends the receive pipelines' reads) and the
// streams after.
func (p *Participant) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.startOnce.Do(func() { close(p.started) })
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		// A send pipeline blocked in its source's ReadFrame ends when
		// the owner closes the source; a receive pipeline blocked in a
		// track read ends when the owner closes the connection.
	}
	p.keys.Close()
	p.rx.Destroy()
	return nil
}

// newReceiver is the frame decryptor of every remote sender: RFC 9605's
// replay window, narrowed to framing.ReorderLimit.
func newReceiver() *sframe.Receiver {
	rx := sframe.NewReceiver(framing.Suite)
	rx.SetReorderLimit(framing.ReorderLimit)
	return rx
}
