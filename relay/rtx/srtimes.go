package rtx

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// srKept bounds the sender reports remembered per stream: a reception
// report echoes the latest one the other side got, normally one of the
// last two sent (one a second).
const srKept = 8

// srTimes remembers when each sender report this side wrote went out, by
// its compact NTP timestamp (the middle 32 bits, RFC 3550 §6.4.1 "LSR").
// A round trip is then arrival − departure − DLSR on the local monotonic
// clock, whatever clock the report's NTP field was read from: the client
// sends its reports on a private clock that reveals nothing of its wall
// clock, and the relay forwards each publisher's reports (on the
// publisher's clock) to the receivers.
type srTimes struct {
	mu   sync.Mutex
	sent map[uint32][]srSent // by SSRC
}

type srSent struct {
	lsr uint32
	at  time.Time
}

func (s *srTimes) record(now time.Time, ssrc uint32, ntp uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = make(map[uint32][]srSent)
	}
	kept := append(s.sent[ssrc], srSent{lsr: uint32(ntp >> 16), at: now})
	if len(kept) > srKept {
		kept = kept[len(kept)-srKept:]
	}
	s.sent[ssrc] = kept
}

// departure returns when the report with compact timestamp lsr went out
// on ssrc.
func (s *srTimes) departure(ssrc, lsr uint32) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.sent[ssrc]
	for i := len(kept) - 1; i >= 0; i-- {
		if kept[i].lsr == lsr {
			return kept[i].at, true
		}
	}
	return time.Time{}, false
}

// forget drops a stream's reports when it is unbound.
func (s *srTimes) forget(ssrc uint32) {
	s.mu.Lock()
	delete(s.sent, ssrc)
	s.mu.Unlock()
}

// watch wraps w so that every sender report written through it is
// remembered. Interceptors bound after this one write through it.
func (s *srTimes) watch(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.record(now, sr.SSRC, sr.NTPTime)
			}
		}
		return w.Write(pkts, a)
	})
}

// reportRTT is RFC 3550 §6.4.1's round trip for a reception report about
// ssrc that arrived at now, echoing lsr after dlsr (1/65536 s).
func (s *srTimes) reportRTT(now time.Time, ssrc, lsr, dlsr uint32) (time.Duration, bool) {
	sent, ok := s.departure(ssrc, lsr)
	if !ok {
		return 0, false
	}
	d := now.Sub(sent) - time.Duration(dlsr)*time.Second/65536
	return d, d > 0
}
