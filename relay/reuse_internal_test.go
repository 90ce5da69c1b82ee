package relay

import (
	"testing"
	"testing/synctest"

	"github.com/pion/webrtc/v4"
)

// A placeholder sender parked while its session is closing is never
// started or stopped by its (closed) PeerConnection: its RTCP drain must
// still end with the session, or a goroutine is left behind per retired
// track.
func TestDrainSenderEndsWithSession(t *testing.T) {
	synctest.Test(t, testDrainSenderEndsWithSession)
}

func testDrainSenderEndsWithSession(t *testing.T) {
	api := webrtc.NewAPI()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track := idleTrack{kind: webrtc.RTPCodecTypeVideo}
	sender, err := api.NewRTPSender(track, pc.SCTP().Transport())
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		drainSender(sender, quit)
		close(done)
	}()
	synctest.Wait() // the drain is blocked in its read
	select {
	case <-done:
		t.Fatal("drain ended before the session did")
	default:
	}
	close(quit)
	synctest.Wait()
	select {
	case <-done:
	default:
		t.Fatal("drain still waiting after the session ended")
	}
}
