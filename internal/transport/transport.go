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
//
// Everything the client and the relay must agree on (messages, identifiers,
// the codec table) lives in relay/signal, which both import; the relay
// never imports this package.
//
// Files: dial.go joins (signaling handshake, then the PeerConnection);
// conn.go holds the operations on a joined Conn; receive.go is the read
// loop, dispatching each message from the relay by type; reports.go writes
// the RTCP sender reports, on a clock that does not reveal the local time.
package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/rtx"
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
	// RelayIP is the relay's address when Conn is used (with URL it is
	// looked up from the URL's host). It decides whether this side's host
	// candidates are sent (candidates.go); nil with Conn: they are.
	RelayIP net.IP
	// MeetingID is the meeting to join, chosen by clients (signal.NewID).
	MeetingID signal.ID
	// ICEServers are used in addition to those the relay announces.
	ICEServers []webrtc.ICEServer
	// ICETransportPolicy "relay" sends media only through TURN servers.
	ICETransportPolicy webrtc.ICETransportPolicy
	// Net replaces the operating system network (a pion vnet in tests).
	Net pionnet.Net
	// SettingEngine, if set, customises the webrtc.SettingEngine after the
	// defaults (and after Net) are applied. See signal.LoopbackOnly.
	SettingEngine func(*webrtc.SettingEngine)
	// OnTrack is called (on its own goroutine) for each track another
	// participant publishes. It may also be set later with Conn.OnTrack.
	OnTrack func(RemoteTrack)
	// Logger for connection events; nil discards. Payloads are never logged.
	Logger *slog.Logger
}

// RemoteTrack is a track published by another participant, forwarded by
// the relay. SessionID is the publisher's session (the relay names it in
// the track's stream ID).
type RemoteTrack struct {
	SessionID signal.ID
	Track     *webrtc.TrackRemote
	Receiver  *webrtc.RTPReceiver
}

// Event is delivered on Conn.Events: one of Envelope, PeerJoined, PeerLeft,
// RelayError or Closed.
type Event interface{ isEvent() }

// Envelope is an opaque message from another session of the meeting.
type Envelope struct {
	From    signal.ID
	Payload []byte
}

// PeerJoined reports a session that entered the meeting.
type PeerJoined struct{ ID signal.ID }

// PeerLeft reports a session that left the meeting.
type PeerLeft struct{ ID signal.ID }

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
	reports *reportFactory // sender reports' media clocks (reports.go)
	cc      *congestion    // uplink estimate (congestion.go); nil for a Conn not dialled
	session signal.ID
	events  chan Event
	rtx     *rtx.Factory // the PeerConnection's NACKs and resends
	rtt     *rtx.RTT     // its round trip to the relay

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the read loop ends

	writeMu sync.Mutex
	dropped atomic.Uint64 // relay messages undecodable or over a bound

	mu         sync.Mutex
	peers      map[signal.ID]struct{}
	onTrack    func(RemoteTrack)
	pending    []*pendingPublish
	candidates []webrtc.ICECandidateInit // before the first remote description
	// hostCandidates is whether this side's host candidates go to the
	// relay; hostWithheld counts those that did not.
	hostCandidates bool
	hostWithheld   atomic.Uint64
	closeOnce      sync.Once
	closeWhy       string
}

type pendingPublish struct {
	t    *webrtc.RTPTransceiver
	done chan struct{}
}
