package playout_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/media/playout"
)

// sineFrames is 60 frames (1.2 s) of a 480 Hz sine at a quarter of full
// scale (the signal of mediadevices' synthetic microphone), cut into
// 20 ms packets as the receive pipeline hands them over after decoding.
var sineFrames = func() [][]float32 {
	frames := make([][]float32, 60)
	for f := range frames {
		frames[f] = make([]float32, playout.FrameSamples)
		for i := range frames[f] {
			n := f*playout.FrameSamples + i
			frames[f][i] = float32(0.25 * math.Sin(2*math.Pi*480*float64(n)/playout.SampleRate))
		}
	}
	return frames
}()

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

var base = uint32(0xfffff000) // exercises timestamp wrap-around

// feed pushes packets for senders at steady pace: the first three (the
// target delay) up front, then one per Read, as a network would.
func feed(m *playout.Mixer, senders []string, frames int, out []float32, each func(i int)) {
	pk := sineFrames
	push := func(i int) {
		for _, s := range senders {
			m.PushPCM(s, base+uint32(i)*960, pk[i%len(pk)])
		}
	}
	push(0)
	push(1)
	for i := 0; i < frames; i++ {
		push(i + 2)
		m.Read(out)
		if each != nil {
			each(i)
		}
	}
}

func TestJitterBufferWaitsForTargetThenPlays(t *testing.T) {
	pk := sineFrames
	jb := playout.NewJitterBuffer()
	out := make([]float32, playout.FrameSamples)
	jb.PushPCM(base, pk[0])
	jb.PushPCM(base+960, pk[1])
	if jb.Pull(out) || rms(out) != 0 {
		t.Fatal("played before the target delay was buffered")
	}
	jb.PushPCM(base+2*960, pk[2])
	if !jb.Pull(out) {
		t.Fatal("not playing with 60 ms buffered")
	}
	for i := 3; i < 40; i++ {
		jb.PushPCM(base+uint32(i)*960, pk[i])
		if !jb.Pull(out) {
			t.Fatalf("frame %d silent", i)
		}
	}
	if r := rms(out); r < 0.14 || r > 0.21 {
		t.Fatalf("steady-state RMS %.3f, want ≈0.177", r)
	}
	s := jb.Stats()
	if s.Played != 38 || s.Concealed != 0 || s.Late+s.Duplicate+s.Overflow != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestJitterBufferReordersAndConceals(t *testing.T) {
	pk := sineFrames
	jb := playout.NewJitterBuffer()
	order := []int{0, 2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 11, 13, 14, 15, 16, 17, 18, 19} // 12 lost
	push := func(k int) {
		if k < len(order) {
			if err := jb.PushPCM(base+uint32(order[k])*960, pk[order[k]]); err != nil {
				t.Fatalf("push %d: %v", order[k], err)
			}
		}
	}
	push(0)
	push(1)
	push(2)
	out := make([]float32, playout.FrameSamples)
	for i := 0; i < 20; i++ {
		push(i + 3) // arrivals at network pace, out of order
		if !jb.Pull(out) {
			t.Fatalf("frame %d silent", i)
		}
		// No frame, including the concealed one, may be a gap.
		if r := rms(out); r < 0.05 {
			t.Fatalf("frame %d RMS %.3f: a gap in the audio", i, r)
		}
	}
	s := jb.Stats()
	if s.Played != 19 || s.Concealed != 1 {
		t.Fatalf("played %d concealed %d, want 19 and 1 (%+v)", s.Played, s.Concealed, s)
	}
	if err := jb.PushPCM(base+uint32(5*960), pk[5]); !errors.Is(err, playout.ErrLate) {
		t.Fatalf("late packet: %v", err)
	}
}

func TestPushPCMPlaysExactSamplesInOrder(t *testing.T) {
	// A 300 Hz sine cut into 20 ms frames, delivered with swaps.
	const frames = 12
	src := make([]float32, frames*960)
	for i := range src {
		src[i] = float32(0.3 * math.Sin(2*math.Pi*300*float64(i)/playout.SampleRate))
	}
	order := []int{0, 1, 3, 2, 4, 6, 5, 7, 8, 10, 9, 11}
	mix := playout.NewMixer()
	for _, k := range order {
		if err := mix.PushPCM("bob", base+uint32(k*960), src[k*960:(k+1)*960]); err != nil {
			t.Fatal(err)
		}
	}
	// Reads of odd sizes (a device period is not a frame).
	var got []float32
	buf := make([]float32, 441)
	for len(got) < len(src) {
		mix.Read(buf)
		got = append(got, buf...)
	}
	for i := range src {
		if got[i] != src[i] {
			t.Fatalf("sample %d: %v, want %v", i, got[i], src[i])
		}
	}
	if err := mix.PushPCM("bob", base, nil); !errors.Is(err, playout.ErrMalformed) {
		t.Fatalf("empty PCM: %v", err)
	}
}

func TestJitterBufferDuplicateAndBounds(t *testing.T) {
	pk := sineFrames
	jb := playout.NewJitterBufferSize(3*960, 10*960)
	jb.PushPCM(base, pk[0])
	if err := jb.PushPCM(base, pk[0]); !errors.Is(err, playout.ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	for i := 1; i < 60; i++ { // nobody pulls: the buffer must stay bounded
		jb.PushPCM(base+uint32(i)*960, pk[i])
	}
	s := jb.Stats()
	if s.Buffered > 10*960 || s.Overflow < 49 {
		t.Fatalf("unbounded: %+v", s)
	}
	// It plays the newest audio, not the dropped oldest.
	out := make([]float32, playout.FrameSamples)
	if !jb.Pull(out) {
		t.Fatal("silent after overflow")
	}
}

func TestJitterBufferUnderrunGoesQuiet(t *testing.T) {
	pk := sineFrames
	jb := playout.NewJitterBuffer()
	out := make([]float32, playout.FrameSamples)
	var levels []float64
	jb.PushPCM(base, pk[0])
	jb.PushPCM(base+960, pk[1])
	for i := 0; i < 24; i++ {
		if i+2 < 14 { // the sender stops after 14 packets
			jb.PushPCM(base+uint32(i+2)*960, pk[i+2])
		}
		jb.Pull(out)
		levels = append(levels, rms(out))
	}
	// 14 real frames, then concealment fading out, then silence.
	for i := 0; i < 14; i++ {
		if levels[i] < 0.1 {
			t.Fatalf("frame %d RMS %.3f", i, levels[i])
		}
	}
	if !(levels[14] > levels[15] && levels[15] > levels[16] && levels[16] > levels[17]) {
		t.Fatalf("concealment does not fade: %v", levels[13:19])
	}
	for i := 18; i < 24; i++ {
		if levels[i] != 0 {
			t.Fatalf("frame %d not silent after underrun: %.4f", i, levels[i])
		}
	}
	if s := jb.Stats(); s.Underruns != 1 || s.Played != 14 {
		t.Fatalf("stats %+v", s)
	}
	// The sender resumes later with new timestamps: re-buffered, plays.
	for i := 0; i < 4; i++ {
		jb.PushPCM(base+uint32(100+i)*960, pk[20+i])
	}
	if !jb.Pull(out) || rms(out) < 0.02 {
		t.Fatalf("did not resume after re-buffering (RMS %.3f)", rms(out))
	}
}

// Packets of any length at any timestamp: the buffer stays bounded,
// counts what it refuses and never plays anything it was not given.
func TestJitterBufferSurvivesGarbage(t *testing.T) {
	jb := playout.NewJitterBuffer()
	r := rand.New(rand.NewPCG(5, 6))
	out := make([]float32, playout.FrameSamples)
	for i := 0; i < 3000; i++ {
		p := make([]float32, r.IntN(7000)) // empty and over-long ones too
		for k := range p {
			p[k] = 2*r.Float32() - 1
		}
		jb.PushPCM(r.Uint32(), p)
		if s := jb.Stats(); s.Buffered > playout.DefaultMaxDelay {
			t.Fatalf("push %d: %d samples buffered, bound %d", i, s.Buffered, playout.DefaultMaxDelay)
		}
		if i%10 == 0 {
			jb.Pull(out)
		}
		for _, v := range out {
			if math.IsNaN(float64(v)) || v > 1 || v < -1 {
				t.Fatalf("garbage produced sample %v", v)
			}
		}
	}
	if s := jb.Stats(); s.Malformed == 0 || s.Played == 0 {
		t.Fatalf("no packet refused or none played: %+v", s)
	}
}

func TestMixerSilentSenderAndLevels(t *testing.T) {
	solo := playout.NewMixer()
	mix := playout.NewMixer()
	mix.PushPCM("quiet", base, sineFrames[0]) // one packet, then nothing ever again
	a := make([]float32, playout.FrameSamples)
	b := make([]float32, playout.FrameSamples)
	var soloOut [][]float32
	feed(solo, []string{"alice"}, 25, a, func(int) { soloOut = append(soloOut, append([]float32(nil), a...)) })
	feed(mix, []string{"alice"}, 25, b, func(i int) {
		for k := range b {
			if b[k] != soloOut[i][k] {
				t.Fatalf("block %d: the silent sender changed the mix", i)
			}
		}
	})
	if l := mix.Level("alice"); l < 0.14 || l > 0.21 {
		t.Fatalf("alice level %.3f", l)
	}
	if l := mix.Level("quiet"); l != 0 {
		t.Fatalf("quiet level %.3f", l)
	}
	if id, ok := mix.ActiveSpeaker(0.01); !ok || id != "alice" {
		t.Fatalf("active speaker %q %v", id, ok)
	}
	// Read returns at once even though "quiet" never sends again.
	done := make(chan struct{})
	go func() { mix.Read(b); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("mixer blocked on a silent sender")
	}
	mix.Remove("alice")
	if got := mix.Senders(); len(got) != 1 || got[0] != "quiet" {
		t.Fatalf("senders after remove: %v", got)
	}
}

func TestMixerSumsAndLimits(t *testing.T) {
	one := playout.NewMixer()
	many := playout.NewMixer()
	const n = 6 // 6 × 0.25 = 1.5 peak before limiting
	var senders []string
	for s := 0; s < n; s++ {
		senders = append(senders, string(rune('a'+s)))
	}
	a := make([]float32, playout.FrameSamples)
	b := make([]float32, playout.FrameSamples)
	var oneOut [][]float32
	feed(one, []string{"s0"}, 16, a, func(int) { oneOut = append(oneOut, append([]float32(nil), a...)) })
	var peak float64
	feed(many, senders, 16, b, func(i int) {
		for k := range b {
			v := math.Abs(float64(b[k]))
			peak = max(peak, v)
			if v >= 1 {
				t.Fatalf("block %d sample %d clipped: %v", i, k, b[k])
			}
			// Quiet parts are summed exactly (below the limiter's knee).
			if s := float64(oneOut[i][k]) * n; math.Abs(s) < 0.7 && math.Abs(float64(b[k])-s) > 1e-3 {
				t.Fatalf("block %d sample %d: mix %v, want %v", i, k, b[k], s)
			}
		}
	})
	if peak < 0.9 {
		t.Fatalf("peak %.2f: loud sum was not passed through", peak)
	}
}

func TestOutputNullBackendPlaysMix(t *testing.T) {
	pk := sineFrames
	mix := playout.NewMixer()
	// A sender delivering one packet every 20 ms, like the network.
	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			mix.PushPCM("alice", base+uint32(i)*960, pk[i%len(pk)])
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-pushed }()
	out, err := playout.OpenOutput(mix, playout.OutputOptions{Backends: []malgo.Backend{playout.BackendNull}})
	if err != nil {
		t.Fatal(err)
	}
	// Play for at least 600 ms of wall time (enough device periods to
	// compare with the clock) and until the sender has been heard.
	start := time.Now()
	var level float64
	waittest.Until(t, "the null device played the sender for 600 ms", 10*time.Second, func() bool {
		level = max(level, mix.Level("alice"))
		return time.Since(start) >= 600*time.Millisecond && level >= 0.1
	})
	frames, calls := out.Played()
	elapsed := time.Since(start)
	out.Close()
	if calls < 5 {
		t.Fatalf("%d device callbacks in %v", calls, elapsed)
	}
	// The null device consumes audio in real time.
	want := elapsed.Seconds() * playout.SampleRate
	if float64(frames) < 0.3*want || float64(frames) > 1.5*want {
		t.Fatalf("%d frames played in %v, want ≈%.0f", frames, elapsed, want)
	}
	if level < 0.1 {
		t.Fatalf("sender level %.3f while playing through the device", level)
	}
	s, _ := mix.Stats("alice")
	if s.Played < 5 {
		t.Fatalf("device callback decoded only %d packets", s.Played)
	}
}

func TestOutputMissingDeviceIsClearError(t *testing.T) {
	// WASAPI does not exist on this platform: no device can open.
	_, err := playout.OpenOutput(playout.NewMixer(), playout.OutputOptions{Backends: []malgo.Backend{malgo.BackendWasapi}})
	if !errors.Is(err, playout.ErrNoOutputDevice) {
		t.Fatalf("got %v, want ErrNoOutputDevice", err)
	}
}

// The platform's own backends, without assuming sound hardware: every
// playback device they list (on a machine without a sound card, ALSA's
// "null" device) opens by its ID and is asked for audio, and the default
// output either plays or fails with the clear ErrNoOutputDevice.
func TestOutputPlatformDevices(t *testing.T) {
	devs, err := playout.Devices()
	if err != nil && !errors.Is(err, playout.ErrNoOutputDevice) {
		t.Fatalf("listing failed without ErrNoOutputDevice: %v", err)
	}
	for _, d := range devs {
		out, err := playout.OpenOutput(playout.NewMixer(), playout.OutputOptions{DeviceID: d.ID})
		if err != nil {
			t.Fatalf("listed device %q does not open: %v", d.Name, err)
		}
		waittest.Until(t, "listed device "+d.Name+" never asked for audio", 5*time.Second, func() bool {
			frames, _ := out.Played()
			return frames > 0
		})
		out.Close()
	}
	out, err := playout.OpenOutput(playout.NewMixer(), playout.OutputOptions{})
	if err != nil {
		if !errors.Is(err, playout.ErrNoOutputDevice) {
			t.Fatalf("default output failed without ErrNoOutputDevice: %v", err)
		}
		t.Logf("%d devices listed; no default output: %v", len(devs), err)
		return
	}
	defer out.Close()
	waittest.Until(t, "the default output never asked for audio", 5*time.Second, func() bool {
		frames, _ := out.Played()
		return frames > 0
	})
}

func BenchmarkMixerRead(b *testing.B) {
	pk := sineFrames
	for _, senders := range []int{1, 4} {
		b.Run(string(rune('0'+senders))+"senders", func(b *testing.B) {
			mix := playout.NewMixer()
			out := make([]float32, playout.FrameSamples)
			ts := base
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for s := 0; s < senders; s++ {
					mix.PushPCM(string(rune('a'+s)), ts, pk[i%len(pk)])
				}
				ts += 960
				mix.Read(out)
			}
		})
	}
}

