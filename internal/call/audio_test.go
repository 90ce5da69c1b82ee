package call

import (
	"testing"

	"github.com/sottohq/sotto/media/capture"
)

func TestProcessingSwitches(t *testing.T) {
	on := AudioProcessing{}.config(nil)
	if !on.EchoCancellation || !on.NoiseSuppression || !on.GainControl || !on.HighPass {
		t.Fatalf("zero AudioProcessing: %+v, want every stage on", on)
	}
	off := AudioProcessing{NoEchoCancellation: true, NoNoiseSuppression: true, NoGainControl: true}.config(nil)
	if off.Enabled() {
		t.Fatalf("everything switched off still processes: %+v", off)
	}
	some := AudioProcessing{NoNoiseSuppression: true}.config(nil)
	if !some.EchoCancellation || some.NoiseSuppression || !some.GainControl || !some.HighPass {
		t.Fatalf("noise suppression off: %+v", some)
	}
}

func TestProcessingAppliesToMicrophonesAndRecordings(t *testing.T) {
	for _, tc := range []struct {
		src  capture.AudioSource
		proc AudioProcessing
		want bool
	}{
		{capture.Microphone("x"), AudioProcessing{}, true},
		{capture.PCMAudio([]float32{0}), AudioProcessing{}, true},
		{capture.SyntheticAudio(), AudioProcessing{}, false},
		{capture.AudioSource{}, AudioProcessing{}, false},
		{capture.Microphone("x"), AudioProcessing{NoEchoCancellation: true, NoNoiseSuppression: true, NoGainControl: true}, false},
	} {
		c := &Call{cfg: Config{Capture: capture.Options{Audio: tc.src}, Processing: tc.proc}}
		if err := c.openProcessing(); err != nil {
			t.Fatal(err)
		}
		got := c.cfg.Capture.AudioProcessor != nil
		c.closeAudio()
		if got != tc.want {
			t.Errorf("source %v, %+v: processor %v, want %v", tc.src.Kind, tc.proc, got, tc.want)
		}
	}
}
