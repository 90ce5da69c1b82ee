package rtx

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/sottohq/sotto/relay/fec"
)

var videoInfo = &interceptor.StreamInfo{SSRC: 1234, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}

// wire records what an interceptor writes and feeds it RTCP.
type wire struct {
	mu     sync.Mutex
	rtp    []rtp.Header
	bytes  int
	nacks  []*rtcp.TransportLayerNack
	nackAt []time.Time
	rtcpIn chan []byte
}

func newWire() *wire { return &wire{rtcpIn: make(chan []byte, 64)} }

func (w *wire) writer() interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		w.mu.Lock()
		w.rtp = append(w.rtp, *h)
		w.bytes += h.MarshalSize() + len(payload)
		w.mu.Unlock()
		return len(payload), nil
	})
}

func (w *wire) rtcpWriter() interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		w.mu.Lock()
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				w.nacks = append(w.nacks, n)
				w.nackAt = append(w.nackAt, time.Now())
			}
		}
		w.mu.Unlock()
		return 0, nil
	})
}

var errClosed = errors.New("closed")

func (w *wire) rtcpReader() interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		p, ok := <-w.rtcpIn
		if !ok {
			return 0, nil, errClosed
		}
		return copy(b, p), a, nil
	})
}

// readRTCP drains r in the background, as a PeerConnection's RTCP reader does.
func readRTCP(r interceptor.RTCPReader) {
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := r.Read(buf, nil); err != nil {
				return
			}
		}
	}()
}

func nackAll(ssrc uint32, from, to uint16) []byte {
	var seqs []uint16
	for s := from; s != to; s++ {
		seqs = append(seqs, s)
	}
	b, err := (&rtcp.TransportLayerNack{SenderSSRC: 9, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}).Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// A receiver that NACKs every packet it was sent, every 5 ms, draws no
// more than the budget: resent bytes ≤ BudgetRatio × sent + BudgetBurst per
// window, over the whole run; with parity in the stream (every parityEvery-th
// packet, 0: none), parity stays within its own allowance (ParityBudgetRatio
// of the media bytes) and does not eat the resends'.
func TestResponderBudgetHoldsAgainstNackEverything(t *testing.T) {
	for _, parityEvery := range []int{0, 2} {
		t.Run(fmt.Sprintf("parity every %d", parityEvery), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { budgetUnderFlood(t, parityEvery) })
		})
	}
}

func budgetUnderFlood(t *testing.T, parityEvery int) {
	f := New(Config{})
	ic, _ := f.NewInterceptor("")
	defer ic.Close()
	w := newWire()
	out := ic.BindLocalStream(videoInfo, w.writer())
	readRTCP(ic.BindRTCPReader(w.rtcpReader()))

	const run = 5 * time.Second
	payload := make([]byte, 1000)
	parity := make([]byte, 1000)
	parity[0] = fec.Flag
	start := time.Now()
	var next atomic.Uint32
	done := make(chan struct{})
	go func() { // the hostile receiver
		defer close(done)
		for time.Since(start) < run {
			time.Sleep(5 * time.Millisecond)
			seq := uint16(next.Load())
			w.rtcpIn <- nackAll(videoInfo.SSRC, seq-400, seq)
		}
	}()
	for time.Since(start) < run {
		n := next.Load()
		h := rtp.Header{Version: 2, SSRC: videoInfo.SSRC, SequenceNumber: uint16(n), PayloadType: 96}
		p := payload
		if parityEvery > 0 && n%uint32(parityEvery) == 0 {
			p = parity
		}
		if _, err := out.Write(&h, p, nil); err != nil {
			t.Fatal(err)
		}
		next.Add(1)
		time.Sleep(10 * time.Millisecond) // 100 packets/s, 800 kbit/s
	}
	<-done
	close(w.rtcpIn)
	synctest.Wait()

	st := f.Stats()
	media := st.SentBytes - st.ParityBytes
	if (parityEvery > 0) != (st.ParityBytes > 0) || (parityEvery > 0) != (st.ParityRefused > 0) {
		t.Fatalf("parity bytes %d, refused %d with parity every %d", st.ParityBytes, st.ParityRefused, parityEvery)
	}
	burst := float64(DefaultBudgetBurst) * float64(run/DefaultBudgetWindow+1)
	bound := DefaultBudgetRatio*float64(media) + burst
	parityBound := ParityBudgetRatio*float64(media) + burst
	t.Logf("media %d B, parity %d B (bound %.0f), resent %d B in %d packets (bound %.0f); refused: budget %d, repeat %d, parity %d",
		media, st.ParityBytes, parityBound, st.ResentBytes, st.Resent, bound, st.RefusedBudget, st.RefusedRepeat, st.ParityRefused)
	if float64(st.ResentBytes) > bound {
		t.Errorf("resent %d bytes, over the bound of %.0f", st.ResentBytes, bound)
	}
	if float64(st.ParityBytes) > parityBound {
		t.Errorf("parity %d bytes, over its bound of %.0f", st.ParityBytes, parityBound)
	}
	if float64(st.ResentBytes) < 0.8*DefaultBudgetRatio*float64(media) {
		t.Errorf("resent only %d bytes of %d: the budget is not what limits", st.ResentBytes, media)
	}
	if st.RefusedBudget == 0 {
		t.Error("no request refused for the budget")
	}
}

