// Package simtest runs participants and the relay on pion's virtual
// network inside testing/synctest bubbles: deterministic time and loss, no
// real sockets. Media comes from generators in this file (the VP8 encoder
// and libopus fed with synthetic pictures and a sine), not from capture
// drivers, whose process-global timers must not enter a bubble. It is a
// separate package so nothing it starts shares a test binary with
// real-time tests.
package simtest

import (
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v5/vnet"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/relay/signal"
)

const (
	width, height = 320, 240
	frameInterval = time.Second / 30
	audioPacket   = 20 * time.Millisecond
	// outage is a loss burst far longer than the 5% random loss: whether
	// NACK can still repair it depends on the relay's 256-packet history
	// and on timing, so the test accepts NACK or a keyframe request, as
	// long as video is back within a second.
	outage = time.Second
)

// videoGen encodes a moving pattern at 30 frames/s of bubble time.
type videoGen struct {
	enc   *vp8.Encoder
	img   *image.YCbCr
	n     int
	start time.Time
	until time.Time
}

func newVideoGen(t *testing.T, until time.Time) *videoGen {
	enc, err := vp8.NewEncoder(width, height, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return &videoGen{enc: enc, img: image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420),
		start: time.Now(), until: until}
}

func (g *videoGen) ReadFrame() (capture.Frame, error) {
	at := g.start.Add(time.Duration(g.n) * frameInterval)
	if at.After(g.until) {
		return capture.Frame{}, io.EOF
	}
	time.Sleep(time.Until(at))
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			g.img.Y[y*g.img.YStride+x] = byte(x*2 + y + 3*g.n)
		}
	}
	f, err := g.enc.Encode(g.img, int64(g.n)*3000, 3000)
	g.n++
	if err != nil {
		return capture.Frame{}, err
	}
	return capture.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: frameInterval, CaptureTime: time.Now(), Release: func() {}}, nil
}

func (g *videoGen) RequestKeyframe() { g.enc.ForceKeyFrame() }

// audioGen encodes a 440 Hz sine with Sotto's Opus encoder, one 20 ms
// packet per read.
type audioGen struct {
	enc   *opus.Encoder
	pcm   []float32
	phase float64
	start time.Time
	until time.Time
	n     int
}

