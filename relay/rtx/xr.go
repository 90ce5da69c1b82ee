package rtx

import (
	"time"

	"github.com/pion/rtcp"
)

// Round trips for a side that only receives (RFC 3611 §4.4, §4.5): every
// probeInterval the receiver of each NACK-enabled stream sends an extended
// report with a receiver reference time block, and the sender answers on
// its next tick with a DLRR block echoing it and the time it held it. The
// receiver's round trip is then arrival − departure − held, on its
// monotonic clock.
//
// Without it such a side has only NACK round trips, and under reordering
// those are ambiguous: the original of a packet asked for too early
// arrives like an answer, and on the field benchmark (100 ms path, 20 ms
// jitter) the estimate fell to 15 ms. A low estimate also retries before
// the answers can arrive, and Karn's rule then takes no sample that could
// correct it. So once a report-based sample exists (these, or receiver
// reports on the streams a side sends), NACK answers no longer move the
// estimate (RTT).
//
// Routing: pion delivers RTCP to the stream readers of the SSRCs a packet
// names, and an extended report names its sender SSRC. A receive-only side
// has no SSRC the other side reads, so both reports carry the media
// stream's SSRC as their sender SSRC (and the DLRR sub-block's SSRC): "a
// probe about this stream". The reference time is on a private clock, a
// random origin plus the interceptor's age, so it reveals nothing of the
// local time.
const (
	// probeInterval spaces a stream's reference time reports: a round
	// trip sample about twice a second, for about 40 bytes each.
	probeInterval = 500 * time.Millisecond
	// maxPendingReplies bounds the DLRR answers waiting for the next
	// tick: one per local stream, the newest probe replacing an older
	// one, so a peer probing faster than the tick gets one answer per
	// tick.
	maxPendingReplies = 8
)

// probeReply is a DLRR answer due on the next tick.
type probeReply struct {
	ssrc uint32
	lrr  uint32 // middle 32 bits of the probe's NTP timestamp
	at   time.Time
}

// probeNTP is the private reference clock in NTP format (RFC 3550 §4).
func (i *Interceptor) probeNTP(now time.Time) uint64 {
	d := now.Sub(i.created)
	return i.probeBase + uint64(d/time.Second)<<32 + uint64(d%time.Second)<<32/uint64(time.Second)
}

// probes appends the due reference time reports and DLRR answers to out.
// Called with mu held.
func (i *Interceptor) probes(now time.Time, out []rtcp.Packet) []rtcp.Packet {
	if len(i.remote) > 0 && (i.lastProbe.IsZero() || now.Sub(i.lastProbe) >= probeInterval) {
		i.lastProbe = now
		for ssrc := range i.remote {
			ntp := i.probeNTP(now)
			i.probeTimes.record(now, ssrc, ntp)
			out = append(out, &rtcp.ExtendedReport{SenderSSRC: ssrc, Reports: []rtcp.ReportBlock{
				&rtcp.ReceiverReferenceTimeReportBlock{NTPTimestamp: ntp},
			}})
		}
	}
	for _, r := range i.replies {
		held := uint32(now.Sub(r.at) * 65536 / time.Second)
		out = append(out, &rtcp.ExtendedReport{SenderSSRC: r.ssrc, Reports: []rtcp.ReportBlock{
			&rtcp.DLRRReportBlock{Reports: []rtcp.DLRRReport{{SSRC: r.ssrc, LastRR: r.lrr, DLRR: held}}},
		}})
	}
	i.replies = i.replies[:0]
	return out
}

// extended reads an extended report: a probe about a stream this side
// sends is answered on the next tick; an answer to this side's probe is a
// round-trip sample. Other blocks are ignored.
func (i *Interceptor) extended(now time.Time, x *rtcp.ExtendedReport) {
	for _, b := range x.Reports {
		switch b := b.(type) {
		case *rtcp.ReceiverReferenceTimeReportBlock:
			i.mu.Lock()
			if _, ours := i.local[x.SenderSSRC]; ours {
				i.queueReply(probeReply{ssrc: x.SenderSSRC, lrr: uint32(b.NTPTimestamp >> 16), at: now})
			}
			i.mu.Unlock()
		case *rtcp.DLRRReportBlock:
			for _, r := range b.Reports {
				if r.SSRC != x.SenderSSRC {
					continue
				}
				i.mu.Lock()
				_, ours := i.remote[r.SSRC]
				i.mu.Unlock()
				if !ours {
					continue
				}
				if d, ok := i.probeTimes.reportRTT(now, r.SSRC, r.LastRR, r.DLRR); ok {
					i.observe(d)
				}
			}
		}
	}
}

// queueReply keeps one pending answer per stream. Called with mu held.
func (i *Interceptor) queueReply(r probeReply) {
	for k := range i.replies {
		if i.replies[k].ssrc == r.ssrc {
			i.replies[k] = r
			return
		}
	}
	if len(i.replies) < maxPendingReplies {
		i.replies = append(i.replies, r)
	}
}
