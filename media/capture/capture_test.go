package capture

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/media/codec/vp8"
)

func TestDevicesListsSyntheticSources(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	var video, audio bool
	for _, d := range devs {
		if d.ID == "" || d.Label == "" {
			t.Errorf("device without ID or label: %+v", d)
		}
		if d.Synthetic && d.Kind == KindCamera {
			video = true
		}
		if d.Synthetic && d.Kind == KindMicrophone {
			audio = true
		}
	}
	if !video || !audio {
		t.Fatalf("synthetic devices missing (video %v, audio %v) in %+v", video, audio, devs)
	}
}

func TestDeviceSelectionNeverDefaults(t *testing.T) {
	if _, err := Open(Options{Audio: Microphone("")}); err == nil {
		t.Fatal("empty microphone choice accepted")
	}
	if _, err := Open(Options{Video: Camera("no-such-camera")}); !errors.Is(err, errNoDevice) {
		t.Fatalf("unknown camera: got %v, want errNoDevice", err)
	}
}

func TestSelectByIDAndLabel(t *testing.T) {
	devs, _ := Devices()
	var id string
	for _, d := range devs {
		if d.Synthetic && d.Kind == KindMicrophone {
			id = d.ID
		}
	}
	for _, q := range []string{id, SyntheticAudioLabel} {
		src, err := Open(Options{Audio: Microphone(q)})
		if err != nil {
			t.Fatalf("open by %q: %v", q, err)
		}
		f, err := src.Audio().ReadFrame()
		if err != nil || len(f.Data) == 0 {
			t.Fatalf("read: %v (%d bytes)", err, len(f.Data))
		}
		src.Close()
	}
}

