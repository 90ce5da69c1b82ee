package call

import (
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/internal/xvfbtest"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/playout"
)

// meetingOfTwo hosts a meeting on the embedded relay with synthetic media
// (the host without a camera if noCamera) and admits a guest.
func meetingOfTwo(t *testing.T, noCamera bool) (host, guest *Call) {
	t.Helper()
	c, contacts, media := testDialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if noCamera {
		er, err := c.startEmbedded()
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.config(newIdentity(t), "Host", contacts, media)
		cfg.Host = true
		cfg.RelayURL = er.localURL()
		cfg.Link = meeting.Link{Relay: er.advertise, Insecure: true}
		cfg.Capture.Video = capture.VideoSource{}
		if host, err = Start(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(host.Leave)
	} else {
		host = hostOnThisComputer(ctx, t, c, contacts, media)
	}
	inv, err := c.ParseInvite(host.InviteLink())
	if err != nil {
		t.Fatal(err)
	}
	jm, err := c.Join(ctx, JoinRequest{Self: newIdentity(t), Name: "Guest", Invite: inv, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	guest = jm.(*Call)
	t.Cleanup(guest.Leave)
	w := expect(t, host, "the guest in the waiting room", func(e WaitingChanged) bool { return len(e.Joiners) == 1 })
	if err := host.Admit(w.Joiners[0].ID); err != nil {
		t.Fatal(err)
	}
	expect(t, guest, "admission", func(Admitted) bool { return true })
	return host, guest
}

// waitPictures reads s's video until n pictures of size from member
// arrived, ignoring other sizes and members.
func waitPictures(t *testing.T, s *Call, member string, size image.Point, n int, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	got := 0
	for got < n {
		select {
		case f := <-s.Video():
			if f.Member == member && f.Image.Bounds().Size() == size {
				got++
			}
		case <-deadline:
			t.Fatalf("%s: %d pictures of %v from the host, want %d", what, got, size, n)
		}
	}
}

// noPictures fails if s delivers a picture of size from member within d.
func noPictures(t *testing.T, s *Call, member string, size image.Point, d time.Duration, what string) {
	t.Helper()
	end := time.After(d)
	for {
		select {
		case f := <-s.Video():
			if f.Member == member && f.Image.Bounds().Size() == size {
				t.Fatalf("%s: a %v picture", what, size)
			}
		case <-end:
			return
		}
	}
}

// The meeting's screen-share control over the real engine: the host shares
// the X11 screen of a virtual display (800×600) and the guest decodes it on
// the host's video track, while the host's own tile shows it too; turning the camera off while sharing keeps the
// share; stopping returns to the camera (320×240). The screen driver finds
// displays when the process starts, so the meeting runs in a child process
// with DISPLAY set.
func TestSessionScreenShare(t *testing.T) {
	if os.Getenv("SOTTO_SHARE_CHILD") == "1" {
		sessionShareChild(t)
		return
	}
	display := xvfbtest.Start(t, 800, 600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSessionScreenShare$", "-test.v")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "SOTTO_SHARE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func sessionShareChild(t *testing.T) {
	t.Run("camera", shareFromCamera)
	t.Run("no camera", shareWithoutCamera)
}

func shareFromCamera(t *testing.T) {
	host, guest := meetingOfTwo(t, false)
	camera, screen := image.Pt(320, 240), image.Pt(800, 600)
	waitPictures(t, guest, host.self, camera, 5, "camera before sharing")

	baseFailed, baseWaiting := guestDrops(guest, host)
	if err := host.SetScreenShare(true); err != nil {
		t.Fatal(err)
	}
	waitPictures(t, guest, host.self, screen, 5, "screen")
	// The host's own tile shows the screen, not the camera, while sharing.
	waitPictures(t, host, host.self, screen, 3, "the host's own view of the screen")
	noPictures(t, host, host.self, camera, 500*time.Millisecond, "the host's camera view while sharing")
	if err := host.SetCamera(false); err != nil {
		t.Fatal(err)
	}
	waitPictures(t, guest, host.self, screen, 5, "screen with the camera turned off")
	if err := host.SetCamera(true); err != nil {
		t.Fatal(err)
	}
	if err := host.SetScreenShare(false); err != nil {
		t.Fatal(err)
	}
	waitPictures(t, guest, host.self, camera, 5, "camera after sharing")
	waitPictures(t, host, host.self, camera, 3, "the host's own camera view after sharing")

	// The track kept flowing: not one frame lost or waiting for a keyframe.
	if f, w := guestDrops(guest, host); f != baseFailed || w != baseWaiting {
		t.Fatalf("guest dropped host video across the share: %+v", guest.part.Stats().Remotes[host.self].Video)
	}
	if sw := host.part.Stats().Sent.Video.SourceSwitches; sw != 2 {
		t.Fatalf("host switched its video source %d times, want 2", sw)
	}
}

// The speaker picker's list is the system default followed by the real
// playback devices the sound system reports, by their ID.
func TestSpeakerDevicesListPlaybackDevices(t *testing.T) {
	list := speakerDevices()
	if len(list) == 0 || list[0].ID != defaultSpeakerID {
		t.Fatalf("speaker list %+v does not start with the system default", list)
	}
	devs, err := playout.Devices()
	if err != nil {
		t.Logf("no playback devices: %v", err)
	}
	labels := map[string]bool{}
	for _, e := range list[1:] {
		i := slices.IndexFunc(devs, func(d playout.Device) bool { return d.ID == e.ID })
		if i < 0 || !strings.HasPrefix(e.Label, devs[i].Name) || !realSoundDevice(runtime.GOOS, e.ID) {
			t.Fatalf("entry %+v is not a real playback device of %+v", e, devs)
		}
		if labels[e.Label] {
			t.Fatalf("two entries labelled %q", e.Label)
		}
		labels[e.Label] = true
	}
	if outputDevice(defaultSpeakerID) != "" || outputDevice("6869") != "6869" {
		t.Fatal("speaker choice not mapped to the output device ID")
	}
}

// alsaID is miniaudio's device ID for an ALSA or PulseAudio name.
func alsaID(name string) string { return hex.EncodeToString([]byte(name)) }

// What ALSA lists on a Debian machine with libasound2-plugins, and what
// PulseAudio lists: only the hardware and the sound server's real sinks
// reach the picker, under their readable names.
func TestSpeakerEntriesHidePluginsAndNullDevices(t *testing.T) {
	devs := []playout.Device{
		{ID: alsaID("null"), Name: "Discard all samples (playback) or generate zero samples (capture)"},
		{ID: alsaID("samplerate"), Name: "Rate Converter Plugin Using Samplerate Library"},
		{ID: alsaID("speexrate"), Name: "Rate Converter Plugin Using Speex Resampler"},
		{ID: alsaID("jack"), Name: "JACK Audio Connection Kit"},
		{ID: alsaID("oss"), Name: "Open Sound System"},
		{ID: alsaID("pulse"), Name: "PulseAudio Sound Server"},
		{ID: alsaID("upmix"), Name: "Plugin for channel upmix (4,6,8)"},
		{ID: alsaID("default"), Name: "Default ALSA Output", Default: true},
		{ID: alsaID(":0,0"), Name: "HDA Intel PCH, ALC892 Analog"},
		{ID: alsaID(":0,3"), Name: "HDA Intel PCH, HDMI 0"},
		{ID: alsaID("alsa_output.usb-Logitech_Headset-00.analog-stereo"), Name: "Logitech Headset Analog Stereo", Default: true},
		{ID: alsaID("auto_null"), Name: "Dummy Output"},
	}
	var got []string
	for _, e := range speakerEntries(devs, "linux") {
		got = append(got, e.Label)
	}
	want := []string{"System default output", "HDA Intel PCH, ALC892 Analog", "HDA Intel PCH, HDMI 0", "Logitech Headset Analog Stereo (default)"}
	if !slices.Equal(got, want) {
		t.Fatalf("speaker entries %q, want %q", got, want)
	}
	// Other systems' IDs are not ALSA names.
	mac := []playout.Device{{ID: alsaID("BuiltInSpeakerDevice"), Name: "MacBook Pro Speakers"}}
	if e := speakerEntries(mac, "darwin"); len(e) != 2 || e[1].Label != "MacBook Pro Speakers" {
		t.Fatalf("macOS speaker hidden: %+v", e)
	}

	mics := []capture.Device{
		{Kind: capture.KindMicrophone, Label: alsaID("null"), Name: "Discard all samples (playback) or generate zero samples (capture)"},
		{Kind: capture.KindMicrophone, Label: alsaID("speexrate"), Name: "Rate Converter Plugin Using Speex Resampler"},
		{Kind: capture.KindMicrophone, Label: alsaID(":1,0"), Name: "USB Audio, USB Audio"},
		{Kind: capture.KindMicrophone, Label: alsaID("alsa_output.pci-0000_00_1f.3.analog-stereo.monitor"), Name: "Monitor of Built-in Audio"},
		{Kind: capture.KindMicrophone, Label: capture.SyntheticAudioLabel, Synthetic: true},
	}
	got = nil
	for _, e := range (LocalDevices{}).entries(mics, capture.KindMicrophone, "linux") {
		got = append(got, e.Label)
	}
	want = []string{"USB Audio, USB Audio", "Test tone (no device)"}
	if !slices.Equal(got, want) {
		t.Fatalf("microphone entries %q, want %q", got, want)
	}
}

// A chosen speaker plays the meeting's mix; a speaker that is gone falls
// back to the default output (or the null device) with a note, never a
// failed join. Every speaker the picker lists opens, whatever plugins the
// machine's sound system has.
func TestSessionOutputUsesChosenSpeaker(t *testing.T) {
	for _, d := range speakerDevices()[1:] {
		s := &Call{cfg: Config{Speaker: d.ID}, mixer: playout.NewMixer()}
		if err := s.openOutput(); err != nil {
			t.Fatalf("open %q: %v", d.Label, err)
		}
		if s.audioNote != "" {
			t.Errorf("chosen speaker %q did not open: %s", d.Label, s.audioNote)
		}
		waittest.Until(t, "speaker "+d.Label+" asking for audio", 5*time.Second, func() bool {
			frames, _ := s.out.Played()
			return frames > 0
		})
		s.out.Close()
	}
	s := &Call{cfg: Config{Speaker: "ffee01"}, mixer: playout.NewMixer()}
	if err := s.openOutput(); err != nil {
		t.Fatalf("a missing speaker failed the join: %v", err)
	}
	defer s.out.Close()
	if s.audioNote == "" {
		t.Fatal("a missing speaker was replaced without a note")
	}
	t.Logf("note: %s", s.audioNote)
}

// A member who joined without a camera publishes an idle video track, so
// sharing still works; stopping sends nothing again.
func shareWithoutCamera(t *testing.T) {
	host, guest := meetingOfTwo(t, true)
	if err := host.SetCamera(true); err == nil {
		t.Fatal("camera turned on without a camera")
	}
	baseFailed, _ := guestDrops(guest, host)
	if err := host.SetScreenShare(true); err != nil {
		t.Fatal(err)
	}
	waitPictures(t, guest, host.self, image.Pt(800, 600), 5, "screen without a camera")
	if err := host.SetScreenShare(false); err != nil {
		t.Fatal(err)
	}
	// The host's audio keeps flowing: the witness that its video had time
	// to send frames (first the ones in flight) and sent none after them.
	audioFlow(t, host, 15)
	before := host.part.Stats().Sent.Video.Frames
	audioFlow(t, host, 25)
	if after := host.part.Stats().Sent.Video.Frames; after != before {
		t.Fatalf("%d video frames sent after sharing stopped without a camera", after-before)
	}
	// The track's first packets may race the relay's subscription (the
	// guest then waits for a keyframe, as for any new track); nothing may
	// fail to decrypt or decode.
	if f, _ := guestDrops(guest, host); f != baseFailed {
		t.Fatalf("guest could not decrypt or decode host video: %+v", guest.part.Stats().Remotes[host.self].Video)
	}
}

// audioFlow waits until c sent n more audio frames (20 ms each).
func audioFlow(t *testing.T, c *Call, n uint64) {
	t.Helper()
	frames := func() uint64 { return c.part.Stats().Sent.Audio.Frames }
	want := frames() + n
	waittest.Until(t, fmt.Sprintf("%d audio frames sent", want), 30*time.Second, func() bool { return frames() >= want })
}

// guestDrops counts the host's video frames the guest could not decrypt
// or decode, and those it dropped waiting for a keyframe. Frames that
// raced the first key delivery at the start of the meeting are counted
// before sharing begins, so tests compare counts.
func guestDrops(guest, host *Call) (failed, waiting uint64) {
	st := guest.part.Stats().Remotes[host.self]
	if st.Video == nil {
		return 0, 0
	}
	return st.Video.DecryptFailures + st.Video.Dropped.DecodeError, st.Video.Dropped.WaitingKeyframe
}
