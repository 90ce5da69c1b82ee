package relay

import (
	"github.com/sottohq/sotto/relay/signal"
)

func (s *session) envelope(v signal.Envelope) {
	if !v.From.IsZero() {
		s.rejectReply(signal.CodeBadMessage, "envelope from a client must not name a sender")
		return
	}
	if !s.envLimit.Allow() {
		s.r.m.droppedMessages.Add(1)
		s.rejectReply(signal.CodeRateLimited, "envelope dropped")
		return
	}
	b, err := signal.Encode(signal.Envelope{From: s.id, Payload: v.Payload})
	if err != nil {
		s.rejectReply(signal.CodeTooBig, "envelope too big")
		return
	}
	mt := s.mt
	mt.mu.Lock()
	if !v.To.IsZero() {
		t := mt.sessions[v.To]
		if t == nil || t == s {
			mt.mu.Unlock()
			s.r.m.droppedMessages.Add(1)
			s.rejectReply(signal.CodeUnknownSession, "no such session in this meeting")
			return
		}
		if t.enqueue(b) {
			s.r.m.envelopesOut.Add(1)
		}
	} else {
		for _, t := range mt.sessions {
			if t != s && t.enqueue(b) {
				s.r.m.envelopesOut.Add(1)
			}
		}
	}
	mt.mu.Unlock()
	s.r.m.envelopesIn.Add(1)
}
