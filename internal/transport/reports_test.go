package transport

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// ntpEpochOffset is the NTP timestamp of the Unix epoch (RFC 5905 §6:
// 70 years, 17 of them leap years).
const ntpEpochOffset = 2208988800

// wallNTP is what a sender report on the wall clock would carry for t.
func wallNTP(t time.Time) uint64 {
	return NTPDuration(time.Duration(t.UnixNano())) + ntpEpochOffset<<32
}

// ntpSeconds is the signed difference a − b of two NTP timestamps.
func ntpSeconds(a, b uint64) float64 { return float64(int64(a-b)) / (1 << 32) }

type srLog struct {
	mu  sync.Mutex
	srs []*rtcp.SenderReport
}

func (l *srLog) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pkts {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			l.srs = append(l.srs, sr)
		}
	}
	return 0, nil
}

func (l *srLog) last(ssrc uint32) *rtcp.SenderReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.srs) - 1; i >= 0; i-- {
		if l.srs[i].SSRC == ssrc {
			return l.srs[i]
		}
	}
	return nil
}

// The NTP time of this client's sender reports is not its wall clock: it
// is off by a random amount (here: more than an hour either way, which a
// uniform 64-bit origin misses with probability 2 h / 2³² s ≈ 1.7·10⁻⁶),
// different for each connection. The
// audio and video reports of one connection map the same capture instant
// to the same NTP time, so receivers can still align them.
func TestSenderReportClockIsPrivateAndShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &reportFactory{}
		const (
			audioSSRC, videoSSRC = 1111, 2222
			audioTS, videoTS     = 123456789, 3000000000 // random origins (RFC 3550 §5.1)
		)
		// Both tracks captured the same instant; video frames take 30 ms to
		// encode, audio 1 ms: the send times differ, the capture instant
		// does not.
		captured := time.Now()
		f.clocks.Store(uint32(audioSSRC), MediaClock(func() (uint32, time.Time, bool) { return audioTS, captured, true }))
		f.clocks.Store(uint32(videoSSRC), MediaClock(func() (uint32, time.Time, bool) { return videoTS, captured, true }))

		var conns [2]*srLog
		var origins [2]uint64
		for i := range conns {
			in, err := f.NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = &srLog{}
			in.BindRTCPWriter(conns[i])
			discard := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil })
			a := in.BindLocalStream(&interceptor.StreamInfo{SSRC: audioSSRC, ClockRate: 48000}, discard)
			v := in.BindLocalStream(&interceptor.StreamInfo{SSRC: videoSSRC, ClockRate: 90000}, discard)
			time.Sleep(time.Millisecond)
			_, _ = a.Write(&rtp.Header{Timestamp: audioTS}, make([]byte, 80), nil)
			time.Sleep(29 * time.Millisecond)
			_, _ = v.Write(&rtp.Header{Timestamp: videoTS}, make([]byte, 1000), nil)
			time.Sleep(senderReportInterval + time.Millisecond)
			sa, sv := conns[i].last(audioSSRC), conns[i].last(videoSSRC)
			if sa == nil || sv == nil {
				t.Fatalf("connection %d sent no sender reports: audio %v video %v", i, sa, sv)
			}
			if err := in.Close(); err != nil {
				t.Fatal(err)
			}
			// NTP time of the capture instant, from each track's report.
			atA := sa.NTPTime - NTPDuration(time.Duration(float64(int32(sa.RTPTime-audioTS))/48000*float64(time.Second)))
			atV := sv.NTPTime - NTPDuration(time.Duration(float64(int32(sv.RTPTime-videoTS))/90000*float64(time.Second)))
			if d := ntpSeconds(atA, atV); d > 50e-6 || d < -50e-6 {
				t.Errorf("connection %d: audio and video reports disagree on the capture instant by %.6f s", i, d)
			}
			// The report clock's origin is not the wall clock.
			off := ntpSeconds(sa.NTPTime, wallNTP(time.Now()))
			t.Logf("connection %d: report clock − wall clock = %.0f s", i, off)
			if off < 3600 && off > -3600 {
				t.Errorf("connection %d: sender report NTP time within %.0f s of the wall clock", i, off)
			}
			origins[i] = atA
		}
		if d := ntpSeconds(origins[0], origins[1]); d < 3600 && d > -3600 {
			t.Errorf("two connections' report clocks differ by only %.0f s", d)
		}
	})
}

