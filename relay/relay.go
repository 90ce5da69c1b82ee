// Package relay is Sotto's selective forwarding unit: participants of a
// meeting each keep one PeerConnection to it, and every audio or video track
// one of them publishes is forwarded to all the others. Payloads are SFrame
// ciphertext; the relay forwards them untouched and never parses them.
// Signaling (relay/signal) also carries opaque envelopes between
// participants, which the relay delivers in order without reading.
//
// The relay persists nothing and knows no names: meetings are random IDs
// chosen by clients, sessions random IDs chosen by the relay.
//
// Forwarding pipeline for one published track:
//  1. the publisher's PeerConnection decrypts SRTP and runs the upstream
//     interceptors (transport-cc feedback, NACK generator, receiver
//     reports);
//  2. forwarder.readLoop reads each RTP packet, counts it, and drops it if
//     the track is over its packet rate limit;
//  3. fwdTrack.write rewrites SSRC and payload type for each receiver,
//     drops header extensions, and keeps sequence numbers, timestamps,
//     marker and payload as they are;
//  4. each receiver's interceptors keep a copy for NACK answers, then SRTP
//     encrypts and sends it; the publisher's sender reports follow the
//     same way with the receiver's SSRC (reports.go).
//
// Feedback travels back the other way: PLI and FIR from any receiver are
// coalesced into at most one PLI per KeyframeInterval to the publisher;
// NACKs are answered by the relay from its copy, within each receiver's
// retransmission budget (package rtx), and the relay NACKs what it misses
// from the publisher with the same bounds. Every 50 ms each publisher gets
// transport-cc feedback on its packets' arrival times, from which it
// estimates its uplink and sets its encoder's bitrate.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/rtx"
	"github.com/sottohq/sotto/relay/signal"
)

// Relay is a running SFU. Create it with New; serve clients with Handler or
// ServeConn; stop it with Shutdown.
type Relay struct {
	cfg    Config
	lim    Limits
	log    *slog.Logger
	api    *webrtc.API
	m      *metrics
	tcpMux ice.TCPMux
	rtx    *rtx.Factory

	// stopping is cancelled by Shutdown; connections still waiting for
	// their join watch it.
	stopping context.Context
	stop     context.CancelFunc

	mu       sync.Mutex
	meetings map[signal.ID]*meeting
	sessions map[*session]struct{}
	conns    int // ServeConn calls in progress
	closing  bool
	wg       sync.WaitGroup
}

type meeting struct {
	id       signal.ID
	ref      string // log reference: a hash prefix, not the ID itself
	mu       sync.Mutex
	sessions map[signal.ID]*session
}

// New builds a relay from cfg.
func New(cfg Config) (*Relay, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stopping, stop := context.WithCancel(context.Background())
	r := &Relay{
		stopping: stopping,
		stop:     stop,
		cfg:      cfg,
		lim:      cfg.Limits.withDefaults(),
		log:      log,
		m:        newMetrics(),
		meetings: make(map[signal.ID]*meeting),
		sessions: make(map[*session]struct{}),
	}
	// Clients and relay register the same codecs from one definition.
	me := &webrtc.MediaEngine{}
	if err := signal.RegisterCodecs(me); err != nil {
		return nil, err
	}
	// Publishers' packets carry transport-wide sequence numbers; the
	// relay's feedback on them drives each publisher's bandwidth
	// estimate (twcc.go). Forwarded packets carry no header extensions.
	if err := signal.RegisterTransportCC(me, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	// Innermost first: the arrival times of transport-cc feedback are
	// taken before any other processing.
	cc, err := newTransportCC(r.m, pionLogs{log: log})
	if err != nil {
		return nil, fmt.Errorf("relay: transport-cc: %w", err)
	}
	for _, f := range cc {
		reg.Add(f)
	}
	// One bounded NACK generator and responder per PeerConnection, each
	// with the RTT of its own path (package rtx, docs/RELAY.md).
	r.rtx = rtx.New(rtx.Config{})
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, fmt.Errorf("relay: receiver reports: %w", err)
	}
	// No sender report interceptor: the publishers' reports are forwarded
	// instead (reports.go).
	reg.Add(r.rtx)
	reg.Add(rr)

	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log: log}}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if cfg.LoopbackOnly {
		signal.LoopbackOnly(&se)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	}
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("relay: udp port range: %w", err)
		}
	}
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	if cfg.ICETCP != nil {
		// No write buffer in the mux: each connection queues in time,
		// video after audio (tcpqueue.go).
		r.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: tcpListener{Listener: cfg.ICETCP, m: r.m}, ReadBufferSize: 64})
		se.SetICETCPMux(r.tcpMux)
		if !cfg.LoopbackOnly {
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
		}
	}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	r.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	return r, nil
}

// Limits returns the limits in force: the configured ones with defaults
// filled in and out-of-range values clamped.
func (r *Relay) Limits() Limits { return r.lim }

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() Stats {
	s := r.m.snapshot()
	s.Retransmission = r.rtx.Stats()
	return s
}

// Handler serves /ws (signaling over WebSocket), /healthz and /metrics.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		closing := r.closing
		r.mu.Unlock()
		if closing {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r.Stats())
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			r.m.reject(signal.CodeBadMessage)
			return
		}
		_ = r.ServeConn(req.Context(), signal.WebSocket(c, int64(r.lim.MaxMessageBytes)))
	})
	return mux
}

// ErrClosing is returned by ServeConn when the relay is shutting down.
var ErrClosing = errors.New("relay: shutting down")

// Shutdown tells every client the relay is going away (bye, then close
// with reason "shutdown"), refuses new sessions, and waits until all
// sessions have ended or ctx is done.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	r.stop()
	all := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.closeWith(signal.Bye{Reason: signal.CodeShutdown}, signal.CodeShutdown)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("relay: shutdown: %w", ctx.Err())
	}
	if r.tcpMux != nil {
		r.tcpMux.Close()
	}
	r.log.Info("relay stopped")
	return err
}

// meetingRef is the name a meeting goes by in logs: a hash of its ID's
// wire form, so that logs never hold the ID itself (knowing it is enough to
// enter the meeting).
func meetingRef(id signal.ID) string {
	h := sha256.Sum256([]byte("sotto relay log ref\x00" + id.String()))
	return hex.EncodeToString(h[:4])
}
