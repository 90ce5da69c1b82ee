// Package participant is one person in a Sotto meeting, seen from the
// media side: it connects to the relay, runs a send pipeline per local
// track (media/send) and a receive pipeline per remote track
// (media/receive), holds the SFrame keys, and keeps per-sender statistics.
// The desktop app, the headless bot and the meeting protocol all drive
// media through it.
//
// Keys come from outside: the meeting protocol calls SetSendKey when this
// participant rotates its key, and SetReceiveKeyFrom / RemoveReceiveKey as
// other participants' keys arrive and expire. A key installed with
// SetReceiveKeyFrom opens frames only on its sender's own tracks. All three are safe to call
// while media flows; a send key switch takes effect between two frames.
// Until a send key is set nothing is sent; frames whose KID has no receive
// key are counted and dropped.
package participant

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/media/send"
	"github.com/sottohq/sotto/transport"
)

// Stream is a local encoded stream; capture.EncodedStream is one.
type Stream interface {
	ReadFrame() (capture.Frame, error)
	RequestKeyframe()
}

// Config configures Join.
type Config struct {
	// Transport says how to reach the relay and which meeting to join.
	// Its MeetingID is also bound into every frame's SFrame metadata.
	// Its OnTrack must be nil: the participant handles remote tracks.
	Transport transport.Config
	// Video and Audio are the local streams to publish; nil publishes
	// nothing of that kind.
	Video, Audio Stream
	// OnVideo receives every decoded remote picture, on that track's
	// receive goroutine (never the UI thread). The picture is reused for
	// the next frame of the same track once OnVideo returns: draw or copy
	// it before returning.
	OnVideo func(session string, img image.Image)
	// AudioOut plays remote audio; nil decodes it (and counts it) without
	// playing.
	AudioOut AudioOutput
	// OnSent and OnDecoded trace every frame sent and every frame decoded
	// (measurements and tests). They run on pipeline goroutines and must
	// not block.
	OnSent    func(send.SentFrame)
	OnDecoded func(session string, fi receive.FrameInfo)
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
	rtp func(session string, kind framing.Kind, pkt []byte)
	// decode sees every frame handed to a decoder.
	decode func(session string, kind framing.Kind, frame []byte)
}

// Participant is a joined meeting participant.
type Participant struct {
	cfg  Config
	conn *transport.Conn
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	keys  *send.Keys
	rx    *sframe.Receiver
	video *send.Pipeline // nil without a local video stream
	audio *send.Pipeline

	// owners binds a receive KID to the relay session whose track may
	// carry it (SetReceiveKeyFrom).
	ownersMu sync.RWMutex
	owners   map[uint64]string

	mu      sync.Mutex
	remotes map[string]*remote
	running int    // receive pipelines running, all sessions
	refused uint64 // remote tracks refused over maxRemoteTracks
	closed  bool
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

// remote is one other participant, by relay session ID.
type remote struct {
	video, audio interface{ Stats() receive.Stats }
	running      int // receive pipelines running for this session
}

// Join connects to the relay, publishes the local streams and starts
// receiving. Media flows once ICE and DTLS are up; frames are sealed only
// after SetSendKey.
func Join(ctx context.Context, cfg Config) (*Participant, error) {
	if cfg.Transport.OnTrack != nil {
		return nil, errors.New("participant: transport OnTrack must be nil")
	}
	videoMD, err := framing.Metadata(cfg.Transport.MeetingID.String(), framing.KindVideo)
	if err != nil {
		return nil, err
	}
	audioMD, err := framing.Metadata(cfg.Transport.MeetingID.String(), framing.KindAudio)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pctx, stop := context.WithCancel(context.Background())
	p := &Participant{
		cfg:  cfg,
		log:  log,
		ctx:  pctx,
		stop: stop,
		keys: send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) {
			return sframe.NewSender(framing.Suite, kid, key)
		}),
		rx:      sframe.NewReceiver(framing.Suite),
		owners:  make(map[uint64]string),
		remotes: make(map[string]*remote),
	}
	tc := cfg.Transport
	tc.OnTrack = func(rt transport.RemoteTrack) { p.onTrack(rt, videoMD, audioMD) }
	p.conn, err = transport.Dial(ctx, tc)
	if err != nil {
		stop()
		return nil, fmt.Errorf("participant: %w", err)
	}
	if cfg.Video != nil {
		if p.video, err = p.publish(framing.KindVideo, cfg.Video, videoMD); err != nil {
			p.Close()
			return nil, err
		}
	}
	if cfg.Audio != nil {
		if p.audio, err = p.publish(framing.KindAudio, cfg.Audio, audioMD); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
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
		Kind: kind, Metadata: md, Source: streamSource{s}, Keys: p.keys, Track: track, OnSent: p.cfg.OnSent,
	})
	if err != nil {
		return nil, err
	}
	sender, err := p.conn.AddTrack(track)
	if err != nil {
		return nil, fmt.Errorf("participant: publish %s: %w", kind, err)
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.readRTCP(sender, pipe)
	}()
	go func() {
		defer p.wg.Done()
		if err := pipe.Run(p.ctx); err != nil {
			p.log.Warn("send pipeline ended", "kind", kind.String(), "err", err)
		}
	}()
	return pipe, nil
}

