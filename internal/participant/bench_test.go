package participant

import (
	"fmt"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/relay/signal"
)

// BenchmarkLatencyLoopbackRelay measures capture-to-decode latency through
// the real relay on loopback: N participants each send 640×480@30
// synthetic video and Opus audio and receive all the others, all in this
// process. One op is one frame time (1/30 s) of the meeting; run with
// -benchtime=Nx. Each frame's capture time is joined with its decode time
// by (KID, CTR), so the figure covers encode, seal, packetize, SRTP, the
// relay, reassembly, open and decode. participants=2 (one stream each way)
// is the baseline for the cost of more streams on the same cores.
func BenchmarkLatencyLoopbackRelay(b *testing.B) {
	for _, n := range []int{2, 3} {
		b.Run(fmt.Sprintf("participants=%d", n), func(b *testing.B) { benchLatency(b, n) })
	}
}

func benchLatency(b *testing.B, n int) {
	url := startRelay(b)
	w := newWorld()
	w.width, w.height = 640, 480
	meeting := signal.NewID()
	var ms []*member
	for i := range n {
		ms = append(ms, w.join(b, url, meeting, uint64(10+i), nil))
	}
	connect(b, w, ms)
	b.ResetTimer()
	time.Sleep(time.Duration(b.N) * time.Second / 30)
	b.StopTimer()
	stopSending(ms)
	msec := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	v, a := w.latencies(framing.KindVideo), w.latencies(framing.KindAudio)
	// Each of n senders' frames reaches n−1 receivers; allow for start-up.
	if b.N >= 30 && len(v) < b.N*(n-1)*n/2 {
		b.Fatalf("only %d video frames decoded in %d frame times", len(v), b.N)
	}
	b.ReportMetric(msec(percentile(v, .50)), "video-p50-ms")
	b.ReportMetric(msec(percentile(v, .95)), "video-p95-ms")
	b.ReportMetric(msec(percentile(w.sendLatencies(framing.KindVideo), .95)), "video-send-p95-ms")
	b.ReportMetric(msec(percentile(a, .50)), "audio-p50-ms")
	b.ReportMetric(msec(percentile(a, .95)), "audio-p95-ms")
}
