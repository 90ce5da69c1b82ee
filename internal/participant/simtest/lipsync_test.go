package simtest

import (
	"image"
	"io"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/lipsync"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/media/send"
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
	enc   *opus.Encoder
	pcm   []float32
	start time.Time
	until time.Time
	n     int
}

func newBeepAudio(t *testing.T, start, until time.Time) *beepAudio {
	enc, err := opus.NewEncoder(opus.EncoderParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return &beepAudio{enc: enc, pcm: make([]float32, opus.FrameSamples), start: start, until: until}
}

func (g *beepAudio) ReadFrame() (capture.Frame, error) {
	end := g.start.Add(time.Duration(g.n+1) * audioPacket)
	if end.After(g.until) {
		return capture.Frame{}, io.EOF
	}
	time.Sleep(time.Until(end))
	clear(g.pcm)
	if g.n%50 < 2 {
		for i := range g.pcm {
			g.pcm[i] = 0.5 * float32(math.Sin(2*math.Pi*1000*float64(i)/48000))
		}
	}
	g.n++
	b, err := g.enc.Encode(g.pcm)
	if err != nil {
		return capture.Frame{}, err
	}
	return capture.Frame{Data: append([]byte(nil), b...), Duration: audioPacket, CaptureTime: time.Now(), Release: func() {}}, nil
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

// lateAudio hands each audio packet to the mixer jitterDelay after it
// arrived: the playout delay of a jittery link, on an otherwise clean
// virtual network. It keeps the mixer's PlayingRTP.
type lateAudio struct{ *playout.Mixer }

func (l lateAudio) Push(session string, ts uint32, pkt []byte, arrival time.Time) error {
	pkt = append([]byte(nil), pkt...)
	time.AfterFunc(jitterDelay, func() { l.Mixer.Push(session, ts, pkt, arrival.Add(jitterDelay)) })
	return nil
}

// How lipSyncOffsets runs the receiver.
type syncMode int

const (
	synced   syncMode = iota // lip sync on
	unsynced                 // the output offers no PlayingRTP
	forged                   // lip sync on, and the sender reports are forged
	switched                 // lip sync on; the video switches source (camera to screen)
)

// The switch: at switchAt the publisher's video source changes to one
// whose first picture comes switchGap later. The RTP timestamps carry on
// by one frame's duration (docs/PROTOCOL.md §5.3.1), so the track's
// mapping of timestamps to capture instants moves by switchGap.
const (
	switchAt  = 4400 * time.Millisecond
	switchGap = 200 * time.Millisecond
)

// forgedShift is how much later than the truth forged reports claim the
// video was captured.
const forgedShift = 2 * time.Second

// forger sends sender reports for the publisher's tracks that a hostile
// relay could have sent: consistent with each other and with the tracks'
// capture timing (from OnSent), on a clock of the forger's, with the video
// shifted by forgedShift. Sent every 300 ms they outvote the publisher's
// own once a second.
type forger struct {
	mu   sync.Mutex
	last map[framing.Kind]send.SentFrame
}

func (f *forger) sent(sf send.SentFrame) {
	f.mu.Lock()
	if f.last == nil {
		f.last = map[framing.Kind]send.SentFrame{}
	}
	f.last[sf.Kind] = sf
	f.mu.Unlock()
}

func (f *forger) run(conn *transport.Conn, quit <-chan struct{}) {
	ssrc := map[framing.Kind]uint32{}
	for _, tr := range conn.PeerConnection().GetTransceivers() {
		if s := tr.Sender(); s != nil && s.Track() != nil {
			k := framing.KindVideo
			if s.Track().Kind() == webrtc.RTPCodecTypeAudio {
				k = framing.KindAudio
			}
			ssrc[k] = uint32(s.GetParameters().Encodings[0].SSRC)
		}
	}
	origin := time.Now()
	for {
		select {
		case <-quit:
			return
		case <-time.After(300 * time.Millisecond):
		}
		now := time.Now()
		var pkts []rtcp.Packet
		f.mu.Lock()
		for k, sf := range f.last {
			at, rate, shift := sf.CaptureTime, uint32(framing.VideoClockRate), forgedShift
			if k == framing.KindAudio {
				at, rate, shift = at.Add(-audioPacket), framing.AudioClockRate, 0
			}
			pkts = append(pkts, &rtcp.SenderReport{
				SSRC:    ssrc[k],
				NTPTime: transport.NTPDuration(now.Sub(origin) + shift),
				RTPTime: sf.RTPTimestamp + framing.RTPTicks(now.Sub(at), rate),
			})
		}
		f.mu.Unlock()
		if len(pkts) > 0 {
			_ = conn.WriteRTCP(pkts)
		}
	}
}

// lipSyncOffsets runs a publisher and a receiver through the relay on a
// virtual network, measures when the receiver shows each flash and plays
// each beep, and returns the offsets (flash shown − beep heard) of the
// flashes after syncSettle.
func lipSyncOffsets(t *testing.T, mode syncMode) ([]time.Duration, participant.RemoteStats) {
	m := newSimMeeting(t, newSimNet(t, vnet.RouterConfig{MinDelay: netDelay}, 3))
	join := func(host int, cfg participant.Config) (*participant.Participant, *transport.Conn) {
		return m.join(host, cfg)
	}

	// The receiver: a mixer with a 200 ms jitter buffer played by a
	// simulated device, and a screen that notes when it shows a flash.
	mixer := playout.NewMixer()
	defer mixer.Close()
	var heard, shown onsets
	// The sound reaches the mixer jitterDelay late, as it does where an
	// adaptive buffer holds that much on a jittery link.
	var out participant.AudioOutput = lateAudio{mixer}
	if mode == unsynced {
		out = soundOnly{lateAudio{mixer}}
	}
	sub, _ := join(2, participant.Config{
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
	var forge forger
	pub, pubConn := join(1, participant.Config{Video: video, Audio: newBeepAudio(t, start, until), OnSent: forge.sent})
	pubSession := pubConn.SessionID()
	stopForging := make(chan struct{})
	forging := make(chan struct{})
	go func() {
		defer close(forging)
		if mode == forged {
			forge.run(pubConn, stopForging)
		}
	}()
	key := []byte("a test base key of 32 bytes.....")
	if err := sub.SetReceiveKey(pubSession, 5, key); err != nil {
		t.Fatal(err)
	}
	if err := pub.SetSendKey(5, key); err != nil {
		t.Fatal(err)
	}
	if mode == switched {
		time.Sleep(time.Until(start.Add(switchAt)))
		enc2, err := vp8.NewEncoder(width, height, vp8.Params{})
		if err != nil {
			t.Fatal(err)
		}
		defer enc2.Close()
		first := int((switchAt + switchGap + frameInterval - 1) / frameInterval)
		screen := &flashVideo{enc: enc2, img: image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420),
			start: start, until: until, n: first}
		if err := pub.SetVideoSource(screen); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Until(start.Add(syncMedia + time.Second)))
	close(stopDevice)
	<-deviceDone
	close(stopForging)
	<-forging
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

	m.close()
	if want := int((syncMedia - syncSettle) / time.Second); len(offsets) < want-1 {
		t.Fatalf("measured %d flash/beep pairs, want at least %d", len(offsets), want-1)
	}
	return offsets, st
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
			offsets, _ := lipSyncOffsets(t, synced)
			t.Logf("offsets (picture − sound): %v", offsets)
			if bad := outsideWindow(offsets); len(bad) > 0 {
				t.Errorf("offsets %v outside %v … +%v", bad, syncWindowEarly, syncWindowLate)
			}
		})
	})
	t.Run("source switch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			offsets, _ := lipSyncOffsets(t, switched)
			t.Logf("offsets across a switch at %v: %v", switchAt, offsets)
			if bad := outsideWindow(offsets); len(bad) > 0 {
				t.Errorf("offsets %v outside %v … +%v", bad, syncWindowEarly, syncWindowLate)
			}
		})
	})
	t.Run("unsynced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			offsets, _ := lipSyncOffsets(t, unsynced)
			t.Logf("offsets without lip sync: %v", offsets)
			if bad := outsideWindow(offsets); len(bad) != len(offsets) {
				t.Errorf("without lip sync only %d of %d offsets %v fall outside the window: the test cannot tell", len(bad), len(offsets), offsets)
			}
		})
	})
}

// Sender reports forged by the relay, claiming each picture was captured
// 2 s after the truth, delay pictures by no more than the 500 ms hold:
// every picture is still shown, at most 500 ms after its sound.
func TestLipSyncForgedReportsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		offsets, st := lipSyncOffsets(t, forged)
		t.Logf("offsets with forged reports: %v", offsets)
		if st.LipSync == nil || st.LipSync.Clamped == 0 {
			t.Fatalf("the forged reports were not taken (the test shows nothing): %+v", st.LipSync)
		}
		for _, d := range offsets {
			if d <= syncWindowLate || d > lipsync.DefaultMaxHold {
				t.Errorf("offset %v: want the forgery to show (> %v) and be bounded (≤ %v)", d, syncWindowLate, lipsync.DefaultMaxHold)
			}
		}
		if q := st.LipSync.Queue; q == nil || q.Dropped != 0 {
			t.Errorf("pictures dropped while held: %+v", q)
		}
	})
}
