package simtest

import (
	"context"
	"image"
	"io"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	mdopus "github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/transport/v5/vnet"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/vnettest"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// The lip-sync measurement is a flash and a beep captured at the same
// instant once a second, the way A/V sync is measured on real equipment:
// the receiver's screen shows the flash at some time, its loudspeaker
// plays the beep at another, and the difference is the offset (positive:
// the picture lags the sound). ITU-R BT.1359 puts the threshold of
// detectability at +45 ms (sound first) and −125 ms (picture first).
const (
	syncWindowLate  = 45 * time.Millisecond
	syncWindowEarly = -125 * time.Millisecond
	// encodeLatency is how long the publisher's encoder takes for a
	// picture: the picture leaves 30 ms after its capture instant, and a
	// sender report that mapped send times would show it that much late.
	encodeLatency = 30 * time.Millisecond
	// devicePeriod is the simulated loudspeaker's period: it takes a
	// block from the mixer every period and plays it during the next.
	devicePeriod = 10 * time.Millisecond
	// jitterDelay is the receiver's audio jitter buffer: what an adaptive
	// buffer holds on a jittery link. The picture, decoded at once,
	// would lead the sound by about this much.
	jitterDelay = 200 * time.Millisecond
	// netDelay is every packet's one-way delay on the virtual network.
	netDelay = 25 * time.Millisecond
	// syncMedia is the media time sent; flashes before syncSettle are not
	// measured (the first sender reports arrive after about a second).
	syncMedia  = 9 * time.Second
	syncSettle = 3 * time.Second
)

// flashVideo is 30 frames/s of dark pictures with a white one at every
// whole second of capture time.
type flashVideo struct {
	enc   *vp8.Encoder
	img   *image.YCbCr
	n     int
	start time.Time
	until time.Time
}

func (g *flashVideo) ReadFrame() (capture.Frame, error) {
	for {
		at := g.start.Add(time.Duration(g.n) * frameInterval)
		if at.After(g.until) {
			return capture.Frame{}, io.EOF
		}
		time.Sleep(time.Until(at)) // the camera delivers the picture at at
		luma := byte(16)
		if g.n%30 == 0 {
			luma = 235
		}
		for i := range g.img.Y {
			g.img.Y[i] = luma
		}
		f, err := g.enc.Encode(g.img, int64(g.n)*3000, 3000)
		g.n++
		if err != nil {
			return capture.Frame{}, err
		}
		time.Sleep(encodeLatency)
		if f.Data == nil {
			continue // dropped by rate control
		}
		return capture.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: frameInterval, CaptureTime: at, Release: func() {}}, nil
	}
}

func (g *flashVideo) RequestKeyframe() { g.enc.ForceKeyFrame() }

// beepAudio is 20 ms Opus packets of silence with a 40 ms 1 kHz beep
// starting at every whole second of capture time. A packet is complete
// when its last sample is captured, and stamped then (capture.Frame).
type beepAudio struct {
	enc interface {
		Read() ([]byte, func(), error)
	}
	start time.Time
	until time.Time
	n     int
}

func newBeepAudio(t *testing.T, start, until time.Time) *beepAudio {
	g := &beepAudio{start: start, until: until}
	chunk := 0
	src := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		c := wave.NewInt16Interleaved(wave.ChunkInfo{Len: 960, Channels: 1, SamplingRate: 48000})
		if chunk%50 < 2 {
			for i := range c.Data {
				c.Data[i] = int16(16000 * math.Sin(2*math.Pi*1000*float64(i)/48000))
			}
		}
		chunk++
		return c, func() {}, nil
	})
	params, err := mdopus.NewParams()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := params.BuildAudioEncoder(src, prop.Media{Audio: prop.Audio{SampleRate: 48000, ChannelCount: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	g.enc = enc
	return g
}

func (g *beepAudio) ReadFrame() (capture.Frame, error) {
	end := g.start.Add(time.Duration(g.n+1) * audioPacket)
	if end.After(g.until) {
		return capture.Frame{}, io.EOF
	}
	time.Sleep(time.Until(end))
	g.n++
	b, _, err := g.enc.Read()
	if err != nil {
		return capture.Frame{}, err
	}
	return capture.Frame{Data: b, Duration: audioPacket, CaptureTime: time.Now(), Release: func() {}}, nil
}

func (g *beepAudio) RequestKeyframe() {}

// onsets returns the times at which a signal rises after at least 300 ms
// below its threshold.
type onsets struct {
	mu    sync.Mutex
	last  time.Time
	times []time.Time
}

func (o *onsets) add(at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last.IsZero() || at.Sub(o.last) > 300*time.Millisecond {
		o.times = append(o.times, at)
	}
	o.last = at
}

func (o *onsets) get() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.times)
}

// soundOnly hides the mixer's PlayingRTP: an audio output the
// participant cannot sync to.
type soundOnly struct{ participant.AudioOutput }

