package transport

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sender reports (RFC 3550 §6.4.1) carry, per published track, an NTP
// timestamp and the RTP timestamp of the same instant. Receivers map the
// audio and video timestamps of one sender onto that sender's NTP clock to
// play them in sync (docs/PROTOCOL.md §5.5). Two choices differ from
// pion's report interceptor:
//
//   - The NTP clock is private: a random 64-bit origin (drawn per
//     PeerConnection) plus the monotonic time since the connection was
//     built. It runs at the rate of real time, which is all lip sync
//     needs, and tells the relay and the other members nothing about this
//     machine's wall clock. All tracks of a connection share the origin,
//     so one sender's audio and video stay comparable.
//   - The RTP timestamp of the report is taken from the media clock of the
//     track (SetMediaClock): the timestamp and capture instant of the last
//     frame, extrapolated to the report's instant. RTP timestamps follow
//     capture time (docs/PROTOCOL.md §5.3), so the report maps capture
//     instants, not the moments packets left; an encoder that takes 30 ms
//     for a picture would otherwise show every picture 30 ms late. A
//     track without a media clock falls back to the send time of the
//     first packet of its last frame, like pion's.

// Report timing.
const (
	// senderReportInterval is the time between two sender reports of a
	// track (RFC 3550 §6.2 allows 5 s; one second lets a new receiver lock
	// lip sync within about a second, for about 50 bytes per second and
	// track).
	senderReportInterval = time.Second
	// reportCheck is how often the tracks' mappings are checked for a
	// move.
	reportCheck = 100 * time.Millisecond
	// mappingMove is how far a track's mapping must move (a source
	// switch, a capture clock step) to be reported at once, and again
	// reportConfirm later: receivers ignore one report that jumps and
	// take two that agree (media/lipsync), so lip sync follows within
	// reportConfirm instead of two intervals. It is the receivers'
	// tolerance.
	mappingMove = 40 * time.Millisecond
	// reportConfirm is the least gap between two reports of a track; the
	// relay forwards at most one per 250 ms.
	reportConfirm = 300 * time.Millisecond
)

// MediaClock reports a published track's media time: the RTP timestamp ts
// of the instant at (on the local clock), and false while the track has
// produced no frame. send.Pipeline.MediaClock is one.
type MediaClock func() (ts uint32, at time.Time, ok bool)

// SetMediaClock makes the sender reports of the track sent by sender map
// RTP timestamps through clock (see MediaClock). Call it after AddTrack.
func (c *Conn) SetMediaClock(sender *webrtc.RTPSender, clock MediaClock) {
	if c.reports == nil || sender == nil || clock == nil {
		return
	}
	for _, e := range sender.GetParameters().Encodings {
		c.reports.clocks.Store(uint32(e.SSRC), clock)
	}
}

// ntpClock is the private sender-report clock of one connection.
type ntpClock struct {
	origin uint64    // NTP timestamp (RFC 5905 §6, 32.32 fixed point) of start
	start  time.Time // carries a monotonic reading
}

func newNTPClock() ntpClock {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return ntpClock{origin: binary.BigEndian.Uint64(b[:]), start: time.Now()}
}

// ntp returns the clock's reading at t: the origin plus t − start in
// NTP's 32.32 fixed point, modulo 2⁶⁴ (receivers compare readings by
// difference, so the wrap-around is harmless).
func (c ntpClock) ntp(t time.Time) uint64 {
	return c.origin + NTPDuration(t.Sub(c.start))
}

// NTPDuration converts d to NTP's 32.32 fixed point (RFC 5905 §6), two's
// complement for a negative d.
func NTPDuration(d time.Duration) uint64 {
	neg := d < 0
	mag := uint64(d)
	if neg {
		mag = -mag
	}
	sec, ns := mag/uint64(time.Second), mag%uint64(time.Second)
	v := sec<<32 + (ns<<32+uint64(time.Second)/2)/uint64(time.Second)
	if neg {
		return -v
	}
	return v
}

// reportFactory builds the sender report interceptor of each
// PeerConnection made from one API; clocks are the media clocks by SSRC.
type reportFactory struct {
	clocks   sync.Map // uint32 SSRC → MediaClock
	interval time.Duration
}

func (f *reportFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	interval := f.interval
	if interval <= 0 {
		interval = senderReportInterval
	}
	return &senderReports{f: f, clock: newNTPClock(), interval: interval, quit: make(chan struct{})}, nil
}

