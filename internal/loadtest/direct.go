package loadtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"
	pionnet "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
)

// directPair is the latency baseline: one publisher and one receiver
// connected to each other without a relay, with the same pion stack, in the
// same process, sending the same video, at the same time as the load. The
// relay's added latency is the relay path's minus this path's.
type directPair struct {
	tx, rx *webrtc.PeerConnection
	stop   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	measuring bool
	lat       []time.Duration
}

func startDirectPair(ctx context.Context, o Options, n pionnet.Net) (*directPair, error) {
	api, err := transport.NewAPI(transport.Config{Net: n, SettingEngine: o.SettingEngine})
	if err != nil {
		return nil, err
	}
	d := &directPair{stop: make(chan struct{})}
	if d.tx, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, err
	}
	if d.rx, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		d.tx.Close()
		return nil, err
	}
	fail := func(err error) (*directPair, error) {
		d.close()
		return nil, fmt.Errorf("loadtest: direct pair: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "direct")
	if err != nil {
		return fail(err)
	}
	sender, err := d.tx.AddTrack(track)
	if err != nil {
		return fail(err)
	}
	got := make(chan struct{})
	var once sync.Once
	d.rx.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		once.Do(func() { close(got) })
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < headerLen {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(pkt.Payload))
			d.mu.Lock()
			if d.measuring {
				d.lat = append(d.lat, now.Sub(time.Unix(0, sent)))
			}
			d.mu.Unlock()
		}
	})
	// Signal in-process, without trickle.
	offer, err := d.tx.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gTx := webrtc.GatheringCompletePromise(d.tx)
	if err := d.tx.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	<-gTx
	if err := d.rx.SetRemoteDescription(*d.tx.LocalDescription()); err != nil {
		return fail(err)
	}
	answer, err := d.rx.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gRx := webrtc.GatheringCompletePromise(d.rx)
	if err := d.rx.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	<-gRx
	if err := d.tx.SetRemoteDescription(*d.rx.LocalDescription()); err != nil {
		return fail(err)
	}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer d.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(o.VideoFPS))
		defer tick.Stop()
		payload := make([]byte, o.VideoPacketBytes)
		var seq uint16
		var frame uint32
		for {
			select {
			case <-d.stop:
				return
			case <-tick.C:
			}
			b := 3 + int(frame%2)
			for j := 0; j < b; j++ {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: frame * 3000, Marker: j == b-1}, Payload: payload})
				seq++
			}
			frame++
		}
	}()
	select {
	case <-got:
		return d, nil
	case <-time.After(20 * time.Second):
		return fail(fmt.Errorf("no media"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

func (d *directPair) setMeasuring(on bool) {
	d.mu.Lock()
	d.measuring = on
	d.mu.Unlock()
}

func (d *directPair) percentiles() (p50, p99 time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.lat) == 0 {
		return 0, 0
	}
	l := slices.Clone(d.lat)
	slices.Sort(l)
	return l[len(l)/2], l[len(l)*99/100]
}

func (d *directPair) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.tx.Close()
	d.rx.Close()
	d.wg.Wait()
}