// One packet asked for again and again is resent at most MaxResends times,
// never twice within ¾ RTT.
func TestResponderPerPacketLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rtt := new(RTT)
		rtt.Observe(100 * time.Millisecond)
		f := New(Config{RTT: rtt})
		ic, _ := f.NewInterceptor("")
		defer ic.Close()
		w := newWire()
		out := ic.BindLocalStream(videoInfo, w.writer())
		readRTCP(ic.BindRTCPReader(w.rtcpReader()))
		for s := uint16(0); s < 50; s++ {
			_, _ = out.Write(&rtp.Header{Version: 2, SSRC: videoInfo.SSRC, SequenceNumber: s}, make([]byte, 100), nil)
		}
		// Two NACKs 10 ms apart: one resend.
		w.rtcpIn <- nackAll(videoInfo.SSRC, 7, 8)
		time.Sleep(10 * time.Millisecond)
		w.rtcpIn <- nackAll(videoInfo.SSRC, 7, 8)
		synctest.Wait()
		if got := f.Stats().Resent; got != 1 {
			t.Fatalf("%d resends for two NACKs inside the spacing, want 1", got)
		}
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			w.rtcpIn <- nackAll(videoInfo.SSRC, 7, 8)
		}
		synctest.Wait()
		st := f.Stats()
		if st.Resent != DefaultMaxResends {
			t.Errorf("%d resends of one packet, want %d", st.Resent, DefaultMaxResends)
		}
		if st.RefusedRepeat != 12-DefaultMaxResends {
			t.Errorf("%d refused as repeats, want %d", st.RefusedRepeat, 12-DefaultMaxResends)
		}
		// A packet the stream never sent is not in the history.
		w.rtcpIn <- nackAll(videoInfo.SSRC, 900, 901)
		synctest.Wait()
		if f.Stats().NotInHistory != 1 {
			t.Errorf("unknown packet: %+v", f.Stats())
		}
		close(w.rtcpIn)
	})
}