// Without a media clock a track's reports fall back to the send time of
// its last frame's first packet, on the same private clock.
func TestSenderReportFallsBackToSendTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, _ := (&reportFactory{}).NewInterceptor("")
		reportAt := time.Now().Add(senderReportInterval) // the first tick
		log := &srLog{}
		in.BindRTCPWriter(log)
		w := in.BindLocalStream(&interceptor.StreamInfo{SSRC: 7, ClockRate: 90000},
			interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		sent := time.Now()
		_, _ = w.Write(&rtp.Header{Timestamp: 1000}, []byte{1}, nil)
		time.Sleep(5 * time.Millisecond)
		_, _ = w.Write(&rtp.Header{Timestamp: 1000}, []byte{1, 2}, nil) // same frame
		time.Sleep(senderReportInterval)
		sr := log.last(7)
		in.Close()
		if sr == nil {
			t.Fatal("no sender report")
		}
		if want := uint32(1000 + 90000*reportAt.Sub(sent).Seconds()); sr.RTPTime != want {
			t.Errorf("RTP time %d, want %d", sr.RTPTime, want)
		}
		if sr.PacketCount != 2 || sr.OctetCount != 3 {
			t.Errorf("counts %d packets %d octets, want 2 and 3", sr.PacketCount, sr.OctetCount)
		}
	})
}

func TestNTPDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint64
	}{
		{0, 0},
		{time.Second, 1 << 32},
		{1500 * time.Millisecond, 3 << 31},
		{-time.Second, 1<<64 - 1<<32},
		{time.Nanosecond, 4}, // 2³²/10⁹ = 4.29
	} {
		if got := NTPDuration(c.d); got != c.want {
			t.Errorf("NTPDuration(%v) = %#x, want %#x", c.d, got, c.want)
		}
	}
	if got := rtpTicks(-time.Second, 90000); got != 1<<32-90000 {
		t.Errorf("rtpTicks(−1 s) = %d", got)
	}
}

// When a track's mapping moves (here by 150 ms, as a switch to another
// video source can do), a report goes out at once and a second one
// reportConfirm later, so that receivers, which take a jump only when two
// reports agree, follow within a third of a second; then the cadence is
// one a second again. Jitter within mappingMove changes nothing.
func TestSenderReportFollowsAMovedMapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &reportFactory{}
		var mu sync.Mutex
		start := time.Now()
		at := start
		f.clocks.Store(uint32(9), MediaClock(func() (uint32, time.Time, bool) {
			mu.Lock()
			defer mu.Unlock()
			return 0, at, true
		}))
		in, _ := f.NewInterceptor("")
		log := &srLog{}
		in.BindRTCPWriter(log)
		w := in.BindLocalStream(&interceptor.StreamInfo{SSRC: 9, ClockRate: 90000},
			interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		_, _ = w.Write(&rtp.Header{}, []byte{1}, nil)
		setAt := func(d time.Duration) {
			mu.Lock()
			at = start.Add(d)
			mu.Unlock()
		}
		time.Sleep(2500 * time.Millisecond)
		setAt(30 * time.Millisecond)       // jitter: no extra report
		time.Sleep(950 * time.Millisecond) // between two checks
		moved := time.Now()
		setAt(150 * time.Millisecond)
		time.Sleep(2400 * time.Millisecond)
		in.Close()
		// Recover each report's send time from its NTP time (the private
		// clock runs with real time from the first report on).
		log.mu.Lock()
		srs := append([]*rtcp.SenderReport(nil), log.srs...)
		log.mu.Unlock()
		var got []time.Duration
		for _, sr := range srs {
			got = append(got, time.Duration(ntpSeconds(sr.NTPTime, srs[0].NTPTime)*float64(time.Second)).Round(10*time.Millisecond)+time.Second)
		}
		movedAt := moved.Sub(start)
		t.Logf("reports at %v; mapping moved at %v", got, movedAt)
		// 1 s, 2 s, 3 s (jitter ignored), then 3.5 s (the first check after
		// the move) and 3.8 s (confirmation), then 4.8 s and 5.8 s.
		want := []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second,
			3500 * time.Millisecond, 3800 * time.Millisecond, 4800 * time.Millisecond, 5800 * time.Millisecond}
		if !slices.Equal(got, want) {
			t.Fatalf("reports at %v, want %v", got, want)
		}
	})
}
