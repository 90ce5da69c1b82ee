package relay

import (
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Sender reports (RFC 3550 §6.4.1) of forwarded tracks. Receivers align a
// publisher's audio and video with the NTP ↔ RTP mapping of the
// publisher's own reports (docs/PROTOCOL.md §5.5): the relay forwards
// timestamps unchanged, so that mapping holds downstream as it is. The
// relay therefore sends no reports of its own for forwarded tracks (they
// would map the timestamps to when packets passed through the relay,
// which includes the uplink's delays and carries no capture timing).
// Instead, each report a publisher sends about its track is copied to
// every receiver of the track, with the SSRC of that receiver's copy and
// the relay's own packet and octet counts for it; reception report blocks
// (the publisher's view of what it receives) are not copied.
//
// The relay reads nothing else in a report and cannot check it: reports
// are not authenticated end to end, and receivers bound what a forged one
// can do (docs/THREAT_MODEL.md).

// minReportInterval is the least time between two reports forwarded for
// one track: a publisher sends one a second, and a faster stream would
// have the relay multiply it by the number of receivers.
const minReportInterval = 250 * time.Millisecond

// readReports reads the RTCP a publisher sends about its own track (so
// that the upstream interceptors see its sender reports) and forwards the
// sender reports.
func (f *forwarder) readReports(rx *webrtc.RTPReceiver) {
	ssrc := uint32(f.remote.SSRC())
	var last time.Time
	buf := make([]byte, readBufferLen)
	for {
		n, _, err := rx.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue // RTPReceiver.ReadRTCP would end the loop here
		}
		for _, p := range pkts {
			sr, ok := p.(*rtcp.SenderReport)
			if !ok || sr.SSRC != ssrc {
				continue
			}
			if now := time.Now(); last.IsZero() || now.Sub(last) >= minReportInterval {
				last = now
				f.forwardReport(sr)
			} else {
				f.r.m.reportsDropped.Add(1)
			}
		}
	}
}

// forwardReport sends a publisher's sender report to every receiver of the
// track.
func (f *forwarder) forwardReport(sr *rtcp.SenderReport) {
	type dest struct {
		o    *session
		ssrc uint32
	}
	f.mu.Lock()
	dests := make([]dest, 0, len(f.subs))
	for o, sender := range f.subs {
		for _, e := range sender.GetParameters().Encodings {
			dests = append(dests, dest{o, uint32(e.SSRC)})
		}
	}
	f.mu.Unlock()
	f.srs.record(sr.NTPTime, time.Now())
	for _, d := range dests {
		packets, octets, ok := f.track.sent(d.ssrc)
		if !ok {
			continue // not bound yet: nothing sent that the report could describe
		}
		out := &rtcp.SenderReport{SSRC: d.ssrc, NTPTime: sr.NTPTime, RTPTime: sr.RTPTime, PacketCount: packets, OctetCount: octets}
		if err := d.o.pc.WriteRTCP([]rtcp.Packet{out}); err == nil {
			f.r.m.reportsOut.Add(1)
		}
	}
}

// sent returns the packets and octets (payload bytes) written to the
// receiver copy with SSRC ssrc, false if no binding has it.
func (t *fwdTrack) sent(ssrc uint32) (packets, octets uint32, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, b := range t.bindings {
		if b.ssrc == ssrc {
			return b.count.packets.Load(), b.count.octets.Load(), true
		}
	}
	return 0, 0, false
}
