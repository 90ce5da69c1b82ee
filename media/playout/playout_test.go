package playout

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/opus/opustest"
)

// sinePackets is 2 s of a 480 Hz sine at a quarter of full scale (the
// synthetic microphone's signal), encoded as capture does.
var sinePackets = func() func(t testing.TB) [][]byte {
	var pkts [][]byte
	return func(t testing.TB) [][]byte {
		if pkts == nil {
			pcm := make([]float32, 100*FrameSamples)
			for i := range pcm {
				pcm[i] = float32(0.25 * math.Sin(2*math.Pi*480*float64(i)/SampleRate))
			}
			pkts = opustest.Encode(t, pcm, opus.EncoderParams{})
		}
		return pkts
	}
}()

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// manualMixer is a mixer on simulated time whose test drives the
// playout goroutine's Refill itself.
func manualMixer() (*Mixer, *time.Time) {
	m := NewMixer()
	m.manual = true
	clock := t0
	m.now = func() time.Time { return clock }
	return m, &clock
}

// feed runs steps of 10 ms: senders' packets arrive every 20 ms, the
// device reads one period, the playout goroutine refills.
func feed(t testing.TB, m *Mixer, clock *time.Time, senders []string, steps int, out []float32, each func(step int)) {
	pkts := sinePackets(t)
	for step := range steps {
		*clock = t0.Add(time.Duration(step) * 10 * time.Millisecond)
		if step%2 == 0 {
			k := step / 2
			for _, s := range senders {
				if err := m.Push(s, tsBase+uint32(k*FrameSamples), pkts[k%len(pkts)], *clock); err != nil {
					t.Fatal(err)
				}
			}
		}
		m.Read(out)
		if each != nil {
			each(step)
		}
		m.Refill(len(out))
	}
}

func TestMixerSilentSenderAndLevels(t *testing.T) {
	mix, clock := manualMixer()
	defer mix.Close()
	if err := mix.Push("quiet", tsBase, sinePackets(t)[0], t0); err != nil { // one packet, then nothing ever again
		t.Fatal(err)
	}
	out := make([]float32, period)
	var heard float64
	feed(t, mix, clock, []string{"alice"}, 100, out, func(step int) {
		if step > 50 {
			heard = max(heard, mix.Level("alice"))
		}
	})
	if heard < 0.14 || heard > 0.21 {
		t.Fatalf("alice level %.3f", heard)
	}
	if l := mix.Level("quiet"); l != 0 {
		t.Fatalf("quiet level %.3f", l)
	}
	if id, ok := mix.ActiveSpeaker(0.01); !ok || id != "alice" {
		t.Fatalf("active speaker %q %v", id, ok)
	}
	if s, _ := mix.Stats("quiet"); s.Played != 1 || s.Underruns != 1 {
		t.Fatalf("quiet sender: %+v", s)
	}
	p, ok := mix.Position("alice")
	if !ok || p.At != *clock || p.Delay <= 0 {
		t.Fatalf("alice's position %+v %v", p, ok)
	}
	// Lip sync reads the same position: the sample last handed to the
	// device and when.
	if ts, at, ok := mix.PlayingRTP("alice"); !ok || ts != p.RTPTimestamp || at != p.At {
		t.Fatalf("PlayingRTP %d %v %v, position %+v", ts, at, ok, p)
	}
	if _, _, ok := mix.PlayingRTP("nobody"); ok {
		t.Fatal("an unknown sender is playing")
	}
	// Read returns at once even though "quiet" never sends again.
	done := make(chan struct{})
	go func() { mix.Read(out); close(done) }()
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

// Six senders of the same stream at the same times decode to the same
// samples: the mix is six times one sender below the limiter's knee and
// never clips above it.
func TestMixerSumsAndLimits(t *testing.T) {
	one, c1 := manualMixer()
	many, c2 := manualMixer()
	defer one.Close()
	defer many.Close()
	const n = 6 // 6 × 0.25 = 1.5 peak before limiting
	var senders []string
	for s := 0; s < n; s++ {
		senders = append(senders, string(rune('a'+s)))
	}
	a := make([]float32, period)
	b := make([]float32, period)
	var oneOut [][]float32
	feed(t, one, c1, []string{"s0"}, 60, a, func(int) { oneOut = append(oneOut, slices.Clone(a)) })
	var peak float64
	feed(t, many, c2, senders, 60, b, func(i int) {
		for k := range b {
			v := math.Abs(float64(b[k]))
			peak = max(peak, v)
			if v >= 1 {
				t.Fatalf("block %d sample %d clipped: %v", i, k, b[k])
			}
			if s := float64(oneOut[i][k]) * n; math.Abs(s) < 0.7 && math.Abs(float64(b[k])-s) > 1e-3 {
				t.Fatalf("block %d sample %d: mix %v, want %v", i, k, b[k], s)
			}
		}
	})
	if peak < 0.9 {
		t.Fatalf("peak %.2f: loud sum was not passed through", peak)
	}
}

// The real device path: the null backend's callback reads the mixer, the
// playout goroutine decodes ahead of it, a sender pushes every 20 ms.
func TestOutputNullBackendPlaysMix(t *testing.T) {
	pk := sinePackets(t)
	mix := NewMixer()
	defer mix.Close()
	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			_ = mix.Push("alice", tsBase+uint32(i)*960, pk[i%len(pk)], time.Now())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-pushed }()
	out, err := OpenOutput(mix, OutputOptions{Backends: []malgo.Backend{BackendNull}})
	if err != nil {
		t.Fatal(err)
	}
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
	want := elapsed.Seconds() * SampleRate
	if float64(frames) < 0.3*want || float64(frames) > 1.5*want {
		t.Fatalf("%d frames played in %v, want ≈%.0f", frames, elapsed, want)
	}
	s, _ := mix.Stats("alice")
	t.Logf("%+v", s)
	if s.Played < 5 {
		t.Fatalf("the playout goroutine decoded only %d packets", s.Played)
	}
}

