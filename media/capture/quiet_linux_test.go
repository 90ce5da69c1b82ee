package capture

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gen2brain/malgo"
)

// openUnknownPCM makes ALSA fail the way a machine full of plugins does:
// it opens a PCM its configuration does not define, which libasound
// reports on standard error ("ALSA lib pcm.c:…: Unknown PCM …").
func openUnknownPCM(t *testing.T) {
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{}, nil)
	if err != nil {
		t.Fatalf("ALSA: %v", err)
	}
	defer func() {
		_ = ctx.Uninit()
		ctx.Free()
	}()
	var id malgo.DeviceID
	copy(id[:], "sotto_no_such_pcm")
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format, cfg.Playback.Channels, cfg.SampleRate = malgo.FormatF32, 2, 48000
	cfg.Playback.DeviceID = id.Pointer()
	if dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{}); err == nil {
		dev.Uninit()
	}
}

// The helper process: the parent reads what ALSA printed.
func TestSoundLibrariesHelper(t *testing.T) {
	if os.Getenv("SOTTO_SOUND_HELPER") == "" {
		return
	}
	openUnknownPCM(t)
}

// ALSA's own diagnostics do not reach standard error, unless asked for
// with SOTTO_SOUND_DEBUG (which also shows that the failure above is one
// ALSA prints).
func TestSoundLibrariesAreQuiet(t *testing.T) {
	run := func(debug bool) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSoundLibrariesHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "SOTTO_SOUND_HELPER=1")
		if debug {
			cmd.Env = append(cmd.Env, "SOTTO_SOUND_DEBUG=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(true); !strings.Contains(out, "ALSA lib") {
		t.Fatalf("with SOTTO_SOUND_DEBUG, ALSA printed nothing for an unknown PCM:\n%s", out)
	}
	if out := run(false); strings.Contains(out, "ALSA lib") {
		t.Fatalf("ALSA's diagnostics reached standard error:\n%s", out)
	}
}
