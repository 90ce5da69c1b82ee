package relay

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"
)

const (
	// KeyframeInterval is the minimum gap between keyframe requests sent
	// to one publisher track, whatever its receivers ask: requests inside
	// the gap are merged into one at its end. A keyframe costs several
	// times an inter frame, for every receiver, so one lossy receiver must
	// not set the publisher's keyframe rate; but a receiver that lost its
	// picture waits up to this long for the next one, so it stays well
	// under the second in which a stuck receiver must recover
	// (docs/RELAY.md, "Retransmission and keyframes").
	KeyframeInterval = 500 * time.Millisecond
	// maxTrackIDLen bounds a publisher's track ID reused downstream.
	maxTrackIDLen = 64
	// readBufferLen holds one RTP packet (pion's receive MTU is 1460).
	readBufferLen = 1500
)

// forwarder forwards one published track to every other session.
type forwarder struct {
	r      *Relay
	pub    *session
	mid    string
	remote *webrtc.TrackRemote
	track  *fwdTrack

	mu     sync.Mutex
	subs   map[*session]*webrtc.RTPSender
	closed bool

	pliMu    sync.Mutex
	lastPLI  time.Time
	pliTimer *time.Timer

	loss downlinkLoss // audio: the worst receiver's loss, for the publisher (lossreport.go)
	srs  srTimes      // video: when sender reports were forwarded, for receivers' RTT (fecout.go)
}

// onTrack starts forwarding a track the session publishes.
func (s *session) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	mid := ""
	for _, t := range s.pc.GetTransceivers() {
		if t.Receiver() == receiver {
			mid = t.Mid()
		}
	}
	id := remote.ID()
	if !validTrackID(id) {
		id = "track-" + mid
	}
	f := &forwarder{
		r:      s.r,
		pub:    s,
		mid:    mid,
		remote: remote,
		subs:   make(map[*session]*webrtc.RTPSender),
	}
	f.track = &fwdTrack{
		id:       id,
		streamID: s.id.String(),
		kind:     remote.Kind(),
		codec:    remote.Codec().RTPCodecCapability,
		m:        s.r.m,
		onBind:   f.requestKeyframe,
	}
	// Register and subscribe everyone under the meeting lock (see admit).
	mt := s.mt
	mt.mu.Lock()
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		mt.mu.Unlock()
		return
	}
	s.published[mid] = f
	s.mu.Unlock()
	var subs []*session
	for _, o := range mt.sessions {
		if o != s && f.subscribe(o) {
			subs = append(subs, o)
		}
	}
	mt.mu.Unlock()
	s.log.Debug("forwarding track", "kind", remote.Kind().String(), "receivers", len(subs))
	for _, o := range subs {
		o.negotiate()
	}
	go f.readReports(receiver)
	f.readLoop()
}

func validTrackID(id string) bool {
	if id == "" || len(id) > maxTrackIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.{}", c) >= 0) {
			return false
		}
	}
	return true
}

// readLoop forwards packets until the publisher's track ends.
func (f *forwarder) readLoop() {
	buf := make([]byte, readBufferLen)
	var pkt rtp.Packet
	m := f.r.m
	// The limit allows a burst of one second's packets: a large keyframe.
	pps := f.r.lim.MaxTrackPacketRate
	limit := rate.NewLimiter(rate.Limit(pps), pps)
	for {
		n, _, err := f.remote.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		m.packetsIn.Add(1)
		m.bytesIn.Add(int64(n))
		if !limit.Allow() {
			m.packetsDropped.Add(1)
			continue
		}
		if len(pkt.Payload) == 0 {
			continue // padding-only probe: nothing to forward
		}
		f.track.write(&pkt)
	}
}

// subscribe adds f's track to o's PeerConnection; the caller renegotiates
// o when it returns true.
func (f *forwarder) subscribe(o *session) bool {
	f.mu.Lock()
	if f.closed || f.subs[o] != nil {
		f.mu.Unlock()
		return false
	}
	sender := o.reuseTransceiver(f.track)
	if sender == nil {
		t, err := o.pc.AddTransceiverFromTrack(f.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			f.mu.Unlock()
			return false
		}
		sender = t.Sender()
	}
	f.subs[o] = sender
	f.mu.Unlock()
	o.mu.Lock()
	o.down[f] = sender
	o.mu.Unlock()
	go f.readFeedback(sender)
	return true
}

// unsubscribe forgets a session that is leaving (its PeerConnection closes).
func (f *forwarder) unsubscribe(o *session) {
	f.mu.Lock()
	delete(f.subs, o)
	f.mu.Unlock()
}

// close stops forwarding: the track is removed from every receiver.
func (f *forwarder) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	subs := f.subs
	f.subs = nil
	f.mu.Unlock()
	for o, sender := range subs {
		o.mu.Lock()
		delete(o.down, f)
		o.mu.Unlock()
		if o.retireSender(sender) {
			o.negotiate()
		}
	}
	f.pliMu.Lock()
	if f.pliTimer != nil {
		f.pliTimer.Stop()
	}
	f.pliMu.Unlock()
}

