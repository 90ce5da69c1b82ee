// Package transport is the client side of a Sotto relay: it joins a meeting
// over the signaling connection, keeps one PeerConnection to the relay,
// publishes local tracks, surfaces the tracks other participants publish,
// and carries opaque envelopes. It never looks at payloads: media arrives
// already encrypted and envelopes are bytes to it.
//
// Negotiation: the relay is always the offerer. To publish, Conn adds a
// sendonly transceiver locally and asks the relay for an upload slot
// ("publish"); the relay's next offer carries a recvonly m-line of that kind,
// which the local transceiver fills when answering (JSEP matching of
// transceivers without a mid). Conn never creates offers.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

// Timeouts used where the API takes no context.
const (
	// opTimeout bounds AddTrack's wait for the relay's offer and one
	// signaling write.
	opTimeout = 15 * time.Second
	// keepaliveEvery is the ping interval unless the relay announces an
	// idle timeout, in which case a third of it is used.
	keepaliveEvery = 15 * time.Second
	// eventBuffer is the capacity of the Events channel. When it is full,
	// reading from the relay pauses until the application catches up.
	eventBuffer = 1024
	// maxBufferedCandidates bounds the relay's ICE candidates held until
	// its first offer arrives (the relay holds as many of ours).
	maxBufferedCandidates = 64
)

// Config configures Dial.
type Config struct {
	// URL of the relay's signaling endpoint (ws://host/ws or wss://host/ws).
	URL string
	// HTTPClient dials URL (for custom TLS roots); nil for the default.
	HTTPClient *http.Client
	// Conn is an already open signaling connection, used instead of URL
	// (tests use signal.Pipe and relay.ServeConn).
	Conn signal.Conn
	// MeetingID is the meeting to join: signal.NewID() form, chosen by clients.
	MeetingID string
	// ICEServers are used in addition to those the relay announces.
	ICEServers []webrtc.ICEServer
	// ICETransportPolicy "relay" sends media only through TURN servers.
	ICETransportPolicy webrtc.ICETransportPolicy
	// Net replaces the operating system network (a pion vnet in tests).
	Net pionnet.Net
	// SettingEngine, if set, customises the webrtc.SettingEngine after the
	// defaults (and after Net) are applied. See LoopbackOnly.
	SettingEngine func(*webrtc.SettingEngine)
	// OnTrack is called (on its own goroutine) for each track another
	// participant publishes. It may also be set later with Conn.OnTrack.
	OnTrack func(RemoteTrack)
	// Logger for connection events; nil discards. Payloads are never logged.
	Logger *slog.Logger
}

// RemoteTrack is a track published by another participant, forwarded by
// the relay. SessionID is the publisher's session (the stream ID).
type RemoteTrack struct {
	SessionID string
	Track     *webrtc.TrackRemote
	Receiver  *webrtc.RTPReceiver
}

// Event is delivered on Conn.Events: one of Envelope, PeerJoined, PeerLeft,
// RelayError or Closed.
type Event interface{ isEvent() }

// Envelope is an opaque message from another session of the meeting.
type Envelope struct {
	From    string
	Payload []byte
}

// PeerJoined reports a session that entered the meeting.
type PeerJoined struct{ ID string }

// PeerLeft reports a session that left the meeting.
type PeerLeft struct{ ID string }

// RelayError reports a request the relay rejected (for example an envelope
// to an unknown session, or a rate limit). The connection stays open.
type RelayError struct{ Code, Reason string }

// Closed is the last event: the connection ended. Reason is the relay's
// reason when it closed the session (signal.CodeShutdown on shutdown).
type Closed struct{ Reason string }

func (Envelope) isEvent()   {}
func (PeerJoined) isEvent() {}
func (PeerLeft) isEvent()   {}
func (RelayError) isEvent() {}
func (Closed) isEvent()     {}

// ErrClosed is returned by operations on a closed Conn.
var ErrClosed = errors.New("transport: connection closed")