// A packet that never arrives is asked for at once, then again every
// 1.5 RTT + 15 ms, MaxNacks times in all; one that arrives after its first
// NACK is a round-trip sample.
func TestGeneratorRetriesScaleWithRTT(t *testing.T) {
	for _, rttMs := range []int{20, 200} {
		synctest.Test(t, func(t *testing.T) {
			rtt := new(RTT)
			rtt.Observe(time.Duration(rttMs) * time.Millisecond)
			f := New(Config{RTT: rtt})
			ic, _ := f.NewInterceptor("")
			w := newWire()
			ic.BindRTCPWriter(w.rtcpWriter())
			feed := make(chan uint16, 16)
			r := ic.BindRemoteStream(videoInfo, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				s, ok := <-feed
				if !ok {
					return 0, nil, errClosed
				}
				n, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: videoInfo.SSRC, SequenceNumber: s}, Payload: []byte{1}}).MarshalTo(b)
				return n, a, err
			}))
			go func() {
				buf := make([]byte, 1500)
				for {
					if _, _, err := r.Read(buf, nil); err != nil {
						return
					}
				}
			}()
			for s := uint16(0); s < 10; s++ {
				if s != 5 {
					feed <- s
				}
			}
			synctest.Wait()
			lossAt := time.Now()
			time.Sleep(3 * time.Second)
			close(feed)
			ic.Close()

			w.mu.Lock()
			defer w.mu.Unlock()
			if len(w.nacks) != DefaultMaxNacks {
				t.Fatalf("rtt %d ms: %d NACKs, want %d", rttMs, len(w.nacks), DefaultMaxNacks)
			}
			if d := w.nackAt[0].Sub(lossAt); d > DefaultInterval {
				t.Errorf("rtt %d ms: first NACK after %v", rttMs, d)
			}
			want := retryInterval(time.Duration(rttMs) * time.Millisecond)
			for k := 1; k < len(w.nackAt); k++ {
				if d := w.nackAt[k].Sub(w.nackAt[k-1]); d < want || d > want+DefaultInterval {
					t.Errorf("rtt %d ms: retry %d after %v, want %v", rttMs, k, d, want)
				}
			}
			for _, n := range w.nacks {
				if len(n.Nacks) != 1 || n.Nacks[0].PacketID != 5 || n.Nacks[0].LostPackets != 0 {
					t.Errorf("NACK %+v, want packet 5 alone", n.Nacks)
				}
			}
		})
	}
}

func TestGeneratorMeasuresNackRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New(Config{})
		ic, _ := f.NewInterceptor("")
		defer ic.Close()
		w := newWire()
		ic.BindRTCPWriter(w.rtcpWriter())
		x := ic.(*Interceptor)
		x.BindRemoteStream(videoInfo, nil)
		s := x.remote[videoInfo.SSRC]
		x.received(s, 1, time.Now())
		x.received(s, 3, time.Now())
		time.Sleep(DefaultInterval + time.Millisecond)
		time.Sleep(80 * time.Millisecond)
		x.received(s, 2, time.Now())
		got, ok := x.RTT().Get()
		if !ok || got < 75*time.Millisecond || got > 85*time.Millisecond {
			t.Errorf("rtt %v %v, want about 80 ms", got, ok)
		}
		if f.Stats().Recovered != 1 {
			t.Errorf("recovered %d", f.Stats().Recovered)
		}
	})
}

// A receiver report's LSR and DLSR give the round trip (RFC 3550 §6.4.1),
// only for streams this side sends, on the local clock: the report's NTP
// field may come from any clock (a client's private one, or a publisher's
// that the relay forwards), since only its departure time counts.
func TestReportRTT(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ntp uint64 = 0x9a3c_51e7_0042_b000 // no relation to t0
	lsr := uint32(ntp >> 16)
	ic, _ := New(Config{}).NewInterceptor("")
	x := ic.(*Interceptor)
	x.srs.record(t0, videoInfo.SSRC, ntp)
	d, ok := x.srs.reportRTT(t0.Add(1250*time.Millisecond), videoInfo.SSRC, lsr, 1<<16)
	if !ok || d != 250*time.Millisecond {
		t.Fatalf("rtt %v %v, want 250 ms", d, ok)
	}
	if _, ok := x.srs.reportRTT(t0.Add(500*time.Millisecond), videoInfo.SSRC, lsr, 1<<16); ok {
		t.Error("a report answered before its delay gave an rtt")
	}
	if _, ok := x.srs.reportRTT(t0.Add(time.Second), videoInfo.SSRC, lsr+1, 0); ok {
		t.Error("a report echoing a sender report never sent gave an rtt")
	}
	x.reports(t0.Add(time.Second), []rtcp.ReceptionReport{{SSRC: videoInfo.SSRC, LastSenderReport: lsr}})
	if _, ok := x.RTT().Get(); ok {
		t.Error("rtt taken from a report about a stream not sent")
	}
	x.BindLocalStream(videoInfo, newWire().writer())
	x.reports(t0.Add(time.Second), []rtcp.ReceptionReport{{SSRC: videoInfo.SSRC, LastSenderReport: lsr, Delay: 1 << 15}})
	if d, _ := x.RTT().Get(); d != 500*time.Millisecond {
		t.Errorf("rtt %v, want 500 ms", d)
	}
}

