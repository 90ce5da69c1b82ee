package main

// A meeting session puts one participant together:
//
//  1. capture (media/capture) opens the camera and microphone encoders;
//  2. participant connects to the relay and runs the media pipelines,
//     delivering decoded pictures and audio;
//  3. meetingnet runs the meeting protocol over the relay connection and
//     installs the frame keys it hands out in the participant;
//  4. run translates protocol events into the app's events and tracks the
//     active speaker; pictures go to the app's video channel, copied.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/meetingnet"
	"github.com/sottohq/sotto/participant"
	"github.com/sottohq/sotto/relay/signal"
	"github.com/sottohq/sotto/transport"
)

const (
	// leaveTimeout bounds how long leaving waits for the notice to go out.
	leaveTimeout = 2 * time.Second
	// eventBuffer and videoBuffer size the channels to the UI. Video is
	// dropped when the UI lags; events are not.
	eventBuffer = 256
	videoBuffer = 16
	// speakerEvery is how often the active speaker is re-evaluated.
	speakerEvery = 300 * time.Millisecond
	// speechThreshold is the level (RMS of full scale, about −34 dBFS)
	// above which a member counts as speaking.
	speechThreshold = 0.02
)

// sessionConfig configures startSession.
type sessionConfig struct {
	Self     *identity.Identity
	Name     string
	Contacts meeting.ContactBook // nil: none (demo bots)
	// Link: for a joiner the parsed invite; for a host its Relay and
	// Insecure fields say what to put in the invite link.
	Link meeting.Link
	// RelayURL is where to connect (may differ from the link's address for
	// a relay on this computer).
	RelayURL string
	Host     bool
	Capture  capture.Options
	// CameraOn and MicOn are the lobby's choices.
	CameraOn, MicOn bool
	// Speaker is the chosen playback device (playout.Device.ID); empty or
	// "default" is the system default.
	Speaker string
	// LoopbackOnly keeps ICE on the loopback interface (demo).
	LoopbackOnly bool
	// Headless skips delivering pictures (bots).
	Headless bool
	// AutoAdmit, if set, is asked about each joiner (demo: its own bots).
	AutoAdmit func(identity.Public) bool
	Logger    *slog.Logger
}

// session implements app.Meeting.
type session struct {
	cfg   sessionConfig
	src   *capture.Source
	part  *participant.Participant
	ns    *meetingnet.Session
	self  string
	link  string
	mixer *playout.Mixer
	out   *playout.Output
	// audioNote, if set, tells the user why they hear nothing.
	audioNote string

	quit   chan struct{}
	done   chan struct{}
	events chan app.Event

	videoMu     sync.RWMutex
	video       chan app.VideoFrame
	videoClosed bool
	untap       func()

	codeMu sync.Mutex
	code   app.SecurityCode

	// Owned by run.
	rotating bool
	epoch    uint64
	speaker  string
	ended    bool
	netDone  chan struct{}
	// pendingAdmit holds auto-admitted joiners whose admission failed.
	pendingAdmit map[string]bool

	quitOnce sync.Once
	micOn    atomic.Bool
	share    screenShare // share.go
}

