package relay

import (
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

const (
	// maxBufferedCandidates bounds candidates held before an answer arrives.
	maxBufferedCandidates = 64
	// maxRemoteCandidates bounds the ICE candidates one session may add
	// over its lifetime, buffered or applied: the ICE agent keeps every
	// remote candidate and pairs it with each local one.
	maxRemoteCandidates = 256
)

// negotiate sends a new offer, or marks one as needed after the answer to
// the outstanding offer. The relay is always the offerer.
func (s *session) negotiate() {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	select {
	case <-s.quit:
		return
	default:
	}
	if s.offerPending {
		s.needNeg = true
		return
	}
	s.needNeg = false
	if len(s.pc.GetTransceivers()) == 0 {
		return
	}
	offer, err := s.pc.CreateOffer(nil)
	if err == nil {
		err = s.pc.SetLocalDescription(offer)
	}
	if err != nil {
		select {
		case <-s.quit: // closing; the failure is expected
		default:
			s.log.Warn("cannot create offer", "err", err)
			s.closeWith(signal.Error{Code: signal.CodeInternal, Reason: "negotiation failed"}, signal.CodeInternal)
		}
		return
	}
	s.offerPending = true
	s.offerSent()
	s.send(signal.Offer{SDP: s.pc.LocalDescription().SDP})
}

func (s *session) applyAnswer(sdp string) {
	s.negMu.Lock()
	if !s.offerPending {
		s.negMu.Unlock()
		s.rejectReply(signal.CodeUnexpected, "answer without offer")
		return
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		s.negMu.Unlock()
		if s.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			// The client closed its side (DTLS close_notify closes ours):
			// it is leaving, not misbehaving.
			s.closeWith(nil, "client closed")
			return
		}
		s.log.Debug("answer rejected", "err", err)
		s.rejectClose(signal.CodeBadSDP, "answer rejected")
		return
	}
	s.offerPending = false
	s.haveRemote = true
	s.answerApplied()
	cands := s.remoteCands
	s.remoteCands = nil
	again := s.needNeg
	s.negMu.Unlock()
	for _, c := range cands {
		if err := s.pc.AddICECandidate(c); err != nil {
			s.rejectReply(signal.CodeBadSDP, "candidate rejected")
		}
	}
	if again {
		s.negotiate()
	}
}

func (s *session) addCandidate(v signal.Candidate) {
	init := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
	s.negMu.Lock()
	if s.candCount >= maxRemoteCandidates {
		s.negMu.Unlock()
		s.rejectReply(signal.CodeUnexpected, "too many candidates")
		return
	}
	s.candCount++
	if !s.haveRemote {
		if len(s.remoteCands) >= maxBufferedCandidates {
			s.negMu.Unlock()
			s.rejectReply(signal.CodeUnexpected, "too many candidates before answer")
			return
		}
		s.remoteCands = append(s.remoteCands, init)
		s.negMu.Unlock()
		return
	}
	s.negMu.Unlock()
	if err := s.pc.AddICECandidate(init); err != nil && s.pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
		s.rejectReply(signal.CodeBadSDP, "candidate rejected")
	}
}