// Sender reports written through the interceptor's writer are remembered
// with their departure time; the last few per stream are kept.
func TestSenderReportsAreTimed(t *testing.T) {
	ic, _ := New(Config{}).NewInterceptor("")
	defer ic.Close()
	x := ic.(*Interceptor)
	w := x.BindRTCPWriter(interceptor.RTCPWriterFunc(func(p []rtcp.Packet, _ interceptor.Attributes) (int, error) { return len(p), nil }))
	for n := range srKept + 3 {
		sr := &rtcp.SenderReport{SSRC: 7, NTPTime: uint64(n+1) << 32}
		if _, err := w.Write([]rtcp.Packet{sr}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := x.srs.departure(7, uint32(1)<<16); ok {
		t.Error("the oldest of more than srKept reports is still kept")
	}
	if _, ok := x.srs.departure(7, uint32(srKept+3)<<16); !ok {
		t.Error("the latest report was not timed")
	}
}

// Packets that arrive late but before they were asked for teach the
// generator to wait about that long (at most maxReorderWait) before a
// first NACK, so jitter that grows slowly does not turn into resends; a
// packet really lost is still asked for within that wait and a tick.
func TestGeneratorWaitsOutReordering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rtt := new(RTT) // a 100 ms path, measured
		rtt.Observe(100 * time.Millisecond)
		f := New(Config{RTT: rtt})
		ic, _ := f.NewInterceptor("")
		defer ic.Close()
		w := newWire()
		ic.BindRTCPWriter(w.rtcpWriter())
		x := ic.(*Interceptor)
		x.BindRemoteStream(videoInfo, nil)
		s := x.remote[videoInfo.SSRC]
		recv := func(seq uint16) { x.received(s, seq, time.Now()) }
		nacks := func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.nacks) }
		// 40 packets each overtaken by the next, 3 ms late at first and
		// up to 25 ms late in the end. Arrivals fall between ticks, so
		// the bubble's goroutine order does not matter.
		time.Sleep(500 * time.Microsecond)
		recv(0)
		seq := uint16(1)
		for k := range 40 {
			late := min(3*time.Millisecond+time.Duration(k)*time.Millisecond, 25*time.Millisecond)
			time.Sleep(7 * time.Millisecond)
			recv(seq + 1)
			time.Sleep(late)
			recv(seq)
			seq += 2
		}
		if n := nacks(); n > 8 { // a few, while the wait is learnt
			t.Errorf("%d NACKs for 40 packets that were only late", n)
		}
		before := nacks()
		time.Sleep(20 * time.Millisecond)
		recv(seq + 1) // seq is lost
		time.Sleep(maxReorderWait + DefaultInterval)
		if n := nacks(); n != before+1 {
			t.Errorf("lost packet: %d NACKs, want %d", n, before+1)
		}
		t.Logf("reorder wait learnt: %v; NACKs for late packets: %d", s.reorder, before)
		if d, _ := rtt.Get(); d < 90*time.Millisecond {
			t.Errorf("reordered packets taken for answers: rtt %v", d)
		}
	})
}

