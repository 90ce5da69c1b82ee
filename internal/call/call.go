// Package call owns one Sotto meeting end to end. The desktop app, its
// --demo and the headless sotto-bot all run meetings through it.
//
// Start puts one participant together, dialling the relay exactly once:
//
//  1. capture (media/capture) opens the camera and microphone encoders;
//  2. the media engine (participant) is prepared with the local streams;
//  3. the relay connection (transport) is dialled, handing remote tracks
//     to the engine, and is passed down to both sides:
//  4. the engine publishes on it and runs the receive pipelines;
//  5. the protocol driver (meetingnet) runs the meeting protocol over its
//     envelopes and installs frame keys in the engine (meetingnet.Keys);
//  6. one event loop (loop.go) feeds relay events and timer ticks to the
//     protocol and turns its events into the GUI's events (contract.go);
//     decoded pictures go to the Video channel, copied.
//
// The contract with the GUI is in contract.go; the GUI (app/) is the only
// package that imports Fyne, and this package never does.
package call

import (
	"context"
	"crypto/rand"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/meetingnet"
	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/media/audioproc"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/relay/signal"
)

const (
	// leaveTimeout bounds how long leaving waits for the notice to go out.
	leaveTimeout = 2 * time.Second
	// DefaultAdmissionTimeout is how long a joiner waits for the host to
	// admit or deny it. A host who left never answers, and nobody else
	// can (docs/PROTOCOL.md §6.8), so the wait must end.
	DefaultAdmissionTimeout = 5 * time.Minute
	// connectTimeout bounds reaching the relay and its confirmation of
	// the join: a relay that accepts the connection and never answers is
	// reported (ErrRelayNoAnswer), not waited for.
	connectTimeout = 20 * time.Second
	// videoBuffer sizes the channel of pictures to the GUI, which drops
	// pictures when it lags. Events are never dropped.
	videoBuffer = 16
)

