package receive_test

import (
	"context"
	"crypto/sha256"
	"image"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/codec/opus"
	"github.com/sottohq/sotto/media/codec/opus/opustest"
	"github.com/sottohq/sotto/media/codec/vp8"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/media/send"
)

const (
	testW, testH = 320, 240
	frameDur     = 33 * time.Millisecond
)

// clock is the test's time, advanced one frame per captured frame.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// vp8Source encodes a moving test pattern with the real VP8 encoder and
// remembers a hash of every frame it produced.
type vp8Source struct {
	w, h   int
	enc    *vp8.Encoder
	img    *image.YCbCr
	clk    *clock
	n, max int
	sent   map[[32]byte]bool
	// beforeFrame runs before frame n is captured.
	beforeFrame func(n int)
	// replay, when set, is sent in a loop instead of encoding.
	replay []vp8.Frame
}

func newVP8Source(t testing.TB, clk *clock, frames, w, h int) *vp8Source {
	enc, err := vp8.NewEncoder(w, h, vp8.Params{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return &vp8Source{w: w, h: h, enc: enc, img: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		clk: clk, max: frames, sent: make(map[[32]byte]bool)}
}

func (s *vp8Source) ReadFrame() (send.Frame, error) {
	if s.n == s.max {
		return send.Frame{}, io.EOF
	}
	if s.beforeFrame != nil {
		s.beforeFrame(s.n)
	}
	if s.replay != nil {
		f := s.replay[s.n%len(s.replay)]
		s.n++
		return send.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: frameDur}, nil
	}
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			s.img.Y[y*s.img.YStride+x] = byte(x + y + 4*s.n)
		}
	}
	f, err := s.enc.Encode(s.img, int64(s.n)*3000, 3000)
	if err != nil {
		return send.Frame{}, err
	}
	s.clk.t = s.clk.t.Add(frameDur)
	s.n++
	s.sent[sha256.Sum256(f.Data)] = true
	return send.Frame{Data: f.Data, Keyframe: f.Keyframe, Duration: frameDur, CaptureTime: s.clk.t}, nil
}

func (s *vp8Source) RequestKeyframe() { s.enc.ForceKeyFrame() }

// link carries packets from the send pipeline to the receive pipeline on
// the same goroutine, through an optional man in the middle.
type link struct {
	mitm func(p *rtp.Packet) []*rtp.Packet
	to   func(p *rtp.Packet)
}

func (l *link) WriteRTP(p *rtp.Packet) error {
	c := p.Clone()
	if l.mitm == nil {
		l.to(c)
		return nil
	}
	for _, q := range l.mitm(c) {
		l.to(q)
	}
	return nil
}

type harness struct {
	src     *vp8Source
	keys    *send.Keys
	sendP   *send.Pipeline
	recvP   *receive.Pipeline[*image.YCbCr]
	rx      *sframe.Receiver
	link    *link
	decoded int
	// decodedUnsent counts decoder inputs that are not a frame the
	// sender encoded: it must stay zero.
	decodedUnsent int
	plis          int
}

func newHarness(t testing.TB, frames int) *harness {
	return newHarnessSize(t, frames, testW, testH)
}

func newHarnessSize(t testing.TB, frames, w, height int) *harness {
	t.Helper()
	clk := &clock{t: time.Unix(1000, 0)}
	h := &harness{src: newVP8Source(t, clk, frames, w, height), link: &link{}}
	h.keys = send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) {
		return sframe.NewSender(framing.Suite, kid, key)
	})
	if err := h.keys.Set(7, testKey(1)); err != nil {
		t.Fatal(err)
	}
	md, err := framing.Metadata("meeting-one", framing.KindVideo)
	if err != nil {
		t.Fatal(err)
	}
	h.sendP, err = send.New(send.Config{Kind: framing.KindVideo, Metadata: md, Source: h.src, Keys: h.keys, Track: h.link})
	if err != nil {
		t.Fatal(err)
	}
	h.rx = sframe.NewReceiver(framing.Suite)
	if err := h.rx.SetKey(7, testKey(1)); err != nil {
		t.Fatal(err)
	}
	dec, err := vp8.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dec.Close() })
	h.recvP, err = receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: md, Opener: h.rx,
		Decode: func(frame []byte) (*image.YCbCr, error) {
			if !h.src.sent[sha256.Sum256(frame)] {
				h.decodedUnsent++
			}
			return dec.Decode(frame)
		},
		Render: func(img *image.YCbCr, fi receive.FrameInfo) {
			if img.Rect.Dx() != w {
				t.Errorf("decoded %v picture", img.Rect)
			}
			h.decoded++
		},
		RequestKeyframe: func() { h.plis++; h.sendP.RequestKeyframe() },
		Now:             clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.link.to = h.recvP.Push
	return h
}

