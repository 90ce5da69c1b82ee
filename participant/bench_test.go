package participant

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/relay/signal"
)

// BenchmarkLatencyLoopbackRelay measures capture-to-decode latency through
// the real relay on loopback: three participants each send 640×480@30
// synthetic video and Opus audio and receive the other two. One op is one
// frame time (1/30 s) of the meeting; run with -benchtime=Nx. Each frame's
// capture time is joined with its decode time by (KID, CTR), so the figure
// covers encode, seal, packetize, SRTP, the relay, reassembly, open and
// decode.
func BenchmarkLatencyLoopbackRelay(b *testing.B) {
	url := startRelay(b)
	w := newWorld()
	w.width, w.height = 640, 480
	meeting := signal.NewID()
	var ms []*member
	for i := range 3 {
		ms = append(ms, w.join(b, url, meeting, uint64(10+i), nil))
	}
	connect(b, w, ms)
	b.ResetTimer()
	time.Sleep(time.Duration(b.N) * time.Second / 30)
	b.StopTimer()
	stopSending(ms)
	ms2 := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	v, a := w.latencies(framing.KindVideo), w.latencies(framing.KindAudio)
	if len(v) < b.N {
		b.Fatalf("only %d video frames decoded in %d frame times", len(v), b.N)
	}
	b.ReportMetric(ms2(percentile(v, .50)), "video-p50-ms")
	b.ReportMetric(ms2(percentile(v, .95)), "video-p95-ms")
	b.ReportMetric(ms2(percentile(a, .50)), "audio-p50-ms")
	b.ReportMetric(ms2(percentile(a, .95)), "audio-p95-ms")
}
