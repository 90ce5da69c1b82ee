package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/bwe"
	"github.com/sottohq/sotto/relay/rtx"
	"github.com/sottohq/sotto/relay/signal"
)

// Dial connects to the relay and joins cfg.MeetingID. It returns when the
// relay has confirmed the join; media negotiation continues in the
// background.
//
// Steps:
//  1. open the signaling connection (cfg.Conn, or a WebSocket to cfg.URL);
//  2. join: send join, wait for joined (docs/PROTOCOL.md §4.2);
//  3. build the PeerConnection with the ICE servers the relay announced;
//  4. start the read loop and the keepalive.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.MeetingID.IsZero() {
		return nil, errors.New("transport: no meeting id")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sig, err := openSignaling(ctx, cfg)
	if err != nil {
		return nil, err
	}
	joined, err := join(ctx, sig, cfg.MeetingID)
	if err != nil {
		sig.Close("client error")
		return nil, err
	}
	rtt := new(rtx.RTT)
	rtxs := rtx.New(rtx.Config{RTT: rtt})
	pc, ext, err := newPeerConnection(cfg, joined.ICEServers, rtxs)
	if err != nil {
		sig.Close("client error")
		return nil, err
	}
	c := newConn(cfg, log, sig, pc, joined, sendHostCandidates(ctx, cfg))
	c.reports = ext.reports
	c.cc = ext.cc.last.Load()
	c.rtx, c.rtt = rtxs, rtt
	go c.readLoop()
	go c.keepalive(keepaliveInterval(joined.IdleMs))
	c.log.Info("joined meeting", "session", c.session.String(), "peers", len(joined.Peers))
	return c, nil
}

// openSignaling returns cfg.Conn, or dials cfg.URL.
func openSignaling(ctx context.Context, cfg Config) (signal.Conn, error) {
	if cfg.Conn != nil {
		return cfg.Conn, nil
	}
	if cfg.URL == "" {
		return nil, errors.New("transport: no relay url or connection")
	}
	sig, err := signal.DialWebSocket(ctx, cfg.URL, cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	return sig, nil
}

// join is the signaling handshake: send join, wait for joined. A pong is
// skipped; an error message is the relay's refusal.
func join(ctx context.Context, sig signal.Conn, meeting signal.ID) (signal.Joined, error) {
	if err := writeMsg(ctx, sig, signal.Join{Meeting: meeting}); err != nil {
		return signal.Joined{}, fmt.Errorf("transport: send join: %w", err)
	}
	for {
		b, err := sig.Read(ctx)
		if err != nil {
			if r, ok := signal.CloseReason(err); ok {
				return signal.Joined{}, fmt.Errorf("transport: relay closed before join: %q", r)
			}
			return signal.Joined{}, fmt.Errorf("transport: wait for joined: %w", err)
		}
		m, err := signal.Decode(b)
		if err != nil {
			return signal.Joined{}, fmt.Errorf("transport: bad message from relay: %w", err)
		}
		switch v := m.(type) {
		case signal.Joined:
			return v, nil
		case signal.Error:
			return signal.Joined{}, &RejectedError{Code: v.Code, Reason: v.Reason}
		case signal.Pong:
		default:
			return signal.Joined{}, fmt.Errorf("transport: unexpected %s before joined", m.MessageType())
		}
	}
}

// RejectedError is the relay's refusal of a join: its error message's
// code (signal.CodeMeetingFull, …) and reason.
type RejectedError struct{ Code, Reason string }

func (e *RejectedError) Error() string {
	return fmt.Sprintf("transport: join rejected: %s: %s", e.Code, e.Reason)
}

// newPeerConnection builds the one PeerConnection to the relay, using
// cfg's ICE servers and then those the relay announced.
func newPeerConnection(cfg Config, announced []signal.ICEServer, rtxs *rtx.Factory) (*webrtc.PeerConnection, factories, error) {
	api, ext, err := newAPI(cfg, rtxs)
	if err != nil {
		return nil, ext, err
	}
	ice := append([]webrtc.ICEServer(nil), cfg.ICEServers...)
	for _, s := range announced {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: ice, ICETransportPolicy: cfg.ICETransportPolicy})
	if err != nil {
		return nil, ext, fmt.Errorf("transport: new peer connection: %w", err)
	}
	return pc, ext, nil
}

