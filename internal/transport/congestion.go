package transport

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/sottohq/sotto/internal/bwe"
	"github.com/sottohq/sotto/relay/signal"
)

// Uplink bandwidth estimation (docs/PROTOCOL.md §4.4.1):
//  1. pion's twcc header interceptor numbers every packet sent to the
//     relay, retransmissions included, with a transport-wide sequence
//     number;
//  2. the congestion interceptor, closer to the network, records each
//     number's send time and size (bwe.History);
//  3. the relay answers with transport-cc feedback every 50 ms; the same
//     interceptor reads it from the RTCP stream and feeds the estimator
//     (package bwe);
//  4. each change of the estimate goes to the OnUplinkEstimate callback,
//     which sets the encoders' bitrates (internal/participant).

// UplinkStats describe the uplink estimate.
type UplinkStats struct {
	bwe.Stats
	// Feedback counts transport-cc feedback packets used; Rejected
	// those that were malformed (and ignored).
	Feedback, Rejected uint64
}

// ccFactory builds the congestion interceptor of each PeerConnection of
// one API; a Conn's is the last one built (Dial builds one).
type ccFactory struct {
	cfg  bwe.Config
	last atomic.Pointer[congestion]
}

func (f *ccFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	c := &congestion{est: bwe.New(f.cfg)}
	c.target.Store(int64(c.est.Target()))
	f.last.Store(c)
	return c, nil
}

// congestion records sent packets and turns the relay's transport-cc
// feedback into the estimate.
type congestion struct {
	interceptor.NoOp

	mu       sync.Mutex
	hist     bwe.History
	est      *bwe.Estimator
	results  []bwe.Result
	feedback uint64
	onChange func(bps int)

	target atomic.Int64
	// Each sender's RTCP is read on its own goroutine: updates are
	// numbered (under mu), and an older one is never delivered after a
	// newer one (under notify).
	seq       uint64
	notify    sync.Mutex
	delivered uint64
}

func (c *congestion) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == signal.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if ext := h.GetExtension(id); len(ext) >= 2 {
			size := h.MarshalSize() + len(payload)
			now := time.Now()
			c.mu.Lock()
			c.hist.Sent(binary.BigEndian.Uint16(ext), now, size)
			c.mu.Unlock()
		}
		return w.Write(h, payload, a)
	})
}

func (c *congestion) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, attr, nil // the other readers drop it
		}
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				c.onFeedback(fb)
			}
		}
		return n, attr, nil
	})
}

// onFeedback runs one feedback through the history and the estimator.
func (c *congestion) onFeedback(fb *rtcp.TransportLayerCC) {
	now := time.Now()
	c.mu.Lock()
	var err error
	c.results, err = c.hist.Feedback(fb, c.results[:0])
	if err != nil {
		c.mu.Unlock()
		return // counted in hist.Rejected
	}
	c.feedback++
	bps := c.est.Update(now, c.results)
	c.seq++
	seq, f := c.seq, c.onChange
	c.mu.Unlock()
	c.notify.Lock()
	defer c.notify.Unlock()
	if seq < c.delivered {
		return
	}
	c.delivered = seq
	if old := c.target.Swap(int64(bps)); old != int64(bps) && f != nil {
		f(bps)
	}
}

func (c *congestion) stats() UplinkStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return UplinkStats{Stats: c.est.Stats(), Feedback: c.feedback, Rejected: c.hist.Rejected}
}

func (c *congestion) setOnChange(f func(int)) {
	c.mu.Lock()
	c.onChange = f
	c.mu.Unlock()
}

// UplinkEstimate is the estimated bandwidth of the uplink to the relay,
// in bits per second (bwe.DefaultStart until the relay's first
// feedback).
func (c *Conn) UplinkEstimate() int {
	if c.cc == nil {
		return 0
	}
	return int(c.cc.target.Load())
}

// UplinkStats returns the estimator's state.
func (c *Conn) UplinkStats() UplinkStats {
	if c.cc == nil {
		return UplinkStats{}
	}
	return c.cc.stats()
}

// OnUplinkEstimate sets f to be called with each new uplink estimate,
// from the goroutine reading RTCP: f must not block.
func (c *Conn) OnUplinkEstimate(f func(bps int)) {
	if c.cc != nil {
		c.cc.setOnChange(f)
	}
}
