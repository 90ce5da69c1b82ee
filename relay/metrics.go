package relay

import (
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/relay/rtx"
	"github.com/sottohq/sotto/relay/signal"
)

// Stats is a snapshot of the relay's counters. It contains no identifiers.
type Stats struct {
	Meetings           int64            `json:"meetings"`              // meetings open now
	Sessions           int64            `json:"sessions"`              // sessions joined now
	SessionsTotal      int64            `json:"sessions_total"`        // sessions joined since start
	PacketsIn          int64            `json:"packets_in"`            // RTP packets received from publishers
	BytesIn            int64            `json:"bytes_in"`              // RTP bytes (header+payload) received
	PacketsOut         int64            `json:"packets_out"`           // RTP packets forwarded to receivers
	BytesOut           int64            `json:"bytes_out"`             // RTP bytes forwarded
	PacketsDropped     int64            `json:"packets_dropped"`       // RTP packets over a track's rate limit
	EnvelopesIn        int64            `json:"envelopes_in"`          // envelopes accepted from clients
	EnvelopesOut       int64            `json:"envelopes_out"`         // envelope deliveries
	KeyframeReqs       int64            `json:"keyframe_requests"`     // PLIs sent to publishers
	KeyframeCoalesced  int64            `json:"keyframe_coalesced"`    // receivers' PLI/FIR merged into another PLI
	ParityOut          int64            `json:"parity_out"`            // video parity packets sent to lossy receivers (package fec)
	ParityLate         int64            `json:"parity_late_dropped"`   // packets too late to map into a receiver's numbering
	TCPVideoDropped    int64            `json:"ice_tcp_video_dropped"` // video packets too old in an ICE-TCP queue
	TCPDropped         int64            `json:"ice_tcp_dropped"`       // other packets too old, or over the queue's bytes
	TransceiversReused int64            `json:"transceivers_reused"`   // forwarded tracks put on an ended track's m-line
	DroppedMessages    int64            `json:"dropped_messages"`      // signaling messages not delivered
	RejectedInputs     int64            `json:"rejected_inputs"`       // bad or refused client inputs, total
	Rejected           map[string]int64 `json:"rejected"`              // rejected inputs by error code
	CPUSeconds         float64          `json:"cpu_seconds"`           // process user+system CPU time
	SenderReports      int64            `json:"sender_reports"`        // publishers' sender reports forwarded to receivers
	ReportsDropped     int64            `json:"reports_dropped"`       // sender reports over a track's rate (one per 250 ms)
	UptimeSeconds      float64          `json:"uptime_seconds"`
	// Transport-cc feedback sent to publishers, and RTP packets dropped
	// because their transport-wide sequence number did not parse.
	TransportCCFeedback  int64 `json:"transport_cc_feedback"`
	TransportCCMalformed int64 `json:"transport_cc_malformed"`
	// Retransmission counts NACKs and resends on every PeerConnection.
	Retransmission rtx.Stats `json:"retransmission"`
}

type metrics struct {
	start              time.Time
	meetings           atomic.Int64
	sessions           atomic.Int64
	sessionsTotal      atomic.Int64
	packetsIn          atomic.Int64
	bytesIn            atomic.Int64
	packetsOut         atomic.Int64
	bytesOut           atomic.Int64
	packetsDropped     atomic.Int64
	envelopesIn        atomic.Int64
	envelopesOut       atomic.Int64
	keyframeReqs       atomic.Int64
	keyframeCoalesced  atomic.Int64
	parityOut          atomic.Int64
	parityLate         atomic.Int64
	tcpDroppedVideo    atomic.Int64
	tcpDropped         atomic.Int64
	reportsOut         atomic.Int64
	reportsDropped     atomic.Int64
	transceiversReused atomic.Int64
	droppedMessages    atomic.Int64
	rejectedTotal      atomic.Int64
	twccFeedback       atomic.Int64
	twccMalformed      atomic.Int64
	rejected           map[string]*atomic.Int64 // fixed key set, read-only after init
}

// rejectCodes are the codes counted as rejected inputs.
var rejectCodes = []string{
	signal.CodeBadMessage, signal.CodeUnknownType, signal.CodeTooBig, signal.CodeNotJoined,
	signal.CodeAlreadyJoined, signal.CodeMeetingFull, signal.CodeRelayFull, signal.CodeUnknownSession,
	signal.CodeRateLimited, signal.CodeBadSDP, signal.CodeTooManyTracks, signal.CodeUnexpected,
	signal.CodeIdle, signal.CodeSlow,
}

func newMetrics() *metrics {
	m := &metrics{start: time.Now(), rejected: make(map[string]*atomic.Int64)}
	for _, c := range rejectCodes {
		m.rejected[c] = new(atomic.Int64)
	}
	return m
}

func (m *metrics) reject(code string) {
	m.rejectedTotal.Add(1)
	if c, ok := m.rejected[code]; ok {
		c.Add(1)
	}
}

func (m *metrics) snapshot() Stats {
	s := Stats{
		Meetings:             m.meetings.Load(),
		Sessions:             m.sessions.Load(),
		SessionsTotal:        m.sessionsTotal.Load(),
		PacketsIn:            m.packetsIn.Load(),
		BytesIn:              m.bytesIn.Load(),
		PacketsOut:           m.packetsOut.Load(),
		BytesOut:             m.bytesOut.Load(),
		PacketsDropped:       m.packetsDropped.Load(),
		EnvelopesIn:          m.envelopesIn.Load(),
		EnvelopesOut:         m.envelopesOut.Load(),
		KeyframeReqs:         m.keyframeReqs.Load(),
		KeyframeCoalesced:    m.keyframeCoalesced.Load(),
		ParityOut:            m.parityOut.Load(),
		ParityLate:           m.parityLate.Load(),
		TCPVideoDropped:      m.tcpDroppedVideo.Load(),
		TCPDropped:           m.tcpDropped.Load(),
		SenderReports:        m.reportsOut.Load(),
		ReportsDropped:       m.reportsDropped.Load(),
		TransceiversReused:   m.transceiversReused.Load(),
		DroppedMessages:      m.droppedMessages.Load(),
		RejectedInputs:       m.rejectedTotal.Load(),
		Rejected:             make(map[string]int64, len(m.rejected)),
		CPUSeconds:           ProcessCPU().Seconds(),
		UptimeSeconds:        time.Since(m.start).Seconds(),
		TransportCCFeedback:  m.twccFeedback.Load(),
		TransportCCMalformed: m.twccMalformed.Load(),
	}
	for k, v := range m.rejected {
		s.Rejected[k] = v.Load()
	}
	return s
}
