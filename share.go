package main

// Screen sharing and speaker choice, the session's side.
//
// Sharing switches the one published video track from the camera to a
// screen (participant.SetVideoSource): receivers see the same track, which
// changes picture size at a keyframe. Stopping switches it back to the
// camera, whose on/off choice is kept while sharing. The member's own tile
// shows what the others see: the screen while sharing. A member who joined
// without a camera publishes an idle video track (no frames) so that a
// screen can still be shared. The screen is the first one capture.Devices
// lists.

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/participant"
)

const (
	// defaultSpeakerID is the speaker picker's entry for the system's
	// default output.
	defaultSpeakerID = "default"
	// screenBitrate is the VP8 target while sharing: screens are larger
	// than camera pictures and carry text (10 frames a second).
	screenBitrate = 1_500_000
	// idleEvery is how often the idle video stream yields an empty frame,
	// so that a switch to the screen takes effect promptly.
	idleEvery = 50 * time.Millisecond
)

// errNoScreen is returned when there is no screen to share.
var errNoScreen = errors.New("no screen found to share")

// speakerDevices lists the speaker picker's entries: the system default
// first, then every playback device the sound system reports. Labels are
// made unique (the picker selects by label).
func speakerDevices() []app.Device {
	out := []app.Device{{ID: defaultSpeakerID, Label: "System default output"}}
	devs, err := playout.Devices()
	if err != nil {
		return out
	}
	seen := map[string]int{out[0].Label: 1}
	for _, d := range devs {
		label := d.Name
		if d.Default {
			label += " (default)"
		}
		if n := seen[label]; n > 0 {
			seen[label] = n + 1
			label = fmt.Sprintf("%s (%d)", label, n+1)
		}
		seen[label]++
		out = append(out, app.Device{ID: d.ID, Label: label})
	}
	return out
}

// outputDevice maps a speaker choice to playout's DeviceID ("" = default).
func outputDevice(choice string) string {
	if choice == defaultSpeakerID {
		return ""
	}
	return choice
}

// openOutput starts playing the mix on the chosen speaker, or the default
// output device. A chosen speaker that is gone falls back to the default
// with a note. Without any output device the mix still runs on miniaudio's
// null device, so levels and the active speaker work, and the user is told
// why they hear nothing.
func (s *session) openOutput() error {
	out, err := playout.OpenOutput(s.mixer, playout.OutputOptions{DeviceID: outputDevice(s.cfg.Speaker)})
	if errors.Is(err, playout.ErrDeviceGone) {
		s.audioNote = "The chosen speaker is not available, so sound plays on the system's default output. Choose another speaker in Settings."
		out, err = playout.OpenOutput(s.mixer, playout.OutputOptions{})
	}
	if err != nil {
		s.audioNote = "No audio output device was found, so you will not hear the others. Connect speakers or headphones and rejoin."
		out, err = playout.OpenOutput(s.mixer, playout.OutputOptions{Backends: []malgo.Backend{playout.BackendNull}})
		if err != nil {
			return fmt.Errorf("start audio playback: %w", err)
		}
	}
	s.out = out
	return nil
}

// screenShare is a session's sharing state.
type screenShare struct {
	mu     sync.Mutex
	camera participant.Stream // what the track shows when not sharing
	camOn  bool               // the member's camera choice
	screen *capture.Source    // open while sharing
	untap  func()             // ends the screen's self view
	closed bool               // the session's media has stopped
	// active is set while sharing; the camera's self view pauses.
	active atomic.Bool
}

// videoStream is the stream to publish: the camera, or without one an
// idle stream (bots publish nothing).
func (s *session) videoStream() participant.Stream {
	if v := s.src.Video(); v != nil {
		return v
	}
	if s.cfg.Headless {
		return nil
	}
	return newIdleVideo()
}

// setCamera records the camera choice; while sharing it applies when the
// share stops.
func (s *session) setCamera(on bool) error {
	if s.src.Video() == nil && on {
		return errors.New("no camera is available")
	}
	s.share.mu.Lock()
	defer s.share.mu.Unlock()
	s.share.camOn = on
	if s.share.screen == nil {
		s.part.SetVideoEnabled(on)
	}
	return nil
}

// setScreenShare switches the video track to the screen (on) or back.
func (s *session) setScreenShare(on bool) error {
	s.share.mu.Lock()
	defer s.share.mu.Unlock()
	if s.share.closed {
		return errors.New("the meeting has ended")
	}
	if on == (s.share.screen != nil) {
		return nil
	}
	if !on {
		if err := s.part.SetVideoSource(s.share.camera); err != nil {
			return err
		}
		s.part.SetVideoEnabled(s.share.camOn)
		s.closeScreen()
		return nil
	}
	if s.share.camera == nil {
		return errors.New("this meeting publishes no video")
	}
	id, err := pickScreen()
	if err != nil {
		return err
	}
	scr, err := capture.Open(capture.Options{Video: capture.Screen(id), VideoBitrate: screenBitrate})
	if err != nil {
		return fmt.Errorf("open the screen: %w", err)
	}
	if err := s.part.SetVideoSource(scr.Video()); err != nil {
		scr.Close()
		return err
	}
	s.part.SetVideoEnabled(true)
	s.share.screen = scr
	s.share.active.Store(true)
	if !s.cfg.Headless {
		self := s.self
		s.share.untap = scr.OnVideoImage(func(img image.Image) { s.deliver(self, img) })
	}
	return nil
}

// closeScreen ends sharing's self view and closes the screen; the caller
// holds share.mu.
func (s *session) closeScreen() {
	s.share.active.Store(false)
	if s.share.untap != nil {
		s.share.untap()
		s.share.untap = nil
	}
	s.share.screen.Close()
	s.share.screen = nil
}

// stopShare closes the screen after the participant has stopped.
func (s *session) stopShare() {
	s.share.mu.Lock()
	defer s.share.mu.Unlock()
	s.share.closed = true
	if s.share.screen != nil {
		s.closeScreen()
	}
}

// pickScreen returns the ID of the first screen capture knows.
func pickScreen() (string, error) {
	devs, err := capture.Devices()
	if err != nil {
		return "", err
	}
	for _, d := range devs {
		if d.Kind == capture.KindScreen {
			return d.ID, nil
		}
	}
	return "", errNoScreen
}

// idleVideo is a video stream without pictures: an empty frame every
// idleEvery, which the send pipeline skips.
type idleVideo struct{}

func newIdleVideo() *idleVideo { return &idleVideo{} }

func (v *idleVideo) ReadFrame() (capture.Frame, error) {
	time.Sleep(idleEvery)
	return capture.Frame{Duration: idleEvery, Release: func() {}}, nil
}

func (v *idleVideo) RequestKeyframe() {}
