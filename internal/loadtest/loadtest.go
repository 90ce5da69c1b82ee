// Package loadtest drives a relay with synthetic participants and measures
// what it forwards: outbound packets per second, the relay's CPU time, loss
// and the latency the relay adds.
//
// Each participant publishes one video track (30 frames/s, 3–4 packets a
// frame: about 105 packets/s and 1.2 Mbit/s) and one audio track (50
// packets/s of 160 bytes) with paced RTP. Payloads carry the send time and a
// sequence number; the relay never reads them, the receivers do.
//
// Stages of a run:
//  1. start or reach the relay; dial every participant (meetings of
//     PerMeeting sessions) and publish;
//  2. wait until every receiver gets every track, then a warm-up;
//  3. snapshot the relay's counters and CPU, measure for Duration,
//     snapshot again;
//  4. compute rates, loss (sequence gaps per received track in the
//     window) and one-way latency percentiles (same clock on both ends),
//     against a direct peer-to-peer pair run alongside as the baseline.
package loadtest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// Options configure a run.
type Options struct {
	// URL of a relay's signaling endpoint; empty starts a relay in this
	// process (its CPU figure then includes the participants).
	URL string
	// MetricsURL of that relay (default: URL with /ws replaced by /metrics).
	MetricsURL string
	// Meetings and PerMeeting: the participants are Meetings×PerMeeting.
	Meetings, PerMeeting int
	// Warmup after every track arrived, and the measured Duration.
	Warmup, Duration time.Duration
	// VideoFPS, VideoPacketBytes, AudioPPS, AudioPacketBytes shape the
	// synthetic media (defaults 30, 1150, 50, 160).
	VideoFPS, VideoPacketBytes, AudioPPS, AudioPacketBytes int
	// NoAudio or NoVideo drop one kind.
	NoAudio, NoVideo bool
	// Setting engine hook for the participants (default loopback only).
	SettingEngine func(*webrtc.SettingEngine)
	// SocketBuffer is the participants' UDP receive buffer in bytes
	// (default 4 MiB; the kernel caps it at net.core.rmem_max).
	SocketBuffer int
	// Log receives progress lines; nil is quiet.
	Log func(format string, args ...any)
}

// Result of a run.
type Result struct {
	Participants     int
	Seconds          float64 // measured wall time
	PacketsOut       int64   // relay outbound packets in the window
	PacketsOutPerSec float64
	BitsOutPerSec    float64
	PacketsInPerSec  float64
	RelayCPUSeconds  float64 // relay process CPU in the window
	RelayCores       float64 // RelayCPUSeconds / Seconds
	PacketsPerCore   float64 // PacketsOutPerSec / RelayCores
	InProcess        bool    // CPU includes the participants
	Expected         int64   // packets the receivers should have got in the window
	Received         int64
	Lost             int64
	LossPercent      float64
	LatencyP50       time.Duration // send → receive through the relay, loopback
	LatencyP99       time.Duration
	LatencyMax       time.Duration
	// DirectP50 and DirectP99: the same video between two peers connected
	// without a relay, measured at the same time in the same process.
	DirectP50, DirectP99 time.Duration
	// AddedP50 = LatencyP50 - DirectP50: the latency the relay adds.
	AddedP50 time.Duration
}

