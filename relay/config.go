package relay

import (
	"log/slog"
	"net"
	"time"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

// Limits bound what one client can make the relay do. Zero fields take the
// defaults from DefaultLimits.
//
// Rates are token buckets (golang.org/x/time/rate) that start full: one per
// session for envelopes and for messages, one per published track for
// packets.
type Limits struct {
	// MaxMessageBytes bounds one signaling message (at most signal.MaxMessageLen).
	MaxMessageBytes int
	// EnvelopeRate is the sustained envelopes per second one session may send.
	EnvelopeRate float64
	// EnvelopeBurst is how many envelopes may exceed the rate at once.
	EnvelopeBurst int
	// MessageRate is the sustained signaling messages per second of any type
	// one session may send; exceeding it closes the session.
	MessageRate float64
	// MessageBurst is the burst allowance for MessageRate.
	MessageBurst int
	// MaxSessionsPerMeeting bounds the participants of one meeting (at
	// most signal.MaxPeers+1: clients refuse a longer peer list).
	MaxSessionsPerMeeting int
	// MaxMeetings bounds the meetings on this relay.
	MaxMeetings int
	// MaxConnections bounds signaling connections, joined or not; more are
	// closed at once with relay-full.
	MaxConnections int
	// MaxTracksPerSession bounds the tracks one session may publish.
	MaxTracksPerSession int
	// MaxTrackPacketRate is the sustained RTP packets per second the relay
	// forwards for one published track; it also allows bursts of that many
	// packets (a large keyframe). Packets above it are dropped and counted.
	MaxTrackPacketRate int
	// IdleTimeout closes a session that sent nothing (not even a ping) for
	// this long.
	IdleTimeout time.Duration
	// JoinTimeout closes a connection that has not joined within this time.
	JoinTimeout time.Duration
	// SendQueue is the number of outbound signaling messages buffered per
	// session; a client that falls further behind is closed as slow.
	SendQueue int
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{
	MaxMessageBytes:       256 << 10,
	EnvelopeRate:          50,
	EnvelopeBurst:         200,
	MessageRate:           200,
	MessageBurst:          400,
	MaxSessionsPerMeeting: 50,
	MaxMeetings:           1000,
	MaxConnections:        10000,
	MaxTracksPerSession:   4,
	MaxTrackPacketRate:    1000,
	IdleTimeout:           60 * time.Second,
	JoinTimeout:           10 * time.Second,
	SendQueue:             512,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxMessageBytes > signal.MaxMessageLen {
		l.MaxMessageBytes = 0
	}
	orDefault(&l.MaxMessageBytes, d.MaxMessageBytes)
	orDefault(&l.EnvelopeRate, d.EnvelopeRate)
	orDefault(&l.EnvelopeBurst, d.EnvelopeBurst)
	orDefault(&l.MessageRate, d.MessageRate)
	orDefault(&l.MessageBurst, d.MessageBurst)
	orDefault(&l.MaxSessionsPerMeeting, d.MaxSessionsPerMeeting)
	if l.MaxSessionsPerMeeting > signal.MaxPeers+1 {
		// A joined message lists every other session; clients refuse a
		// list longer than signal.MaxPeers.
		l.MaxSessionsPerMeeting = signal.MaxPeers + 1
	}
	orDefault(&l.MaxMeetings, d.MaxMeetings)
	orDefault(&l.MaxConnections, d.MaxConnections)
	orDefault(&l.MaxTracksPerSession, d.MaxTracksPerSession)
	orDefault(&l.MaxTrackPacketRate, d.MaxTrackPacketRate)
	orDefault(&l.IdleTimeout, d.IdleTimeout)
	orDefault(&l.JoinTimeout, d.JoinTimeout)
	orDefault(&l.SendQueue, d.SendQueue)
	return l
}

// orDefault replaces a zero or negative limit with its default.
func orDefault[T int | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Config configures a Relay. The zero value is a working relay on all
// interfaces with ephemeral UDP ports.
type Config struct {
	// Logger receives structured logs; nil discards. The relay logs session
	// and meeting IDs and counts, never payloads or SDP.
	Logger *slog.Logger
	// Limits; zero fields take DefaultLimits.
	Limits Limits

	// UDPPortMin and UDPPortMax restrict the UDP ports used for media (both
	// zero: ephemeral ports).
	UDPPortMin, UDPPortMax uint16
	// PublicIPs are announced instead of the local host addresses (1:1 NAT).
	PublicIPs []string
	// ICETCP, if set, accepts ICE over TCP on this listener (a fallback for
	// networks that block UDP). The relay closes it on Close.
	ICETCP net.Listener
	// LoopbackOnly restricts ICE to IPv4 loopback without mDNS (tests, and a
	// relay for clients on the same machine).
	LoopbackOnly bool
	// ICEServers are announced to clients in the joined message (for
	// example the embedded TURN server).
	ICEServers []signal.ICEServer
	// ICEServersFor, if set, is called for each join and its servers are
	// announced after ICEServers (per-session TURN credentials: TURN.ICEServers).
	ICEServersFor func() []signal.ICEServer

	// Net replaces the operating system network for media (pion vnet).
	Net pionnet.Net
	// SettingEngine, if set, customises the webrtc.SettingEngine last.
	SettingEngine func(*webrtc.SettingEngine)
}