// readRTCP turns receivers' keyframe requests into keyframes. Reading also
// lets the NACK responder see NACKs.
func (p *Participant) readRTCP(sender *webrtc.RTPSender, pipe *send.Pipeline) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pipe.RequestKeyframe()
			}
		}
	}
}

// onTrack starts the receive pipeline of one remote track.
func (p *Participant) onTrack(rt transport.RemoteTrack, videoMD, audioMD []byte) {
	session := rt.SessionID.String()
	// Reserve a pipeline before building a decoder for it.
	p.mu.Lock()
	if p.running >= maxRemoteTracks {
		p.refused++
		p.mu.Unlock()
		p.log.Warn("remote track refused: too many running")
		return
	}
	p.running++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running--
		p.mu.Unlock()
	}()
	ssrc := rt.Track.SSRC()
	requestKeyframe := func() {
		if err := p.conn.RequestKeyframe(ssrc); err != nil {
			p.log.Debug("keyframe request failed", "err", err)
		}
	}
	var (
		run   func(context.Context) error
		stats interface{ Stats() receive.Stats }
		kind  framing.Kind
	)
	switch rt.Track.Kind() {
	case webrtc.RTPCodecTypeVideo:
		kind = framing.KindVideo
		dec, err := vp8.NewDecoder()
		if err != nil {
			p.log.Error("vp8 decoder", "err", err)
			return
		}
		pipe, err := receive.New(receive.Config[*image.YCbCr]{
			Kind: kind, Metadata: videoMD, Opener: trackOpener{p, session},
			Decode: decoder(p, session, kind, dec.Decode),
			Render: func(img *image.YCbCr, fi receive.FrameInfo) {
				if p.cfg.OnDecoded != nil {
					p.cfg.OnDecoded(session, fi)
				}
				if p.cfg.OnVideo != nil {
					p.cfg.OnVideo(session, img)
				}
			},
			RequestKeyframe: requestKeyframe,
		})
		if err != nil {
			dec.Close()
			p.log.Error("video receive pipeline", "err", err)
			return
		}
		run = func(ctx context.Context) error {
			defer dec.Close()
			return pipe.Run(ctx, p.reader(rt, kind))
		}
		stats = pipe
	case webrtc.RTPCodecTypeAudio:
		kind = framing.KindAudio
		play, err := newAudioPlay(p.cfg.AudioOut, session)
		if err != nil {
			p.log.Error("audio output", "err", err)
			return
		}
		pipe, err := receive.New(receive.Config[[]float32]{
			Kind: kind, Metadata: audioMD, Opener: trackOpener{p, session},
			Decode: decoder(p, session, kind, play.Decode),
			Render: func(pcm []float32, fi receive.FrameInfo) {
				if p.cfg.OnDecoded != nil {
					p.cfg.OnDecoded(session, fi)
				}
				play.Play(pcm, fi)
			},
		})
		if err != nil {
			play.Close()
			p.log.Error("audio receive pipeline", "err", err)
			return
		}
		run = func(ctx context.Context) error {
			defer play.Close()
			return pipe.Run(ctx, p.reader(rt, framing.KindAudio))
		}
		stats = pipe
	default:
		return
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
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
	p.mu.Unlock()
	p.log.Info("receiving", "session", session, "kind", kind.String())
	defer func() {
		p.mu.Lock()
		r.running--
		p.mu.Unlock()
		p.wg.Done()
	}()
	if err := run(p.ctx); err != nil {
		p.log.Debug("receive pipeline ended", "session", session, "kind", kind.String(), "err", err)
	}
}

