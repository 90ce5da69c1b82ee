package rtx

import (
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/sottohq/sotto/relay/fec"
)

// parityFlowing is how long after the last parity packet a stream counts
// as protected by parity.
const parityFlowing = time.Second

// budgetBuckets divides the budget window; the window slides by one
// bucket at a time.
const budgetBuckets = 10

// sendStream is the history and budget of one local NACK-enabled stream.
// Its fields are guarded by the interceptor's mu.
type sendStream struct {
	writer  interceptor.RTPWriter
	history []sent
	budget  budget
	scratch rtp.Packet
	loss    float64 // share of recent packets the receiver asked for
	// parityAt is when parity (package fec) was last sent on the stream:
	// while it flows, a lost resend's packet is likely rebuilt from it,
	// so resends are not sent twice.
	parityAt time.Time
}

// sent is one packet as first sent, marshalled.
type sent struct {
	seq        uint16
	valid      bool
	resends    int
	lastResend time.Time
	raw        []byte
}

// budget is a sliding window of first-sent and resent bytes.
type budget struct {
	width   time.Duration // of one bucket
	at      int64         // index of the newest bucket
	sent    [budgetBuckets]int64
	resent  [budgetBuckets]int64
	parity  [budgetBuckets]int64
	sumSent int64
	sumRes  int64
	sumPar  int64
}

func (b *budget) advance(now time.Time) {
	idx := now.UnixNano() / int64(b.width)
	if idx <= b.at {
		return
	}
	for k := b.at + 1; k <= idx && k <= b.at+budgetBuckets; k++ {
		j := k % budgetBuckets
		b.sumSent -= b.sent[j]
		b.sumRes -= b.resent[j]
		b.sumPar -= b.parity[j]
		b.sent[j], b.resent[j], b.parity[j] = 0, 0, 0
	}
	b.at = idx
}

func (b *budget) addSent(n int) {
	b.sent[b.at%budgetBuckets] += int64(n)
	b.sumSent += int64(n)
}

// allow takes n resent bytes if they fit ratio × sent + burst.
func (b *budget) allow(n int, ratio float64, burst int) bool {
	if float64(b.sumRes+int64(n)) > ratio*float64(b.sumSent)+float64(burst) {
		return false
	}
	b.resent[b.at%budgetBuckets] += int64(n)
	b.sumRes += int64(n)
	return true
}

// allowParity takes n parity bytes if they fit ratio × sent + burst; parity
// has an allowance of its own beside the resends'.
func (b *budget) allowParity(n int, ratio float64, burst int) bool {
	if float64(b.sumPar+int64(n)) > ratio*float64(b.sumSent)+float64(burst) {
		return false
	}
	b.parity[b.at%budgetBuckets] += int64(n)
	b.sumPar += int64(n)
	return true
}

// BindLocalStream keeps a copy of each packet of a NACK-enabled stream.
func (i *Interceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNack(info) {
		return writer
	}
	s := &sendStream{
		writer:  writer,
		history: make([]sent, i.cfg.BufferPackets),
		budget:  budget{width: i.cfg.BudgetWindow / budgetBuckets, at: time.Now().UnixNano() / int64(i.cfg.BudgetWindow/budgetBuckets)},
	}
	ssrc := info.SSRC
	i.mu.Lock()
	if _, had := i.local[ssrc]; !had {
		i.c.streams.Add(1)
	}
	i.local[ssrc] = s
	i.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == ssrc && !i.keep(s, h, payload) {
			// Parity over the budget is not sent (the receiver's
			// reassembly skips its number, docs/PROTOCOL.md §5.6).
			return len(payload), nil
		}
		return writer.Write(h, payload, a)
	})
}