func TestSyntheticVideoEncodesDecodableMovingFrames(t *testing.T) {
	src, err := Open(Options{Video: SyntheticVideo(), Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var previews atomic.Int32
	remove := src.OnVideoImage(func(img image.Image) {
		if img.Bounds().Dx() == 320 {
			previews.Add(1)
		}
	})
	defer remove()
	v := src.Video()
	dec, err := vp8.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var prevY []byte
	changed := 0
	for i := 0; i < 10; i++ {
		f, err := v.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && !f.Keyframe {
			t.Fatal("first frame is not a keyframe")
		}
		if f.Duration <= 0 || f.CaptureTime.IsZero() {
			t.Fatalf("frame timing missing: %+v", f)
		}
		img, err := dec.Decode(f.Data)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if img.Rect.Dx() != 320 || img.Rect.Dy() != 240 {
			t.Fatalf("decoded %v", img.Rect)
		}
		if prevY != nil && !bytes.Equal(prevY, img.Y) {
			changed++
		}
		prevY = append(prevY[:0], img.Y...)
	}
	if changed < 5 {
		t.Fatalf("only %d of 9 decoded pictures differ from the previous one", changed)
	}
	if previews.Load() < 5 {
		t.Fatalf("preview tap saw %d pictures", previews.Load())
	}
}

func TestKeyframeOnRequest(t *testing.T) {
	src, err := Open(Options{Video: SyntheticVideo()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	v := src.Video()
	for i := 0; i < 5; i++ { // past the first keyframe
		if _, err := v.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 3; round++ {
		v.RequestKeyframe()
		got := false
		for i := 0; i < 2 && !got; i++ {
			f, err := v.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			got = f.Keyframe && vp8.IsKeyframe(f.Data)
		}
		if !got {
			t.Fatalf("round %d: no keyframe within two frames of the request", round)
		}
		f, _ := v.ReadFrame()
		if f.Keyframe {
			t.Fatalf("round %d: keyframes continue after the request was served", round)
		}
	}
}

// A keyframe request comes from an RTCP goroutine and must not wait for
// the camera: ReadFrame holds the stream's lock while it waits for a
// picture (mediadevices' own encoder reader blocks requests exactly so).
func TestKeyframeRequestWhileReadWaits(t *testing.T) {
	enc, err := vp8.NewEncoder(160, 120, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pic := image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420)
	if _, err := enc.Encode(pic, 0, 3000); err != nil { // the first keyframe
		t.Fatal(err)
	}
	// A subscriber of a device that never delivers a picture.
	s := &sub{h: &hub{}, done: make(chan struct{}), ready: make(chan struct{}, 1)}
	v := &videoStream{sub: s, enc: enc, fps: 30}
	read := make(chan error, 1)
	go func() {
		_, err := v.ReadFrame()
		read <- err
	}()
	waitReading(v)
	requested := make(chan struct{})
	go func() {
		v.RequestKeyframe()
		close(requested)
	}()
	select {
	case <-requested:
	case <-time.After(5 * time.Second):
		t.Fatal("RequestKeyframe blocked while ReadFrame waits for a picture")
	}
	close(s.done)
	if err := <-read; !errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame after the device closed: %v", err)
	}
	// The request was kept for the next picture.
	f, err := enc.Encode(pic, 3000, 3000)
	if err != nil || !f.Keyframe {
		t.Fatalf("picture after the request: keyframe %v, %v", f.Keyframe, err)
	}
}

// waitReading returns once a ReadFrame call holds v's lock: it is waiting
// for (or encoding) a picture.
func waitReading(v *videoStream) {
	for v.mu.TryLock() {
		v.mu.Unlock()
		runtime.Gosched()
	}
}

func TestSharedSyntheticDeviceAndClose(t *testing.T) {
	// Three participants in one process share the synthetic drivers.
	var srcs []*Source
	for i := 0; i < 3; i++ {
		s, err := Open(Options{Video: SyntheticVideo(), Audio: SyntheticAudio(), Width: 160, Height: 120})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		srcs = append(srcs, s)
	}
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				if _, err := s.Video().ReadFrame(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				if _, err := s.Audio().ReadFrame(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Close unblocks a reader waiting for the next frame.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := srcs[0].Video().ReadFrame(); err != nil {
				done <- err
				return
			}
		}
	}()
	waitReading(srcs[0].video)
	srcs[0].Close()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadFrame still blocked after Close")
	}
	// The others keep working.
	if _, err := srcs[1].Video().ReadFrame(); err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs[1:] {
		s.Close()
	}
	// Reopening after everyone closed works.
	s, err := Open(Options{Video: SyntheticVideo(), Audio: SyntheticAudio()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Video().ReadFrame(); err != nil {
		t.Fatal(err)
	}
}

func TestAudioLevelTracksSine(t *testing.T) {
	src, err := Open(Options{Audio: SyntheticAudio()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := src.Audio()
	for i := 0; i < 5; i++ {
		f, err := a.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		// Constant bitrate: every packet has the size 32 kbit/s gives.
		if f.Duration != 20*time.Millisecond || len(f.Data) != audioBitrate/8/50 {
			t.Fatalf("audio frame of %d bytes lasting %v", len(f.Data), f.Duration)
		}
		a.(interface{ SetExpectedLoss(int) }).SetExpectedLoss(10 * i)
		if age := time.Since(f.CaptureTime); age < 0 || age > time.Second {
			t.Fatalf("audio capture time %v ago", age)
		}
	}
	// The synthetic sine has amplitude 0.25: RMS 0.177.
	if l := src.AudioLevel(); l < 0.16 || l > 0.19 {
		t.Fatalf("audio level %.3f, want ≈0.177", l)
	}
}

func TestCloseStopsCaptureGoroutines(t *testing.T) {
	open := func() {
		s, err := Open(Options{Video: SyntheticVideo(), Audio: SyntheticAudio()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Video().ReadFrame(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Audio().ReadFrame(); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	open() // warm up lazily started runtime goroutines
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		open()
	}
	waittest.Until(t, fmt.Sprintf("goroutines after closing stay above the %d before", before), 2*time.Second, func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// Opens and closes racing each other on the same shared devices.
func TestConcurrentOpenClose(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				s, err := Open(Options{Video: SyntheticVideo(), Audio: SyntheticAudio(), Width: 160, Height: 120})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Audio().ReadFrame(); err != nil {
					t.Error(err)
				}
				if _, err := s.Video().ReadFrame(); err != nil {
					t.Error(err)
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
}

// The camera stream's encoder follows SetTargetBitrate (the uplink
// estimate) between its floor and its configured bitrate, and the frames
// it encodes after a low target are smaller (vp8's
// TestSetBitRateLowersOutput measures by how much).
func TestVideoFollowsTargetBitrate(t *testing.T) {
	src, err := Open(Options{Video: SyntheticVideo(), Width: 320, Height: 240, VideoBitrate: 600_000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	v := src.Video().(*videoStream)
	for _, c := range []struct{ set, want int }{
		{5_000_000, 600_000}, // above the ceiling
		{300_000, 300_000},
		{1, minVideoBitrate}, // below the floor
	} {
		v.SetTargetBitrate(c.set)
		if got := v.enc.BitRate(); got != c.want {
			t.Errorf("SetTargetBitrate(%d): encoder target %d, want %d", c.set, got, c.want)
		}
	}
	// The stream keeps encoding at the new target.
	for range 5 {
		f, err := v.ReadFrame()
		if err != nil || len(f.Data) == 0 && !f.Keyframe {
			t.Fatalf("after a target change: %v (%d bytes)", err, len(f.Data))
		}
		f.Release()
	}
}

// An encoder that cannot keep up (each encode made 40 ms longer, at
// 30 frames/s) makes the stream encode every second picture, frame
// durations doubling with it; once encoding is fast again the stream
// goes back to every picture.
func TestVideoSkipsPicturesWhenEncodingOverruns(t *testing.T) {
	src, err := Open(Options{Video: SyntheticVideo(), Width: 160, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	v := src.Video().(*videoStream)
	read := func(n int) (durs []time.Duration) {
		for range n {
			f, err := v.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			durs = append(durs, f.Duration)
			f.Release()
		}
		return durs
	}
	read(20)
	if v.every != 1 {
		t.Fatalf("skipping 1 in %d pictures with a fast encoder", v.every)
	}
	v.mu.Lock()
	v.slow = 40 * time.Millisecond
	v.mu.Unlock()
	read(40)
	v.mu.Lock()
	every := v.every
	v.slow = 0
	v.mu.Unlock()
	if every < 2 {
		t.Fatalf("encoding 40 ms over a 33 ms budget: still every %d picture(s)", every)
	}
	durs := read(10)
	slices.Sort(durs)
	if med := durs[len(durs)/2]; med < 55*time.Millisecond {
		t.Errorf("skipping pictures, median frame duration %v, want about %v", med, time.Duration(every)*time.Second/30)
	}
	waittest.Until(t, "the stream to encode every picture again", 10*time.Second, func() bool {
		read(5)
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.every == 1
	})
}