// senderReports writes the sender reports of one PeerConnection.
type senderReports struct {
	interceptor.NoOp
	f        *reportFactory
	clock    ntpClock
	interval time.Duration
	streams  sync.Map // uint32 SSRC → *reportStream

	closeOnce sync.Once
	quit      chan struct{}
	wg        sync.WaitGroup
}

// reportStream is what a sender report says about one local track.
type reportStream struct {
	ssrc, rate uint32

	mu              sync.Mutex
	packets, octets uint32 // wrap as RFC 3550 §6.4.1 says
	lastTS          uint32
	lastAt          time.Time // send time of the first packet of lastTS

	// Owned by the loop goroutine: the last report sent, and when the
	// next is due.
	reported   bool
	reportedAt time.Time
	reportRTP  uint32
	due        time.Time
}

func (s *senderReports) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	s.wg.Add(1)
	go s.loop(w)
	return w
}

func (s *senderReports) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	st := &reportStream{ssrc: info.SSRC, rate: info.ClockRate, due: time.Now().Add(s.interval)}
	s.streams.Store(info.SSRC, st)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		now := time.Now()
		st.mu.Lock()
		if st.packets == 0 || h.Timestamp != st.lastTS {
			st.lastTS, st.lastAt = h.Timestamp, now
		}
		st.packets++
		st.octets += uint32(len(payload))
		st.mu.Unlock()
		return w.Write(h, payload, a)
	})
}

func (s *senderReports) UnbindLocalStream(info *interceptor.StreamInfo) {
	s.streams.Delete(info.SSRC)
}

func (s *senderReports) Close() error {
	s.closeOnce.Do(func() { close(s.quit) })
	s.wg.Wait()
	return nil
}

func (s *senderReports) loop(w interceptor.RTCPWriter) {
	defer s.wg.Done()
	t := time.NewTicker(min(reportCheck, s.interval))
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		now := time.Now()
		s.streams.Range(func(_, v any) bool {
			st := v.(*reportStream)
			sr := s.report(st, now)
			if sr == nil {
				return true
			}
			moved := st.reported && now.Sub(st.reportedAt) >= reportConfirm && st.moved(sr.RTPTime, now)
			if !moved && now.Before(st.due) {
				return true
			}
			_, _ = w.Write([]rtcp.Packet{sr}, interceptor.Attributes{})
			st.reported, st.reportedAt, st.reportRTP = true, now, sr.RTPTime
			st.due = now.Add(s.interval)
			if moved {
				st.due = now.Add(reportConfirm)
			}
			return true
		})
	}
}

// moved reports whether rtp, the track's RTP time at now, is off the
// mapping of the last report by more than mappingMove.
func (st *reportStream) moved(rtp uint32, now time.Time) bool {
	want := st.reportRTP + rtpTicks(now.Sub(st.reportedAt), st.rate)
	off := int64(int32(rtp - want))
	lim := int64(rtpTicks(mappingMove, st.rate))
	return off > lim || off < -lim
}

// report is the sender report of st at now; nil before its first packet
// (RFC 3550 §6.4: a source that has sent nothing sends no SR).
func (s *senderReports) report(st *reportStream, now time.Time) *rtcp.SenderReport {
	st.mu.Lock()
	packets, octets, ts, at := st.packets, st.octets, st.lastTS, st.lastAt
	st.mu.Unlock()
	if packets == 0 {
		return nil
	}
	if c, ok := s.f.clocks.Load(st.ssrc); ok {
		if mts, mat, ok := c.(MediaClock)(); ok {
			ts, at = mts, mat
		}
	}
	return &rtcp.SenderReport{
		SSRC:        st.ssrc,
		NTPTime:     s.clock.ntp(now),
		RTPTime:     ts + rtpTicks(now.Sub(at), st.rate),
		PacketCount: packets,
		OctetCount:  octets,
	}
}

// rtpTicks is d on a rate Hz clock, modulo 2³² (framing.RTPTicks; this
// package does not import media/).
func rtpTicks(d time.Duration, rate uint32) uint32 {
	neg := d < 0
	mag := uint64(d)
	if neg {
		mag = -mag
	}
	sec, ns := mag/uint64(time.Second), mag%uint64(time.Second)
	t := uint32(sec*uint64(rate) + (ns*uint64(rate)+uint64(time.Second)/2)/uint64(time.Second))
	if neg {
		return -t
	}
	return t
}
