package rtx

import (
	"slices"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// recvStream is the receive log of one remote NACK-enabled stream. Its
// fields are guarded by the interceptor's mu.
type recvStream struct {
	started  bool
	highest  uint64 // extended sequence number
	received uint64 // packets logged, the clock of the reordering window
	missing  map[uint64]*missing
	late     lateLog
	// reorder is how long the first NACK for a hole waits (before the
	// bounds of nackDelay): the lateness that at most reorderShare of the
	// recent packets exceeded (lateLog).
	reorder time.Duration
}

// rebuilt forgets a missing packet that parity rebuilt.
func (i *Interceptor) rebuilt(ssrc uint32, seq uint16) {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.remote[ssrc]
	if s == nil || !s.started {
		return
	}
	ext := uint64(int64(s.highest) + int64(int16(seq-uint16(s.highest))))
	if _, ok := s.missing[ext]; ok {
		delete(s.missing, ext)
		i.c.rebuilt.Add(1)
	}
}

// The first NACK for a hole waits out reordering, as libwebrtc's
// NackRequester waits for a reordering percentile: a packet that fills its
// hole before it was asked for was late, not lost, and a NACK for it is a
// resend nobody needed, which also looks like a NACK answer and so would
// drag the round-trip estimate down to the reordering spread (measured on
// the field benchmark before this wait and the probes of xr.go, 100 ms path
// with 20 ms jitter: an estimate of 15 ms, reassembly waits too short for
// any repair, a freeze 60 % of the time).
const (
	// reorderWindow is how many recent packets the wait is learnt over:
	// about 5 s of 800 kbit/s video, so reordering that stopped is
	// forgotten within seconds and the wait drops back to 0.
	reorderWindow = 512
	// reorderShare is the share of recent packets allowed to arrive
	// after the wait (each then asked for needlessly): the wait is the
	// (1 − reorderShare) quantile of all recent packets' lateness, in-order
	// packets counting as 0. A link that reorders fewer packets than this
	// keeps a wait of 0, repair at the next tick. At DuplicateAbove,
	// reordering alone does not make the responder send resends twice.
	// (Measured on the field benchmark at 1, 2, 3 and 5 %: the frozen time
	// moved within its run-to-run noise, the bytes resent for late
	// packets grew with the share.)
	reorderShare = DuplicateAbove
	// maxReorderWait bounds the wait: beyond it a spurious NACK (one
	// resend, within the budget) is cheaper than the frozen picture a
	// longer wait costs.
	maxReorderWait = 100 * time.Millisecond
	// lateKept bounds the lateness samples kept per stream.
	lateKept = 128
)

// lateLog is a ring of the latest lateness samples: how long after its
// hole was seen a reordered packet arrived, and at which packet count.
type lateLog struct {
	at   [lateKept]uint64
	late [lateKept]time.Duration
	n    int // samples in the ring
	next int // where the next one goes
}

func (l *lateLog) add(at uint64, late time.Duration) {
	l.at[l.next], l.late[l.next] = at, late
	l.next = (l.next + 1) % lateKept
	l.n = min(l.n+1, lateKept)
}

// quantile returns the wait that at most share of the last window of
// received packets arrived after: the (k+1)-th largest lateness among the
// samples in the window, k = share × the packets in it; 0 when k samples
// or fewer are. A full ring covers less than the window when more than
// lateKept packets in it were late: then k counts only the packets the
// ring covers.
func (l *lateLog) quantile(received uint64, window int, share float64) time.Duration {
	packets := min(received, uint64(window))
	if l.n == lateKept {
		packets = min(packets, received-l.at[l.next]+1) // l.next: the oldest
	}
	k := min(int(share*float64(packets)), lateKept)
	var top [lateKept + 1]time.Duration // the k+1 largest, descending
	kept := 0
	for j := range l.n {
		if received-l.at[j] >= packets {
			continue // older than the window
		}
		d := l.late[j]
		if kept == k+1 && d <= top[k] {
			continue
		}
		p := min(kept, k)
		for p > 0 && top[p-1] < d {
			top[p] = top[p-1]
			p--
		}
		top[p] = d
		kept = min(kept+1, k+1)
	}
	if kept <= k {
		return 0
	}
	return top[k]
}

// nackDelay is how long a hole waits before its first NACK: the learnt
// wait, at most maxReorderWait.
func (s *recvStream) nackDelay() time.Duration { return min(s.reorder, maxReorderWait) }

type missing struct {
	detected  time.Time
	firstNack time.Time
	lastNack  time.Time
	nacks     int
}

// retryInterval is the wait before asking again for a packet already
// asked for: its retransmission had a round trip to arrive.
func retryInterval(rtt time.Duration) time.Duration { return rtt*3/2 + 15*time.Millisecond }

// unknownRetry is the retry interval before the first RTT estimate: long
// enough that the answer to a first NACK arrives before the retry on any
// usable path, so the first samples are unambiguous whether the path is
// shorter or longer than DefaultRTT.
const unknownRetry = 500 * time.Millisecond

// BindRemoteStream logs the sequence numbers of a NACK-enabled stream.
func (i *Interceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !supportsNack(info) {
		return reader
	}
	s := &recvStream{missing: make(map[uint64]*missing)}
	i.mu.Lock()
	i.remote[info.SSRC] = s
	i.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		h, err := attr.GetRTPHeader(b[:n])
		if err != nil {
			// Not RTP: the reader above counts and drops it; the track
			// goes on.
			return n, attr, nil
		}
		i.received(s, h.SequenceNumber, time.Now())
		return n, attr, nil
	})
}