// startSession opens capture, connects to the relay and starts the
// protocol as host or joiner.
func startSession(ctx context.Context, cfg sessionConfig) (*session, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &session{
		cfg:    cfg,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		events: make(chan app.Event, eventBuffer),
		video:  make(chan app.VideoFrame, videoBuffer),
		mixer:  playout.NewMixer(),

		pendingAdmit: map[string]bool{},
	}
	var err error
	s.src, err = capture.Open(cfg.Capture)
	if err != nil && cfg.Capture.Video.Kind != capture.SourceNone {
		// No usable camera: join with audio only rather than not at all.
		cfg.Capture.Video = capture.VideoSource{}
		s.src, err = capture.Open(cfg.Capture)
	}
	if err != nil {
		return nil, fmt.Errorf("open microphone or camera: %w", err)
	}

	meetingID := cfg.Link.MeetingID
	if cfg.Host {
		if meetingID, err = meeting.NewMeetingID(rand.Reader); err != nil {
			s.src.Close()
			return nil, err
		}
	}
	pc := participant.Config{
		Transport: transport.Config{URL: cfg.RelayURL, MeetingID: signal.ID(meetingID), Logger: cfg.Logger},
		AudioOut:  s.mixer,
		Logger:    cfg.Logger,
	}
	if cfg.Headless {
		pc.AudioOut = nil // bots decode audio but play nothing
	} else if err := s.openOutput(); err != nil {
		s.src.Close()
		return nil, err
	}
	if cfg.LoopbackOnly {
		pc.Transport.SettingEngine = func(se *webrtc.SettingEngine) { signal.LoopbackOnly(se) }
	}
	if v := s.videoStream(); v != nil {
		pc.Video = v
		s.share.camera = v
	}
	if a := s.src.Audio(); a != nil {
		pc.Audio = a
	}
	if !cfg.Headless {
		pc.OnVideo = func(session string, img image.Image) { s.deliver(session, img) }
	}
	s.part, err = participant.Join(ctx, pc)
	if err != nil {
		s.src.Close()
		return nil, err
	}
	s.self = s.part.SessionID()
	nc := meetingnet.Config{
		Conn: s.part.Conn(), Engine: s.part, Identity: cfg.Self, Name: cfg.Name,
		Peers: s.part.Conn().Peers(),
	}
	if cfg.Contacts != nil {
		nc.Contacts = cfg.Contacts
	}
	if cfg.Host {
		s.ns, err = meetingnet.Host(nc, meetingID)
		if err == nil {
			l := meeting.Link{Relay: cfg.Link.Relay, Insecure: cfg.Link.Insecure, Invite: s.ns.Invite()}
			s.link = l.String()
		}
	} else {
		s.ns, err = meetingnet.Join(nc, cfg.Link.Invite)
	}
	if err != nil {
		s.closeMedia()
		return nil, err
	}
	s.netDone = make(chan struct{})
	go func() {
		defer close(s.netDone)
		s.ns.Run(context.Background(), s.part.Conn().Events())
	}()
	s.share.camOn = cfg.CameraOn
	s.part.SetVideoEnabled(cfg.CameraOn)
	s.part.SetAudioEnabled(cfg.MicOn)
	s.micOn.Store(cfg.MicOn)
	if !cfg.Headless {
		self := s.self
		s.untap = s.src.OnVideoImage(func(img image.Image) {
			if !s.share.active.Load() { // while sharing, the screen is shown (share.go)
				s.deliver(self, img)
			}
		})
	}
	go s.run()
	return s, nil
}