// Conn is one participant's connection to a relay.
type Conn struct {
	log     *slog.Logger
	sig     signal.Conn
	pc      *webrtc.PeerConnection
	session string
	events  chan Event

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the read loop ends

	writeMu sync.Mutex
	dropped atomic.Uint64 // relay messages undecodable or over a bound

	mu         sync.Mutex
	peers      map[string]struct{}
	onTrack    func(RemoteTrack)
	pending    []*pendingPublish
	candidates []webrtc.ICECandidateInit // before the first remote description
	closeOnce  sync.Once
	closeWhy   string
}

type pendingPublish struct {
	t    *webrtc.RTPTransceiver
	done chan struct{}
}

// Dial connects to the relay and joins cfg.MeetingID. It returns when the
// relay has confirmed the join; media negotiation continues in the
// background.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if !signal.ValidID(cfg.MeetingID) {
		return nil, errors.New("transport: invalid meeting id")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sig := cfg.Conn
	if sig == nil {
		if cfg.URL == "" {
			return nil, errors.New("transport: no relay url or connection")
		}
		var err error
		sig, err = signal.DialWebSocket(ctx, cfg.URL, cfg.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	fail := func(err error) (*Conn, error) {
		sig.Close("client error")
		return nil, err
	}
	if err := writeMsg(ctx, sig, signal.Join{Meeting: cfg.MeetingID}); err != nil {
		return fail(fmt.Errorf("transport: send join: %w", err))
	}
	var joined signal.Joined
	for {
		b, err := sig.Read(ctx)
		if err != nil {
			if r, ok := signal.CloseReason(err); ok {
				return fail(fmt.Errorf("transport: relay closed before join: %q", r))
			}
			return fail(fmt.Errorf("transport: wait for joined: %w", err))
		}
		m, err := signal.Decode(b)
		if err != nil {
			return fail(fmt.Errorf("transport: bad message from relay: %w", err))
		}
		if e, ok := m.(signal.Error); ok {
			return fail(fmt.Errorf("transport: join rejected: %s: %s", e.Code, e.Reason))
		}
		if j, ok := m.(signal.Joined); ok {
			joined = j
			break
		}
		if _, ok := m.(signal.Pong); ok {
			continue
		}
		return fail(fmt.Errorf("transport: unexpected %s before joined", m.MessageType()))
	}

	api, err := NewAPI(cfg)
	if err != nil {
		return fail(err)
	}
	ice := append([]webrtc.ICEServer(nil), cfg.ICEServers...)
	for _, s := range joined.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: ice, ICETransportPolicy: cfg.ICETransportPolicy})
	if err != nil {
		return fail(fmt.Errorf("transport: new peer connection: %w", err))
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		log:     log,
		sig:     sig,
		pc:      pc,
		session: joined.Session,
		events:  make(chan Event, eventBuffer),
		ctx:     cctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		peers:   make(map[string]struct{}),
		onTrack: cfg.OnTrack,
	}
	for _, p := range joined.Peers {
		c.peers[p] = struct{}{}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
		c.mu.Lock()
		h := c.onTrack
		c.mu.Unlock()
		if h != nil {
			h(RemoteTrack{SessionID: tr.StreamID(), Track: tr, Receiver: rx})
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		_ = c.write(signal.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("peer connection state", "state", s.String())
	})
	go c.readLoop()
	every := keepaliveEvery
	if idle := time.Duration(joined.IdleMs) * time.Millisecond; idle > 0 && idle/3 < every {
		every = max(idle/3, 10*time.Millisecond)
	}
	go c.keepalive(every)
	c.log.Info("joined meeting", "session", c.session, "peers", len(joined.Peers))
	return c, nil
}

// LoopbackOnly restricts ICE to IPv4 loopback without mDNS: for tests and
// for a relay on the same machine.
func LoopbackOnly(se *webrtc.SettingEngine) {
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
}