func TestOutputMissingDeviceIsClearError(t *testing.T) {
	// WASAPI does not exist on this platform: no device can open.
	_, err := OpenOutput(NewMixer(), OutputOptions{Backends: []malgo.Backend{malgo.BackendWasapi}})
	if !errors.Is(err, ErrNoOutputDevice) {
		t.Fatalf("got %v, want ErrNoOutputDevice", err)
	}
}

// The platform's own backends, without assuming sound hardware: every
// playback device they list (on a machine without a sound card, ALSA's
// "null" device) opens by its ID and is asked for audio, and the default
// output either plays or fails with the clear ErrNoOutputDevice.
func TestOutputPlatformDevices(t *testing.T) {
	devs, err := Devices()
	if err != nil && !errors.Is(err, ErrNoOutputDevice) {
		t.Fatalf("listing failed without ErrNoOutputDevice: %v", err)
	}
	for _, d := range devs {
		mix := NewMixer()
		out, err := OpenOutput(mix, OutputOptions{DeviceID: d.ID})
		if err != nil {
			t.Fatalf("listed device %q does not open: %v", d.Name, err)
		}
		waittest.Until(t, "listed device "+d.Name+" never asked for audio", 5*time.Second, func() bool {
			frames, _ := out.Played()
			return frames > 0
		})
		out.Close()
		mix.Close()
	}
	mix := NewMixer()
	defer mix.Close()
	out, err := OpenOutput(mix, OutputOptions{})
	if err != nil {
		if !errors.Is(err, ErrNoOutputDevice) {
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

// BenchmarkMixerRead is the device callback's cost (Read) with the
// playout goroutine's decoding (Refill) measured apart.
func BenchmarkMixerRead(b *testing.B) {
	pk := sinePackets(b)
	for _, senders := range []int{1, 4} {
		b.Run(string(rune('0'+senders))+"senders", func(b *testing.B) {
			mix, clock := manualMixer()
			defer mix.Close()
			out := make([]float32, FrameSamples)
			var read, refill time.Duration
			for i := 0; b.Loop(); i++ {
				*clock = t0.Add(time.Duration(i) * 20 * time.Millisecond)
				for s := 0; s < senders; s++ {
					_ = mix.Push(string(rune('a'+s)), tsBase+uint32(i*FrameSamples), pk[i%len(pk)], *clock)
				}
				t1 := time.Now()
				mix.Read(out)
				t2 := time.Now()
				mix.Refill(len(out))
				read += t2.Sub(t1)
				refill += time.Since(t2)
			}
			b.ReportMetric(float64(read.Nanoseconds())/float64(b.N)/1000, "read-µs/20ms")
			b.ReportMetric(float64(refill.Nanoseconds())/float64(b.N)/1000, "decode-µs/20ms")
		})
	}
}

// Speaker choice on the null backend: its one playback device is listed,
// opening it by ID plays, and an ID that names no device is a clear error
// (never a silent fall-back to another device).
func TestOutputDevicesAndChosenDevice(t *testing.T) {
	devs, err := Devices(BackendNull)
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
	if !slices.ContainsFunc(devs, func(d Device) bool { return d.Default }) {
		t.Errorf("no default device among %+v", devs)
	}
	mix := NewMixer()
	defer mix.Close()
	out, err := OpenOutput(mix, OutputOptions{Backends: []malgo.Backend{BackendNull}, DeviceID: d.ID})
	if err != nil {
		t.Fatalf("open %q by ID: %v", d.Name, err)
	}
	waittest.Until(t, "the chosen device never asked for audio", 5*time.Second, func() bool {
		frames, _ := out.Played()
		return frames > 0
	})
	out.Close()

	_, err = OpenOutput(NewMixer(), OutputOptions{Backends: []malgo.Backend{BackendNull}, DeviceID: "ffee01"})
	if !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("unknown device: got %v, want ErrDeviceGone", err)
	}
	if _, err := Devices(malgo.BackendWasapi); !errors.Is(err, ErrNoOutputDevice) {
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
	out, err := OpenOutput(constReader(0.25), OutputOptions{
		Backends: []malgo.Backend{BackendNull},
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
		return tapped >= SampleRate/10
	})
	out.Close()
	frames, _ := out.Played()
	mu.Lock()
	defer mu.Unlock()
	if tapped != frames || wrong {
		t.Fatalf("tap saw %d samples (device %d), wrong values: %v", tapped, frames, wrong)
	}
}