func (h *harness) run(t testing.TB) receive.Stats {
	t.Helper()
	if err := h.sendP.Run(context.Background()); err != nil {
		t.Fatalf("send pipeline ended with %v", err)
	}
	if h.decodedUnsent != 0 {
		t.Fatalf("decoder was fed %d frames the sender never encoded", h.decodedUnsent)
	}
	return h.recvP.Stats()
}

// encodeClip encodes n 640×480 frames of the test pattern, the first a
// keyframe.
func encodeClip(b *testing.B, n int) []vp8.Frame {
	src := newVP8Source(b, &clock{}, n, 640, 480)
	clip := make([]vp8.Frame, n)
	for i := range clip {
		f, err := src.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		clip[i] = vp8.Frame{Data: f.Data, Keyframe: f.Keyframe}
	}
	if !clip[0].Keyframe {
		b.Fatal("clip does not start with a keyframe")
	}
	return clip
}

// BenchmarkPipelineFrame640x480 runs one encoded 640×480 frame per op
// through every stage after the encoder, on one goroutine: seal,
// packetize, reassemble, open, VP8 decode. BenchmarkDecode640x480 is the
// decoder alone on the same frames: the difference is what the SFrame
// pipeline adds.
func BenchmarkPipelineFrame640x480(b *testing.B) {
	clip := encodeClip(b, 90)
	h := newHarnessSize(b, b.N, 640, 480)
	h.src.replay = clip
	for _, f := range clip {
		h.src.sent[sha256.Sum256(f.Data)] = true
	}
	b.ResetTimer()
	st := h.run(b)
	if st.FramesDecoded != uint64(b.N) {
		b.Fatalf("decoded %d of %d", st.FramesDecoded, b.N)
	}
}

func BenchmarkDecode640x480(b *testing.B) {
	clip := encodeClip(b, 90)
	dec, err := vp8.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := dec.Decode(clip[i%len(clip)].Data); err != nil {
			b.Fatal(err)
		}
	}
}

func testKey(b byte) []byte {
	k := make([]byte, 16)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestPipelineClean(t *testing.T) {
	h := newHarness(t, 60)
	st := h.run(t)
	if h.decoded != 60 || st.FramesReceived != 60 || st.FramesDecrypted != 60 || st.FramesDecoded != 60 {
		t.Fatalf("decoded %d, stats %+v", h.decoded, st)
	}
	if st.KID == nil || *st.KID != 7 || st.Keyframes < 1 || h.plis != 0 {
		t.Fatalf("stats %+v, plis %d", st, h.plis)
	}
	if got := h.sendP.Stats(); got.Frames != 60 || got.Bytes == 0 {
		t.Fatalf("send stats %+v", got)
	}
}

func TestPipelineCiphertextOnTheWire(t *testing.T) {
	h := newHarness(t, 10)
	var wire []byte
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		wire = append(wire, p.Payload...)
		return []*rtp.Packet{p}
	}
	var plain [][]byte
	h.recvP, _ = receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: mustMD(t, framing.KindVideo), Opener: h.rx,
		Decode: func(f []byte) (*image.YCbCr, error) {
			plain = append(plain, append([]byte(nil), f...))
			return nil, nil
		},
	})
	h.link.to = h.recvP.Push
	h.run(t)
	if len(plain) != 10 {
		t.Fatalf("decoded %d frames", len(plain))
	}
	for i, f := range plain {
		// No 16-byte run of any plaintext frame, not even the VP8
		// header, appears on the wire.
		for off := 0; off+16 <= len(f); off += 16 {
			if contains(wire, f[off:off+16]) {
				t.Fatalf("frame %d: plaintext bytes at %d are on the wire", i, off)
			}
		}
	}
}

func TestPipelineTamperedPayloadsAreDroppedNotDecoded(t *testing.T) {
	h := newHarness(t, 90)
	n := 0
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		n++
		if n%10 == 3 && len(p.Payload) > 20 {
			p.Payload[len(p.Payload)/2] ^= 0x40
		}
		return []*rtp.Packet{p}
	}
	st := h.run(t)
	if st.Dropped.Auth == 0 || st.FramesDecrypted+st.Dropped.Auth != st.FramesReceived {
		t.Fatalf("stats %+v", st)
	}
	// Delta frames after a dropped frame wait for a keyframe, requested by PLI.
	if h.plis == 0 || st.Dropped.WaitingKeyframe == 0 || st.FramesDecoded == 0 {
		t.Fatalf("no keyframe recovery: plis %d, stats %+v", h.plis, st)
	}
}

