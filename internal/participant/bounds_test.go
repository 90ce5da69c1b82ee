package participant

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/relay/signal"
)

// The relay decides which tracks a participant receives: beyond the bound
// of running receive pipelines, tracks are refused and counted, and the
// tracks already running carry on.
func TestRemoteTracksAreBounded(t *testing.T) {
	old := maxRemoteTracks
	maxRemoteTracks = 1
	t.Cleanup(func() { maxRemoteTracks = old })

	url := startRelay(t)
	meeting := signal.NewID()
	w := newWorld()
	a := w.join(t, url, meeting, 10, nil)
	b := w.join(t, url, meeting, 11, nil)
	for _, m := range []*member{a, b} {
		for _, o := range []*member{a, b} {
			if o != m {
				if err := m.p.SetReceiveKey(o.sid, o.kid, o.key); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := m.p.SetSendKey(m.kid, m.key); err != nil {
			t.Fatal(err)
		}
	}
	// Each receives the other's audio and video track: one of the two
	// runs and decodes, the other is refused.
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range []*member{a, b} {
		for {
			st := m.p.Stats()
			decoding := 0
			for _, r := range st.Remotes {
				if r.Video != nil && r.Video.FramesDecoded > 0 {
					decoding++
				}
				if r.Audio != nil && r.Audio.FramesDecoded > 0 {
					decoding++
				}
			}
			if st.RefusedTracks == 1 && decoding == 1 {
				break
			}
			if st.RefusedTracks > 1 || decoding > 1 {
				t.Fatalf("%d tracks refused, %d decoding; want 1 and 1", st.RefusedTracks, decoding)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d tracks refused, %d decoding; want 1 and 1", st.RefusedTracks, decoding)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