// lipSyncOffsets runs a publisher and a receiver through the relay on a
// virtual network, measures when the receiver shows each flash and plays
// each beep, and returns the offsets (flash shown − beep heard) of the
// flashes after syncSettle.
func lipSyncOffsets(t *testing.T, synced bool) []time.Duration {
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", MinDelay: netDelay, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	relayNet := vnettest.Host(t, router, "10.0.0.1")
	pubNet := vnettest.Host(t, router, "10.0.0.2")
	subNet := vnettest.Host(t, router, "10.0.0.3")
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	defer router.Stop()
	r, err := relay.New(relay.Config{Net: relayNet})
	if err != nil {
		t.Fatal(err)
	}
	meeting := signal.NewID()
	var conns []*transport.Conn
	join := func(n *vnet.Net, cfg participant.Config) (*participant.Participant, signal.ID) {
		cli, srv := signal.Pipe()
		go r.ServeConn(context.Background(), srv)
		cfg.MeetingID = meeting
		p, err := participant.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := transport.Dial(context.Background(), transport.Config{Conn: cli, MeetingID: meeting, Net: n, OnTrack: p.OnTrack})
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		if err := p.Start(conn); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		go func() {
			for range conn.Events() {
			}
		}()
		return p, conn.SessionID()
	}

	// The receiver: a mixer with a 200 ms jitter buffer played by a
	// simulated device, and a screen that notes when it shows a flash.
	mixer := playout.NewMixerSize(int(jitterDelay/time.Millisecond)*playout.SampleRate/1000, playout.DefaultMaxDelay)
	var heard, shown onsets
	var out participant.AudioOutput = mixer
	if !synced {
		out = soundOnly{mixer}
	}
	sub, _ := join(subNet, participant.Config{
		AudioOut: out,
		OnVideo: func(_ signal.ID, img image.Image) {
			if y, ok := img.(*image.YCbCr); ok && y.Y[len(y.Y)/2] > 128 {
				shown.add(time.Now())
			}
		},
	})
	deviceDone := make(chan struct{})
	stopDevice := make(chan struct{})
	go func() {
		defer close(deviceDone)
		block := make([]float32, devicePeriod*playout.SampleRate/time.Second)
		for {
			select {
			case <-stopDevice:
				return
			case <-time.After(devicePeriod):
			}
			took := time.Now()
			mixer.Read(block)
			for i, v := range block {
				if math.Abs(float64(v)) > 0.1 {
					// Taken now, played one period later.
					heard.add(took.Add(devicePeriod + time.Duration(i)*time.Second/playout.SampleRate))
					break
				}
			}
		}
	}()

	start := time.Now()
	until := start.Add(syncMedia)
	enc, err := vp8.NewEncoder(width, height, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	video := &flashVideo{enc: enc, img: image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420), start: start, until: until}
	pub, pubSession := join(pubNet, participant.Config{Video: video, Audio: newBeepAudio(t, start, until)})
	key := []byte("a test base key of 32 bytes.....")
	if err := sub.SetReceiveKey(pubSession, 5, key); err != nil {
		t.Fatal(err)
	}
	if err := pub.SetSendKey(5, key); err != nil {
		t.Fatal(err)
	}
	time.Sleep(syncMedia + time.Second)
	close(stopDevice)
	<-deviceDone
	st := sub.Stats().Remotes[pubSession.String()]
	if st.LipSync != nil {
		t.Logf("lip sync: %+v, queue %+v", st.LipSync.Stats, st.LipSync.Queue)
	}

	// Pair each flash after the settling time with the beep of the same
	// second.
	var offsets []time.Duration
	beeps := heard.get()
	for _, f := range shown.get() {
		if f.Sub(start) < syncSettle {
			continue
		}
		for _, b := range beeps {
			if d := f.Sub(b); d > -500*time.Millisecond && d < 500*time.Millisecond {
				offsets = append(offsets, d)
				break
			}
		}
	}
	t.Logf("flashes shown at %v", since(start, shown.get()))
	t.Logf("beeps heard at   %v", since(start, beeps))

	for _, c := range conns {
		c.Close()
	}
	pub.Close()
	sub.Close()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := int((syncMedia - syncSettle) / time.Second); len(offsets) < want-1 {
		t.Fatalf("measured %d flash/beep pairs, want at least %d", len(offsets), want-1)
	}
	return offsets
}

func since(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start).Round(time.Millisecond)
	}
	return out
}

func outsideWindow(offsets []time.Duration) []time.Duration {
	var bad []time.Duration
	for _, d := range offsets {
		if d > syncWindowLate || d < syncWindowEarly {
			bad = append(bad, d)
		}
	}
	return bad
}

// A publisher's flash and beep, captured together, reach the receiver's
// screen and loudspeaker within ITU-R BT.1359's window although the audio
// waits 200 ms in the jitter buffer, the picture takes 30 ms to encode,
// and the picture could be decoded at once: the receiver holds it by the
// sender reports. The same run without a playing clock to sync to shows
// the picture far ahead of the sound, outside the window: the
// measurement sees what lip sync fixes.
func TestLipSyncWithinDetectability(t *testing.T) {
	t.Run("synced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			offsets := lipSyncOffsets(t, true)
			t.Logf("offsets (picture − sound): %v", offsets)
			if bad := outsideWindow(offsets); len(bad) > 0 {
				t.Errorf("offsets %v outside %v … +%v", bad, syncWindowEarly, syncWindowLate)
			}
		})
	})
	t.Run("unsynced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			offsets := lipSyncOffsets(t, false)
			t.Logf("offsets without lip sync: %v", offsets)
			if bad := outsideWindow(offsets); len(bad) != len(offsets) {
				t.Errorf("without lip sync only %d of %d offsets %v fall outside the window: the test cannot tell", len(bad), len(offsets), offsets)
			}
		})
	})
}