func TestPipelineUnknownKIDAndKeyRotation(t *testing.T) {
	h := newHarness(t, 60)
	h.src.beforeFrame = func(n int) {
		switch n {
		case 20:
			// The sender moves to a key the receiver does not have yet.
			if err := h.keys.Set(8, testKey(2)); err != nil {
				t.Fatal(err)
			}
		case 30:
			if err := h.rx.SetKey(8, testKey(2)); err != nil {
				t.Fatal(err)
			}
		case 40:
			// Reusing a KID would restart its counter: refused.
			if err := h.keys.Set(7, testKey(3)); err != send.ErrKIDReused {
				t.Fatalf("reused kid: %v", err)
			}
		}
	}
	st := h.run(t)
	if st.Dropped.UnknownKID != 10 || st.KID == nil || *st.KID != 8 {
		t.Fatalf("stats %+v", st)
	}
	if st.FramesDecoded < 40 {
		t.Fatalf("decoded %d frames, want ≥ 40 (recovery after the key arrived)", st.FramesDecoded)
	}
}

func TestPipelineReplayedFrameIsDropped(t *testing.T) {
	h := newHarness(t, 30)
	var frame5 []*rtp.Packet
	seq := uint16(40000)
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		// A relay may renumber packets; it re-sends frame 5 as if new.
		p.SequenceNumber = seq
		seq++
		if h.src.n == 6 {
			frame5 = append(frame5, p.Clone())
		}
		out := []*rtp.Packet{p}
		if h.src.n == 12 && p.Marker {
			for _, q := range frame5 {
				q.SequenceNumber = seq
				seq++
				out = append(out, q)
			}
		}
		return out
	}
	st := h.run(t)
	if len(frame5) == 0 || st.Dropped.Replay != 1 || st.FramesDecoded != 30 {
		t.Fatalf("replayed %d packets; stats %+v", len(frame5), st)
	}
}

func TestPipelineLossRecoversWithKeyframe(t *testing.T) {
	h := newHarness(t, 120)
	n := 0
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		n++
		if h.src.n == 40 || h.src.n == 41 { // a two-frame burst is lost
			return nil
		}
		return []*rtp.Packet{p}
	}
	lastDecoded := 0
	h.recvP, _ = receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: mustMD(t, framing.KindVideo), Opener: h.rx,
		Decode:          func(f []byte) (*image.YCbCr, error) { return nil, nil },
		Render:          func(_ *image.YCbCr, fi receive.FrameInfo) { lastDecoded = h.src.n },
		RequestKeyframe: func() { h.plis++; h.sendP.RequestKeyframe() },
		Now:             h.src.clk.now,
	})
	h.link.to = h.recvP.Push
	st := h.run(t)
	if st.Dropped.Gap != 1 || h.plis != 1 || lastDecoded != 120 {
		t.Fatalf("plis %d, last decoded %d, stats %+v", h.plis, lastDecoded, st)
	}
	// Recovery within a second: at most 30 frames lost or waiting.
	if lost := 120 - st.FramesDecoded; lost > 30 {
		t.Fatalf("%d frames not decoded", lost)
	}
}

func TestPipelineAudioFrameInVideoTrackFails(t *testing.T) {
	h := newHarness(t, 5)
	h.recvP, _ = receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: mustMD(t, framing.KindAudio), Opener: h.rx,
		Decode: func(f []byte) (*image.YCbCr, error) { t.Error("decoder called"); return nil, nil },
	})
	h.link.to = h.recvP.Push
	if st := h.run(t); st.Dropped.Auth != 5 {
		t.Fatalf("stats %+v", st)
	}
}

