package send_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/sottohq/sotto/crypto/sframe"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/send"
)

// frames is a Source of fixed frames 1/30 s apart.
type frames struct {
	data      [][]byte
	n         int
	t0        time.Time
	keyframes int // RequestKeyframe calls
	before    func(n int)
}

func (f *frames) ReadFrame() (send.Frame, error) {
	if f.n == len(f.data) {
		return send.Frame{}, io.EOF
	}
	if f.before != nil {
		f.before(f.n)
	}
	fr := send.Frame{Data: f.data[f.n], Duration: time.Second / 30, CaptureTime: f.t0.Add(time.Duration(f.n) * time.Second / 30)}
	f.n++
	return fr, nil
}

func (f *frames) RequestKeyframe() { f.keyframes++ }

type sink struct{ pkts []*rtp.Packet }

func (s *sink) WriteRTP(p *rtp.Packet) error { s.pkts = append(s.pkts, p.Clone()); return nil }

type discard struct{}

func (discard) WriteRTP(*rtp.Packet) error { return nil }

func newKeys(t testing.TB) *send.Keys {
	k := send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) { return sframe.NewSender(framing.Suite, kid, key) })
	if err := k.Set(3, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	return k
}

func md(t testing.TB) []byte {
	m, err := framing.Metadata("0123456789abcdef0123456789abcdef", framing.KindVideo)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendPacketizesCiphertextWithCaptureTimestamps(t *testing.T) {
	src := &frames{data: [][]byte{make([]byte, 3000), make([]byte, 100), make([]byte, 5000)}, t0: time.Unix(50, 0)}
	var out sink
	var sent []send.SentFrame
	p, err := send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: src, Keys: newKeys(t), Track: &out,
		OnSent: func(f send.SentFrame) { sent = append(sent, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("run ended with %v at the end of the source", err)
	}
	if len(sent) != 3 || sent[0].CTR != 0 || sent[2].CTR != 2 || sent[1].KID != 3 {
		t.Fatalf("sent %+v", sent)
	}
	// One timestamp per frame, 3000 ticks of 90 kHz apart; marker on the
	// last packet of each frame; sequence numbers contiguous.
	var frameTS []uint32
	for i, pkt := range out.pkts {
		if i > 0 && pkt.SequenceNumber != out.pkts[i-1].SequenceNumber+1 {
			t.Fatal("sequence gap")
		}
		if pkt.MarshalSize() > framing.MTU {
			t.Fatalf("packet of %d bytes", pkt.MarshalSize())
		}
		var d codecs.VP8Packet
		if _, err := d.Unmarshal(pkt.Payload); err != nil {
			t.Fatal(err)
		}
		if d.S == 1 {
			frameTS = append(frameTS, pkt.Timestamp)
		}
		if pkt.Marker && pkt.Timestamp != frameTS[len(frameTS)-1] {
			t.Fatal("frame spans timestamps")
		}
	}
	if len(frameTS) != 3 || frameTS[1]-frameTS[0] != 3000 || frameTS[2]-frameTS[1] != 3000 || sent[2].RTPTimestamp != frameTS[2] {
		t.Fatalf("frame timestamps %v", frameTS)
	}
	if st := p.Stats(); st.Frames != 3 || st.Packets != uint64(len(out.pkts)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendMuteNoKeyAndKeyframeRequests(t *testing.T) {
	data := make([][]byte, 10)
	for i := range data {
		data[i] = []byte("frame")
	}
	keys := send.NewKeys(func(kid uint64, key []byte) (send.Sealer, error) { return sframe.NewSender(framing.Suite, kid, key) })
	src := &frames{data: data}
	var out sink
	p, _ := send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: src, Keys: keys, Track: &out})
	src.before = func(n int) {
		switch n {
		case 2:
			keys.Set(1, make([]byte, 16))
		case 4:
			p.SetEnabled(false)
		case 6:
			p.SetEnabled(true) // unmuting video asks for a keyframe
		case 8:
			p.RequestKeyframe()
		}
	}
	p.Run(context.Background())
	st := p.Stats()
	if st.NoKey != 2 || st.Muted != 2 || st.Frames != 6 || st.KeyframeRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
	if src.keyframes != 2 {
		t.Fatalf("encoder asked for %d keyframes, want 2", src.keyframes)
	}
}

// BenchmarkEncryptStage is stages 3–5 for a 6 KB frame (about a 640×480
// delta frame) into a discarding track; BenchmarkSFrameSeal is the bare
// SFrame seal of the same frame, for comparison.
func BenchmarkEncryptStage(b *testing.B) {
	frame := make([]byte, 6000)
	data := make([][]byte, b.N)
	for i := range data {
		data[i] = frame
	}
	p, err := send.New(send.Config{Kind: framing.KindVideo, Metadata: md(b), Source: &frames{data: data}, Keys: newKeys(b), Track: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	p.Run(context.Background())
}

func BenchmarkSFrameSeal(b *testing.B) {
	frame := make([]byte, 6000)
	s, err := sframe.NewSender(framing.Suite, 3, make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	m := md(b)
	var dst []byte
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dst, err = s.Seal(dst[:0], frame, m)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeysCloseStopsSealingUntilANewKID(t *testing.T) {
	k := newKeys(t)
	m := md(t)
	if _, kid, err := k.Seal(nil, []byte("x"), m); err != nil || kid != 3 {
		t.Fatalf("seal: kid %d, %v", kid, err)
	}
	k.Close()
	if _, _, err := k.Seal(nil, []byte("x"), m); !errors.Is(err, send.ErrNoKey) {
		t.Fatalf("seal after close: %v", err)
	}
	if err := k.Set(3, make([]byte, 16)); !errors.Is(err, send.ErrKIDReused) {
		t.Fatalf("kid 3 reused after close: %v", err)
	}
	if err := k.Set(4, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if _, kid, err := k.Seal(nil, []byte("x"), m); err != nil || kid != 4 {
		t.Fatalf("seal: kid %d, %v", kid, err)
	}
}

// keyed is a video Source whose frames are keyframes only when asked for
// (after ignoring the first `ignore` requests), like a real encoder that
// had a frame in flight.
type keyed struct {
	frames
	ignore, requests int
	pending          bool
}

func (k *keyed) RequestKeyframe() {
	k.requests++
	if k.requests > k.ignore {
		k.pending = true
	}
}

func (k *keyed) ReadFrame() (send.Frame, error) {
	f, err := k.frames.ReadFrame()
	f.Keyframe, k.pending = k.pending, false
	return f, err
}

func TestSetSourceSwitchesBetweenFramesOnOneStream(t *testing.T) {
	a := &keyed{frames: frames{t0: time.Unix(5000, 0)}}
	b := &keyed{frames: frames{t0: time.Unix(100, 0)}, ignore: 1} // its clock is far behind a's
	for i := 0; i < 4; i++ {
		a.data = append(a.data, []byte{'A', byte(i)})
		b.data = append(b.data, []byte{'B', byte(i)})
	}
	var out sink
	var sent []send.SentFrame
	p, err := send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: a, Keys: newKeys(t), Track: &out,
		OnSent: func(f send.SentFrame) { sent = append(sent, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetSource(nil); err == nil {
		t.Fatal("nil source accepted")
	}
	a.before = func(n int) {
		if n == 2 {
			p.SetSource(b) // a's frame 2 is in flight: it must not be sent
		}
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Sent: a0 a1, then b1 (b0 was no keyframe: dropped), b2 b3.
	if len(sent) != 5 {
		t.Fatalf("sent %d frames, want 5: %+v", len(sent), sent)
	}
	for i, f := range sent {
		if f.KID != 3 || f.CTR != uint64(i) {
			t.Fatalf("frame %d sealed as KID %d CTR %d: key and counter must carry on", i, f.KID, f.CTR)
		}
	}
	// Timestamps continue across the switch (a1 + 1/30 s) although b's
	// capture clock is behind, then follow b's capture times.
	if d := sent[2].RTPTimestamp - sent[1].RTPTimestamp; d != 3000 {
		t.Fatalf("first frame of the new source %d ticks after the old one's last, want 3000", d)
	}
	if d := sent[3].RTPTimestamp - sent[2].RTPTimestamp; d != 3000 {
		t.Fatalf("new source frames %d ticks apart, want 3000", d)
	}
	for i, pkt := range out.pkts {
		if i > 0 && pkt.SequenceNumber != out.pkts[i-1].SequenceNumber+1 {
			t.Fatal("sequence gap across the switch")
		}
	}
	if b.requests < 2 {
		t.Fatalf("new source asked for %d keyframes, want at least 2 (one ignored)", b.requests)
	}
	if st := p.Stats(); st.SourceSwitches != 1 || st.SwitchDropped != 2 || st.Frames != 5 || st.Keyframes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// failing is a source whose reads fail once the caller closes it. Each
// read announces itself on reading first.
type failing struct{ reading, closed chan struct{} }

func (f failing) ReadFrame() (send.Frame, error) {
	f.reading <- struct{}{}
	<-f.closed
	return send.Frame{}, errors.New("device closed")
}
func (failing) RequestKeyframe() {}

func TestSetSourceOldSourceClosedAfterSwitchKeepsRunning(t *testing.T) {
	old := failing{reading: make(chan struct{}, 1), closed: make(chan struct{})}
	next := &keyed{frames: frames{t0: time.Unix(1, 0)}}
	for i := 0; i < 3; i++ {
		next.data = append(next.data, []byte{'N', byte(i)})
	}
	var out sink
	p, err := send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: old, Keys: newKeys(t), Track: &out})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	<-old.reading // Run is in old.ReadFrame
	p.SetSource(next)
	close(old.closed) // the caller closes the camera after switching
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pipeline ended with the old source's error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pipeline stuck")
	}
	if st := p.Stats(); st.Frames != 3 || st.Keyframes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// MediaClock reports the last frame's timestamp with the capture instant
// of its first sample: a video picture's capture time, and for audio the
// capture time of the frame's last chunk minus the frame's duration.
func TestMediaClockMapsTimestampsToCaptureInstants(t *testing.T) {
	for _, kind := range []framing.Kind{framing.KindVideo, framing.KindAudio} {
		src := &frames{data: [][]byte{make([]byte, 100), make([]byte, 100)}, t0: time.Unix(50, 0)}
		var sent []send.SentFrame
		m, err := framing.Metadata("0123456789abcdef0123456789abcdef", kind)
		if err != nil {
			t.Fatal(err)
		}
		p, err := send.New(send.Config{Kind: kind, Metadata: m, Source: src, Keys: newKeys(t), Track: discard{},
			OnSent: func(f send.SentFrame) { sent = append(sent, f) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := p.MediaClock(); ok {
			t.Fatalf("%s: media clock before the first frame", kind)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		ts, at, ok := p.MediaClock()
		want := src.t0.Add(time.Second / 30) // the second frame's capture time
		if kind == framing.KindAudio {
			want = want.Add(-time.Second / 30)
		}
		if !ok || ts != sent[1].RTPTimestamp || !at.Equal(want) {
			t.Errorf("%s: media clock (%d, %v, %v), want (%d, %v)", kind, ts, at, ok, sent[1].RTPTimestamp, want)
		}
	}
}

// keySource makes a keyframe of the frame after each request, and the
// first frame.
type keySource struct {
	frames
	want   bool
	isKey  []bool
	before func(n int)
}

func (k *keySource) RequestKeyframe() { k.want = true }

func (k *keySource) ReadFrame() (send.Frame, error) {
	if k.before != nil {
		k.before(k.frames.n)
	}
	f, err := k.frames.ReadFrame()
	if err == nil {
		f.Keyframe = k.want || k.frames.n == 1
		k.want = false
		k.isKey = append(k.isKey, f.Keyframe)
	}
	return f, err
}

// Keyframe requests closer than MinKeyframeDistance (in media time) to the
// last keyframe wait for it; none is lost.
func TestKeyframeRequestsHonourMinimumDistance(t *testing.T) {
	src := &keySource{frames: frames{data: make([][]byte, 90), t0: time.Unix(50, 0)}}
	for i := range src.data {
		src.data[i] = make([]byte, 100)
	}
	var p *send.Pipeline
	src.before = func(n int) {
		if n > 0 && n%3 == 0 { // a lossy receiver asks every 100 ms
			p.RequestKeyframe()
		}
	}
	var err error
	p, err = send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: src, Keys: newKeys(t), Track: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var keys []int
	for i, k := range src.isKey {
		if k {
			keys = append(keys, i)
		}
	}
	minFrames := int(send.DefaultMinKeyframeDistance * 30 / time.Second)
	for i := 1; i < len(keys); i++ {
		if keys[i]-keys[i-1] < minFrames {
			t.Errorf("keyframes at frames %d and %d: closer than %d frames", keys[i-1], keys[i], minFrames)
		}
	}
	// 3 s of requests every 100 ms: a keyframe every 500 ms, no fewer.
	if len(keys) < 6 || len(keys) > 7 {
		t.Errorf("keyframes at %v, want one every %d frames", keys, minFrames)
	}
	if st := p.Stats(); st.KeyframesDeferred == 0 || st.Keyframes != uint64(len(keys)) {
		t.Errorf("stats %+v", st)
	}

	// One request just after a keyframe is served once the distance is
	// reached.
	src = &keySource{frames: frames{data: make([][]byte, 30), t0: time.Unix(50, 0)}}
	for i := range src.data {
		src.data[i] = make([]byte, 100)
	}
	src.before = func(n int) {
		if n == 2 {
			p.RequestKeyframe()
		}
	}
	p, _ = send.New(send.Config{Kind: framing.KindVideo, Metadata: md(t), Source: src, Keys: newKeys(t), Track: discard{}})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if src.isKey[minFrames] != true || src.isKey[minFrames-1] {
		t.Errorf("deferred keyframe not at frame %d: %v", minFrames, src.isKey)
	}
}

// audioFrames are 20 ms Opus-sized frames whose capture times wobble as a
// device's chunks do, with a pause of one second after frame 10.
type audioFrames struct {
	n, max int
	t0     time.Time
}

func (a *audioFrames) ReadFrame() (send.Frame, error) {
	if a.n == a.max {
		return send.Frame{}, io.EOF
	}
	at := a.t0.Add(time.Duration(a.n)*20*time.Millisecond + time.Duration(a.n%3-1)*1500*time.Microsecond)
	if a.n > 10 {
		at = at.Add(time.Second)
	}
	a.n++
	return send.Frame{Data: make([]byte, 80), Duration: 20 * time.Millisecond, CaptureTime: at}, nil
}

func (a *audioFrames) RequestKeyframe() {}

// Audio timestamps count samples, 960 per 20 ms packet, whatever the
// capture times' wobble; after a pause they jump with the capture clock.
func TestSendAudioTimestampsCountSamples(t *testing.T) {
	var out sink
	m, err := framing.Metadata("0123456789abcdef0123456789abcdef", framing.KindAudio)
	if err != nil {
		t.Fatal(err)
	}
	p, err := send.New(send.Config{Kind: framing.KindAudio, Metadata: m, Source: &audioFrames{max: 20, t0: time.Unix(50, 0)}, Keys: newKeys(t), Track: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(out.pkts) != 20 {
		t.Fatalf("%d packets", len(out.pkts))
	}
	for i := 1; i < 20; i++ {
		d := out.pkts[i].Timestamp - out.pkts[i-1].Timestamp
		switch {
		case i == 11:
			// One second of pause plus the wobble: 48000 more samples.
			if d < 48000 || d > 48000+2*960 {
				t.Errorf("after the pause the timestamp moved %d", d)
			}
		case d != 960:
			t.Errorf("packet %d: timestamp moved %d, want 960", i, d)
		}
	}
}
