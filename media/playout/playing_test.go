package playout_test

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/media/playout"
)

// PlayingRTP follows the samples handed to the device: nothing before the
// buffer plays, then the first sample of each block read and when it was
// read, including the samples that conceal a lost packet; nothing once the
// buffer has run dry.
func TestMixerPlayingRTP(t *testing.T) {
	m := playout.NewMixer()
	if _, _, ok := m.PlayingRTP("a"); ok {
		t.Fatal("an unknown sender is playing")
	}
	for i := range 4 {
		if i == 2 {
			continue // lost: concealed
		}
		if err := m.PushPCM("a", base+uint32(i*playout.FrameSamples), sineFrames[i]); err != nil {
			t.Fatal(err)
		}
	}
	block := make([]float32, playout.FrameSamples/2) // a 10 ms device period
	want := base
	for n := range 8 {
		before := time.Now()
		m.Read(block)
		ts, at, ok := m.PlayingRTP("a")
		if !ok || ts != want || at.Before(before) || at.After(time.Now()) {
			t.Fatalf("block %d: PlayingRTP = %d, %v, %v; want %d at the read", n, ts, at, ok, want)
		}
		want += uint32(len(block))
	}
	// Four frames of concealment, then the buffer stops playing.
	for range 8 + 1 {
		m.Read(block)
	}
	if ts, _, ok := m.PlayingRTP("a"); ok {
		t.Fatalf("still playing at %d after running dry", ts)
	}
}
