package bwe

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// feedback builds, with pion's generator (the relay's), the transport-cc
// feedback for arrivals (µs by sequence number; absent: lost), through
// the wire format.
func feedback(t *testing.T, arrivals map[uint16]int64, seqs []uint16) []*rtcp.TransportLayerCC {
	t.Helper()
	r := twcc.NewRecorder(1)
	for _, s := range seqs {
		if at, ok := arrivals[s]; ok {
			r.Record(2, s, at)
		}
	}
	var out []*rtcp.TransportLayerCC
	for _, p := range r.BuildFeedbackPacket() {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range pkts {
			if fb, ok := q.(*rtcp.TransportLayerCC); ok {
				out = append(out, fb)
			}
		}
	}
	return out
}

func TestFeedbackMatchesHistory(t *testing.T) {
	var h History
	t0 := time.Unix(5000, 0)
	arrivals := map[uint16]int64{}
	var seqs []uint16
	// Sequence numbers wrap in the middle; every seventh packet is lost.
	for i := range 200 {
		s := uint16(65436 + i)
		seqs = append(seqs, s)
		h.Sent(s, t0.Add(time.Duration(i)*time.Millisecond), 100+i)
		if i%7 != 3 {
			arrivals[s] = 1_000_000 + int64(i)*1000 + int64(i%5)*250
		}
	}
	var res []Result
	for _, fb := range feedback(t, arrivals, seqs) {
		var err error
		if res, err = h.Feedback(fb, res); err != nil {
			t.Fatal(err)
		}
	}
	// The first packet recorded is the base; the last lost ones after
	// the newest arrival are not reported yet.
	if len(res) < 190 {
		t.Fatalf("%d results of 200", len(res))
	}
	var first *Result
	for i, r := range res {
		want := i%7 != 3
		if r.Received != want {
			t.Fatalf("packet %d received %v", i, r.Received)
		}
		if r.Size != 100+i || !r.Sent.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("packet %d: size %d sent %v", i, r.Size, r.Sent)
		}
		if !r.Received {
			continue
		}
		if first == nil {
			first = &res[i]
			continue
		}
		// Arrival differences survive the 250 µs wire resolution.
		got := r.Arrival - first.Arrival
		want2 := time.Duration(int64(i)*1000+int64(i%5)*250-int64(0)) * time.Microsecond
		if d := got - want2; d < -250*time.Microsecond || d > 250*time.Microsecond {
			t.Fatalf("packet %d arrived %v after the first, want %v", i, got, want2)
		}
	}
	// Reported once: the same feedback again yields nothing.
	for _, fb := range feedback(t, arrivals, seqs) {
		again, err := h.Feedback(fb, nil)
		if err != nil || len(again) != 0 {
			t.Fatalf("repeated feedback: %d results, %v", len(again), err)
		}
	}
}

func TestFeedbackMalformed(t *testing.T) {
	var h History
	h.Sent(10, time.Unix(1, 0), 100)
	h.Sent(11, time.Unix(1, 0), 100)
	cases := map[string]*rtcp.TransportLayerCC{
		"too many statuses": {BaseSequenceNumber: 10, PacketStatusCount: 60000,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 0, RunLength: 8000}}},
		"deltas missing": {BaseSequenceNumber: 10, PacketStatusCount: 2,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}},
		"statuses missing": {BaseSequenceNumber: 10, PacketStatusCount: 5,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 0, RunLength: 2}}},
	}
	for name, fb := range cases {
		res, err := h.Feedback(fb, nil)
		if !errors.Is(err, ErrFeedback) || len(res) != 0 {
			t.Errorf("%s: %d results, %v", name, len(res), err)
		}
	}
	if h.Rejected != uint64(len(cases)) {
		t.Errorf("rejected %d, want %d", h.Rejected, len(cases))
	}
	// Nothing was consumed: a good feedback still reports both.
	good := &rtcp.TransportLayerCC{BaseSequenceNumber: 10, PacketStatusCount: 2,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2}},
		RecvDeltas:   []*rtcp.RecvDelta{{Delta: 250}, {Delta: 500}}}
	res, err := h.Feedback(good, nil)
	if err != nil || len(res) != 2 || res[1].Arrival-res[0].Arrival != 500*time.Microsecond {
		t.Errorf("good feedback after bad: %+v, %v", res, err)
	}
}

// Random bytes parsed as RTCP never make the history panic or grow.
func TestFeedbackRandomInput(t *testing.T) {
	var h History
	for i := range 4096 {
		h.Sent(uint16(i), time.Unix(1, 0), 100)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	good := 0
	for range 3000 {
		b := make([]byte, 8+rng.IntN(120))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		// A transport-cc header, random body.
		b[0], b[1] = 0x8f, 205
		b[2], b[3] = 0, byte(len(b)/4-1)
		b = b[:len(b)/4*4]
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				if res, err := h.Feedback(fb, nil); err == nil && len(res) > maxStatuses {
					t.Fatalf("%d results", len(res))
				}
				good++
			}
		}
	}
	t.Logf("%d random feedback packets parsed, %d rejected", good, h.Rejected)
}