// readFeedback reads one receiver's RTCP for a forwarded track. Reading
// lets the NACK responder answer from its buffer; PLI and FIR become a
// keyframe request to the publisher; receiver reports of audio feed the
// downlink loss report (lossreport.go).
func (f *forwarder) readFeedback(sender *webrtc.RTPSender) {
	defer f.loss.forgetReceiver(sender)
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				f.requestKeyframe()
			case *rtcp.ReceiverReport:
				f.reportDownlinkLoss(sender, p)
				if f.remote.Kind() == webrtc.RTPCodecTypeVideo {
					f.noteVideoReport(sender, p)
				}
			case *rtcp.TransportLayerNack:
				f.noteVideoNack(sender, p)
			}
		}
	}
}

// requestKeyframe sends a PLI to the publisher, at most once per
// KeyframeInterval; a request inside the interval is sent at its end, and
// further ones before then are merged into it (and counted).
func (f *forwarder) requestKeyframe() {
	if f.remote.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	f.pliMu.Lock()
	defer f.pliMu.Unlock()
	now := time.Now()
	// A pending timer wins even when the interval is over: its
	// callback may be waiting for the lock right now.
	if f.pliTimer != nil {
		f.r.m.keyframeCoalesced.Add(1)
	} else if since := now.Sub(f.lastPLI); since >= KeyframeInterval {
		f.lastPLI = now
		go f.sendPLI()
	} else {
		f.pliTimer = time.AfterFunc(KeyframeInterval-since, func() {
			f.pliMu.Lock()
			f.pliTimer = nil
			f.lastPLI = time.Now()
			f.pliMu.Unlock()
			f.sendPLI()
		})
	}
}

func (f *forwarder) sendPLI() {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return
	}
	if err := f.pub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(f.remote.SSRC())}}); err == nil {
		f.r.m.keyframeReqs.Add(1)
	}
}

// fwdTrack is the TrackLocal added to each receiver's PeerConnection. It
// writes the publisher's packets to every binding with the binding's SSRC
// and payload type; everything else but header extensions stays as sent,
// except that a video binding whose receiver loses packets also gets
// parity, with sequence numbers shifted past it (fecout.go).
type fwdTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecCapability
	m            *metrics
	onBind       func()

	mu       sync.RWMutex
	bindings []binding
}

type binding struct {
	id    string
	ssrc  uint32
	pt    uint8
	w     webrtc.TrackLocalWriter
	count *sentCount // for this receiver's sender reports (reports.go)
	fec   *fecOut    // video only: parity toward this receiver (fecout.go)
}

// sentCount is what one binding has sent; the counts wrap as RFC 3550
// §6.4.1 says.
type sentCount struct{ packets, octets atomic.Uint32 }

func (t *fwdTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.codec.MimeType) && c.ClockRate == t.codec.ClockRate {
			t.mu.Lock()
			b := binding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream(), count: new(sentCount)}
			if t.kind == webrtc.RTPCodecTypeVideo {
				b.fec = &fecOut{sent: b.count}
			}
			t.bindings = append(t.bindings, b)
			t.mu.Unlock()
			if t.onBind != nil {
				go t.onBind() // a new receiver needs a keyframe
			}
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *fwdTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, b := range t.bindings {
		if b.id == ctx.ID() {
			t.bindings = append(t.bindings[:i:i], t.bindings[i+1:]...)
			break
		}
	}
	return nil
}

func (t *fwdTrack) ID() string                { return t.id }
func (t *fwdTrack) RID() string               { return "" }
func (t *fwdTrack) StreamID() string          { return t.streamID }
func (t *fwdTrack) Kind() webrtc.RTPCodecType { return t.kind }

// write sends one packet to every receiver.
func (t *fwdTrack) write(p *rtp.Packet) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h := p.Header
	h.Extension = false
	h.Extensions = nil
	h.ExtensionProfile = 0
	h.Padding = false
	h.PaddingSize = 0
	hdrLen := int64(h.MarshalSize())
	var n, bytes, late int64
	for i := range t.bindings {
		b := &t.bindings[i]
		h.SSRC = b.ssrc
		h.PayloadType = b.pt
		if b.fec != nil {
			pk, oct, tooLate := b.writeFEC(&h, p.Payload, t.m)
			if tooLate {
				late++
			}
			n += pk
			bytes += pk*hdrLen + oct
			b.count.packets.Add(uint32(pk))
			b.count.octets.Add(uint32(oct))
			continue
		}
		if _, err := b.w.WriteRTP(&h, p.Payload); err == nil {
			n++
			bytes += hdrLen + int64(len(p.Payload))
			b.count.packets.Add(1)
			b.count.octets.Add(uint32(len(p.Payload)))
		}
	}
	t.m.packetsOut.Add(n)
	t.m.bytesOut.Add(bytes)
	t.m.parityLate.Add(late)
}