// UnbindRemoteStream forgets a stream's receive log.
func (i *Interceptor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	delete(i.remote, info.SSRC)
	i.mu.Unlock()
	i.probeTimes.forget(info.SSRC)
}

// received logs one arrival: a jump ahead marks what lies between as
// missing; an earlier packet fills its hole, and is either a lateness
// sample (it was reordered) or, if it was asked for long enough ago, a
// NACK round-trip sample.
func (i *Interceptor) received(s *recvStream, seq uint16, now time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	s.received++
	if s.received%(reorderWindow/8) == 0 {
		i.learn(s) // reordering that stopped is forgotten
	}
	if !s.started {
		s.started, s.highest = true, 1<<32|uint64(seq)
		return
	}
	ext := uint64(int64(s.highest) + int64(int16(seq-uint16(s.highest))))
	switch {
	case ext > s.highest:
		from := s.highest + 1
		if ext-from > uint64(i.cfg.MaxMissing) {
			// A long outage: only the newest packets are worth asking for.
			from = ext - uint64(i.cfg.MaxMissing)
		}
		for e := from; e < ext; e++ {
			s.missing[e] = &missing{detected: now}
		}
		s.highest = ext
		i.trim(s)
	case ext < s.highest:
		m := s.missing[ext]
		if m == nil {
			return
		}
		delete(s.missing, ext)
		late := now.Sub(m.detected)
		est, known := i.rtt.Get()
		if !known && s.late.n > 0 {
			// Reordering seen before any round trip: the default stands
			// in, so that the first sample is not a late packet.
			est, known = DefaultRTT, true
		}
		if m.nacks == 0 || (known && now.Sub(m.firstNack) < est/4) {
			// Arrived before it was asked for, or sooner after than an
			// answer could: reordered. No RTT sample is taken (a true
			// answer on a path much shorter than the estimate is
			// mistaken for this only until a slower answer brings the
			// estimate down; without an estimate every answer is a
			// sample).
			s.late.add(s.received, late)
			i.learn(s)
			i.c.reordered.Add(1)
			if m.nacks > 0 {
				i.c.recover.Add(1)
				i.c.spurious.Add(1)
			}
			return
		}
		i.c.recover.Add(1)
		if late <= s.reorder {
			// As late as reordered packets still arrive (the first
			// NACK went out before the learnt wait was over: it is
			// bounded by the round trip): the original or the answer,
			// no sample either way. Taking it for an answer is what
			// drags the estimate down to the reordering spread.
			return
		}
		i.nackSample(now, m)
	}
}

