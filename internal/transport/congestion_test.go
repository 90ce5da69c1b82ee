package transport_test

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/bwe"
	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// A publisher's packets carry transport-wide sequence numbers, the real
// relay answers with transport-cc feedback, and the publisher's estimate
// rises from its start while it sends more than the start allows.
func TestUplinkEstimateFromRelayFeedback(t *testing.T) {
	r := relaytest.New(t, relay.Config{})
	c, err := dial(t, r, signal.NewID())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.UplinkEstimate(); got != bwe.DefaultStart {
		t.Fatalf("estimate before feedback %d, want the start %d", got, bwe.DefaultStart)
	}
	changes := make(chan int, 1024)
	c.OnUplinkEstimate(func(bps int) {
		select {
		case changes <- bps:
		default:
		}
	})
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "sotto")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := c.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	// RTCP, feedback included, passes the interceptors as it is read.
	go func() {
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	// 1000-byte packets every 5 ms: 1.6 Mbit/s on loopback.
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 1000)
		for n := uint16(0); ; n++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n/6) * 3000, Marker: n%6 == 5}, Payload: payload})
		}
	}()
	waittest.Until(t, "the estimate to pass 600 kbit/s", 15*time.Second, func() bool { return c.UplinkEstimate() > 600_000 })
	st := c.UplinkStats()
	if st.Feedback == 0 || st.Rejected != 0 || st.Received == 0 {
		t.Fatalf("uplink stats %+v", st)
	}
	if r.Stats().TransportCCFeedback == 0 {
		t.Fatal("the relay counted no feedback sent")
	}
	select {
	case bps := <-changes:
		if bps <= 0 {
			t.Fatalf("callback with %d", bps)
		}
	default:
		t.Fatal("OnUplinkEstimate never called")
	}
	t.Logf("uplink %+v", st)
}
