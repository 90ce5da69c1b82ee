package call

import (
	"context"
	"encoding/hex"
	"image"
	"runtime"
	"strings"
	"time"

	"github.com/sottohq/sotto/media/capture"
)

// levelEvery is how often the lobby's microphone meter updates.
const levelEvery = 50 * time.Millisecond

// LocalDevices implements Devices over media/capture and media/playout.
type LocalDevices struct {
	// synthetic lists only the synthetic sources (demo, and machines
	// without devices still get a working lobby).
	Synthetic bool
}

func (d LocalDevices) list(kind capture.Kind) []Device {
	all, err := capture.Devices()
	if err != nil {
		return nil
	}
	return d.entries(all, kind, runtime.GOOS)
}

// entries turns capture's devices into a picker's entries, without the
// sound system's plugins and null devices (realSoundDevice).
func (d LocalDevices) entries(all []capture.Device, kind capture.Kind, goos string) []Device {
	var out []Device
	for _, dv := range all {
		if dv.Kind != kind || (d.Synthetic && !dv.Synthetic) {
			continue
		}
		if kind == capture.KindMicrophone && !dv.Synthetic && !realSoundDevice(goos, dv.Label) {
			continue
		}
		label := dv.DisplayName()
		if dv.Synthetic {
			label = "Test pattern (no device)"
			if kind == capture.KindMicrophone {
				label = "Test tone (no device)"
			}
		}
		// The stable label identifies the device across runs.
		out = append(out, Device{ID: dv.Label, Label: label})
	}
	return out
}

// realSoundDevice reports whether a sound device, named by miniaudio's
// hexadecimal device ID, is one to offer a user. On Linux, ALSA lists
// every PCM its configuration defines: hardware devices (miniaudio's
// ":card,device" IDs) next to plugins ("samplerate", "speexrate", "jack",
// "upmix" from libasound2-plugins), routes the system default already
// covers ("default", "pulse", "pipewire") and the null device. PCM names
// are bare words, so only hardware is kept. PulseAudio and PipeWire list
// sinks and sources with dotted names ("alsa_output.pci-…"); their null
// sink ("auto_null") is a bare word too, and a sink's monitor is not a
// microphone. Other systems' IDs are kept as they are.
func realSoundDevice(goos, hexID string) bool {
	raw, err := hex.DecodeString(hexID)
	if err != nil || goos != "linux" {
		return true
	}
	id := string(raw)
	switch {
	case strings.HasPrefix(id, ":"):
		return true // ALSA hardware
	case strings.HasSuffix(id, ".monitor"):
		return false
	case bareWord(id):
		return false
	}
	return true
}

// bareWord reports whether s is a plain identifier, as ALSA PCM names are.
func bareWord(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Cameras implements Devices.
func (d LocalDevices) Cameras() []Device { return d.list(capture.KindCamera) }

// Microphones implements Devices.
func (d LocalDevices) Microphones() []Device { return d.list(capture.KindMicrophone) }

// Speakers implements Devices: the system default, then every
// playback device (share.go).
func (d LocalDevices) Speakers() []Device { return speakerDevices() }

func videoSource(id string) capture.VideoSource {
	if id == capture.SyntheticVideoLabel {
		return capture.SyntheticVideo()
	}
	return capture.Camera(id)
}

func audioSource(id string) capture.AudioSource {
	if id == capture.SyntheticAudioLabel {
		return capture.SyntheticAudio()
	}
	return capture.Microphone(id)
}

// Preview implements Devices: the capture tap copies each picture on
// the capture goroutine; the UI converts it off its thread.
func (d LocalDevices) Preview(ctx context.Context, cameraID string, q Quality) (<-chan image.Image, error) {
	w, h := q.Size()
	src, err := capture.Open(capture.Options{Video: videoSource(cameraID), Width: w, Height: h})
	if err != nil {
		return nil, err
	}
	ch := make(chan image.Image, 1)
	remove := src.OnVideoImage(func(img image.Image) {
		if len(ch) > 0 {
			return // the screen has not taken the previous one yet
		}
		select {
		case ch <- clonePicture(img):
		default:
		}
	})
	go func() {
		<-ctx.Done()
		remove()
		src.Close()
	}()
	return ch, nil
}

// Level implements Devices.
func (d LocalDevices) Level(ctx context.Context, micID string) (<-chan float64, error) {
	src, err := capture.Open(capture.Options{Audio: audioSource(micID)})
	if err != nil {
		return nil, err
	}
	ch := make(chan float64, 1)
	go func() {
		defer src.Close()
		t := time.NewTicker(levelEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// RMS to a meter scale: a full-scale sine (0.707) reads full.
			v := min(1, src.AudioLevel()/0.707)
			select {
			case ch <- v:
			default:
			}
		}
	}()
	return ch, nil
}