// NewAPI builds the pion API a Conn uses, from cfg's Net and SettingEngine:
// VP8 and Opus, NACK generator and responder, RTCP sender/receiver reports.
// Tests use it for peers that must match a Conn's stack.
func NewAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := RegisterCodecs(m); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, fmt.Errorf("transport: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("transport: rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// RegisterCodecs registers the codecs Sotto uses: VP8 (payload type 96) and
// Opus (111), with NACK, PLI and FIR feedback on video.
func RegisterCodecs(m *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return fmt.Errorf("transport: register vp8: %w", err)
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("transport: register opus: %w", err)
	}
	return nil
}

// SessionID is this participant's session ID, assigned by the relay.
func (c *Conn) SessionID() string { return c.session }

// Peers returns the other sessions currently in the meeting.
func (c *Conn) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.peers))
	for p := range c.peers {
		out = append(out, p)
	}
	return out
}

// Dropped counts messages from the relay that were dropped: undecodable
// ones, and those over a bound (ICE candidates beyond 64 before the first
// offer, peers announced beyond signal.MaxPeers). An honest relay never
// causes one.
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
// session of the meeting when to is "". Delivery is in order per sender.
func (c *Conn) SendEnvelope(to string, payload []byte) error {
	if to != "" && !signal.ValidID(to) {
		return errors.New("transport: invalid recipient id")
	}
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

// emit delivers an event, waiting while the application is behind.
func (c *Conn) emit(e Event) bool {
	select {
	case c.events <- e:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Conn) readLoop() {
	reason := ""
	defer func() {
		c.shutdown(reason)
		// The first reason wins: a local Close before the relay's bye
		// reports the local one.
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
	}()
	for {
		b, err := c.sig.Read(c.ctx)
		if err != nil {
			if r, ok := signal.CloseReason(err); ok {
				reason = r
			} else if c.ctx.Err() == nil {
				reason = "signaling failed"
				c.log.Warn("signaling read failed", "err", err)
			}
			return
		}
		m, err := signal.Decode(b)
		if err != nil {
			c.dropped.Add(1)
			c.log.Warn("bad message from relay", "err", err)
			continue
		}
		switch v := m.(type) {
		case signal.Offer:
			if err := c.handleOffer(v.SDP); err != nil {
				c.log.Warn("cannot apply offer", "err", err)
				reason = "negotiation failed"
				return
			}
		case signal.Candidate:
			init := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
			c.mu.Lock()
			if c.pc.RemoteDescription() == nil {
				if len(c.candidates) >= maxBufferedCandidates {
					c.mu.Unlock()
					c.drop("ice candidate before the first offer")
					continue
				}
				c.candidates = append(c.candidates, init)
				c.mu.Unlock()
				continue
			}
			c.mu.Unlock()
			if err := c.pc.AddICECandidate(init); err != nil {
				c.log.Debug("cannot add candidate", "err", err)
			}
		case signal.Envelope:
			if !c.emit(Envelope{From: v.From, Payload: v.Payload}) {
				return
			}
		case signal.PeerJoined:
			c.mu.Lock()
			_, known := c.peers[v.Session]
			if !known && len(c.peers) >= signal.MaxPeers {
				c.mu.Unlock()
				c.drop("peer beyond the peer limit")
				continue
			}
			c.peers[v.Session] = struct{}{}
			c.mu.Unlock()
			if !c.emit(PeerJoined{ID: v.Session}) {
				return
			}
		case signal.PeerLeft:
			c.mu.Lock()
			delete(c.peers, v.Session)
			c.mu.Unlock()
			if !c.emit(PeerLeft{ID: v.Session}) {
				return
			}
		case signal.Error:
			c.log.Debug("relay rejected a request", "code", v.Code)
			if !c.emit(RelayError{Code: v.Code, Reason: v.Reason}) {
				return
			}
		case signal.Bye:
			reason = v.Reason
			if reason == "" {
				reason = "bye"
			}
			return
		case signal.Pong:
		default:
			c.log.Debug("ignoring unexpected message", "type", m.MessageType())
		}
	}
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
	if err := c.write(signal.Answer{SDP: c.pc.LocalDescription().SDP}); err != nil {
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
