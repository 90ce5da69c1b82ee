package relay

import (
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

// slotChurnFactor bounds the upload slots one session may open over its
// lifetime to this many times MaxTracksPerSession. A stopped transceiver is
// never freed (its m-line stays in every later offer), so publish/unpublish
// cycles would otherwise grow the session's PeerConnection and SDP without
// bound.
const slotChurnFactor = 4

func (s *session) publish(kind string) {
	s.mu.Lock()
	if s.slots >= s.r.lim.MaxTracksPerSession {
		s.mu.Unlock()
		s.rejectReply(signal.CodeTooManyTracks, "track limit reached")
		return
	}
	if s.opened >= slotChurnFactor*s.r.lim.MaxTracksPerSession {
		s.mu.Unlock()
		s.rejectReply(signal.CodeTooManyTracks, "upload slot churn limit reached")
		return
	}
	s.slots++
	s.opened++
	s.mu.Unlock()
	k := webrtc.RTPCodecTypeAudio
	if kind == signal.KindVideo {
		k = webrtc.RTPCodecTypeVideo
	}
	if _, err := s.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		s.log.Warn("cannot open upload slot", "err", err)
		s.closeWith(signal.Error{Code: signal.CodeInternal, Reason: "cannot open upload slot"}, signal.CodeInternal)
		return
	}
	s.negotiate()
}

func (s *session) unpublish(mid string) {
	var slot *webrtc.RTPTransceiver
	for _, t := range s.pc.GetTransceivers() {
		if t.Mid() == mid && t.Direction() == webrtc.RTPTransceiverDirectionRecvonly {
			slot = t
		}
	}
	if slot == nil {
		s.rejectReply(signal.CodeUnexpected, "no upload slot with this mid")
		return
	}
	s.mu.Lock()
	f := s.published[mid]
	delete(s.published, mid)
	s.slots--
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
	_ = slot.Stop()
	s.negotiate()
}
