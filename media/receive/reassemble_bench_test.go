package receive

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/sottohq/sotto/media/framing"
)

// The hand-written Reassembler against pion's samplebuilder on the same
// packet streams (BENCHMARKS.md, "Video reassembly"). Both get 300 frames of
// a 30 fps stream, packetized as the send pipeline does; the loss stream
// drops 2 % of the packets for good (no retransmission) and swaps 5 % of
// neighbouring pairs.

const benchFPS = 30

type arrival struct {
	pkt   *rtp.Packet
	at    time.Time
	frame int // index of the frame the packet belongs to
	last  bool
}

// benchStream returns the frames and the packets as they arrive.
func benchStream(loss, swap float64) ([][]byte, []arrival) {
	frames := testFrames(300)
	pkts := packetize(frames, 65000, framing.MTU-12) // wraps the sequence number
	r := rand.New(rand.NewPCG(7, 8))
	var out []arrival
	t0 := time.Unix(0, 0)
	for _, p := range pkts {
		f := int(p.Timestamp-1000) / 3000
		a := arrival{pkt: p, frame: f, last: p.Marker, at: t0.Add(time.Duration(f) * time.Second / benchFPS)}
		if r.Float64() < loss {
			continue
		}
		out = append(out, a)
	}
	for i := 0; i+1 < len(out); i++ {
		if r.Float64() < swap {
			out[i], out[i+1] = out[i+1], out[i]
			out[i].at, out[i+1].at = out[i+1].at, out[i].at
			i++
		}
	}
	return frames, out
}

// benchResult accumulates what one pass over a stream produced.
type benchResult struct {
	frames, intact int
	delay          time.Duration // emission time minus the frame's last packet's arrival, summed
	lastAt         []time.Time   // by frame: when its marker packet arrived
}

func newBenchResult(frames [][]byte, stream []arrival) benchResult {
	r := benchResult{lastAt: make([]time.Time, len(frames))}
	for _, a := range stream {
		if a.last {
			r.lastAt[a.frame] = a.at
		}
	}
	return r
}

func (r *benchResult) emitted(frames [][]byte, ts uint32, data []byte, now time.Time) {
	f := int(ts-1000) / 3000
	r.frames++
	if f >= 0 && f < len(frames) && bytes.Equal(data, frames[f]) {
		r.intact++
	}
	if f >= 0 && f < len(frames) && !r.lastAt[f].IsZero() {
		r.delay += now.Sub(r.lastAt[f])
	}
}

func (r *benchResult) report(b *testing.B, size uintptr) {
	b.ReportMetric(float64(r.frames), "frames")
	b.ReportMetric(float64(r.intact), "intact")
	if r.frames > 0 {
		b.ReportMetric(float64(r.delay.Microseconds())/1000/float64(r.frames), "delay-ms/frame")
	}
	b.ReportMetric(float64(size), "state-bytes")
}

func BenchmarkReassembly(b *testing.B) {
	for _, c := range []struct {
		name       string
		loss, swap float64
	}{{"inorder", 0, 0}, {"loss2pct-reorder5pct", 0.02, 0.05}} {
		frames, stream := benchStream(c.loss, c.swap)
		b.Run(c.name+"/reassembler", func(b *testing.B) {
			b.ReportAllocs()
			var res benchResult
			for b.Loop() {
				res = newBenchResult(frames, stream)
				r := NewReassembler(framing.KindVideo, DefaultMaxWait)
				var now time.Time
				emit := func(f Assembled) { res.emitted(frames, f.Timestamp, f.Data, now) }
				for _, a := range stream {
					now = a.at
					r.Push(a.pkt, a.at, emit)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(stream)), "ns/packet")
			res.report(b, unsafe.Sizeof(Reassembler{}))
		})
		b.Run(c.name+"/samplebuilder", func(b *testing.B) {
			b.ReportAllocs()
			var res benchResult
			for b.Loop() {
				res = newBenchResult(frames, stream)
				// The same wait for a missing packet (DefaultMaxWait), expressed
				// as samplebuilder's RTP-time bound; maxLate in packets
				// is set high enough not to cut in first.
				sb := samplebuilder.New(512, &codecs.VP8Packet{}, framing.VideoClockRate,
					samplebuilder.WithMaxTimeDelay(DefaultMaxWait))
				for _, a := range stream {
					// Push keeps the packet: the pipeline reuses its
					// read buffer, so each packet must be copied.
					p := a.pkt.Clone()
					sb.Push(p)
					for s := sb.Pop(); s != nil; s = sb.Pop() {
						res.emitted(frames, s.PacketTimestamp, s.Data, a.at)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(stream)), "ns/packet")
			res.report(b, unsafe.Sizeof(samplebuilder.SampleBuilder{}))
		})
	}
}
