package participant

import (
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/internal/xvfbtest"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/relay/signal"
)

// patternStream is a local video stream of its own size: a picture whose
// left half is bright (luma 200) and right half dark (luma 40), with a
// moving square, encoded by the real VP8 encoder at 30 fps.
type patternStream struct {
	enc    *vp8.Encoder
	img    *image.YCbCr
	tick   *time.Ticker
	closed chan struct{}
	once   sync.Once
	n      int
}

func newPatternStream(t testing.TB, w, h int) *patternStream {
	t.Helper()
	enc, err := vp8.NewEncoder(w, h, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	s := &patternStream{enc: enc, img: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		tick: time.NewTicker(time.Second / 30), closed: make(chan struct{})}
	t.Cleanup(s.Close)
	return s
}

func (s *patternStream) draw() {
	img := s.img
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := byte(40)
			if x < w/2 {
				v = 200
			}
			img.Y[y*img.YStride+x] = v
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	sq := 32
	x0, y0 := (s.n*4)%(w-sq), (s.n*2)%(h-sq)
	for y := y0; y < y0+sq; y++ {
		for x := x0; x < x0+sq; x++ {
			img.Y[y*img.YStride+x] = 128
		}
	}
}

func (s *patternStream) ReadFrame() (capture.Frame, error) {
	for {
		select {
		case <-s.closed:
			return capture.Frame{}, io.EOF
		case <-s.tick.C:
		}
		s.draw()
		f, err := s.enc.Encode(s.img, int64(s.n)*3000, 3000)
		s.n++
		if err != nil {
			return capture.Frame{}, err
		}
		if f.Data == nil {
			continue // rate control skipped it
		}
		return capture.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: time.Second / 30,
			CaptureTime: time.Now(), Release: func() {}}, nil
	}
}

func (s *patternStream) RequestKeyframe() { s.enc.ForceKeyFrame() }

func (s *patternStream) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.tick.Stop()
	})
}

// seen is what the receiving side decoded from the sharer, in order.
type seen struct {
	mu     sync.Mutex
	sizes  []image.Point
	frames []receive.FrameInfo
	// luma of the left and right quarter of the last picture's middle row
	left, right byte
}

func (s *seen) count(size image.Point) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sz := range s.sizes {
		if sz == size {
			n++
		}
	}
	return n
}

func (s *seen) waitFor(t *testing.T, size image.Point, n int, what string) {
	t.Helper()
	waittest.Until(t, fmt.Sprintf("%s: %d pictures of %v decoded", what, n, size), 30*time.Second, func() bool { return s.count(size) >= n })
}

// switchMeeting joins a sharer (publishing first) and a viewer through the
// real relay on loopback, with keys set, and returns them once the viewer
// decodes the first stream.
func switchMeeting(t *testing.T, first Stream) (sharer, viewer *Participant, v *seen) {
	t.Helper()
	url := startRelay(t)
	meeting := signal.NewID()
	v = &seen{}
	sessions := map[*Participant]signal.ID{}
	join := func(video Stream, onVideo func(signal.ID, image.Image), onDecoded func(signal.ID, receive.FrameInfo)) *Participant {
		p, conn := dialTest(t, transport.Config{URL: url, MeetingID: meeting, SettingEngine: signal.LoopbackOnly}, Config{
			Video: video, OnVideo: onVideo, OnDecoded: onDecoded,
		})
		sessions[p] = conn.SessionID()
		return p
	}
	sharer = join(first, nil, nil)
	viewer = join(nil, func(_ signal.ID, img image.Image) {
		b := img.Bounds()
		v.mu.Lock()
		v.sizes = append(v.sizes, b.Size())
		if y, ok := img.(*image.YCbCr); ok {
			mid := b.Dy() / 2
			v.left = y.Y[mid*y.YStride+b.Dx()/8]
			v.right = y.Y[mid*y.YStride+b.Dx()*7/8]
		}
		v.mu.Unlock()
	}, func(_ signal.ID, fi receive.FrameInfo) {
		v.mu.Lock()
		v.frames = append(v.frames, fi)
		v.mu.Unlock()
	})
	key := []byte("screen share test key, kid 7....")
	if err := viewer.SetReceiveKey(sessions[sharer], 7, key); err != nil {
		t.Fatal(err)
	}
	if err := sharer.SetSendKey(7, key); err != nil {
		t.Fatal(err)
	}
	return sharer, viewer, v
}

