package relay

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/sottohq/sotto/relay/signal"
)

// A packet whose transport-wide sequence number extension is too short,
// or that is not RTP at all, is dropped and counted before pion's
// feedback generator (which would end the track's read on it) sees it;
// the next good packet is read in its place, with its own header.
func TestTransportCCGuardDropsMalformed(t *testing.T) {
	const id = 3
	pkt := func(seq uint16, ext []byte) []byte {
		h := rtp.Header{Version: 2, SequenceNumber: seq, SSRC: 7, PayloadType: 96}
		if ext != nil {
			if err := h.SetExtension(id, ext); err != nil {
				t.Fatal(err)
			}
		}
		b, err := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := [][]byte{
		pkt(1, []byte{9}),    // one byte: malformed
		{0xff, 0x00},         // not RTP
		pkt(2, []byte{0, 5}), // good
		pkt(3, nil),          // no extension: passed on
	}
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		p := in[0]
		in = in[1:]
		return copy(b, p), a, nil
	})
	m := newMetrics()
	g := &ccGuard{m: m}
	r := g.BindRemoteStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: signal.TransportCCURI, ID: id}}}, src)
	buf := make([]byte, 1500)
	for _, want := range []uint16{2, 3} {
		n, attr, err := r.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := attr.GetRTPHeader(buf[:n])
		if err != nil || h.SequenceNumber != want {
			t.Fatalf("read %v (%v), want sequence %d", h, err, want)
		}
	}
	if got := m.snapshot().TransportCCMalformed; got != 2 {
		t.Fatalf("transport_cc_malformed %d, want 2", got)
	}
}
