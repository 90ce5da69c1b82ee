package rtx

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtp"
)

// BenchmarkSendPath is the cost rtx adds to every forwarded video packet
// (keeping its copy and the budget), against pion's NACK responder, which
// it replaced, on the same 1200-byte packets.
func BenchmarkSendPath(b *testing.B) {
	payload := make([]byte, 1200)
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })
	run := func(b *testing.B, ic interceptor.Interceptor) {
		w := ic.BindLocalStream(videoInfo, sink)
		h := rtp.Header{Version: 2, SSRC: videoInfo.SSRC, PayloadType: 96}
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h.SequenceNumber = uint16(i)
			if _, err := w.Write(&h, payload, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("rtx", func(b *testing.B) {
		ic, _ := New(Config{}).NewInterceptor("")
		run(b, ic)
	})
	b.Run("pion-nack-responder", func(b *testing.B) {
		f, _ := nack.NewResponderInterceptor(nack.ResponderSize(DefaultBufferPackets))
		ic, _ := f.NewInterceptor("")
		run(b, ic)
	})
}
