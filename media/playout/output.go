package playout

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// BackendNull is miniaudio's null backend: a real device with a real
// callback thread and no sound. malgo v0.11.24's own malgo.BackendNull
// constant (13) is miniaudio's custom backend and fails with "No backend";
// the null backend is 14.
const BackendNull = malgo.Backend(14)

// OutputChannels is the channel count Sotto asks the device for; the mono
// mix is copied to both.
const OutputChannels = 2

// ErrNoOutputDevice means no audio output device could be opened.
var ErrNoOutputDevice = errors.New("playout: no audio output device found (check that speakers or headphones are connected and the sound system is running)")

// ErrDeviceGone means the chosen playback device is not (or no longer)
// present; the caller should offer the device list again.
var ErrDeviceGone = errors.New("playout: the chosen audio output device is not available (it may have been unplugged); choose another")

// Device is one playback device.
type Device struct {
	// ID names the device for OutputOptions.DeviceID: the hexadecimal form
	// of miniaudio's device ID. It is stable while the device stays
	// connected (and usually across runs, but store Name as well).
	ID string
	// Name is the backend's human-readable name.
	Name string
	// Default marks the system's default output.
	Default bool
}

// Devices lists the playback devices of the first backend that works, in
// the order given (nil: miniaudio's platform defaults). It returns an error
// wrapping ErrNoOutputDevice when no backend can be initialised.
func Devices(backends ...malgo.Backend) ([]Device, error) {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoOutputDevice, err)
	}
	defer func() {
		_ = ctx.Uninit()
		ctx.Free()
	}()
	infos, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, fmt.Errorf("%w: listing devices: %v", ErrNoOutputDevice, err)
	}
	out := make([]Device, 0, len(infos))
	for _, in := range infos {
		out = append(out, Device{ID: in.ID.String(), Name: in.Name(), Default: in.IsDefault != 0})
	}
	return out, nil
}

// findDevice returns the playback device whose ID is id.
func findDevice(ctx *malgo.AllocatedContext, id string) (*malgo.DeviceID, error) {
	infos, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, fmt.Errorf("%w: listing devices: %v", ErrNoOutputDevice, err)
	}
	for _, in := range infos {
		if in.ID.String() == id {
			dev := in.ID
			return &dev, nil
		}
	}
	return nil, ErrDeviceGone
}

// Reader is what an Output plays: Mixer implements it.
type Reader interface {
	// Read fills out with mono 48 kHz samples in −1…1 without blocking.
	Read(out []float32)
}

// OutputOptions configures OpenOutput.
type OutputOptions struct {
	// Backends to try in order; nil means miniaudio's platform defaults.
	// Tests and headless bots use []malgo.Backend{BackendNull}.
	Backends []malgo.Backend
	// PeriodMillis is the device period (default 10 ms).
	PeriodMillis int
	// DeviceID chooses the playback device (Device.ID from Devices);
	// empty means the system default. A device that is not present is
	// an error wrapping ErrDeviceGone: Sotto never silently plays to
	// another device than the one chosen.
	DeviceID string
	// OnPlayed, if set, sees every period's mono mix as it is handed to
	// the device, on the device thread: the far-end reference of echo
	// cancellation (audioproc.Reference.Write). It must not block and
	// must not keep the slice.
	OnPlayed func(mono []float32)
}

// Output plays a Reader on a playback device.
type Output struct {
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	pin    runtime.Pinner // keeps the chosen device ID in place for miniaudio
	src    Reader
	played func([]float32)
	mono   []float32
	frames atomic.Uint64
	calls  atomic.Uint64
	once   sync.Once
}

// OpenOutput opens the chosen (or default) playback device at 48 kHz,
// stereo float32, and starts playing src. It returns an error wrapping
// ErrNoOutputDevice when the system has no usable output, and one wrapping
// ErrDeviceGone when opts.DeviceID names no present device.
func OpenOutput(src Reader, opts OutputOptions) (*Output, error) {
	if src == nil {
		return nil, errors.New("playout: nil reader")
	}
	ctx, err := malgo.InitContext(opts.Backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoOutputDevice, err)
	}
	o := &Output{ctx: ctx, src: src, played: opts.OnPlayed}
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = malgo.FormatF32
	cfg.Playback.Channels = OutputChannels
	cfg.SampleRate = SampleRate
	cfg.PeriodSizeInMilliseconds = 10
	if opts.PeriodMillis > 0 {
		cfg.PeriodSizeInMilliseconds = uint32(opts.PeriodMillis)
	}
	cfg.PerformanceProfile = malgo.LowLatency
	if opts.DeviceID != "" {
		id, err := findDevice(ctx, opts.DeviceID)
		if err != nil {
			_ = ctx.Uninit()
			ctx.Free()
			return nil, err
		}
		// miniaudio reads the ID through this pointer: pin it (cgo rules)
		// until the device is closed.
		o.pin.Pin(id)
		cfg.Playback.DeviceID = unsafe.Pointer(id)
	}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: o.callback})
	if err != nil {
		o.pin.Unpin()
		_ = ctx.Uninit()
		ctx.Free()
		if opts.DeviceID != "" {
			return nil, fmt.Errorf("%w: %v", ErrDeviceGone, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrNoOutputDevice, err)
	}
	o.dev = dev
	if err := dev.Start(); err != nil {
		dev.Uninit()
		o.pin.Unpin()
		_ = ctx.Uninit()
		ctx.Free()
		return nil, fmt.Errorf("%w: starting playback: %v", ErrNoOutputDevice, err)
	}
	return o, nil
}

// callback runs on miniaudio's device thread.
func (o *Output) callback(out, _ []byte, frames uint32) {
	n := int(frames)
	if n == 0 || len(out) < n*OutputChannels*4 {
		return
	}
	if cap(o.mono) < n {
		o.mono = make([]float32, n)
	}
	mono := o.mono[:n]
	o.src.Read(mono)
	if o.played != nil {
		o.played(mono)
	}
	dst := unsafe.Slice((*float32)(unsafe.Pointer(&out[0])), n*OutputChannels)
	for i, v := range mono {
		dst[2*i] = v
		dst[2*i+1] = v
	}
	o.frames.Add(uint64(n))
	o.calls.Add(1)
}

// Played returns the sample frames delivered to the device and the number
// of device callbacks so far.
func (o *Output) Played() (frames, callbacks uint64) {
	return o.frames.Load(), o.calls.Load()
}

// Close stops playback and releases the device.
func (o *Output) Close() error {
	o.once.Do(func() {
		o.dev.Uninit()
		o.pin.Unpin()
		_ = o.ctx.Uninit()
		o.ctx.Free()
	})
	return nil
}

// Discard drives src like an output device that plays into nothing: one
// period of samples every period of wall time, read and thrown away.
// Headless participants (bots) use it so that their jitter buffers run,
// decode, conceal and count at the pace a real device would give them.
// stop ends it and waits for the last read.
func Discard(src Reader, period time.Duration) (stop func()) {
	if period <= 0 {
		period = 10 * time.Millisecond
	}
	buf := make([]float32, int(int64(SampleRate)*int64(period)/int64(time.Second)))
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				src.Read(buf)
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-ended })
	}
}
