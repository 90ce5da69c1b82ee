package meetingnet

import (
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/relay/signal"
)

// TestRelaySwapsTracks: the relay names the publisher of every track it
// forwards (the stream ID), so it can present a's media as b's and b's as
// a's. Receive keys are bound to their sender's session: the swapped
// frames are dropped and counted as authentication failures, never shown
// under the wrong member.
func TestRelaySwapsTracks(t *testing.T) {
	e := newEvilRelay(t)
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{media: true})
	inv := host.s.Invite()
	a := start(t, e, "a", mid, &inv, memberOpts{media: true})
	b := start(t, e, "b", mid, &inv, memberOpts{media: true})
	hs, as, bs := host.sid(), a.sid(), b.sid()
	// Nothing is sent before a send key, so no track is forwarded yet.
	e.setHook(func(client string, dir direction, m signal.Message) []signal.Message {
		if o, ok := m.(signal.Offer); ok && dir == toClient && client == hs {
			sdp := strings.ReplaceAll(o.SDP, as, "\x00")
			sdp = strings.ReplaceAll(sdp, bs, as)
			o.SDP = strings.ReplaceAll(sdp, "\x00", bs)
			return []signal.Message{o}
		}
		return []signal.Message{m}
	})
	admit(t, host, a)
	requireConverged(t, host, a)
	admit(t, host, b)
	requireConverged(t, host, a, b)
	// a and b, whose offers are untouched, see each other.
	waitFor(t, "a and b to decode each other", 20*time.Second, func() bool {
		return decodedUnder(a, b) >= 5 && decodedUnder(b, a) >= 5
	})
	waitFor(t, "the host to reject the swapped frames", 20*time.Second, func() bool {
		f := failures(host, []*member{a, b})
		return f[as] >= 5 && f[bs] >= 5
	})
	index := func(m *member) uint64 { return *m.s.Snapshot().SendKID >> 8 & 0xff }
	host.mu.Lock()
	defer host.mu.Unlock()
	for _, m := range []*member{a, b} {
		for kid, n := range host.decoded[m.sid()] {
			if kid>>8&0xff != index(m) {
				t.Fatalf("the host decoded %d frames of another member's key %#x under %s's session", n, kid, m.name)
			}
		}
	}
}
