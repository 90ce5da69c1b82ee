package signal

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Payload types of the codecs. Client and relay register the same table,
// so a forwarded packet needs no payload type mapping in the common case.
const (
	// PayloadTypeVP8 is the dynamic RTP payload type of VP8 video (RFC 7741).
	PayloadTypeVP8 = 96
	// PayloadTypeOpus is the dynamic RTP payload type of Opus audio (RFC 7587).
	PayloadTypeOpus = 111
)

// RegisterCodecs registers the codecs of the media contract: VP8 (payload
// type 96) with NACK, PLI and FIR feedback (RFC 4585, RFC 5104), and Opus
// (111) with in-band FEC and constant bitrate (RFC 7587 §6.1; DTX is off,
// the default). Client and relay both call it, so the two sides
// offer and answer from one table.
func RegisterCodecs(m *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        PayloadTypeVP8,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return fmt.Errorf("signal: register vp8: %w", err)
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1;cbr=1"},
		PayloadType:        PayloadTypeOpus,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("signal: register opus: %w", err)
	}
	return nil
}

// TransportCCURI names the transport-wide sequence number header
// extension (draft-holmer-rmcat-transport-wide-cc-extensions-01): every
// packet a client sends to the relay carries one, and the relay answers
// with transport-cc feedback (RTCP RTPFB FMT 15) on which the client
// estimates its uplink (docs/PROTOCOL.md §4.4.1).
const TransportCCURI = sdp.TransportCCURI

// RegisterTransportCC registers the transport-wide sequence number for
// audio and video m-lines of direction dir: the client registers it for
// what it sends (sendonly), the relay for what it receives (recvonly), so
// the relay's forwarded tracks never negotiate it.
func RegisterTransportCC(m *webrtc.MediaEngine, dir webrtc.RTPTransceiverDirection) error {
	for _, typ := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: TransportCCURI}, typ, dir); err != nil {
			return fmt.Errorf("signal: register transport-cc: %w", err)
		}
	}
	return nil
}

// LoopbackOnly restricts ICE to IPv4 loopback without mDNS: for tests, and
// for a relay and clients on the same machine. Use it as a
// SettingEngine hook on either side.
func LoopbackOnly(se *webrtc.SettingEngine) {
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
}