func (o *Options) defaults() {
	if o.Meetings <= 0 {
		o.Meetings = 1
	}
	if o.PerMeeting <= 1 {
		o.PerMeeting = 2
	}
	if o.Warmup <= 0 {
		o.Warmup = 2 * time.Second
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.VideoFPS <= 0 {
		o.VideoFPS = 30
	}
	if o.VideoPacketBytes <= 0 {
		o.VideoPacketBytes = 1150
	}
	if o.AudioPPS <= 0 {
		o.AudioPPS = 50
	}
	if o.AudioPacketBytes <= 0 {
		o.AudioPacketBytes = 160
	}
	if o.SettingEngine == nil {
		o.SettingEngine = signal.LoopbackOnly
	}
	if o.SocketBuffer <= 0 {
		o.SocketBuffer = 4 << 20
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// header of a synthetic payload: send time (Unix ns) and the publisher's
// packet number.
const headerLen = 12

// recvTrack tracks what one receiver got on one remote track.
type recvTrack struct {
	mu        sync.Mutex
	measuring bool
	first     uint32 // first packet number seen while measuring
	last      uint32
	seen      map[uint32]struct{}
	lat       []time.Duration
	total     atomic.Int64 // packets at any time (readiness)
}

type participant struct {
	conn   *transport.Conn
	tracks sync.Map // remote key → *recvTrack
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Run performs one load run.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	res := Result{Participants: o.Meetings * o.PerMeeting}
	url, metricsURL := o.URL, o.MetricsURL
	var inproc *relay.Relay
	if url == "" {
		r, err := relay.New(relay.Config{LoopbackOnly: true, Limits: relay.Limits{MaxSessionsPerMeeting: o.PerMeeting}})
		if err != nil {
			return res, err
		}
		srv := httptest.NewServer(r.Handler())
		defer srv.Close()
		defer r.Shutdown(context.Background())
		inproc = r
		url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
		res.InProcess = true
	}
	if metricsURL == "" {
		metricsURL = strings.Replace(strings.Replace(strings.TrimSuffix(url, "/ws"), "wss://", "https://", 1), "ws://", "http://", 1) + "/metrics"
	}
	stats := func() (relay.Stats, error) {
		if inproc != nil {
			return inproc.Stats(), nil
		}
		return fetchStats(ctx, metricsURL)
	}
	if _, err := stats(); err != nil {
		return res, fmt.Errorf("loadtest: relay metrics: %w", err)
	}

	// 1. Dial and publish.
	pnet, err := NewBufferedNet(o.SocketBuffer)
	if err != nil {
		return res, err
	}
	var parts []*participant
	defer func() {
		for _, p := range parts {
			close(p.stop)
			p.conn.Close()
		}
		for _, p := range parts {
			p.wg.Wait()
		}
	}()
	tracksPer := 2
	if o.NoAudio || o.NoVideo {
		tracksPer = 1
	}
	for m := 0; m < o.Meetings; m++ {
		meeting := signal.NewID()
		for i := 0; i < o.PerMeeting; i++ {
			p := &participant{stop: make(chan struct{})}
			dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			conn, err := transport.Dial(dctx, transport.Config{URL: url, MeetingID: meeting, Net: pnet, SettingEngine: o.SettingEngine, OnTrack: p.onTrack})
			cancel()
			if err != nil {
				return res, fmt.Errorf("loadtest: dial participant %d: %w", len(parts), err)
			}
			p.conn = conn
			parts = append(parts, p)
			go drainEvents(conn)
		}
	}
	o.Log("%d participants joined %d meetings", len(parts), o.Meetings)
	for _, p := range parts {
		if err := p.publish(o); err != nil {
			return res, err
		}
	}
	o.Log("publishing %d tracks", len(parts)*tracksPer)

	// 2. Every receiver has every track.
	want := (o.PerMeeting - 1) * tracksPer
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := 0
		for _, p := range parts {
			if p.flowing() >= want {
				ready++
			}
		}
		if ready == len(parts) {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("loadtest: only %d of %d participants receive all %d tracks", ready, len(parts), want)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	direct, err := startDirectPair(ctx, o, pnet)
	if err != nil {
		return res, err
	}
	defer direct.close()
	o.Log("all tracks flowing; warming up %v", o.Warmup)
	time.Sleep(o.Warmup)

	// 3. Measure.
	before, err := stats()
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	for _, p := range parts {
		p.setMeasuring(true)
	}
	direct.setMeasuring(true)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.Duration):
	}
	for _, p := range parts {
		p.setMeasuring(false)
	}
	direct.setMeasuring(false)
	after, err := stats()
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(t0).Seconds()

	// 4. Figures.
	res.PacketsOut = after.PacketsOut - before.PacketsOut
	res.PacketsOutPerSec = float64(res.PacketsOut) / res.Seconds
	res.BitsOutPerSec = float64(after.BytesOut-before.BytesOut) * 8 / res.Seconds
	res.PacketsInPerSec = float64(after.PacketsIn-before.PacketsIn) / res.Seconds
	res.RelayCPUSeconds = after.CPUSeconds - before.CPUSeconds
	res.RelayCores = res.RelayCPUSeconds / res.Seconds
	if res.RelayCores > 0 {
		res.PacketsPerCore = res.PacketsOutPerSec / res.RelayCores
	}
	var lats []time.Duration
	for _, p := range parts {
		p.tracks.Range(func(_, v any) bool {
			rt := v.(*recvTrack)
			rt.mu.Lock()
			if len(rt.seen) > 0 {
				res.Expected += int64(rt.last-rt.first) + 1
				res.Received += int64(len(rt.seen))
			}
			lats = append(lats, rt.lat...)
			rt.mu.Unlock()
			return true
		})
	}
	res.Lost = res.Expected - res.Received
	if res.Expected > 0 {
		res.LossPercent = 100 * float64(res.Lost) / float64(res.Expected)
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		res.LatencyP50 = lats[len(lats)/2]
		res.LatencyP99 = lats[len(lats)*99/100]
		res.LatencyMax = lats[len(lats)-1]
	}
	res.DirectP50, res.DirectP99 = direct.percentiles()
	res.AddedP50 = res.LatencyP50 - res.DirectP50
	return res, nil
}

func fetchStats(ctx context.Context, url string) (relay.Stats, error) {
	var st relay.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("metrics: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func drainEvents(c *transport.Conn) {
	for range c.Events() {
	}
}

func (p *participant) publish(o Options) error {
	type kind struct {
		codec  webrtc.RTPCodecCapability
		id     string
		every  time.Duration
		burst  func(frame uint32) int
		size   int
		tsStep uint32
	}
	var kinds []kind
	if !o.NoVideo {
		kinds = append(kinds, kind{
			codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			id:    "video", every: time.Second / time.Duration(o.VideoFPS),
			burst: func(f uint32) int { return 3 + int(f%2) }, // 3.5 packets a frame on average
			size:  o.VideoPacketBytes, tsStep: uint32(90000 / o.VideoFPS),
		})
	}
	if !o.NoAudio {
		kinds = append(kinds, kind{
			codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
			id:    "audio", every: time.Second / time.Duration(o.AudioPPS),
			burst: func(uint32) int { return 1 },
			size:  o.AudioPacketBytes, tsStep: uint32(48000 / o.AudioPPS),
		})
	}
	for _, k := range kinds {
		track, err := webrtc.NewTrackLocalStaticRTP(k.codec, k.id, "load")
		if err != nil {
			return err
		}
		sender, err := p.conn.AddTrack(track)
		if err != nil {
			return fmt.Errorf("loadtest: publish: %w", err)
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			for {
				if _, _, err := sender.ReadRTCP(); err != nil {
					return
				}
			}
		}()
		go func(k kind) {
			defer p.wg.Done()
			tick := time.NewTicker(k.every)
			defer tick.Stop()
			payload := make([]byte, k.size)
			for i := headerLen; i < len(payload); i++ {
				payload[i] = byte(i * 7)
			}
			var seq uint16
			var n, frame uint32
			for {
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
				b := k.burst(frame)
				for j := 0; j < b; j++ {
					binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
					binary.BigEndian.PutUint32(payload[8:], n)
					pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: frame * k.tsStep, Marker: j == b-1}, Payload: payload}
					// Errors only mean the connection is going away; the
					// loop ends with p.stop.
					_ = track.WriteRTP(pkt)
					seq++
					n++
				}
				frame++
			}
		}(k)
	}
	return nil
}

func (p *participant) onTrack(rt transport.RemoteTrack) {
	t := &recvTrack{seen: make(map[uint32]struct{})}
	p.tracks.Store(rt.SessionID.String()+"/"+rt.Track.ID(), t)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := rt.Track.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < headerLen {
				continue
			}
			t.total.Add(1)
			sent := int64(binary.BigEndian.Uint64(pkt.Payload))
			num := binary.BigEndian.Uint32(pkt.Payload[8:])
			t.mu.Lock()
			if t.measuring {
				if len(t.seen) == 0 {
					t.first, t.last = num, num
				}
				if num < t.first {
					t.first = num
				}
				if num > t.last {
					t.last = num
				}
				t.seen[num] = struct{}{}
				t.lat = append(t.lat, now.Sub(time.Unix(0, sent)))
			}
			t.mu.Unlock()
		}
	}()
}

func (p *participant) flowing() int {
	n := 0
	p.tracks.Range(func(_, v any) bool {
		if v.(*recvTrack).total.Load() > 0 {
			n++
		}
		return true
	})
	return n
}

func (p *participant) setMeasuring(on bool) {
	p.tracks.Range(func(_, v any) bool {
		t := v.(*recvTrack)
		t.mu.Lock()
		t.measuring = on
		t.mu.Unlock()
		return true
	})
}

// bufNet is the operating system network with large socket receive
// buffers, so that a briefly descheduled participant (the machine runs
// many of them) loses no packets in its kernel buffer: loss measured is
// then the relay's.
type bufNet struct {
	*stdnet.Net
	size int
}

// NewBufferedNet returns the OS network with size-byte UDP receive buffers
// (capped by the kernel's net.core.rmem_max).
func NewBufferedNet(size int) (pionnet.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &bufNet{Net: n, size: size}, nil
}

func (n *bufNet) ListenUDP(network string, laddr *net.UDPAddr) (pionnet.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		_ = c.SetReadBuffer(n.size)
	}
	return c, err
}
