package call

// Screen sharing and speaker choice, a call's side.
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
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/playout"
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

// errNoCamera is returned when the camera is turned on without one.
var errNoCamera = errors.New("no camera is available")

// speakerDevices lists the speaker picker's entries: the system default
// first, then every real playback device the sound system reports (no
// plugins, no null device). Labels are made unique (the picker selects by
// label).
func speakerDevices() []Device {
	devs, _ := playout.Devices()
	return speakerEntries(devs, runtime.GOOS)
}

// speakerEntries is speakerDevices over a given device list, without the
// sound system's plugins and null devices (realSoundDevice).
func speakerEntries(devs []playout.Device, goos string) []Device {
	out := []Device{{ID: defaultSpeakerID, Label: "System default output"}}
	seen := map[string]int{out[0].Label: 1}
	for _, d := range devs {
		if !realSoundDevice(goos, d.ID) {
			continue
		}
		label := d.Name
		if d.Default {
			label += " (default)"
		}
		if n := seen[label]; n > 0 {
			seen[label] = n + 1
			label = fmt.Sprintf("%s (%d)", label, n+1)
		}
		seen[label]++
		out = append(out, Device{ID: d.ID, Label: label})
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
func (c *Call) openOutput() error {
	out, err := playout.OpenOutput(c.mixer, playout.OutputOptions{DeviceID: outputDevice(c.cfg.Speaker), OnPlayed: c.onPlayed})
	if errors.Is(err, playout.ErrDeviceGone) {
		c.audioNote = "The chosen speaker is not available, so sound plays on the system's default output. Choose another speaker in Settings."
		out, err = playout.OpenOutput(c.mixer, playout.OutputOptions{OnPlayed: c.onPlayed})
	}
	if err != nil {
		c.audioNote = "No audio output device was found, so you will not hear the others. Connect speakers or headphones and rejoin."
		out, err = playout.OpenOutput(c.mixer, playout.OutputOptions{Backends: []malgo.Backend{playout.BackendNull}, OnPlayed: c.onPlayed})
		if err != nil {
			return fmt.Errorf("start audio playback: %w", err)
		}
	}
	c.out = out
	return nil
}

// screenShare is a call's sharing state.
type screenShare struct {
	mu     sync.Mutex
	camera participant.Stream // what the track shows when not sharing
	camOn  bool               // the member's camera choice
	screen *capture.Source    // open while sharing
	untap  func()             // ends the screen's self view
	closed bool               // the call's media has stopped
	// active is set while sharing; the camera's self view pauses.
	active atomic.Bool
}

// videoStream is the stream to publish: Config.Video, the camera, or
// without one an idle stream (headless calls publish nothing).
func (c *Call) videoStream() participant.Stream {
	if c.cfg.Video != nil {
		return c.cfg.Video
	}
	if v := c.src.Video(); v != nil {
		return v
	}
	if c.cfg.Headless {
		return nil
	}
	return newIdleVideo()
}

// setCamera records the camera choice; while sharing it applies when the
// share stops.
func (c *Call) setCamera(on bool) error {
	if c.src.Video() == nil && on {
		return errNoCamera
	}
	c.share.mu.Lock()
	defer c.share.mu.Unlock()
	c.share.camOn = on
	if c.share.screen == nil {
		c.part.SetVideoEnabled(on)
	}
	return nil
}

// setScreenShare switches the video track to the screen (on) or back.
func (c *Call) setScreenShare(on bool) error {
	c.share.mu.Lock()
	defer c.share.mu.Unlock()
	if c.share.closed {
		return errors.New("the meeting has ended")
	}
	if on == (c.share.screen != nil) {
		return nil
	}
	if !on {
		if err := c.part.SetVideoSource(c.share.camera); err != nil {
			return err
		}
		c.part.SetVideoEnabled(c.share.camOn)
		c.closeScreen()
		return nil
	}
	if c.share.camera == nil {
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
	if err := c.part.SetVideoSource(scr.Video()); err != nil {
		scr.Close()
		return err
	}
	c.part.SetVideoEnabled(true)
	c.share.screen = scr
	c.share.active.Store(true)
	if !c.cfg.Headless {
		self := c.self
		c.share.untap = scr.OnVideoImage(func(img image.Image) { c.deliver(self, img) })
	}
	return nil
}

// closeScreen ends sharing's self view and closes the screen; the caller
// holds share.mu.
func (c *Call) closeScreen() {
	c.share.active.Store(false)
	if c.share.untap != nil {
		c.share.untap()
		c.share.untap = nil
	}
	c.share.screen.Close()
	c.share.screen = nil
}

// stopShare closes the screen after the participant has stopped.
func (c *Call) stopShare() {
	c.share.mu.Lock()
	defer c.share.mu.Unlock()
	c.share.closed = true
	if c.share.screen != nil {
		c.closeScreen()
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