// checkClean asserts that the viewer decoded every frame it got from the
// sharer in order under one key, with no decrypt or decode failure.
func checkClean(t *testing.T, sharer, viewer *Participant, v *seen, switches uint64) {
	t.Helper()
	st, ok := viewer.Stats().Remotes[sharer.Stats().Session]
	if !ok || st.Video == nil {
		t.Fatal("viewer has no video stats of the sharer")
	}
	if st.Video.DecryptFailures != 0 || st.Video.Dropped.DecodeError != 0 {
		t.Fatalf("viewer dropped sharer frames: %+v", st.Video.Dropped)
	}
	sent := sharer.Stats().Sent.Video
	if sent.SourceSwitches != switches {
		t.Fatalf("sharer switched %d times, want %d", sent.SourceSwitches, switches)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, fi := range v.frames {
		if fi.KID != 7 {
			t.Fatalf("frame %d under KID %d", i, fi.KID)
		}
		if i > 0 && fi.CTR <= v.frames[i-1].CTR {
			t.Fatalf("frame %d: counter %d after %d (one SFrame stream expected)", i, fi.CTR, v.frames[i-1].CTR)
		}
	}
	t.Logf("viewer decoded %d frames; sharer %+v; viewer %+v", len(v.frames), sent, st.Video)
}

// A participant switches its one video track from the synthetic camera
// (320×240) to another source of a different size (640×360, the real VP8
// encoder) and back, through the real relay: the viewer decodes pictures of
// the new size right after each switch, never an old-size picture after a
// new-size one until the next switch, and nothing fails to decrypt.
func TestVideoSourceSwitchChangesSizeOnOneTrack(t *testing.T) {
	cam, err := capture.Open(capture.Options{Video: capture.SyntheticVideo(), Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	small, large := image.Pt(320, 240), image.Pt(640, 360)
	sharer, viewer, v := switchMeeting(t, cam.Video())
	v.waitFor(t, small, 10, "camera before sharing")

	screen := newPatternStream(t, 640, 360)
	if err := sharer.SetVideoSource(screen); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	atSwitch := len(v.sizes)
	v.mu.Unlock()
	switched := time.Now()
	v.waitFor(t, large, 1, "after switching to the shared source")
	t.Logf("first picture of the new source decoded %v after the switch", time.Since(switched).Round(time.Millisecond))
	v.waitFor(t, large, 20, "after switching to the shared source")
	v.mu.Lock()
	left, right := v.left, v.right
	firstLarge := -1
	for i, sz := range v.sizes[atSwitch:] {
		if sz == large && firstLarge < 0 {
			firstLarge = atSwitch + i
		}
		if firstLarge >= 0 && sz != large {
			v.mu.Unlock()
			t.Fatalf("a %v picture after the first %v one", sz, large)
		}
	}
	v.mu.Unlock()
	// The decoded pictures are the shared source's: bright left, dark right.
	if left < 170 || right > 70 {
		t.Fatalf("decoded shared picture has luma %d left, %d right; want about 200 and 40", left, right)
	}

	// Stop sharing: back to the camera, and the shared stream is closed.
	if err := sharer.SetVideoSource(cam.Video()); err != nil {
		t.Fatal(err)
	}
	screen.Close()
	before := v.count(small)
	v.waitFor(t, small, before+10, "after stopping sharing")
	checkClean(t, sharer, viewer, v, 2)

	if err := viewer.SetVideoSource(screen); err == nil {
		t.Fatal("a participant without a video track accepted a video source")
	}
	if err := sharer.SetVideoSource(nil); err == nil {
		t.Fatal("nil video source accepted")
	}
}

// The real screen driver: a participant switches from the synthetic camera
// to the X11 screen of a virtual X server (800×600) through the relay. The
// screen driver finds displays when the process starts, so the meeting runs
// in a child process with DISPLAY set.
func TestScreenShareUnderXvfb(t *testing.T) {
	if os.Getenv("SOTTO_SCREEN_CHILD") == "1" {
		screenShareChild(t)
		return
	}
	display := xvfbtest.Start(t, 800, 600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestScreenShareUnderXvfb$", "-test.v")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "SOTTO_SCREEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func screenShareChild(t *testing.T) {
	devs, err := capture.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var screenID string
	for _, d := range devs {
		if d.Kind == capture.KindScreen {
			screenID = d.ID
		}
	}
	if screenID == "" {
		t.Fatalf("no screen on DISPLAY %s", os.Getenv("DISPLAY"))
	}
	cam, err := capture.Open(capture.Options{Video: capture.SyntheticVideo(), Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	sharer, viewer, v := switchMeeting(t, cam.Video())
	v.waitFor(t, image.Pt(320, 240), 10, "camera before sharing")

	scr, err := capture.Open(capture.Options{Video: capture.Screen(screenID)})
	if err != nil {
		t.Fatal(err)
	}
	defer scr.Close()
	if err := sharer.SetVideoSource(scr.Video()); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, image.Pt(800, 600), 5, "screen")
	if err := sharer.SetVideoSource(cam.Video()); err != nil {
		t.Fatal(err)
	}
	scr.Close()
	before := v.count(image.Pt(320, 240))
	v.waitFor(t, image.Pt(320, 240), before+5, "camera after sharing")
	checkClean(t, sharer, viewer, v, 2)
}