// keep records a packet about to be sent and reports whether to send it:
// parity (package fec) is repair sent ahead of any request, with an
// allowance of ParityBudgetRatio of the stream, and not sent beyond it.
func (i *Interceptor) keep(s *sendStream, h *rtp.Header, payload []byte) bool {
	size := h.MarshalSize() + len(payload)
	i.mu.Lock()
	defer i.mu.Unlock()
	parity := fec.IsParity(payload)
	if parity {
		s.budget.advance(time.Now())
		if !s.budget.allowParity(size, ParityBudgetRatio, i.cfg.BudgetBurst) {
			i.c.parityRefused.Add(1)
			return false
		}
		i.c.parityBytes.Add(uint64(size))
		s.parityAt = time.Now()
	}
	e := &s.history[int(h.SequenceNumber)%len(s.history)]
	if cap(e.raw) < size {
		e.raw = make([]byte, size)
	}
	e.raw = e.raw[:size]
	n, err := h.MarshalTo(e.raw)
	if err != nil {
		e.valid = false
		return true
	}
	copy(e.raw[n:], payload)
	e.seq, e.valid, e.resends, e.lastResend = h.SequenceNumber, true, 0, time.Time{}
	if !parity {
		s.budget.advance(time.Now())
		s.budget.addSent(size)
		s.loss -= s.loss * lossGain
	}
	i.c.sentBytes.Add(uint64(size))
	return true
}

// UnbindLocalStream forgets a stream's history.
func (i *Interceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	if _, ok := i.local[info.SSRC]; ok {
		delete(i.local, info.SSRC)
		i.c.streams.Add(-1)
	}
	i.mu.Unlock()
	i.srs.forget(info.SSRC)
}

// answer resends what a NACK asks for, within the per-packet limits and
// the stream's budget. It runs on the RTCP read goroutine, so a receiver
// sending NACKs faster than they are answered only slows its own reads.
func (i *Interceptor) answer(now time.Time, nack *rtcp.TransportLayerNack) {
	i.mu.Lock()
	s := i.local[nack.MediaSSRC]
	i.mu.Unlock()
	if s == nil {
		return
	}
	spacing := i.rtt.Or(0)*3/4 + 5*time.Millisecond
	// One NACK is looked at for at most a history's worth of sequence
	// numbers, and not beyond the budget: a hostile receiver's packet
	// costs bounded work.
	left := len(s.history)
	over := false
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			if left == 0 {
				return false
			}
			left--
			if over {
				i.c.refusedBudget.Add(1)
				return true
			}
			over = !i.resend(s, now, seq, spacing)
			return true
		})
	}
}

// resend sends one asked-for packet if the rules allow; false when the
// budget is spent.
func (i *Interceptor) resend(s *sendStream, now time.Time, seq uint16, spacing time.Duration) bool {
	i.mu.Lock()
	e := &s.history[int(seq)%len(s.history)]
	switch {
	case !e.valid || e.seq != seq:
		i.mu.Unlock()
		i.c.notInHistory.Add(1)
		return true
	case e.resends >= i.cfg.MaxResends || (!e.lastResend.IsZero() && now.Sub(e.lastResend) < spacing):
		i.mu.Unlock()
		i.c.refusedRepeat.Add(1)
		return true
	}
	s.budget.advance(now)
	if !s.budget.allow(len(e.raw), i.cfg.BudgetRatio, i.cfg.BudgetBurst) {
		i.mu.Unlock()
		i.c.refusedBudget.Add(1)
		return false
	}
	if e.resends == 0 {
		s.loss += lossGain
	}
	e.resends++
	e.lastResend = now
	size := len(e.raw)
	err := s.scratch.Unmarshal(e.raw)
	var h rtp.Header
	var payload []byte
	if err == nil {
		// The write happens outside the lock; the history slot may be
		// reused meanwhile, so the packet is copied out.
		h = s.scratch.Header.Clone()
		payload = append([]byte(nil), s.scratch.Payload...)
	}
	withParity := !s.parityAt.IsZero() && now.Sub(s.parityAt) < parityFlowing
	twice := s.loss >= DuplicateAbove && !withParity && s.budget.allow(size, i.cfg.BudgetRatio, i.cfg.BudgetBurst)
	i.mu.Unlock()
	if err != nil {
		return true
	}
	write := func() {
		if _, err := s.writer.Write(&h, payload, nil); err == nil {
			i.c.resent.Add(1)
			i.c.resentBytes.Add(uint64(size))
		}
	}
	write()
	if twice {
		time.AfterFunc(duplicateAfter, write)
	}
	return true
}