// A crafted NACK naming 4,250 sequence numbers is looked at for no more
// than a history's worth of them, and garbage RTCP does not stop the
// reader.
func TestHostileNackIsBoundedWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New(Config{})
		ic, _ := f.NewInterceptor("")
		defer ic.Close()
		w := newWire()
		out := ic.BindLocalStream(videoInfo, w.writer())
		r := ic.BindRTCPReader(w.rtcpReader())
		for s := uint16(0); s < 100; s++ {
			_, _ = out.Write(&rtp.Header{Version: 2, SSRC: videoInfo.SSRC, SequenceNumber: s}, make([]byte, 100), nil)
		}
		pairs := make([]rtcp.NackPair, 250)
		for k := range pairs {
			pairs[k] = rtcp.NackPair{PacketID: uint16(k * 17), LostPackets: 0xffff}
		}
		b, err := (&rtcp.TransportLayerNack{MediaSSRC: videoInfo.SSRC, Nacks: pairs}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		w.rtcpIn <- []byte{0x80, 0xcd, 0xff, 0xff, 1, 2} // truncated garbage
		w.rtcpIn <- b
		buf := make([]byte, 1<<16)
		for range 2 {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatalf("read: %v", err)
			}
		}
		st := f.Stats()
		looked := st.Resent + st.RefusedBudget + st.RefusedRepeat + st.NotInHistory
		if looked > DefaultBufferPackets+1 { // +1: a duplicate copy counts as resent
			t.Errorf("looked at %d sequence numbers of one NACK: %+v", looked, st)
		}
		if st.Resent == 0 || st.RefusedBudget == 0 {
			t.Errorf("stats %+v", st)
		}
		close(w.rtcpIn)
	})
}

// A packet rebuilt from parity is no longer asked for.
func TestRebuiltPacketIsNotAskedFor(t *testing.T) {
	f := New(Config{})
	ic, _ := f.NewInterceptor("")
	defer ic.Close()
	i := ic.(*Interceptor)
	s := &recvStream{missing: make(map[uint64]*missing)}
	i.remote[videoInfo.SSRC] = s
	now := time.Now()
	for _, seq := range []uint16{65534, 1} { // 65535 and 0 missing
		i.received(s, seq, now)
	}
	if len(s.missing) != 2 {
		t.Fatalf("%d missing, want 2", len(s.missing))
	}
	f.Rebuilt(videoInfo.SSRC, 0)
	f.Rebuilt(videoInfo.SSRC, 7)       // never missing
	f.Rebuilt(videoInfo.SSRC+1, 65535) // another stream
	if len(s.missing) != 1 || f.Stats().Rebuilt != 1 {
		t.Fatalf("%d missing, %d rebuilt after rebuilding one", len(s.missing), f.Stats().Rebuilt)
	}
	if seqs := i.due(s, now.Add(time.Second), time.Second, nil); len(seqs) != 1 || seqs[0] != 65535 {
		t.Fatalf("asked for %v, want only 65535", seqs)
	}
}

// A receiver asking for more than DuplicateAbove of the packets gets each
// resend twice, unless parity flows on the stream: then once.
func TestResendCopiesOnlyWithoutParity(t *testing.T) {
	for _, withParity := range []bool{false, true} {
		t.Run(fmt.Sprintf("parity=%v", withParity), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := New(Config{})
				ic, _ := f.NewInterceptor("")
				defer ic.Close()
				w := newWire()
				out := ic.BindLocalStream(videoInfo, w.writer())
				readRTCP(ic.BindRTCPReader(w.rtcpReader()))
				payload := make([]byte, 200)
				parity := append([]byte{fec.Flag}, make([]byte, 199)...)
				for n := range 100 {
					p := payload
					if withParity && n%10 == 9 {
						p = parity
					}
					h := rtp.Header{Version: 2, SSRC: videoInfo.SSRC, SequenceNumber: uint16(n), PayloadType: 96}
					if _, err := out.Write(&h, p, nil); err != nil {
						t.Fatal(err)
					}
					time.Sleep(10 * time.Millisecond)
				}
				// 20 % of the packets asked for, once each.
				w.rtcpIn <- nackAll(videoInfo.SSRC, 60, 80)
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
				st := f.Stats()
				w.mu.Lock()
				sent := len(w.rtp) - 100
				w.mu.Unlock()
				close(w.rtcpIn)
				if st.Resent == 0 {
					t.Fatal("nothing resent")
				}
				// Resent counts the copies too: 20 packets were asked for.
				copies := st.Resent > 20
				t.Logf("resent %d packets (copies included) as %d writes", st.Resent, sent)
				if copies == withParity {
					t.Fatalf("resends sent twice: %v, with parity flowing: %v", copies, withParity)
				}
			})
		})
	}
}