func newAudioGen(t *testing.T, until time.Time) *audioGen {
	enc, err := opus.NewEncoder(opus.EncoderParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return &audioGen{enc: enc, pcm: make([]float32, opus.FrameSamples), start: time.Now(), until: until}
}

func (g *audioGen) ReadFrame() (capture.Frame, error) {
	at := g.start.Add(time.Duration(g.n) * audioPacket)
	if at.After(g.until) {
		return capture.Frame{}, io.EOF
	}
	time.Sleep(time.Until(at))
	g.n++
	for i := range g.pcm {
		g.pcm[i] = float32(0.25 * math.Sin(g.phase))
		g.phase += 2 * math.Pi * 440 / opus.SampleRate
	}
	b, err := g.enc.Encode(g.pcm)
	if err != nil {
		return capture.Frame{}, err
	}
	return capture.Frame{Data: append([]byte(nil), b...), Duration: audioPacket, CaptureTime: time.Now(), Release: func() {}}, nil
}

func (g *audioGen) RequestKeyframe() {}

// SetExpectedLoss makes the generator loss-aware, as capture's stream is.
func (g *audioGen) SetExpectedLoss(percent int) { _ = g.enc.SetPacketLossPercent(percent) }

func pct(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%d %%", *p)
}

// lossyLink drops packets from the relay to one receiver: a fraction at
// random while on, and everything during an outage.
type lossyLink struct {
	mu      sync.Mutex
	rng     *rand.Rand
	from    net.IP
	to      net.IP
	rate    float64
	outage  bool
	dropped int
}

func (l *lossyLink) filter(c vnet.Chunk) bool {
	src, ok1 := c.SourceAddr().(*net.UDPAddr)
	dst, ok2 := c.DestinationAddr().(*net.UDPAddr)
	if !ok1 || !ok2 || !src.IP.Equal(l.from) || !dst.IP.Equal(l.to) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.outage || l.rng.Float64() < l.rate {
		l.dropped++
		return false
	}
	return true
}

func (l *lossyLink) set(rate float64, outage bool) {
	l.mu.Lock()
	l.rate, l.outage = rate, outage
	l.mu.Unlock()
}

// A publisher sends VP8 and Opus through the relay to a receiver whose
// downlink drops 5% of packets, plus one 1 s outage. NACK repairs the
// random loss; after the outage NACK or a keyframe request brings video back
// within a second. Audio keeps playing throughout.
func TestLossyDownlinkRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &lossyLink{rng: rand.New(rand.NewPCG(7, 9)), from: net.ParseIP("10.0.0.1"), to: net.ParseIP("10.0.0.3")}
		m := newSimMeeting(t, newSimNet(t, vnet.RouterConfig{}, 3, link.filter))

		var (
			mu      sync.Mutex
			decoded = map[framing.Kind][]time.Time{}
		)
		sessions := map[*participant.Participant]signal.ID{}
		join := func(host int, video, aud participant.Stream) *participant.Participant {
			cfg := participant.Config{
				OnDecoded: func(_ signal.ID, fi receive.FrameInfo) {
					mu.Lock()
					decoded[fi.Kind] = append(decoded[fi.Kind], fi.Decoded)
					mu.Unlock()
				},
			}
			if video != nil {
				cfg.Video, cfg.Audio = video, aud
			}
			p, conn := m.join(host, cfg)
			sessions[p] = conn.SessionID()
			return p
		}
		key := []byte("a test base key of 32 bytes.....")
		until := time.Now().Add(10 * time.Second)
		pub := join(1, newVideoGen(t, until), newAudioGen(t, until))
		sub := join(2, nil, nil)
		if err := sub.SetReceiveKey(sessions[pub], 5, key); err != nil {
			t.Fatal(err)
		}
		if err := pub.SetSendKey(5, key); err != nil {
			t.Fatal(err)
		}

		// Wait until media flows, then turn the loss on.
		for {
			st := sub.Stats().Remotes[pub.Stats().Session]
			if st.Video != nil && st.Video.FramesDecoded > 0 && st.Audio != nil && st.Audio.FramesDecoded > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		lossStart := time.Now()
		before := sub.Stats().Remotes[pub.Stats().Session]
		sentBefore := pub.Stats().Sent
		link.set(0.05, false)
		time.Sleep(2 * time.Second)
		outageStart := time.Now()
		// The receiver's reports of its 5 % downlink loss reach the
		// publisher through the relay's aggregate and tune its FEC.
		expected := pub.Stats().AudioExpectedLoss
		link.set(0.05, true)
		time.Sleep(outage)
		outageEnd := time.Now()
		link.set(0.05, false)
		time.Sleep(2 * time.Second)
		lossEnd := time.Now()
		link.set(0, false)
		time.Sleep(500 * time.Millisecond) // let repairs land
		after := sub.Stats().Remotes[pub.Stats().Session]
		sentAfter := pub.Stats().Sent

		mu.Lock()
		video := slices.Clone(decoded[framing.KindVideo])
		aud := slices.Clone(decoded[framing.KindAudio])
		mu.Unlock()
		link.mu.Lock()
		dropped := link.dropped
		link.mu.Unlock()

		sentV := sentAfter.Video.Frames - sentBefore.Video.Frames
		sentA := sentAfter.Audio.Frames - sentBefore.Audio.Frames
		decV := after.Video.FramesDecoded - before.Video.FramesDecoded
		decA := after.Audio.FramesDecoded - before.Audio.FramesDecoded
		t.Logf("dropped %d packets; video decoded %d of %d (gaps %d, waiting %d, PLIs %d); audio decoded %d of %d",
			dropped, decV, sentV, after.Video.Dropped.Gap, after.Video.Dropped.WaitingKeyframe,
			after.Video.KeyframeRequests, decA, sentA)
		if dropped < 50 {
			t.Fatalf("only %d packets dropped: the test proves nothing", dropped)
		}

		// Longest stretch without a decoded frame, outside and after the outage.
		worst := func(ts []time.Time, from, to time.Time, skipFrom, skipTo time.Time) (time.Duration, time.Time) {
			var w time.Duration
			var at time.Time
			prev := from
			for _, d := range ts {
				if d.Before(from) || d.After(to) {
					continue
				}
				gapStart := prev
				if gapStart.Before(skipTo) && d.After(skipFrom) {
					// A stretch spanning the outage counts from its end.
					gapStart = skipTo
				}
				if g := d.Sub(gapStart); g > w {
					w, at = g, d
				}
				prev = d
			}
			return w, at
		}
		vGap, vAt := worst(video, lossStart, lossEnd, outageStart, outageEnd)
		aGap, _ := worst(aud, lossStart, lossEnd, outageStart, outageEnd)
		t.Logf("longest video stall %v (ending %v after loss start); longest audio stall %v", vGap, vAt.Sub(lossStart), aGap)
		if vGap > time.Second {
			t.Errorf("video took %v to recover", vGap)
		}
		if aGap > 250*time.Millisecond {
			t.Errorf("audio stalled for %v outside the outage", aGap)
		}
		// The outage is repaired one of two ways, depending on whether the
		// NACK round trip beats the reassembler's wait (goroutine order in
		// the bubble decides): the relay still holds the lost packets and
		// resends them, or the reassembler gives up, counts a gap and asks
		// for a keyframe. Either way video is back within a second (checked
		// above); a gap must never be left without a keyframe request.
		if after.Video.Dropped.Gap > 0 && after.Video.KeyframeRequests == 0 {
			t.Errorf("gap not followed by a keyframe request: %+v", after.Video)
		}
		// 5% random loss is repaired by NACK; the outage costs at most
		// its own length plus a second of video.
		if decV < sentV-60 {
			t.Errorf("video decoded %d of %d", decV, sentV)
		}
		// Audio has no NACK: it loses the outage and about 5% besides.
		if decA < sentA-uint64(outage/audioPacket)-sentA/10 {
			t.Errorf("audio decoded %d of %d", decA, sentA)
		}
		if expected == nil || *expected < 2 || *expected > 20 {
			t.Errorf("publisher's expected audio loss at 5 %% downlink loss: %s", pct(expected))
		} else {
			t.Logf("publisher's audio FEC tuned to %d %% loss", *expected)
		}
		if after.Video.Dropped.DecryptFailures() != 0 || after.Audio.Dropped.DecryptFailures() != 0 {
			t.Errorf("decrypt failures under loss: %+v %+v", after.Video.Dropped, after.Audio.Dropped)
		}

		m.close()
	})
}