// learn recomputes a stream's reordering wait from its lateness log.
func (i *Interceptor) learn(s *recvStream) {
	s.reorder = s.late.quantile(s.received, reorderWindow, reorderShare)
	i.c.reorderWait.Store(s.nackDelay().Microseconds())
}

// nackSample takes a round-trip sample from a packet that arrived after
// being asked for. Asked for once, the round trip is the time since that
// NACK. Asked for more often, it answered one of them (Karn's ambiguity,
// RFC 6298 §3): the round trip lies between the time since the last NACK
// and the time since the first, and the estimate moves only if it lies
// outside both, to the nearer bound. (Until a first estimate exists the
// retry waits unknownRetry, so that first answers are unambiguous.)
func (i *Interceptor) nackSample(now time.Time, m *missing) {
	if m.nacks == 1 {
		i.observeAnswer(now.Sub(m.firstNack))
		return
	}
	est, ok := i.rtt.Get()
	if !ok {
		return
	}
	lo, hi := now.Sub(m.lastNack), now.Sub(m.firstNack)
	switch {
	case est < lo:
		i.observeAnswer(lo)
	case est > hi:
		i.observeAnswer(hi)
	}
}

// trim keeps at most MaxMissing entries, dropping the oldest.
func (i *Interceptor) trim(s *recvStream) {
	if len(s.missing) <= i.cfg.MaxMissing {
		return
	}
	floor := s.highest - uint64(i.cfg.MaxMissing)
	for e := range s.missing {
		if e < floor {
			delete(s.missing, e)
			i.c.givenUp.Add(1)
		}
	}
}

// loop writes the due NACKs every Interval.
func (i *Interceptor) loop(w interceptor.RTCPWriter) {
	defer i.wg.Done()
	t := time.NewTicker(i.cfg.Interval)
	defer t.Stop()
	var seqs []uint16
	for {
		select {
		case <-i.closed:
			return
		case <-t.C:
		}
		now := time.Now()
		retry := unknownRetry
		if est, ok := i.rtt.Get(); ok {
			retry = retryInterval(est)
		}
		var out []rtcp.Packet
		nacks := 0
		i.mu.Lock()
		for ssrc, s := range i.remote {
			seqs = i.due(s, now, retry, seqs[:0])
			if len(seqs) == 0 {
				continue
			}
			out = append(out, &rtcp.TransportLayerNack{
				SenderSSRC: i.senderSSRC, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs),
			})
			i.c.nackedPackets.Add(uint64(len(seqs)))
			nacks++
		}
		out = i.probes(now, out)
		i.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := w.Write(out, nil); err == nil {
			i.c.nacksSent.Add(uint64(nacks))
		}
	}
}

// due collects the sequence numbers to ask for now, in order, and forgets
// those asked for too often or for too long.
func (i *Interceptor) due(s *recvStream, now time.Time, retry time.Duration, seqs []uint16) []uint16 {
	var ext []uint64
	wait := s.nackDelay()
	for e, m := range s.missing {
		switch {
		case now.Sub(m.detected) > i.cfg.MaxAge || (m.nacks >= i.cfg.MaxNacks && now.Sub(m.lastNack) >= retry):
			delete(s.missing, e)
			i.c.givenUp.Add(1)
		case m.nacks == 0 && now.Sub(m.detected) < wait:
			// Possibly only reordered: wait before asking.
		case m.nacks == 0 || (m.nacks < i.cfg.MaxNacks && now.Sub(m.lastNack) >= retry):
			if m.nacks == 0 {
				m.firstNack = now
			}
			m.nacks++
			m.lastNack = now
			ext = append(ext, e)
		}
	}
	slices.Sort(ext)
	for _, e := range ext {
		seqs = append(seqs, uint16(e))
	}
	return seqs
}
