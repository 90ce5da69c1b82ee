package relay

import (
	"errors"

	"github.com/pion/webrtc/v4"
)

// Downstream transceiver reuse.
//
// JSEP never removes an m-line: a forwarded track that ended would leave
// its m-line in the receiver's PeerConnection for good, so a session's
// offers would grow with every track ever forwarded to it, and anyone
// holding a meeting ID could join, publish and leave in a loop until
// honest clients' offers exceed the signaling size limit. So each session
// reuses the transceivers of its ended downstream tracks for the next
// forwarded tracks of the same kind.
//
// An ended track's transceiver is parked rather than made inactive: a
// pion answerer stops its receiver each time an offer marks the m-line
// inactive and only replaces a receiver that still holds a track, so after
// two offers with the m-line inactive the client would be left with a
// stopped receiver that can never deliver a reused m-line's media.
// Instead the m-line stays sendonly and its sender is swapped for one
// carrying an idle placeholder track (a new SSRC that never sends media):
// the client sees the old SSRC leave, stops that receiver (the remote
// track's reader ends) and sets up a fresh one that waits for media; no
// OnTrack fires for the placeholder, as OnTrack waits for the first packet.
//
//  1. park swaps an ended track's sender for a placeholder sender and
//     files the transceiver as retired.
//  2. negotiate: the next offer carries the placeholder; the retired
//     transceivers become offered.
//  3. applyAnswer: the client has applied that offer (the old track has
//     ended there); the offered transceivers become spare.
//  4. reuseTransceiver: a new forwarded track of the same kind takes a
//     spare transceiver with a fresh sender (new SSRC, msid naming the new
//     publisher's session and track); the client stops the placeholder's
//     receiver and fires OnTrack for the new track on the same mid.
//
// A session's m-line count is thereby bounded by the tracks forwarded to it
// at once, plus those whose end is still being negotiated.
//
// The lists are guarded by session.negMu, which also serialises the swaps
// with CreateOffer and SetRemoteDescription, so a transceiver is never
// offered half-changed.

const (
	// idleStreamID and idleTrackID name the placeholder track of a parked
	// transceiver ("-": no media stream, RFC 8830 §2).
	idleStreamID = "-"
	idleTrackID  = "idle"
)

// parked is a downstream transceiver whose track ended, with the
// placeholder sender it carries.
type parked struct {
	t      *webrtc.RTPTransceiver
	sender *webrtc.RTPSender
}

// idleTrack is the placeholder TrackLocal of a parked transceiver: it binds
// to the m-line's codec and never writes.
type idleTrack struct{ kind webrtc.RTPCodecType }

func (t idleTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	if cs := ctx.CodecParameters(); len(cs) > 0 {
		return cs[0], nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (idleTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (idleTrack) ID() string                            { return idleTrackID }
func (idleTrack) RID() string                           { return "" }
func (idleTrack) StreamID() string                      { return idleStreamID }
func (t idleTrack) Kind() webrtc.RTPCodecType           { return t.kind }

// errNoTransceiver reports a sender that is not on s's PeerConnection.
var errNoTransceiver = errors.New("relay: sender has no transceiver")

// retireSender ends a forwarded track for s: its transceiver is parked for
// reuse (or, if parking fails, left inactive). It reports whether s needs a
// new offer.
func (s *session) retireSender(sender *webrtc.RTPSender) bool {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	var tr *webrtc.RTPTransceiver
	for _, t := range s.pc.GetTransceivers() {
		if t.Sender() == sender {
			tr = t
			break
		}
	}
	if err := s.pc.RemoveTrack(sender); err != nil {
		return false
	}
	if tr == nil {
		return true
	}
	idle := idleTrack{kind: tr.Kind()}
	ph, err := s.swapSender(tr, nil, idle)
	if err != nil {
		s.log.Debug("cannot park transceiver", "err", err)
		return true
	}
	go drainSender(ph, s.quit)
	s.retired = append(s.retired, parked{t: tr, sender: ph})
	return true
}

// reuseTransceiver puts track on a spare transceiver of its kind and
// returns the new sender, or nil when there is none (the caller adds a new
// transceiver). The caller renegotiates.
func (s *session) reuseTransceiver(track *fwdTrack) *webrtc.RTPSender {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	for i := len(s.spare) - 1; i >= 0; i-- {
		p := s.spare[i]
		if p.t.Kind() != track.Kind() {
			continue
		}
		s.spare = append(s.spare[:i], s.spare[i+1:]...)
		sender, err := s.swapSender(p.t, p.sender, track)
		if err != nil {
			s.log.Debug("cannot reuse transceiver", "err", err)
			continue
		}
		s.r.m.transceiversReused.Add(1)
		return sender
	}
	return nil
}

// swapSender replaces t's sender old (nil: t has none) by a new sender of
// track, keeping the m-line sendonly. With negMu held.
func (s *session) swapSender(t *webrtc.RTPTransceiver, old *webrtc.RTPSender, track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	if t.Sender() != old {
		return nil, errNoTransceiver // changed behind our back: leave it alone
	}
	if old != nil {
		if err := s.pc.RemoveTrack(old); err != nil {
			return nil, err
		}
	}
	if t.Direction() != webrtc.RTPTransceiverDirectionInactive {
		return nil, errors.New("relay: transceiver not inactive after removing its track")
	}
	sender, err := s.r.api.NewRTPSender(track, s.pc.SCTP().Transport())
	if err != nil {
		return nil, err
	}
	// SetSender turns the transceiver from inactive to sendonly.
	if err := t.SetSender(sender, track); err != nil {
		// The sender stays attached on failure: detach it so the
		// transceiver is offered inactive.
		_ = s.pc.RemoveTrack(sender)
		return nil, err
	}
	return sender, nil
}

// drainSender reads a placeholder sender's RTCP (receiver reports, if
// any) until the sender stops, or until the session ends: a placeholder
// parked while the session was closing belongs to a closed PeerConnection
// that never stops it, and its read would wait forever.
func drainSender(sender *webrtc.RTPSender, quit <-chan struct{}) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-quit:
			_ = sender.Stop()
		case <-done:
		}
	}()
	for {
		if _, _, err := sender.ReadRTCP(); err != nil {
			return
		}
	}
}

// offerSent records, with negMu held, that an offer carrying the retired
// transceivers' placeholders was set as the local description.
func (s *session) offerSent() {
	s.offered = append(s.offered, s.retired...)
	s.retired = nil
}

// answerApplied records, with negMu held, that the client applied the
// offer: the old tracks of the offered transceivers have ended there.
func (s *session) answerApplied() {
	s.spare = append(s.spare, s.offered...)
	s.offered = nil
}