// deliver copies a picture (the engine reuses it) and offers it to the UI,
// dropping it when the UI is behind. It runs on capture and receive
// goroutines, never the UI thread.
func (s *session) deliver(member string, img image.Image) {
	s.videoMu.RLock()
	defer s.videoMu.RUnlock()
	if s.videoClosed || len(s.video) == cap(s.video) {
		return
	}
	select {
	case s.video <- app.VideoFrame{Member: member, Image: clonePicture(img)}:
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

// run turns protocol events into app events until the meeting ends for
// this user.
func (s *session) run() {
	defer close(s.done)
	speak := time.NewTicker(speakerEvery)
	defer speak.Stop()
	if !s.cfg.Host {
		s.emit(app.Progress{Task: app.TaskAdmission})
	}
	if s.audioNote != "" {
		s.emit(app.Warning{Text: s.audioNote})
	}
	for !s.ended {
		select {
		case ev := <-s.ns.Events():
			s.handle(ev)
		case <-s.netDone:
			s.finish("the connection to the relay was lost")
		case <-speak.C:
			s.updateSpeaker()
			s.checkRotation()
			for sid := range s.pendingAdmit {
				if err := s.ns.Admit(sid); err == nil || errors.Is(err, meeting.ErrNoSuchEntry) {
					delete(s.pendingAdmit, sid)
				}
			}
		case <-s.quit:
			s.ns.Leave(leaveTimeout)
			s.finish("")
		}
	}
}

// checkRotation ends the key-rotation progress once this member switched
// to its key for the current roster epoch.
func (s *session) checkRotation() {
	if !s.rotating {
		return
	}
	if tr := s.ns.LastTransition(); tr.Epoch == s.epoch && !tr.SwitchedAt.IsZero() {
		s.rotating = false
		s.emit(app.Progress{Task: app.TaskKeyRotation, Done: true})
	}
}

// finish ends the session: media stops, channels close.
func (s *session) finish(reason string) {
	if s.ended {
		return
	}
	s.ended = true
	if reason != "" {
		s.emit(app.Ended{Reason: reason})
	}
	s.closeMedia()
	close(s.events)
	s.videoMu.Lock()
	s.videoClosed = true
	close(s.video)
	s.videoMu.Unlock()
}

func (s *session) closeMedia() {
	if s.ns != nil {
		s.ns.Close()
	}
	if s.untap != nil {
		s.untap()
	}
	if s.out != nil {
		s.out.Close()
	}
	if s.part != nil {
		s.part.Close()
	}
	s.stopShare()
	if s.src != nil {
		s.src.Close()
	}
}

// emit sends an event to the UI (blocking: events are never dropped; the
// UI reads them continuously).
func (s *session) emit(e app.Event) {
	if s.ended && !isEnded(e) {
		return
	}
	s.events <- e
}

func isEnded(e app.Event) bool { _, ok := e.(app.Ended); return ok }

func (s *session) handle(ev meeting.Event) {
	switch e := ev.(type) {
	case meeting.RosterChanged:
		if s.epoch != 0 && e.Roster.Epoch != s.epoch && !s.rotating {
			s.rotating = true
			s.emit(app.Progress{Task: app.TaskKeyRotation})
		}
		s.epoch = e.Roster.Epoch
		code := securityCode(e.Roster.Code)
		s.codeMu.Lock()
		s.code = code
		s.codeMu.Unlock()
		s.emit(app.RosterChanged{Members: members(e.Roster)})
		s.emit(app.SecurityCodeChanged{Code: code})
	case meeting.WaitingRoomChanged:
		js := make([]app.Joiner, 0, len(e.Waiting))
		for _, w := range e.Waiting {
			if s.cfg.AutoAdmit != nil && s.cfg.AutoAdmit(w.Identity) {
				if s.ns.Admit(w.Session.String()) != nil {
					s.pendingAdmit[w.Session.String()] = true // retried by run
				}
				continue
			}
			js = append(js, app.Joiner{ID: w.Session.String(), Name: w.Name, Public: w.Identity, Contact: w.Contact})
		}
		s.emit(app.WaitingChanged{Joiners: js})
	case meeting.Admitted:
		s.emit(app.Progress{Task: app.TaskAdmission, Done: true})
		s.emit(app.Admitted{})
	case meeting.Denied:
		s.finish("the host did not admit you")
	case meeting.Removed:
		s.finish("you are no longer in the meeting")
	case meeting.BecameHost:
		s.emit(app.Warning{Text: "You are now the host: you admit, deny and remove members."})
	case meeting.ChatMessage:
		s.emit(app.ChatReceived{From: e.From.String(), Name: e.Name, Text: e.Text, At: time.Now()})
	case meeting.ContactChecked:
		s.emit(app.ContactStatus{Member: e.Session.String(), Status: e.Status})
	case meeting.KeysChanged:
		for _, sid := range e.Missing {
			s.emit(app.Undecryptable{Member: sid.String()})
		}
	case meeting.Alert:
		switch e.Kind {
		case meeting.AlertUnknownSession:
			s.emit(app.RelayInjected{Session: e.Session.String()})
		case meeting.AlertForged, meeting.AlertKeyRejected, meeting.AlertMissingKey, meeting.AlertUnverifiedSender:
			s.emit(app.Undecryptable{Member: e.Session.String()})
		}
	}
}

func members(r meeting.RosterView) []app.Member {
	out := make([]app.Member, 0, len(r.Members))
	for _, m := range r.Members {
		out = append(out, app.Member{
			ID: m.Session.String(), Name: m.Name, Public: m.Identity,
			Host: m.Host, Self: m.Self, Contact: m.Contact,
		})
	}
	return out
}

func securityCode(c meeting.Code) app.SecurityCode {
	return app.SecurityCode{Digits: c.Digits(), Words: c.Words[:]}
}

// updateSpeaker picks the loudest member above the speech threshold, this
// user included.
func (s *session) updateSpeaker() {
	best, ok := s.mixer.ActiveSpeaker(speechThreshold)
	level := s.mixer.Level(best)
	if own := s.src.AudioLevel(); s.micOn.Load() && own >= speechThreshold && (!ok || own > level) {
		best, ok = s.self, true
	}
	if !ok {
		best = ""
	}
	if best != s.speaker {
		s.speaker = best
		s.emit(app.ActiveSpeaker{Member: best})
	}
}

// Events implements app.Meeting.
func (s *session) Events() <-chan app.Event { return s.events }

// Video implements app.Meeting.
func (s *session) Video() <-chan app.VideoFrame { return s.video }

// InviteLink implements app.Meeting.
func (s *session) InviteLink() string { return s.link }

// SecurityCode implements app.Meeting.
func (s *session) SecurityCode() app.SecurityCode {
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	return s.code
}

// Admit implements app.Meeting.
func (s *session) Admit(id string) error { return s.ns.Admit(id) }

// Deny implements app.Meeting.
func (s *session) Deny(id string) error { return s.ns.Deny(id) }

// Remove implements app.Meeting.
func (s *session) Remove(id string) error { return s.ns.Remove(id) }

// HandOver implements app.Meeting.
func (s *session) HandOver(id string) error { return s.ns.HandOver(id) }

// SendChat implements app.Meeting.
func (s *session) SendChat(text string) error { return s.ns.SendChat(text) }

// SetMicrophone implements app.Meeting.
func (s *session) SetMicrophone(on bool) error {
	s.part.SetAudioEnabled(on)
	s.micOn.Store(on)
	return nil
}

// SetCamera implements app.Meeting.
func (s *session) SetCamera(on bool) error { return s.setCamera(on) }

// SetScreenShare implements app.Meeting.
func (s *session) SetScreenShare(on bool) error { return s.setScreenShare(on) }

// Leave implements app.Meeting.
func (s *session) Leave() {
	s.quitOnce.Do(func() { close(s.quit) })
	<-s.done
}
