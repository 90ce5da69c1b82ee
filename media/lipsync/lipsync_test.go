package lipsync_test

import (
	"errors"
	"image"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sottohq/sotto/media/lipsync"
)

// ntp is a report-clock time d after an arbitrary origin near the top of
// the 64-bit range, so the tests cross the wrap-around.
func ntp(d time.Duration) uint64 {
	return 0xffffffff_00000000 + uint64(d/time.Millisecond)<<32/1000
}

func TestClockFollowsDriftIgnoresJumpsUntilConfirmed(t *testing.T) {
	c := lipsync.NewClock(90000)
	if _, ok := c.At(0); ok {
		t.Fatal("a clock without reports maps timestamps")
	}
	const ts0 = 4294000000 // wraps within the test
	if err := c.Report(ntp(0), ts0); err != nil {
		t.Fatal(err)
	}
	// at is the mapping of ts to the microsecond (NTP fractions round).
	at := func(ts uint32) time.Duration {
		v, ok := c.At(ts)
		if !ok {
			t.Fatal("no mapping")
		}
		return lipsync.NTPSub(v, ntp(0)).Round(time.Microsecond)
	}
	if d := at(ts0 + 90000); d != time.Second {
		t.Fatalf("one second of video maps to %v", d)
	}
	// 10 ms of jitter one second later: taken.
	if err := c.Report(ntp(time.Second+10*time.Millisecond), ts0+90000); err != nil {
		t.Fatalf("jittered report: %v", err)
	}
	if d := at(ts0 + 90000); d != time.Second+10*time.Millisecond {
		t.Fatalf("after jitter: %v", d)
	}
	// A 3 s jump (a forged report, or a sender that changed its mapping):
	// ignored once ...
	if err := c.Report(ntp(5*time.Second), ts0+2*90000); !errors.Is(err, lipsync.ErrJump) {
		t.Fatalf("jump taken: %v", err)
	}
	if d := at(ts0 + 2*90000); d != 2*time.Second+10*time.Millisecond {
		t.Fatalf("jump moved the mapping: %v", d)
	}
	// ... a jump elsewhere does not confirm it ...
	if err := c.Report(ntp(9*time.Second), ts0+3*90000); !errors.Is(err, lipsync.ErrJump) {
		t.Fatalf("unconfirmed jump taken: %v", err)
	}
	// ... but the same jump twice is taken.
	if err := c.Report(ntp(10*time.Second), ts0+4*90000); err != nil {
		t.Fatalf("confirmed jump: %v", err)
	}
	if d := at(ts0 + 4*90000); d != 10*time.Second {
		t.Fatalf("after the confirmed jump: %v", d)
	}
}

// playing is a fake audio output position.
type playing struct {
	ts uint32
	at time.Time
	ok bool
}

func (p *playing) get() (uint32, time.Time, bool) { return p.ts, p.at, p.ok }

func TestHoldAlignsPictureWithItsSound(t *testing.T) {
	now := time.Unix(1000, 0)
	out := &playing{}
	s := lipsync.New(lipsync.Config{AudioRate: 48000, VideoRate: 90000, Playing: out.get, OutputLatency: 10 * time.Millisecond})
	const aTS, vTS = 1_000_000, 7_000_000
	if h := s.Hold(vTS, now); h != 0 {
		t.Fatalf("held %v without reports or audio", h)
	}
	// Both tracks: their timestamps aTS and vTS were captured at report
	// time 0.
	if err := s.AudioReport(ntp(0), aTS); err != nil {
		t.Fatal(err)
	}
	if err := s.VideoReport(ntp(0), vTS); err != nil {
		t.Fatal(err)
	}
	if h := s.Hold(vTS, now); h != 0 {
		t.Fatalf("held %v with no audio playing", h)
	}
	// The device took the audio of capture instant 100 ms 5 ms ago; it is
	// heard 10 ms after that, 5 ms from now. A picture of instant 200 ms
	// is heard 105 ms from now.
	*out = playing{ts: aTS + 4800, at: now.Add(-5 * time.Millisecond), ok: true}
	if h := s.Hold(vTS+18000, now); h.Round(time.Microsecond) != 105*time.Millisecond {
		t.Fatalf("hold %v, want 105ms", h)
	}
	// A picture of instant 50 ms: its sound is already heard.
	if h := s.Hold(vTS+4500, now); h != 0 {
		t.Fatalf("late picture held %v", h)
	}
	// A picture 2 s ahead of the sound (a forged report could claim it):
	// held at most MaxHold.
	if h := s.Hold(vTS+2*90000, now); h != lipsync.DefaultMaxHold {
		t.Fatalf("hold %v, want the %v bound", h, lipsync.DefaultMaxHold)
	}
	// A device that stopped calling back is not playing.
	if h := s.Hold(vTS+18000, now.Add(time.Second)); h != 0 {
		t.Fatalf("held %v against stale audio", h)
	}
	st := s.Stats()
	if st.Reports != 2 || st.Held != 2 || st.Late != 1 || st.Clamped != 1 || st.Unsynced != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func picture(v byte) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, 4, 4), image.YCbCrSubsampleRatio420)
	img.Y[0] = v
	return img
}

// The queue renders copies at their due times, in order (a picture due
// earlier than one queued before it waits for it), drops the oldest when
// full, and Close ends it with pictures still held.
func TestQueueRendersInOrderAtDueTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type shown struct {
			v  byte
			at time.Duration
		}
		var (
			mu  sync.Mutex
			got []shown
		)
		start := time.Now()
		q := lipsync.NewQueue(func(img *image.YCbCr) {
			mu.Lock()
			got = append(got, shown{img.Y[0], time.Since(start)})
			mu.Unlock()
		}, 3)
		src := picture(1)
		q.Push(src, start.Add(50*time.Millisecond))
		src.Y[0] = 2 // the queue holds its own copy
		q.Push(src, start.Add(20*time.Millisecond))
		q.Push(picture(3), start.Add(80*time.Millisecond))
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		want := []shown{{1, 50 * time.Millisecond}, {2, 50 * time.Millisecond}, {3, 80 * time.Millisecond}}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("rendered %v, want %v", got, want)
		}
		got = nil
		mu.Unlock()
		// Overflow: five pictures into three places.
		now := time.Now()
		for v := byte(10); v < 15; v++ {
			q.Push(picture(v), now.Add(time.Duration(v)*time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		if len(got) != 3 || got[0].v != 12 || got[2].v != 14 {
			t.Fatalf("after overflow rendered %v, want 12, 13, 14", got)
		}
		mu.Unlock()
		if st := q.Stats(); st.Dropped != 2 || st.Rendered != 6 {
			t.Fatalf("stats %+v", st)
		}
		q.Push(picture(20), time.Now().Add(time.Hour))
		q.Close()
		q.Push(picture(21), time.Now()) // after Close: ignored
		synctest.Wait()
		if st := q.Stats(); st.Rendered != 6 {
			t.Fatalf("rendered after Close: %+v", st)
		}
	})
}
