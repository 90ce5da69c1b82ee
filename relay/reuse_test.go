package relay_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// mLines counts the media sections of the last offer c applied.
func mLines(c *client) (int, int) {
	d := c.conn.PeerConnection().RemoteDescription()
	if d == nil {
		return 0, 0
	}
	return strings.Count(d.SDP, "\nm="), len(d.SDP)
}

// Anyone holding a meeting ID can join, publish and leave in a loop. A
// receiver's PeerConnection must not keep one m-line per track ever
// forwarded: the relay reuses the inactive transceivers of tracks that
// ended, so the receiver's offers stay bounded by the tracks live at once,
// and a later publisher's media still arrives intact, under its own
// session, on a reused m-line.
func TestRejoinLoopKeepsOffersBounded(t *testing.T) {
	const (
		rounds = 30
		// Two tracks live at once (the looping session's audio and
		// video), plus a little slack for a track that starts before the
		// previous one's removal is negotiated.
		maxMLines = 4
	)
	r, url := relaytest.Start(t, relay.Config{})
	cfg := transport.Config{URL: url, MeetingID: signal.NewID()}
	honest := newClient(t, cfg)
	var firstSize int
	for i := 0; i < rounds; i++ {
		a := newClient(t, cfg)
		a.publish()
		waittest.Until(t, fmt.Sprintf("round %d: the looping session's tracks at the receiver", i), 20*time.Second, func() bool { return honest.receivedAtLeast(3, a) })
		sid := a.conn.SessionID()
		a.close()
		waittest.Until(t, fmt.Sprintf("round %d: the looping session's tracks to end", i), 10*time.Second, func() bool {
			for _, id := range a.trackIDs {
				if !honest.stats(sid, id).ended.Load() {
					return false
				}
			}
			return true
		})
		for _, id := range a.trackIDs {
			if st := honest.stats(sid, id); st.bad.Load() != 0 {
				t.Fatalf("round %d: %d altered packets on %s", i, st.bad.Load(), id)
			}
		}
		n, size := mLines(honest)
		if i == 0 {
			firstSize = size
		}
		if n > maxMLines {
			t.Fatalf("after %d join-publish-leave rounds the receiver's offer has %d m-lines (%d bytes), want at most %d", i+1, n, size, maxMLines)
		}
	}
	n, size := mLines(honest)
	t.Logf("after %d rounds: %d m-lines, %d bytes (after round 1: %d bytes)", rounds, n, size, firstSize)
	if size > 2*firstSize {
		t.Fatalf("offer grew from %d to %d bytes", firstSize, size)
	}
	if got := r.Stats().TransceiversReused; got < 2*(rounds-1) {
		t.Fatalf("%d transceivers reused in %d rounds of two tracks, want at least %d", got, rounds, 2*(rounds-1))
	}
	oldMids := make(map[string]bool)
	for _, tr := range honest.conn.PeerConnection().GetTransceivers() {
		oldMids[tr.Mid()] = true
	}

	// A fresh publisher's tracks reach the receiver byte-identical, named
	// by its own session, through transceivers that carried earlier tracks.
	p := newClient(t, cfg)
	p.publish()
	waittest.Until(t, "the fresh publisher's tracks", 20*time.Second, func() bool { return honest.receivedAtLeast(30, p) })
	for _, id := range p.trackIDs {
		st := honest.stats(p.conn.SessionID(), id)
		if st.bad.Load() != 0 {
			t.Fatalf("%d altered packets on %s", st.bad.Load(), id)
		}
		if st.ended.Load() {
			t.Fatalf("track %s ended", id)
		}
		found := false
		for _, tr := range honest.conn.PeerConnection().GetTransceivers() {
			rx := tr.Receiver()
			if rx == nil || rx.Track() == nil || rx.Track().ID() != id {
				continue
			}
			found = true
			if got := rx.Track().StreamID(); got != p.conn.SessionID().String() {
				t.Fatalf("track %s attributed to %q, want %q", id, got, p.conn.SessionID())
			}
			if !oldMids[tr.Mid()] {
				t.Fatalf("track %s arrived on a new m-line %q, not a reused one", id, tr.Mid())
			}
		}
		if !found {
			t.Fatalf("no transceiver receives %s", id)
		}
	}
	if n, size := mLines(honest); n > maxMLines {
		t.Fatalf("with the fresh publisher the offer has %d m-lines (%d bytes), want at most %d", n, size, maxMLines)
	}
}

// A spare m-line stays usable while later offers go by: the receiver
// publishes its own tracks (two offers with the spare m-lines in them)
// before a new publisher's tracks take the spares.
func TestSpareMLinesSurviveLaterOffers(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{})
	cfg := transport.Config{URL: url, MeetingID: signal.NewID()}
	rx := newClient(t, cfg)
	first := newClient(t, cfg)
	first.publish()
	waittest.Until(t, "the first publisher's tracks", 20*time.Second, func() bool { return rx.receivedAtLeast(3, first) })
	sid := first.conn.SessionID()
	first.close()
	waittest.Until(t, "the first publisher's tracks to end", 10*time.Second, func() bool {
		return rx.stats(sid, first.trackIDs[0]).ended.Load() && rx.stats(sid, first.trackIDs[1]).ended.Load()
	})
	spares := make(map[string]bool)
	for _, tr := range rx.conn.PeerConnection().GetTransceivers() {
		spares[tr.Mid()] = true
	}
	if len(spares) != 2 {
		t.Fatalf("%d m-lines after one publisher left, want 2", len(spares))
	}

	// The receiver's own upload slots: new offers, spares parked in each.
	before := rx.conn.PeerConnection().RemoteDescription().SDP
	rx.publish() // returns when both slots' offers are answered
	for _, tr := range rx.conn.PeerConnection().GetTransceivers() {
		if spares[tr.Mid()] && tr.Sender() != nil && tr.Sender().Track() != nil {
			t.Fatalf("the receiver's upload took the forwarded m-line %s", tr.Mid())
		}
	}
	if rx.conn.PeerConnection().RemoteDescription().SDP == before {
		t.Fatal("publishing did not renegotiate the receiver")
	}

	next := newClient(t, cfg)
	next.publish()
	waittest.Until(t, "the next publisher's tracks", 20*time.Second, func() bool { return rx.receivedAtLeast(30, next) })
	waittest.Until(t, "the receiver's tracks at the next publisher", 20*time.Second, func() bool { return next.receivedAtLeast(30, rx) })
	for _, id := range next.trackIDs {
		st := rx.stats(next.conn.SessionID(), id)
		if st.bad.Load() != 0 {
			t.Fatalf("%d altered packets on %s", st.bad.Load(), id)
		}
		found := false
		for _, tr := range rx.conn.PeerConnection().GetTransceivers() {
			if x := tr.Receiver(); x != nil && x.Track() != nil && x.Track().ID() == id {
				found = true
				if !spares[tr.Mid()] {
					t.Fatalf("track %s on m-line %s, want a spare one", id, tr.Mid())
				}
				if x.Track().StreamID() != next.conn.SessionID().String() {
					t.Fatalf("track %s attributed to %q", id, x.Track().StreamID())
				}
			}
		}
		if !found {
			t.Fatalf("no transceiver receives %s", id)
		}
	}
	if got := r.Stats().TransceiversReused; got != 2 {
		t.Fatalf("%d transceivers reused, want 2", got)
	}
	// Two spare m-lines reused, two upload slots: nothing else.
	if n, _ := mLines(rx); n != 4 {
		t.Fatalf("receiver's offer has %d m-lines, want 4", n)
	}
}
