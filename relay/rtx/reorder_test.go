package rtx

import (
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// arrival is one packet of a simulated stream reaching the generator.
type arrival struct {
	seq uint16
	at  time.Duration // after the stream's start
}

// videoFrames is video as the field benchmark's jitter makes it: frames
// [from, to) of perFrame packets, sent together every 33 ms, each packet
// delayed by its own uniform draw from [0, 2·jitter] (jitter 0: in order),
// so packets of a frame overtake one another. lost drops a packet. The
// result is in arrival order.
func videoFrames(seed uint64, from, to, perFrame int, jitter time.Duration, lost func(uint16) bool) []arrival {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []arrival
	for f := from; f < to; f++ {
		for k := range perFrame {
			seq := uint16(f*perFrame + k)
			if lost(seq) {
				continue
			}
			sent := time.Duration(f)*33*time.Millisecond + time.Duration(k)*100*time.Microsecond
			// 300 µs off the 10 ms tick grid, so the bubble's order of a
			// tick and an arrival at one instant does not matter.
			at := sent + 300*time.Microsecond
			if jitter > 0 {
				at += time.Duration(rng.Int64N(int64(2 * jitter)))
			}
			out = append(out, arrival{seq, at})
		}
	}
	slices.SortStableFunc(out, func(a, b arrival) int { return int(a.at - b.at) })
	return out
}

func noLoss(uint16) bool { return false }

// genHarness is one interceptor's generator on a measured 100 ms path,
// fed by hand, with its NACKs recorded.
type genHarness struct {
	x       *Interceptor
	s       *recvStream
	w       *wire
	start   time.Time
	highest int
	visible map[uint16]time.Time // when a later packet first arrived
	maxWait time.Duration        // the longest wait in force during play
}

func newGenHarness(t *testing.T) *genHarness {
	rtt := new(RTT)
	rtt.Observe(100 * time.Millisecond)
	ic, err := New(Config{RTT: rtt}).NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	w := newWire()
	ic.BindRTCPWriter(w.rtcpWriter())
	x := ic.(*Interceptor)
	x.BindRemoteStream(videoInfo, nil)
	return &genHarness{x: x, s: x.remote[videoInfo.SSRC], w: w, start: time.Now(), highest: -1, visible: map[uint16]time.Time{}}
}

// play delivers the arrivals at their times and notes when each hole
// became visible.
func (h *genHarness) play(arr []arrival) {
	for _, a := range arr {
		time.Sleep(time.Until(h.start.Add(a.at)))
		now := time.Now()
		for s := h.highest + 1; s < int(a.seq); s++ {
			h.visible[uint16(s)] = now
		}
		h.highest = max(h.highest, int(a.seq))
		h.x.received(h.s, a.seq, now)
		h.maxWait = max(h.maxWait, h.wait())
	}
	time.Sleep(maxReorderWait + 2*DefaultInterval) // the last holes' NACKs
}

// nacked returns every sequence number asked for, with when it was first.
func (h *genHarness) nacked() map[uint16]time.Time {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	first := map[uint16]time.Time{}
	for k, n := range h.w.nacks {
		for _, p := range n.Nacks {
			for _, s := range p.PacketList() {
				if _, ok := first[s]; !ok {
					first[s] = h.w.nackAt[k]
				}
			}
		}
	}
	return first
}

func (h *genHarness) wait() time.Duration {
	h.x.mu.Lock()
	defer h.x.mu.Unlock()
	return h.s.nackDelay()
}

func countIn(m map[uint16]time.Time, from, to int) int {
	n := 0
	for s := range m {
		if int(s) >= from && int(s) < to {
			n++
		}
	}
	return n
}

// (a) A stream reordered by 20 ms of mean jitter (0–40 ms per packet),
// with no loss: once the wait is learnt, packets that were only late are
// seldom asked for (about reorderShare of them arrive after the wait). (b)
// Packets then really lost are each asked for within the wait and a tick
// of their hole becoming visible.
func TestGeneratorLearnsReorderingWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newGenHarness(t)
		const per = 6 // 180 packets/s
		h.play(videoFrames(1, 0, 150, per, 20*time.Millisecond, noLoss))
		learning := len(h.nacked())
		wait := h.wait()

		h.play(videoFrames(2, 150, 450, per, 20*time.Millisecond, noLoss))
		late := countIn(h.nacked(), 150*per, 450*per)
		st := h.x.c
		t.Logf("wait %v; late packets asked for: %d while learning (900 packets), %d of 1800 after; reordered %d",
			wait, learning, late, st.reordered.Load())
		if wait < 10*time.Millisecond || wait > 40*time.Millisecond {
			t.Errorf("wait %v, want the tail of 0–40 ms of reordering", wait)
		}
		if late > int(reorderShare*1800) {
			t.Errorf("%d of 1800 packets that were only late asked for, want at most %.0f %%", late, reorderShare*100)
		}
		if r := st.reordered.Load(); r < 1800/10 || uint64(late)*10 > r {
			t.Errorf("%d reordered packets, %d asked for: the stream does not reorder as it should", r, late)
		}
		if d, _ := h.x.rtt.Get(); d != 100*time.Millisecond {
			t.Errorf("rtt %v moved from 100 ms by late packets", d)
		}

		lost := func(s uint16) bool { return s%50 == 7 }
		h.maxWait = 0
		h.play(videoFrames(3, 450, 750, per, 20*time.Millisecond, lost))
		wait = h.maxWait
		nacked := h.nacked()
		var worst time.Duration
		for s := 450 * per; s < 750*per; s++ {
			if !lost(uint16(s)) {
				continue
			}
			at, ok := nacked[uint16(s)]
			if !ok {
				t.Errorf("lost packet %d never asked for", s)
				continue
			}
			worst = max(worst, at.Sub(h.visible[uint16(s)]))
		}
		t.Logf("lost packets asked for at most %v after their hole showed (wait %v)", worst, wait)
		if worst > wait+DefaultInterval {
			t.Errorf("a lost packet waited %v for its first NACK, want at most the wait %v and a tick", worst, wait)
		}
	})
}

