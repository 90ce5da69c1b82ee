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
	started bool
	highest uint64 // extended sequence number
	missing map[uint64]*missing
	// reorder is how late reordered packets have recently been: the first
	// NACK for a hole waits that long (at most maxReorderWait), so that
	// jitter does not turn into resends of packets that were only late.
	reorder time.Duration
}

// maxReorderWait bounds the wait before a hole's first NACK: beyond it, a
// spurious NACK (one resend, within the budget) is cheaper than the frozen
// picture a longer wait costs.
const maxReorderWait = 30 * time.Millisecond

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
}

// received logs one arrival: a jump ahead marks what lies between as
// missing; an earlier packet fills its hole (and, if it was asked for,
// is a NACK round-trip sample).
func (i *Interceptor) received(s *recvStream, seq uint16, now time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
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
		est, known := i.rtt.Get()
		if m.nacks == 0 || (known && now.Sub(m.firstNack) < est/4) {
			// Arrived before it was asked for, or sooner after than an
			// answer could: reordered. The estimate follows the latest
			// such packets, decaying by an eighth, and no RTT sample is
			// taken (a true answer on a path much shorter than the
			// estimate is mistaken for this only until a slower answer
			// brings the estimate down; without an estimate every
			// answer is a sample).
			s.reorder = max(now.Sub(m.detected), s.reorder-s.reorder/8)
			if m.nacks > 0 {
				i.c.recover.Add(1)
			}
			return
		}
		i.c.recover.Add(1)
		i.nackSample(now, m)
	}
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
		i.observe(now.Sub(m.firstNack))
		return
	}
	est, ok := i.rtt.Get()
	if !ok {
		return
	}
	lo, hi := now.Sub(m.lastNack), now.Sub(m.firstNack)
	switch {
	case est < lo:
		i.observe(lo)
	case est > hi:
		i.observe(hi)
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
		}
		i.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := w.Write(out, nil); err == nil {
			i.c.nacksSent.Add(uint64(len(out)))
		}
	}
}

// due collects the sequence numbers to ask for now, in order, and forgets
// those asked for too often or for too long.
func (i *Interceptor) due(s *recvStream, now time.Time, retry time.Duration, seqs []uint16) []uint16 {
	var ext []uint64
	for e, m := range s.missing {
		switch {
		case now.Sub(m.detected) > i.cfg.MaxAge || (m.nacks >= i.cfg.MaxNacks && now.Sub(m.lastNack) >= retry):
			delete(s.missing, e)
			i.c.givenUp.Add(1)
		case m.nacks == 0 && now.Sub(m.detected) < min(s.reorder, maxReorderWait):
			// Possibly only reordered: wait a little before asking.
		case m.nacks == 0 || (m.nacks < i.cfg.MaxNacks && now.Sub(m.lastNack) >= retry):
			if m.nacks == 0 {
				m.firstNack = now
				s.reorder -= s.reorder / 16 // reordering that stopped is forgotten
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