func mustMD(t *testing.T, k framing.Kind) []byte {
	md, err := framing.Metadata("meeting-one", k)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func contains(hay, needle []byte) bool {
	for i := 0; i+len(needle) <= len(hay); i++ {
		if string(hay[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}

// A receiver whose frames never complete (the last packet of every frame
// is lost) asks for a keyframe anyway, although nothing decrypts, and
// recovers at the first keyframe once the loss ends.
func TestPipelineStuckReceiverAsksForKeyframe(t *testing.T) {
	h := newHarness(t, 150)
	stuck := func() bool { return h.src.n > 30 && h.src.n <= 90 }
	h.link.mitm = func(p *rtp.Packet) []*rtp.Packet {
		if stuck() && p.Marker {
			return nil
		}
		return []*rtp.Packet{p}
	}
	var plisStuck, decodedStuck, healedAt, firstAfter int
	h.recvP, _ = receive.New(receive.Config[*image.YCbCr]{
		Kind: framing.KindVideo, Metadata: mustMD(t, framing.KindVideo), Opener: h.rx,
		Decode: func(f []byte) (*image.YCbCr, error) { return nil, nil },
		Render: func(_ *image.YCbCr, fi receive.FrameInfo) {
			switch {
			case stuck():
				decodedStuck++
			case h.src.n > 90 && firstAfter == 0:
				firstAfter = h.src.n
			}
		},
		RequestKeyframe: func() {
			if stuck() {
				plisStuck++
			}
			h.plis++
			h.sendP.RequestKeyframe()
		},
		Now: h.src.clk.now,
	})
	h.link.to = h.recvP.Push
	healedAt = 91
	st := h.run(t)
	t.Logf("plis while stuck %d, decoded while stuck %d, first frame after healing %d, stats %+v", plisStuck, decodedStuck, firstAfter, st.Dropped)
	if decodedStuck > 1 {
		t.Fatalf("%d frames decoded while every frame lacked its last packet", decodedStuck)
	}
	if plisStuck == 0 {
		t.Fatal("a receiver whose frames never complete never asked for a keyframe")
	}
	// Within a second (30 frames) of the healing, video is back.
	if firstAfter == 0 || firstAfter-healedAt > 30 {
		t.Fatalf("first frame after healing at %d (healed at %d)", firstAfter, healedAt)
	}
}

// The reassembly wait covers two NACK round trips and grows with the RTT,
// within its bounds.
func TestNackWaitScalesWithRTT(t *testing.T) {
	for _, c := range []struct{ rtt, want time.Duration }{
		{0, receive.DefaultMaxWait},
		{10 * time.Millisecond, receive.MinMaxWait},
		{100 * time.Millisecond, 310 * time.Millisecond},
		{200 * time.Millisecond, 560 * time.Millisecond},
		{2 * time.Second, receive.MaxMaxWait},
	} {
		if got := receive.NackWait(c.rtt); got != c.want {
			t.Errorf("NackWait(%v) = %v, want %v", c.rtt, got, c.want)
		}
	}
}

// opusSource sends the speech recording's packets, 20 ms each.
type opusSource struct {
	pkts [][]byte
	n    int
}

func (s *opusSource) ReadFrame() (send.Frame, error) {
	if s.n == len(s.pkts) {
		return send.Frame{}, io.EOF
	}
	s.n++
	return send.Frame{Data: s.pkts[s.n-1], Duration: 20 * time.Millisecond}, nil
}

func (s *opusSource) RequestKeyframe() {}

// Audio packets reordered in flight (each run of four delivered
// backwards) all reach the jitter buffer with their own timestamps:
// nothing is dropped as late before it, and SFrame's replay window
// accepts the reordering.
func TestPipelineAudioReorderedPacketsAllReachJitterBuffer(t *testing.T) {
	pkts := opustest.Encode(t, opustest.Speech(t), opus.EncoderParams{LossPercent: 10})
	src := &opusSource{pkts: pkts}
	keys := send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) {
		return sframe.NewSender(framing.Suite, kid, key)
	})
	if err := keys.Set(7, testKey(1)); err != nil {
		t.Fatal(err)
	}
	md := mustMD(t, framing.KindAudio)
	var held []*rtp.Packet
	l := &link{mitm: func(p *rtp.Packet) []*rtp.Packet {
		held = append(held, p)
		if len(held) < 4 {
			return nil
		}
		out := slices.Clone(held)
		slices.Reverse(out)
		held = held[:0]
		return out
	}}
	sendP, err := send.New(send.Config{Kind: framing.KindAudio, Metadata: md, Source: src, Keys: keys, Track: l})
	if err != nil {
		t.Fatal(err)
	}
	rx := sframe.NewReceiver(framing.Suite)
	if err := rx.SetKey(7, testKey(1)); err != nil {
		t.Fatal(err)
	}
	jb, err := playout.NewJitterBuffer()
	if err != nil {
		t.Fatal(err)
	}
	defer jb.Close()
	var ts []uint32
	arrival := time.Unix(1000, 0)
	recvP, err := receive.New(receive.Config[[]byte]{
		Kind: framing.KindAudio, Metadata: md, Opener: rx,
		Decode: func(f []byte) ([]byte, error) { return f, nil },
		Render: func(pkt []byte, fi receive.FrameInfo) {
			ts = append(ts, fi.RTPTimestamp)
			if err := jb.Push(fi.RTPTimestamp, pkt, arrival); err != nil {
				t.Errorf("jitter buffer refused packet: %v", err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.to = recvP.Push
	if err := sendP.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := recvP.Stats()
	reordered := 0
	for i := 1; i < len(ts); i++ {
		if int32(ts[i]-ts[i-1]) < 0 {
			reordered++
		}
	}
	want := len(pkts) / 4 * 4
	if len(ts) != want || reordered < want/2 {
		t.Fatalf("%d of %d packets reached the jitter buffer, %d reordered; %+v", len(ts), want, reordered, st)
	}
	if st.Dropped.Late != 0 || st.DecryptFailures != 0 || jb.Stats().Received != uint64(want) {
		t.Fatalf("stats %+v, jitter %+v", st, jb.Stats())
	}
}