// (c) On a stream that never reorders, the wait stays 0 and each loss is
// asked for on the next tick.
func TestGeneratorInOrderKeepsNoWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newGenHarness(t)
		lost := func(s uint16) bool { return s%40 == 3 }
		h.play(videoFrames(1, 0, 300, 6, 0, lost))
		if w := h.wait(); w != 0 {
			t.Errorf("wait %v on an in-order stream", w)
		}
		nacked := h.nacked()
		for s := range 300 * 6 {
			at, asked := nacked[uint16(s)]
			switch {
			case lost(uint16(s)) && !asked:
				t.Errorf("lost packet %d never asked for", s)
			case lost(uint16(s)) && at.Sub(h.visible[uint16(s)]) > DefaultInterval:
				t.Errorf("lost packet %d asked for %v after its hole showed", s, at.Sub(h.visible[uint16(s)]))
			case !lost(uint16(s)) && asked:
				t.Errorf("packet %d asked for, never lost", s)
			}
		}
	})
}

// Reordering that stops is forgotten: the wait is learnt over the last
// reorderWindow packets only.
func TestGeneratorForgetsReordering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newGenHarness(t)
		h.play(videoFrames(1, 0, 150, 6, 20*time.Millisecond, noLoss))
		if h.wait() == 0 {
			t.Fatal("no wait learnt from reordering")
		}
		h.play(videoFrames(1, 150, 150+reorderWindow/6+2, 6, 0, noLoss))
		if w := h.wait(); w != 0 {
			t.Errorf("wait %v after %d packets in order", w, reorderWindow)
		}
	})
}

func TestLateLogQuantile(t *testing.T) {
	var l lateLog
	if d := l.quantile(1000, 512, 0.01); d != 0 {
		t.Fatalf("empty log: %v", d)
	}
	// 512 packets, 5 allowed past the wait: with 5 samples none needs one.
	for k := range 5 {
		l.add(uint64(900+k), time.Duration(k+1)*time.Millisecond)
	}
	if d := l.quantile(1000, 512, 0.01); d != 0 {
		t.Errorf("5 late packets of 512: wait %v, want 0", d)
	}
	l.add(950, 30*time.Millisecond)
	l.add(960, 2*time.Millisecond)
	// Samples 1, 2, 3, 4, 5, 30, 2 ms: the 6th largest is 2 ms.
	if d := l.quantile(1000, 512, 0.01); d != 2*time.Millisecond {
		t.Errorf("wait %v, want 2 ms", d)
	}
	// Out of the window the samples no longer count.
	if d := l.quantile(1600, 512, 0.01); d != 0 {
		t.Errorf("samples older than the window: wait %v", d)
	}
	// A full ring keeps the newest lateKept, and the wait is the quantile
	// over the packets they cover: every packet of the last 400 late by
	// its index in µs, the ring holding the newest 128, 2 of them allowed
	// past the wait.
	for k := range 400 {
		l.add(uint64(2000+k), time.Duration(k)*time.Microsecond)
	}
	if l.n != lateKept {
		t.Errorf("%d samples kept, want %d", l.n, lateKept)
	}
	if d := l.quantile(2399, 512, 0.02); d != 397*time.Microsecond {
		t.Errorf("full ring: wait %v, want 397µs", d)
	}
}