func (p *Participant) reader(rt transport.RemoteTrack, kind framing.Kind) receive.RTPReader {
	if p.cfg.test == nil || p.cfg.test.rtp == nil {
		return rt.Track
	}
	return tapReader{r: rt.Track, tap: func(b []byte) { p.cfg.test.rtp(rt.SessionID.String(), kind, b) }}
}

// decoder wraps stage 4 with the test hook, if any.
func decoder[T any](p *Participant, session string, kind framing.Kind, dec func([]byte) (T, error)) func([]byte) (T, error) {
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

// SessionID is this participant's relay session ID.
func (p *Participant) SessionID() string { return p.conn.SessionID().String() }

// Conn is the relay connection, for the meeting protocol's envelopes and
// membership events. The caller must keep reading Conn().Events().
func (p *Participant) Conn() *transport.Conn { return p.conn }

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

// SetReceiveKey installs another participant's key for KID kid, on
// whichever track its frames arrive. The caller may zero baseKey
// afterwards. Prefer SetReceiveKeyFrom when the sender's session is known.
func (p *Participant) SetReceiveKey(kid uint64, baseKey []byte) error {
	p.ownersMu.Lock()
	delete(p.owners, kid)
	p.ownersMu.Unlock()
	return p.rx.SetKey(kid, baseKey)
}

// SetReceiveKeyFrom installs the key for KID kid of the participant whose
// relay session is session: frames under kid are accepted only on that
// session's tracks. The relay names the publisher of each track it
// forwards, so without the binding it could show one member's media in
// another's place; with it, such frames are dropped and counted as auth
// failures. The caller may zero baseKey afterwards.
func (p *Participant) SetReceiveKeyFrom(session string, kid uint64, baseKey []byte) error {
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
	session string
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
	return p.video.SetSource(streamSource{s})
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
}

// Stats returns a snapshot; safe from any goroutine.
func (p *Participant) Stats() Stats {
	s := Stats{Session: p.conn.SessionID().String(), Remotes: make(map[string]RemoteStats)}
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
		s.Remotes[id] = rs
	}
	return s
}

// Close leaves the meeting, stops every pipeline and zeroes the keys. It
// does not close the local streams.
func (p *Participant) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stop()
	err := p.conn.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// A send pipeline blocked in its source's ReadFrame ends when
		// the caller closes the source.
	}
	p.keys.Close()
	p.rx.Destroy()
	return err
}

// streamSource adapts a capture stream to the send pipeline.
type streamSource struct{ s Stream }

func (s streamSource) ReadFrame() (send.Frame, error) {
	f, err := s.s.ReadFrame()
	return send.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: f.Duration, CaptureTime: f.CaptureTime, Release: f.Release}, err
}

func (s streamSource) RequestKeyframe() { s.s.RequestKeyframe() }