// Speaker choice on the null backend: its one playback device is listed,
// opening it by ID plays, and an ID that names no device is a clear error
// (never a silent fall-back to another device).
func TestOutputDevicesAndChosenDevice(t *testing.T) {
	devs, err := playout.Devices(playout.BackendNull)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("the null backend lists no playback device")
	}
	d := devs[0]
	t.Logf("devices: %+v", devs)
	if d.ID == "" || d.Name == "" {
		t.Fatalf("device without ID or name: %+v", d)
	}
	if !slices.ContainsFunc(devs, func(d playout.Device) bool { return d.Default }) {
		t.Errorf("no default device among %+v", devs)
	}
	out, err := playout.OpenOutput(playout.NewMixer(), playout.OutputOptions{Backends: []malgo.Backend{playout.BackendNull}, DeviceID: d.ID})
	if err != nil {
		t.Fatalf("open %q by ID: %v", d.Name, err)
	}
	waittest.Until(t, "the chosen device never asked for audio", 5*time.Second, func() bool {
		frames, _ := out.Played()
		return frames > 0
	})
	out.Close()

	_, err = playout.OpenOutput(playout.NewMixer(), playout.OutputOptions{Backends: []malgo.Backend{playout.BackendNull}, DeviceID: "ffee01"})
	if !errors.Is(err, playout.ErrDeviceGone) {
		t.Fatalf("unknown device: got %v, want ErrDeviceGone", err)
	}
	if _, err := playout.Devices(malgo.BackendWasapi); !errors.Is(err, playout.ErrNoOutputDevice) {
		t.Fatalf("listing without a backend: got %v, want ErrNoOutputDevice", err)
	}
}

// constReader plays a constant.
type constReader float32

func (c constReader) Read(out []float32) {
	for i := range out {
		out[i] = float32(c)
	}
}

func TestOutputOnPlayedSeesTheMix(t *testing.T) {
	var mu sync.Mutex
	var tapped uint64
	var wrong bool
	out, err := playout.OpenOutput(constReader(0.25), playout.OutputOptions{
		Backends: []malgo.Backend{playout.BackendNull},
		OnPlayed: func(mono []float32) {
			mu.Lock()
			defer mu.Unlock()
			tapped += uint64(len(mono))
			for _, v := range mono {
				wrong = wrong || v != 0.25
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "the tap saw 100 ms", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return tapped >= playout.SampleRate/10
	})
	out.Close()
	frames, _ := out.Played()
	mu.Lock()
	defer mu.Unlock()
	if tapped != frames || wrong {
		t.Fatalf("tap saw %d samples (device %d), wrong values: %v", tapped, frames, wrong)
	}
}