// rtcpLink delivers what one interceptor writes to another's RTCP reader
// after a one-way delay.
func rtcpLink(t *testing.T, to *wire, delay time.Duration) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Error(err)
			return 0, err
		}
		time.AfterFunc(delay, func() { to.rtcpIn <- b })
		return len(b), nil
	})
}

// A side that only receives learns the round trip from its reference
// time probes and the sender's DLRR answers (RFC 3611 §4.4, §4.5), and
// once it has, a NACK "answer" that was a late original does not move it.
func TestProbeRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs, fr := New(Config{}), New(Config{})
		sender, _ := fs.NewInterceptor("")
		receiver, _ := fr.NewInterceptor("")
		toSender, toReceiver := newWire(), newWire()
		// 35 ms each way: a 70 ms round trip.
		sender.BindRTCPWriter(rtcpLink(t, toReceiver, 35*time.Millisecond))
		receiver.BindRTCPWriter(rtcpLink(t, toSender, 35*time.Millisecond))
		sender.BindLocalStream(videoInfo, newWire().writer())
		receiver.BindRemoteStream(videoInfo, nil)
		readRTCP(sender.BindRTCPReader(toSender.rtcpReader()))
		readRTCP(receiver.BindRTCPReader(toReceiver.rtcpReader()))

		time.Sleep(3 * probeInterval)
		x := receiver.(*Interceptor)
		d, ok := x.RTT().Get()
		if !ok || d < 70*time.Millisecond || d > 70*time.Millisecond+DefaultInterval {
			t.Fatalf("rtt %v %v, want 70 ms and at most a tick of holding", d, ok)
		}
		if _, ok := sender.(*Interceptor).RTT().Get(); ok {
			t.Error("the sender took a sample from probes about its own stream")
		}
		// A hole asked for, then filled 20 ms after the NACK: no sample.
		s := x.remote[videoInfo.SSRC]
		x.received(s, 1, time.Now())
		x.received(s, 3, time.Now())
		time.Sleep(DefaultInterval + time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		x.received(s, 2, time.Now())
		if got, _ := x.RTT().Get(); got != d {
			t.Errorf("rtt %v after a NACK answer, want %v as the probes gave it", got, d)
		}
		sender.Close()
		receiver.Close()
		close(toSender.rtcpIn)
		close(toReceiver.rtcpIn)
		synctest.Wait()
	})
}

// Probes faster than the tick get one answer per stream per tick; probes
// about a stream the side does not send get none.
func TestProbeAnswersBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ic, _ := New(Config{}).NewInterceptor("")
		x := ic.(*Interceptor)
		out := newWire()
		var xrs, blocks int
		x.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
			out.mu.Lock()
			defer out.mu.Unlock()
			for _, p := range pkts {
				if e, ok := p.(*rtcp.ExtendedReport); ok {
					xrs++
					blocks += len(e.Reports)
				}
			}
			return 0, nil
		}))
		x.BindLocalStream(videoInfo, newWire().writer())
		in := newWire()
		readRTCP(x.BindRTCPReader(in.rtcpReader()))
		probe := func(ssrc uint32, ntp uint64) []byte {
			b, err := (&rtcp.ExtendedReport{SenderSSRC: ssrc, Reports: []rtcp.ReportBlock{&rtcp.ReceiverReferenceTimeReportBlock{NTPTimestamp: ntp}}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		time.Sleep(time.Millisecond) // off the tick
		const ticks = 20
		for k := range ticks * 10 {
			in.rtcpIn <- probe(videoInfo.SSRC, uint64(k)<<32)
			in.rtcpIn <- probe(videoInfo.SSRC+1, uint64(k)<<32) // not ours
			time.Sleep(DefaultInterval / 10)
		}
		time.Sleep(DefaultInterval)
		ic.Close()
		close(in.rtcpIn)
		synctest.Wait()
		out.mu.Lock()
		defer out.mu.Unlock()
		if xrs < ticks-1 || xrs > ticks+1 || blocks != xrs {
			t.Errorf("%d answers (%d blocks) to %d probes over %d ticks, want one per tick", xrs, blocks, ticks*10, ticks)
		}
	})
}
