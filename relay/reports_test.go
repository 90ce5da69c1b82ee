package relay_test

import (
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// wallNTP is the NTP timestamp (RFC 5905 §6) of t on the wall clock.
func wallNTP(t time.Time) uint64 {
	return transport.NTPDuration(time.Duration(t.UnixNano())) + 2208988800<<32
}

// A publisher's sender reports reach each receiver of the track with that
// receiver's SSRC, the publisher's NTP and RTP times unchanged and the
// relay's own packet count; the relay sends no reports of its own (none
// carries its wall clock), and a flood of reports is cut to one per
// 250 ms.
func TestSenderReportsForwarded(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{})
	cfg := transport.Config{URL: url, MeetingID: signal.NewID()}
	pub, sub := newClient(t, cfg), newClient(t, cfg)
	pub.publish()
	waittest.Until(t, "both tracks", 20*time.Second, func() bool { return sub.receivedAtLeast(10, pub) })
	video := sub.stats(pub.conn.SessionID(), pub.trackIDs[0])
	pubSSRC := uint32(pub.senders[0].GetParameters().Encodings[0].SSRC)

	// The publisher's own reports (its private clock) arrive about once a
	// second.
	waittest.Until(t, "the publisher's sender reports", 5*time.Second, func() bool { return len(video.reports()) >= 2 })

	// A report with recognisable times, sent until it comes through (the
	// relay forwards at most one per 250 ms, and the publisher's own
	// reports compete).
	const ntp, rtpTime = 0x0123456789abcdef, 424242
	mine := func() *rtcp.SenderReport {
		for _, sr := range video.reports() {
			if sr.NTPTime == ntp {
				return &sr
			}
		}
		return nil
	}
	var sentAt time.Time
	waittest.Until(t, "the crafted report at the receiver", 10*time.Second, func() bool {
		if mine() != nil {
			return true
		}
		if time.Since(sentAt) > 300*time.Millisecond {
			sentAt = time.Now()
			_ = pub.conn.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: pubSSRC, NTPTime: ntp, RTPTime: rtpTime, PacketCount: 1, OctetCount: 1,
				Reports: []rtcp.ReceptionReport{{SSRC: 99, LastSenderReport: 5}}}})
		}
		return false
	})
	sr := mine()
	if sr.SSRC != uint32(video.ssrc) || sr.RTPTime != rtpTime || len(sr.Reports) != 0 {
		t.Errorf("forwarded report %+v, want SSRC %d, RTP time %d, no report blocks", sr, video.ssrc, rtpTime)
	}
	if sr.PacketCount < 10 {
		t.Errorf("forwarded report counts %d packets: not the relay's count for this receiver", sr.PacketCount)
	}
	now := wallNTP(time.Now())
	for _, sr := range video.reports() {
		if d := int64(sr.NTPTime-now) >> 32; d > -3600 && d < 3600 {
			t.Errorf("a report at the receiver carries a wall clock (%d s off): %+v", d, sr)
		}
	}

	// A flood: 50 reports at once reach the receiver as at most one or two.
	before := len(video.reports())
	dropped := r.Stats().ReportsDropped
	for i := 0; i < 50; i++ {
		_ = pub.conn.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: pubSSRC, NTPTime: ntp + uint64(i), RTPTime: rtpTime}})
	}
	waittest.Until(t, "the flood counted as dropped", 5*time.Second, func() bool { return r.Stats().ReportsDropped >= dropped+45 })
	if got := len(video.reports()) - before; got > 3 {
		t.Errorf("%d reports forwarded from a flood of 50", got)
	}
	if st := r.Stats(); st.SenderReports == 0 {
		t.Errorf("forwarded reports not counted: %+v", st)
	}
}
