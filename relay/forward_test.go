package relay_test

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// Three real pion clients publish audio and video through a relay on
// loopback; every client receives every other client's tracks
// byte-identical; a leaver's tracks stop; a late joiner gets all tracks
// and each publisher gets a keyframe request.
func TestMeetingForwarding(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{})
	meeting := signal.NewID()
	cfg := transport.Config{URL: url, MeetingID: meeting}
	a, b, c := newClient(t, cfg), newClient(t, cfg), newClient(t, cfg)
	for _, cl := range []*client{a, b, c} {
		cl.publish()
	}
	all := []*client{a, b, c}
	for _, rx := range all {
		var others []*client
		for _, p := range all {
			if p != rx {
				others = append(others, p)
			}
		}
		waittest.Until(t, "every track at every receiver", 20*time.Second, func() bool { return rx.receivedAtLeast(30, others...) })
	}
	// Names: stream ID is the publisher's session, track ID the publisher's.
	for _, rx := range all {
		for _, p := range all {
			if p == rx {
				continue
			}
			for _, id := range p.trackIDs {
				st := rx.stats(p.conn.SessionID(), id)
				if st.bad.Load() != 0 {
					t.Errorf("%d altered packets on track %s", st.bad.Load(), id)
				}
			}
		}
	}

	// C leaves: A and B see it go and its tracks end.
	cSession := c.conn.SessionID()
	c.close()
	for _, rx := range []*client{a, b} {
		left := nextEvent[transport.PeerLeft](t, rx.conn, 5*time.Second)
		if left.ID != cSession {
			t.Fatalf("peer-left for %s, want %s", left.ID, cSession)
		}
		waittest.Until(t, "the leaver's tracks to end", 5*time.Second, func() bool {
			for _, id := range c.trackIDs {
				if !rx.stats(cSession, id).ended.Load() {
					return false
				}
			}
			return true
		})
	}

	// D joins late: it receives A's and B's tracks, and A's and B's video
	// senders see a keyframe request.
	plisA, plisB := a.plis.Load(), b.plis.Load()
	d := newClient(t, cfg)
	if got := len(d.conn.Peers()); got != 2 {
		t.Fatalf("late joiner sees %d peers, want 2", got)
	}
	waittest.Until(t, "late joiner receiving all tracks", 20*time.Second, func() bool { return d.receivedAtLeast(30, a, b) })
	waittest.Until(t, "keyframe requests at both publishers", 5*time.Second, func() bool {
		return a.plis.Load() > plisA && b.plis.Load() > plisB
	})
	if d.stats(cSession, c.trackIDs[0]) != nil {
		t.Fatalf("late joiner received a track of a session that left")
	}
	st := r.Stats()
	if st.PacketsOut == 0 || st.PacketsIn == 0 || st.KeyframeReqs == 0 {
		t.Fatalf("counters not moving: %+v", st)
	}
	t.Logf("relay stats: in=%d out=%d plis=%d", st.PacketsIn, st.PacketsOut, st.KeyframeReqs)
	if st.Meetings != 1 || st.Sessions != 3 {
		t.Fatalf("meetings=%d sessions=%d, want 1 and 3", st.Meetings, st.Sessions)
	}
}

// A publisher stops one track: receivers' copy ends, the other track keeps
// flowing, and a keyframe request sent by a receiver reaches the publisher.
func TestUnpublishAndKeyframeRequest(t *testing.T) {
	_, url := relaytest.Start(t, relay.Config{})
	cfg := transport.Config{URL: url, MeetingID: signal.NewID()}
	pub, sub := newClient(t, cfg), newClient(t, cfg)
	pub.publish()
	waittest.Until(t, "both tracks", 20*time.Second, func() bool { return sub.receivedAtLeast(10, pub) })

	// The receiver asks for a keyframe on the video track.
	video := sub.stats(pub.conn.SessionID(), pub.trackIDs[0])
	before := pub.plis.Load()
	if err := sub.conn.RequestKeyframe(video.ssrc); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "the receiver's PLI at the publisher", 5*time.Second, func() bool { return pub.plis.Load() > before })

	// Unpublish video.
	var videoSender *webrtc.RTPSender
	for _, tr := range pub.conn.PeerConnection().GetTransceivers() {
		if s := tr.Sender(); s != nil && s.Track() != nil && s.Track().ID() == pub.trackIDs[0] {
			videoSender = s
		}
	}
	if videoSender == nil {
		t.Fatal("video sender not found")
	}
	if err := pub.conn.RemoveTrack(videoSender); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "the unpublished track to end", 5*time.Second, func() bool { return video.ended.Load() })
	audio := sub.stats(pub.conn.SessionID(), pub.trackIDs[1])
	n := audio.good.Load()
	waittest.Until(t, "audio to keep flowing", 5*time.Second, func() bool { return audio.good.Load() > n+10 })
	if audio.ended.Load() {
		t.Fatal("audio ended with the video")
	}
}

// A publisher flooding RTP is held to the per-track packet rate: the excess
// is dropped and counted, not forwarded.
func TestRTPFloodCapped(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{Limits: relay.Limits{MaxTrackPacketRate: 100}})
	cfg := transport.Config{URL: url, MeetingID: signal.NewID()}
	pub, sub := newClient(t, cfg), newClient(t, cfg)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "flood", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.conn.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	pub.trackIDs = []string{"flood"}
	// Trickle until the receiver has the track, then flood.
	var n uint32
	send := func() {
		track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 3000}, Payload: payloadFor("flood", n)})
		n++
	}
	waittest.Until(t, "the track at the receiver", 20*time.Second, func() bool {
		send()
		return sub.receivedAtLeast(1, pub)
	})
	start := time.Now()
	base := sub.stats(pub.conn.SessionID(), "flood").good.Load()
	before := r.Stats()
	const flood = 3000
	for i := 0; i < flood; i++ {
		send()
		if i%100 == 99 {
			// Pacing, not synchronisation: bursts of 100 fit the kernel's
			// socket buffer, and the flood is still ~30× the limit.
			time.Sleep(time.Millisecond)
		}
	}
	// The relay has read most of the flood (loopback may lose some of it
	// under load; half is still 15× what the limit lets through).
	waittest.Until(t, "the flood at the relay", 5*time.Second, func() bool { return r.Stats().PacketsIn-before.PacketsIn >= flood/2 })
	elapsed := time.Since(start)
	after := r.Stats()
	// The bucket holds at most a burst (100) when the flood starts and
	// refills at 100/s; 20 packets of slack for timing.
	allowed := int64(100 + 100*elapsed.Seconds() + 20)
	forwarded := after.PacketsOut - before.PacketsOut
	got := sub.stats(pub.conn.SessionID(), "flood").good.Load() - base
	t.Logf("flood of %d in %v: relay read %d, forwarded %d, dropped %d; receiver got %d", flood, elapsed, after.PacketsIn-before.PacketsIn, forwarded, after.PacketsDropped-before.PacketsDropped, got)
	if forwarded > allowed || got > allowed {
		t.Fatalf("relay forwarded %d and the receiver got %d packets of a flood, limit allows about %d", forwarded, got, allowed)
	}
	if after.PacketsDropped-before.PacketsDropped < int64(flood/2)-allowed {
		t.Fatalf("relay counted %d drops of a flood of %d", after.PacketsDropped-before.PacketsDropped, flood)
	}
}
