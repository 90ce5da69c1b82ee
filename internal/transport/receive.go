package transport

import (
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

// emit delivers an event, waiting while the application is behind.
func (c *Conn) emit(e Event) bool {
	select {
	case c.events <- e:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// readLoop is the receive side of signaling:
//  1. read one message (a read failure or the relay's close ends the loop);
//  2. decode it, dropping and counting what does not decode;
//  3. dispatch it by type;
//  4. on the way out, shut down and deliver Closed.
func (c *Conn) readLoop() {
	reason := ""
	defer func() { c.finish(reason) }()
	for {
		b, err := c.sig.Read(c.ctx)
		if err != nil {
			reason = c.readFailure(err)
			return
		}
		m, err := signal.Decode(b)
		if err != nil {
			c.dropped.Add(1)
			c.log.Warn("bad message from relay", "err", err)
			continue
		}
		if end, why := c.dispatch(m); end {
			reason = why
			return
		}
	}
}

// readFailure returns the close reason for a failed signaling read: the
// relay's reason if it closed, "" after a local close.
func (c *Conn) readFailure(err error) string {
	if r, ok := signal.CloseReason(err); ok {
		return r
	}
	if c.ctx.Err() != nil {
		return ""
	}
	c.log.Warn("signaling read failed", "err", err)
	return "signaling failed"
}

// finish ends the connection after the read loop and delivers Closed.
func (c *Conn) finish(reason string) {
	c.shutdown(reason)
	// The first reason wins: a local Close before the relay's bye reports
	// the local one.
	c.mu.Lock()
	reason = c.closeWhy
	c.mu.Unlock()
	// Closed is delivered even when the application stopped reading
	// earlier events: drop the oldest to make room.
	for {
		select {
		case c.events <- Closed{Reason: reason}:
			close(c.events)
			close(c.done)
			return
		default:
			select {
			case <-c.events:
			default:
			}
		}
	}
}

// dispatch handles one message from the relay. It reports whether the
// connection ends, and why: the relay said bye, negotiation failed, or the
// connection is closing while an event waits for the application.
func (c *Conn) dispatch(m signal.Message) (end bool, reason string) {
	switch v := m.(type) {
	case signal.Offer:
		if err := c.handleOffer(v.SDP); err != nil {
			c.log.Warn("cannot apply offer", "err", err)
			return true, "negotiation failed"
		}
	case signal.Candidate:
		c.handleCandidate(v)
	case signal.Envelope:
		return !c.emit(Envelope{From: v.From, Payload: v.Payload}), ""
	case signal.PeerJoined:
		if !c.addPeer(v.Session) {
			return false, ""
		}
		return !c.emit(PeerJoined{ID: v.Session}), ""
	case signal.PeerLeft:
		c.mu.Lock()
		delete(c.peers, v.Session)
		c.mu.Unlock()
		return !c.emit(PeerLeft{ID: v.Session}), ""
	case signal.Error:
		c.log.Debug("relay rejected a request", "code", v.Code)
		return !c.emit(RelayError{Code: v.Code, Reason: v.Reason}), ""
	case signal.Bye:
		if v.Reason == "" {
			return true, "bye"
		}
		return true, v.Reason
	case signal.Pong:
	default:
		c.log.Debug("ignoring unexpected message", "type", m.MessageType())
	}
	return false, ""
}

// handleCandidate applies a relay ICE candidate, or holds it (up to
// maxBufferedCandidates) until the first offer is applied.
func (c *Conn) handleCandidate(v signal.Candidate) {
	init := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
	c.mu.Lock()
	if c.pc.RemoteDescription() == nil {
		if len(c.candidates) >= maxBufferedCandidates {
			c.mu.Unlock()
			c.drop("ice candidate before the first offer")
			return
		}
		c.candidates = append(c.candidates, init)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err := c.pc.AddICECandidate(init); err != nil {
		c.log.Debug("cannot add candidate", "err", err)
	}
}

// addPeer records a session that joined, and reports whether it is to be
// announced: a peer beyond signal.MaxPeers is dropped.
func (c *Conn) addPeer(id signal.ID) bool {
	c.mu.Lock()
	_, known := c.peers[id]
	full := !known && len(c.peers) >= signal.MaxPeers
	if !full {
		c.peers[id] = struct{}{}
	}
	c.mu.Unlock()
	if full {
		c.drop("peer beyond the peer limit")
	}
	return !full
}

// drop counts and logs a relay message dropped as over a bound.
func (c *Conn) drop(what string) {
	if c.dropped.Add(1) == 1 {
		c.log.Warn("relay message dropped", "what", what)
	}
}

// handleOffer answers a relay offer, filling upload slots with pending
// local tracks.
func (c *Conn) handleOffer(sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	c.mu.Lock()
	cands := c.candidates
	c.candidates = nil
	c.mu.Unlock()
	for _, cand := range cands {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("cannot add candidate", "err", err)
		}
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	answer := c.pc.LocalDescription().SDP
	if !c.hostCandidates {
		answer = withoutHostCandidates(answer)
	}
	if err := c.write(signal.Answer{SDP: answer}); err != nil {
		return err
	}
	c.mu.Lock()
	rest := c.pending[:0]
	for _, p := range c.pending {
		if p.t.Mid() != "" {
			close(p.done)
		} else {
			rest = append(rest, p)
		}
	}
	c.pending = rest
	c.mu.Unlock()
	return nil
}