// Config configures Start.
type Config struct {
	Self     *identity.Identity
	Name     string
	Contacts meeting.ContactBook // nil: none (demo participants, bots)
	// Link: for a joiner the parsed invite; for a host its Relay and
	// Insecure fields say what to put in the invite link, and a non-zero
	// MeetingID is the meeting to host (otherwise a random one).
	Link meeting.Link
	// RelayURL is where to connect; empty means Link.RelayURL() (it
	// differs for a relay on this computer).
	RelayURL string
	Host     bool
	// Policy is the host's admission policy (meeting.PolicyAsk: the host
	// decides in the GUI).
	Policy meeting.Policy
	// AdmissionTimeout is how long a joiner waits for the host's answer
	// before giving up (EndedNoAnswer); zero: DefaultAdmissionTimeout.
	AdmissionTimeout time.Duration
	// AutoAdmit, if set, is asked about each joiner; true admits it as if
	// the host had clicked Admit (the demo admits its own participants).
	AutoAdmit func(identity.Public) bool
	Capture   capture.Options
	// Video, if set, is published instead of the captured video (the
	// bot's VP8 file).
	Video participant.Stream
	// CameraOn and MicOn are the lobby's choices.
	CameraOn, MicOn bool
	// Speaker is the chosen playback device (Device.ID of Speakers);
	// empty or "default" is the system default.
	Speaker string
	// LoopbackOnly keeps ICE on the loopback interface (demo, tests).
	LoopbackOnly bool
	// Headless plays no sound and delivers no pictures (bots); media is
	// still decoded and counted, audio through the jitter buffers at the
	// pace of a 10 ms device (playout.Discard).
	Headless bool
	// Processing switches microphone processing off (audio.go); the
	// zero value has echo cancellation, noise suppression and gain
	// control on.
	Processing AudioProcessing
	// Record, if set, gets every period of the mix this participant
	// plays (mono 48 kHz; do not keep the slice). A Headless call then
	// mixes too, pulled at the device rate (sotto-bot's -record).
	Record func(mix []float32)
	// SharedTestKey, if set, replaces the meeting protocol with one base
	// key shared by every participant. TEST ONLY (relay and pipeline
	// tests of sotto-bot): anyone with the key reads the meeting.
	SharedTestKey []byte
	// ConnectTimeout bounds the relay's answer (0: 20 s).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Call is one running meeting; it implements Meeting.
type Call struct {
	cfg   Config
	src   *capture.Source
	conn  *transport.Conn
	part  *participant.Participant
	ns    *meetingnet.Session // nil with SharedTestKey
	keys  keying
	self  string
	link  string
	mixer *playout.Mixer
	out   *playout.Output
	// Microphone processing (audio.go).
	ref      *audioproc.Reference
	proc     *audioproc.Processor
	stopPlay chan struct{} // headless playout
	playDone chan struct{}
	// discard drives the mixer of a headless call; nil otherwise.
	discard func()
	// audioNote, if set, tells the user why they hear nothing.
	audioNote string

	quit   chan struct{}
	wake   chan struct{} // a command produced protocol output
	done   chan struct{}
	events chan Event

	videoMu     sync.RWMutex
	video       chan VideoFrame
	videoClosed bool
	untap       func()

	codeMu sync.Mutex
	code   SecurityCode

	loop     loopState // owned by run (loop.go)
	quitOnce sync.Once
	micOn    atomic.Bool
	share    screenShare // share.go
}

// Start opens capture, dials the relay once and starts the protocol as
// host or joiner. It returns once the relay confirmed the join; admission
// and keys arrive as events.
func Start(ctx context.Context, cfg Config) (*Call, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RelayURL == "" {
		cfg.RelayURL = cfg.Link.RelayURL()
	}
	if cfg.AdmissionTimeout <= 0 {
		cfg.AdmissionTimeout = DefaultAdmissionTimeout
	}
	c := &Call{
		cfg:    cfg,
		quit:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		events: make(chan Event, eventBuffer),
		video:  make(chan VideoFrame, videoBuffer),
		mixer:  playout.NewMixer(),
	}
	c.loop.pendingAdmit = map[string]bool{}
	c.loop.names = map[string]string{}
	if err := c.start(ctx); err != nil {
		c.closeMedia()
		return nil, err
	}
	go c.run()
	return c, nil
}

func (c *Call) start(ctx context.Context) error {
	cfg := c.cfg
	var err error
	// 1. capture, with the microphone processing against the played mix.
	if err := c.openProcessing(); err != nil {
		return err
	}
	cfg.Capture = c.cfg.Capture
	c.src, err = capture.Open(cfg.Capture)
	if err != nil && cfg.Capture.Video.Kind != capture.SourceNone {
		// No usable camera: join with audio only rather than not at all.
		cfg.Capture.Video = capture.VideoSource{}
		c.src, err = capture.Open(cfg.Capture)
	}
	if err != nil {
		return fmt.Errorf("open microphone or camera: %w", err)
	}
	meetingID := cfg.Link.MeetingID
	if cfg.Host && meetingID == (meeting.MeetingID{}) {
		if meetingID, err = meeting.NewMeetingID(rand.Reader); err != nil {
			return err
		}
	}
	// 2. the media engine.
	pc := participant.Config{MeetingID: signal.ID(meetingID), Logger: cfg.Logger}
	if !cfg.Headless {
		if err := c.openOutput(); err != nil {
			return err
		}
		pc.AudioOut = c.mixer
		pc.OnVideo = func(session signal.ID, img image.Image) { c.deliver(session.String(), img) }
	} else if cfg.Record != nil {
		// A headless call that records pulls the mix at the device rate
		// itself (audio.go).
		pc.AudioOut = c.mixer
		c.stopPlay, c.playDone = make(chan struct{}), make(chan struct{})
		go c.playHeadless()
	} else {
		pc.AudioOut = c.mixer
		c.discard = playout.Discard(c.mixer, 10*time.Millisecond)
	}
	if v := c.videoStream(); v != nil {
		pc.Video = v
		c.share.camera = v
	}
	if a := c.src.Audio(); a != nil {
		pc.Audio = a
	}
	if c.part, err = participant.New(pc); err != nil {
		return err
	}
	// 3. the relay connection, dialled once.
	tc := transport.Config{URL: cfg.RelayURL, MeetingID: signal.ID(meetingID), OnTrack: c.part.OnTrack, Logger: cfg.Logger}
	if cfg.LoopbackOnly {
		tc.SettingEngine = signal.LoopbackOnly
	}
	if c.conn, err = dialRelay(ctx, tc, cfg.ConnectTimeout); err != nil {
		return err
	}
	c.self = c.conn.SessionID().String()
	// 4. media on it.
	if err := c.part.Start(c.conn); err != nil {
		return err
	}
	// 5. the protocol on it.
	if c.keys, err = c.newKeying(meetingID); err != nil {
		return err
	}
	c.share.camOn = cfg.CameraOn
	c.part.SetVideoEnabled(cfg.CameraOn)
	c.part.SetAudioEnabled(cfg.MicOn)
	c.micOn.Store(cfg.MicOn)
	if !cfg.Headless {
		self := c.self
		c.untap = c.src.OnVideoImage(func(img image.Image) {
			if !c.share.active.Load() { // while sharing, the screen is shown (share.go)
				c.deliver(self, img)
			}
		})
	}
	return nil
}

// newKeying starts the meeting protocol, or the shared test key.
func (c *Call) newKeying(meetingID meeting.MeetingID) (keying, error) {
	if c.cfg.SharedTestKey != nil {
		return newSharedKey(c.cfg.SharedTestKey, c.conn, c.part)
	}
	nc := meetingnet.Config{
		Conn: c.conn, Keys: c.part, Identity: c.cfg.Self, Name: c.cfg.Name,
		Policy: c.cfg.Policy, Contacts: c.cfg.Contacts, Peers: c.conn.Peers(),
	}
	var err error
	if c.cfg.Host {
		if c.ns, err = meetingnet.Host(nc, meetingID); err != nil {
			return nil, err
		}
		l := meeting.Link{Relay: c.cfg.Link.Relay, Insecure: c.cfg.Link.Insecure, Invite: c.ns.Invite()}
		c.link = l.String()
	} else if c.ns, err = meetingnet.Join(nc, c.cfg.Link.Invite); err != nil {
		return nil, err
	}
	return protocolKeying{c.ns}, nil
}

// deliver copies a picture (the engine reuses it) and offers it to the
// GUI, dropping it when the GUI is behind. It runs on capture and receive
// goroutines, never the GUI's.
func (c *Call) deliver(member string, img image.Image) {
	c.videoMu.RLock()
	defer c.videoMu.RUnlock()
	if c.videoClosed || len(c.video) == cap(c.video) {
		return
	}
	select {
	case c.video <- VideoFrame{Member: member, Image: clonePicture(img)}:
	default:
	}
}

// clonePicture copies a decoded or captured picture.
func clonePicture(img image.Image) image.Image {
	if y, ok := img.(*image.YCbCr); ok {
		c := *y
		c.Y = append([]byte(nil), y.Y...)
		c.Cb = append([]byte(nil), y.Cb...)
		c.Cr = append([]byte(nil), y.Cr...)
		return &c
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for yy := b.Min.Y; yy < b.Max.Y; yy++ {
		for xx := b.Min.X; xx < b.Max.X; xx++ {
			out.Set(xx-b.Min.X, yy-b.Min.Y, img.At(xx, yy))
		}
	}
	return out
}

// closeMedia stops everything Start built, in reverse: the protocol
// (zeroing its keys), the relay connection (ending the receive pipelines'
// reads), the media engine (zeroing frame keys), then the devices.
func (c *Call) closeMedia() {
	if c.keys != nil {
		c.keys.close()
	}
	if c.untap != nil {
		c.untap()
	}
	if c.out != nil {
		c.out.Close()
	}
	if c.discard != nil {
		c.discard()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.part != nil {
		c.part.Close()
	}
	if c.mixer != nil {
		c.mixer.Close() // its playout goroutine and decoders
	}
	c.stopShare()
	if c.src != nil {
		c.src.Close()
	}
	c.closeAudio()
}

// Stats is what sotto-bot prints: the media engine's counters and, with
// the meeting protocol, the meeting state.
type Stats struct {
	participant.Stats
	Meeting *meetingnet.Snapshot `json:"meeting,omitempty"`
	// AudioProcessing is the microphone processor's counters.
	AudioProcessing *audioproc.Stats `json:"audio_processing,omitempty"`
}

// Stats returns a snapshot; safe from any goroutine.
func (c *Call) Stats() Stats {
	st := Stats{Stats: c.part.Stats(), AudioProcessing: c.processingStats()}
	if c.ns != nil {
		snap := c.ns.Snapshot()
		st.Meeting = &snap
	}
	return st
}
