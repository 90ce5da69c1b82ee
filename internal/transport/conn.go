package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

// SessionID is this participant's session ID, assigned by the relay.
func (c *Conn) SessionID() signal.ID { return c.session }

// Peers returns the other sessions currently in the meeting.
func (c *Conn) Peers() []signal.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]signal.ID, 0, len(c.peers))
	for p := range c.peers {
		out = append(out, p)
	}
	return out
}

// Dropped counts messages from the relay that were dropped: undecodable
// ones, those over a bound (ICE candidates beyond 64 before the first
// offer, peers announced beyond signal.MaxPeers), and forwarded tracks whose
// stream ID names no session. An honest relay never causes one.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// PeerConnection exposes the underlying PeerConnection (for stats and
// state callbacks). Do not create offers or add tracks on it directly.
func (c *Conn) PeerConnection() *webrtc.PeerConnection { return c.pc }

// OnTrack sets the handler for tracks other participants publish,
// replacing Config.OnTrack.
func (c *Conn) OnTrack(f func(RemoteTrack)) {
	c.mu.Lock()
	c.onTrack = f
	c.mu.Unlock()
}

// Events delivers envelopes and membership changes, in the order the relay
// sent them, ending with Closed; the channel is then closed. The
// application must keep reading it.
func (c *Conn) Events() <-chan Event { return c.events }

// AddTrack publishes track. It returns once the relay has opened the upload
// slot and the answer is sent; media flows when ICE and DTLS are up. The
// caller must read RTCP from the returned sender (sender.ReadRTCP in a
// loop): keyframe requests (PLI, FIR) from receivers arrive there, and
// reading is what lets the NACK responder retransmit.
func (c *Conn) AddTrack(track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	var kind string
	switch track.Kind() {
	case webrtc.RTPCodecTypeAudio:
		kind = signal.KindAudio
	case webrtc.RTPCodecTypeVideo:
		kind = signal.KindVideo
	default:
		return nil, errors.New("transport: track of unknown kind")
	}
	t, err := c.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("transport: add transceiver: %w", err)
	}
	p := &pendingPublish{t: t, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, p)
	c.mu.Unlock()
	if err := c.write(signal.Publish{Kind: kind}); err != nil {
		return nil, fmt.Errorf("transport: send publish: %w", err)
	}
	timer := time.NewTimer(opTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return t.Sender(), nil
	case <-c.done:
		return nil, ErrClosed
	case <-timer.C:
		return nil, errors.New("transport: relay did not open an upload slot in time")
	}
}

// RemoveTrack stops publishing the track sent by sender.
func (c *Conn) RemoveTrack(sender *webrtc.RTPSender) error {
	var mid string
	for _, t := range c.pc.GetTransceivers() {
		if t.Sender() == sender {
			mid = t.Mid()
		}
	}
	if mid == "" {
		return errors.New("transport: sender is not published")
	}
	if err := c.pc.RemoveTrack(sender); err != nil {
		return fmt.Errorf("transport: remove track: %w", err)
	}
	return c.write(signal.Unpublish{Mid: mid})
}

// RequestKeyframe asks the publisher of a remote track for a keyframe (PLI
// through the relay).
func (c *Conn) RequestKeyframe(ssrc webrtc.SSRC) error {
	return c.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
}

// WriteRTCP sends RTCP to the relay; feedback about a forwarded track
// (MediaSSRC = the track's SSRC) reaches its publisher where it matters
// (PLI, FIR).
func (c *Conn) WriteRTCP(pkts []rtcp.Packet) error {
	return c.pc.WriteRTCP(pkts)
}

// SendEnvelope sends opaque bytes to session to, or to every other
// session of the meeting when to is the zero ID. Delivery is in order per
// sender.
func (c *Conn) SendEnvelope(to signal.ID, payload []byte) error {
	if len(payload) > signal.MaxEnvelopePayload {
		return fmt.Errorf("transport: envelope of %d bytes exceeds %d", len(payload), signal.MaxEnvelopePayload)
	}
	if payload == nil {
		payload = []byte{}
	}
	return c.write(signal.Envelope{To: to, Payload: payload})
}

// Close leaves the meeting and releases the connection.
func (c *Conn) Close() error {
	c.shutdown("client closed")
	<-c.done
	return nil
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) shutdown(reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeWhy = reason
		c.mu.Unlock()
		c.cancel()
		// Close the signaling connection in every case: a WebSocket peer
		// waits for our close frame.
		c.sig.Close(reason)
		c.pc.Close()
	})
}

func writeMsg(ctx context.Context, sig signal.Conn, m signal.Message) error {
	b, err := signal.Encode(m)
	if err != nil {
		return err
	}
	return sig.Write(ctx, b)
}

func (c *Conn) write(m signal.Message) error {
	select {
	case <-c.ctx.Done():
		return ErrClosed
	default:
	}
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := writeMsg(ctx, c.sig, m); err != nil {
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("transport: write %s: %w", m.MessageType(), err)
	}
	return nil
}

func (c *Conn) keepalive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			_ = c.write(signal.Ping{})
		}
	}
}

// HostCandidatesWithheld counts the host candidates not sent to a relay
// outside this machine's networks (candidates.go).
func (c *Conn) HostCandidatesWithheld() uint64 { return c.hostWithheld.Load() }
