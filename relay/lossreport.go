package relay

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Downlink loss for the publisher's audio FEC.
//
// The relay terminates RTP: the receiver reports a publisher gets from
// its PeerConnection describe only the publisher→relay leg, and the
// receivers' own reports (relay→receiver) end at the relay. A publisher
// tuning Opus in-band FEC to the loss its listeners see needs the second
// leg too, so for each forwarded audio track the relay remembers the
// fraction lost each receiver last reported and, at most once per
// lossReportInterval, sends the publisher one extra RTCP receiver report
// for the track carrying the worst of them (RFC 3550 §6.4.2 report block,
// fraction lost only; the reporter SSRC is random per track). The relay
// learns nothing new: it could always count what it forwards and what
// receivers report; the publisher learns the worst listener's loss, not
// who it is.
const (
	// lossReportInterval bounds the aggregate reports to one a second per
	// track (receivers report about once a second).
	lossReportInterval = time.Second
	// lossReportMaxAge forgets a receiver that stopped reporting.
	lossReportMaxAge = 5 * time.Second
)

type downlinkLoss struct {
	mu       sync.Mutex
	reporter uint32
	byRecv   map[*webrtc.RTPSender]lossEntry
	sent     time.Time
}

type lossEntry struct {
	fraction uint8
	at       time.Time
}

// noteReceiverReport records what one receiver reported about the audio
// track it gets through sender, and returns the report to send the
// publisher, if one is due.
func (d *downlinkLoss) noteReceiverReport(sender *webrtc.RTPSender, rr *rtcp.ReceiverReport, mediaSSRC uint32, now time.Time) *rtcp.ReceiverReport {
	params := sender.GetParameters()
	if len(params.Encodings) == 0 {
		return nil
	}
	own := uint32(params.Encodings[0].SSRC)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byRecv == nil {
		d.byRecv = make(map[*webrtc.RTPSender]lossEntry)
		d.reporter = rand.Uint32()
	}
	for _, b := range rr.Reports {
		if b.SSRC == own {
			d.byRecv[sender] = lossEntry{fraction: b.FractionLost, at: now}
		}
	}
	if now.Sub(d.sent) < lossReportInterval {
		return nil
	}
	var worst uint8
	for s, e := range d.byRecv {
		if now.Sub(e.at) > lossReportMaxAge {
			delete(d.byRecv, s)
			continue
		}
		worst = max(worst, e.fraction)
	}
	d.sent = now
	return &rtcp.ReceiverReport{SSRC: d.reporter, Reports: []rtcp.ReceptionReport{{SSRC: mediaSSRC, FractionLost: worst}}}
}

// forgetReceiver drops a receiver that unsubscribed.
func (d *downlinkLoss) forgetReceiver(sender *webrtc.RTPSender) {
	d.mu.Lock()
	delete(d.byRecv, sender)
	d.mu.Unlock()
}

// reportDownlinkLoss handles one receiver report for an audio track.
func (f *forwarder) reportDownlinkLoss(sender *webrtc.RTPSender, rr *rtcp.ReceiverReport) {
	if f.remote.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	out := f.loss.noteReceiverReport(sender, rr, uint32(f.remote.SSRC()), time.Now())
	if out == nil {
		return
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if !closed {
		_ = f.pub.pc.WriteRTCP([]rtcp.Packet{out})
	}
}
