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