// newConn wraps a joined session and hooks the PeerConnection's callbacks.
func newConn(cfg Config, log *slog.Logger, sig signal.Conn, pc *webrtc.PeerConnection, joined signal.Joined, hostCandidates bool) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		log:     log,
		sig:     sig,
		pc:      pc,
		session: joined.Session,
		events:  make(chan Event, eventBuffer),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		peers:   make(map[signal.ID]struct{}),
		onTrack: cfg.OnTrack,
		// Only the relay's own network may learn this machine's
		// addresses (candidates.go).
		hostCandidates: hostCandidates,
	}
	for _, p := range joined.Peers {
		c.peers[p] = struct{}{}
	}
	pc.OnTrack(c.remoteTrack)
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		if cand.Typ == webrtc.ICECandidateTypeHost && !c.hostCandidates {
			c.hostWithheld.Add(1)
			return
		}
		init := cand.ToJSON()
		_ = c.write(signal.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("peer connection state", "state", s.String())
	})
	return c
}

// remoteTrack surfaces a forwarded track. The relay names the publisher's
// session in the stream ID (docs/PROTOCOL.md §4.3); a track that names no
// session cannot be attributed to anyone and is dropped.
func (c *Conn) remoteTrack(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
	from, err := signal.ParseID(tr.StreamID())
	if err != nil {
		c.drop("track of no session")
		return
	}
	c.mu.Lock()
	h := c.onTrack
	c.mu.Unlock()
	if h != nil {
		h(RemoteTrack{SessionID: from, Track: tr, Receiver: rx})
	}
}

// keepaliveInterval is keepaliveEvery, or a third of the relay's idle
// timeout when that is shorter.
func keepaliveInterval(idleMs int64) time.Duration {
	every := keepaliveEvery
	if idle := time.Duration(idleMs) * time.Millisecond; idle > 0 && idle/3 < every {
		every = max(idle/3, 10*time.Millisecond)
	}
	return every
}

// NewAPI builds the pion API a Conn uses, from cfg's Net and SettingEngine:
// the codecs of signal.RegisterCodecs, transport-wide sequence numbers on
// what it sends and the uplink estimate from the relay's feedback
// (congestion.go), the bounded NACK generator and responder of package
// rtx, RTCP receiver reports and sender reports on a private clock
// (reports.go). Tests and the load generator use it for peers that must
// match a Conn's stack.
func NewAPI(cfg Config) (*webrtc.API, error) {
	api, _, err := newAPI(cfg, rtx.New(rtx.Config{}))
	return api, err
}

// factories are the interceptor factories a Conn reads back.
type factories struct {
	reports *reportFactory
	cc      *ccFactory
}

func newAPI(cfg Config, rtxs *rtx.Factory) (*webrtc.API, factories, error) {
	m := &webrtc.MediaEngine{}
	if err := signal.RegisterCodecs(m); err != nil {
		return nil, factories{}, fmt.Errorf("transport: %w", err)
	}
	if err := signal.RegisterTransportCC(m, webrtc.RTPTransceiverDirectionSendonly); err != nil {
		return nil, factories{}, fmt.Errorf("transport: %w", err)
	}
	reg := &interceptor.Registry{}
	// Innermost first. The congestion interceptor sits between the
	// network and the sequence numbering, so that it sees every packet
	// numbered, retransmissions (rtx, further out) included.
	ext := factories{reports: &reportFactory{}, cc: &ccFactory{cfg: bwe.Config{Start: bwe.DefaultStart}}}
	reg.Add(ext.cc)
	tw, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, factories{}, fmt.Errorf("transport: transport-cc: %w", err)
	}
	reg.Add(tw)
	// NACK feedback is in the codec table; retransmission is rtx's.
	reg.Add(rtxs)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, factories{}, fmt.Errorf("transport: receiver reports: %w", err)
	}
	reg.Add(rr)
	reg.Add(ext.reports)
	se := webrtc.SettingEngine{}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), ext, nil
}
