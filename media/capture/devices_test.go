package capture

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/xvfbtest"
	"github.com/sottohq/sotto/media/codec/vp8"
)

// The real microphone driver is compiled in; on a machine without sound
// hardware it registers ALSA's "null" device, which records zeros. Every
// microphone listed (the real ones and the synthetic one, which is always
// there, so the test never passes without opening a device) must open by
// label and deliver Opus packets.
func TestMicrophonesOpenByLabel(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	opened, real := 0, 0
	for _, d := range devs {
		if d.Kind != KindMicrophone {
			continue
		}
		t.Logf("microphone %q (%s), synthetic %v", d.Label, d.DisplayName(), d.Synthetic)
		src, err := Open(Options{Audio: Microphone(d.Label)})
		if err != nil {
			t.Fatalf("open %q: %v", d.Label, err)
		}
		done := make(chan error, 1)
		go func() {
			f, err := src.Audio().ReadFrame()
			if err == nil && len(f.Data) == 0 {
				err = fmt.Errorf("empty packet")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read %q: %v", d.Label, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("microphone %q delivered nothing in 3 s", d.Label)
		}
		src.Close()
		opened++
		if !d.Synthetic {
			real++
		}
	}
	if opened == 0 {
		t.Fatalf("no microphone listed, not even the synthetic one: %+v", devs)
	}
	t.Logf("%d microphones opened, %d of them real", opened, real)
}

// Screen capture through the X11 driver, against a virtual X server. The
// driver discovers screens at init, so the check runs in a child process
// started with DISPLAY pointing at Xvfb.
func TestScreenCaptureUnderXvfb(t *testing.T) {
	if os.Getenv("SOTTO_SCREEN_CHILD") == "1" {
		screenChild(t)
		return
	}
	display := xvfbtest.Start(t, 800, 600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestScreenCaptureUnderXvfb$", "-test.v")
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "SOTTO_SCREEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func screenChild(t *testing.T) {
	devs, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	var label string
	for _, d := range devs {
		if d.Kind == KindScreen {
			label = d.Label
		}
	}
	if label == "" {
		t.Fatalf("no screen found on DISPLAY %s: %+v", os.Getenv("DISPLAY"), devs)
	}
	src, err := Open(Options{Video: Screen(label)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec, err := vp8.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var img *image.YCbCr
	for i := 0; i < 3; i++ {
		f, err := src.Video().ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if img, err = dec.Decode(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if img.Rect.Dx() != 800 || img.Rect.Dy() != 600 {
		t.Fatalf("screen decoded at %v, want 800×600", img.Rect)
	}
}
