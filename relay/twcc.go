package relay

import (
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"

	"github.com/sottohq/sotto/relay/signal"
)

// feedbackInterval is how often the relay sends each publisher
// transport-cc feedback (docs/PROTOCOL.md §4.4.1). The publisher's
// estimator reacts within one or two intervals; 50 ms of feedback costs
// a few kbit/s of the publisher's downlink.
const feedbackInterval = 50 * time.Millisecond

// newTransportCC returns the interceptors that produce transport-cc
// feedback for publishers, innermost first: a guard, then pion's feedback
// generator (twcc.SenderInterceptor, which despite its name runs on the
// receiving side).
//
// pion's generator ends the track's read on a packet whose header or
// transport-wide sequence number does not parse. The guard drops such a
// packet before it gets there and counts it (transport_cc_malformed), so
// a bad packet costs one packet, as elsewhere in the forwarding path; it
// also counts the feedback packets sent (transport_cc_feedback).
func newTransportCC(m *metrics, logs pionLogs) ([]interceptor.Factory, error) {
	gen, err := twcc.NewSenderInterceptor(twcc.SendInterval(feedbackInterval), twcc.WithLoggerFactory(logs))
	if err != nil {
		return nil, err
	}
	return []interceptor.Factory{ccGuardFactory{m: m}, gen}, nil
}

type ccGuardFactory struct{ m *metrics }

func (f ccGuardFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &ccGuard{m: f.m}, nil
}

type ccGuard struct {
	interceptor.NoOp
	m *metrics
}

// transportCCLen is the transport-wide sequence number's size (draft-holmer
// §2): 16 bits.
const transportCCLen = 2

func (g *ccGuard) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == signal.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			if attr == nil {
				attr = make(interceptor.Attributes)
			}
			h, err := attr.GetRTPHeader(b[:n])
			if err == nil {
				if ext := h.GetExtension(id); ext == nil || len(ext) >= transportCCLen {
					return n, attr, nil
				}
			}
			g.m.twccMalformed.Add(1)
			// The attributes cache the dropped packet's header.
			clear(attr)
			a = attr
		}
	})
}

func (g *ccGuard) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerCC); ok {
				g.m.twccFeedback.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}
