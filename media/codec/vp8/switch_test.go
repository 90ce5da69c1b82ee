package vp8_test

import (
	"image"
	"testing"

	"github.com/sottohq/sotto/media/codec/vp8"
)

// One decoder fed by two encoders in turn, as a receiver sees a sender
// switch its video track from the camera to the screen and back: each
// switch starts with a keyframe of the new source (forced; the source's
// encoder may have been running before) and the decoder follows the size
// change there, picture for picture.
func TestDecoderFollowsSourceSwitchAtKeyframe(t *testing.T) {
	small := syntheticPictures(t, 320, 240, 12)
	large := syntheticPictures(t, 640, 480, 12)
	encA := newEncoder(t, 320, 240, 400_000)
	encB := newEncoder(t, 640, 480, 1_200_000)
	dec, err := vp8.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pts int64
	encode := func(e *vp8.Encoder, p *image.YCbCr) vp8.Frame {
		t.Helper()
		pts += 3000
		f, err := e.Encode(p, pts, 3000)
		if err != nil || f.Data == nil {
			t.Fatalf("encode: %v (dropped: %v)", err, f.Data == nil)
		}
		return f
	}
	decode := func(f vp8.Frame, want *image.YCbCr, what string) {
		t.Helper()
		img, err := dec.Decode(f.Data)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if img.Rect != want.Rect {
			t.Fatalf("%s: decoded %v, want %v", what, img.Rect, want.Rect)
		}
		if d := meanAbsDiff(img.Y, want.Y); d > 12 {
			t.Fatalf("%s: luma differs from the source picture by %.1f on average", what, d)
		}
	}
	// The camera's stream, then the screen's encoder warming up unseen
	// (its frames are not sent), as when sharing starts a second time.
	for i := 0; i < 4; i++ {
		decode(encode(encA, small[i]), small[i], "camera")
	}
	for i := 0; i < 3; i++ {
		encode(encB, large[i])
	}
	// Switch: keyframe of the new source, then its inter frames.
	encB.ForceKeyFrame()
	f := encode(encB, large[3])
	if !f.Keyframe {
		t.Fatal("forced keyframe of the new source is an inter frame")
	}
	decode(f, large[3], "first shared frame")
	for i := 4; i < 8; i++ {
		decode(encode(encB, large[i]), large[i], "shared")
	}
	// And back to the camera, whose encoder kept its own references.
	encA.ForceKeyFrame()
	f = encode(encA, small[4])
	if !f.Keyframe {
		t.Fatal("forced keyframe of the camera is an inter frame")
	}
	decode(f, small[4], "camera after sharing")
	for i := 5; i < 9; i++ {
		decode(encode(encA, small[i]), small[i], "camera")
	}
	if _, rejected, corrupted := dec.Stats(); rejected != 0 || corrupted != 0 {
		t.Fatalf("decoder rejected %d and found %d corrupted frames", rejected, corrupted)
	}
}
