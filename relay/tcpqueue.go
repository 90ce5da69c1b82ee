package relay

import (
	"net"
	"sync"
	"time"

	"github.com/sottohq/sotto/relay/signal"
)

// ICE-TCP carries media over one TCP connection per client (RFC 6544,
// framed by RFC 4571), so a slow path turns into a queue instead of loss.
// A queue in bytes (pion's 4 MiB default is about 110 s at 300 kbit/s)
// delivers minutes-old media; the relay bounds it in time instead, and
// sends audio and control traffic ahead of video.
const (
	// tcpVideoMaxAge is the longest a video packet waits in an ICE-TCP
	// queue: older ones are dropped, and the receiver's NACKs or a
	// keyframe repair the hole once the path keeps up again.
	tcpVideoMaxAge = 300 * time.Millisecond
	// tcpMediaMaxAge is the same bound for audio: later than that it is
	// past any jitter buffer's playout time.
	tcpMediaMaxAge = time.Second
	// tcpQueueBytes bounds one connection's queue whatever the ages: video
	// goes first, then new packets are refused.
	tcpQueueBytes = 1 << 20
)

// tcpListener hands the ICE-TCP mux connections whose writes go through
// a tcpQueue.
type tcpListener struct {
	net.Listener
	m *metrics
}

func (l tcpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newTCPQueue(c, l.m), nil
}

// tcpQueue is a net.Conn whose Write never blocks: each write (one framed
// packet, as the ICE-TCP mux writes them) is queued and written by one
// goroutine, audio and control first, video after, and dropped when it
// waited too long.
type tcpQueue struct {
	net.Conn
	m *metrics

	mu     sync.Mutex
	wake   *sync.Cond
	high   []queued // audio RTP, RTCP, STUN, DTLS
	low    []queued // video RTP
	bytes  int
	closed bool
}

type queued struct {
	b     []byte
	at    time.Time
	media bool // RTP, which may be dropped when old
}

func newTCPQueue(c net.Conn, m *metrics) *tcpQueue {
	q := &tcpQueue{Conn: c, m: m}
	q.wake = sync.NewCond(&q.mu)
	go q.writeLoop()
	return q
}

// classify looks at the RTP header of a framed packet, which SRTP leaves in
// clear (RFC 3711 §3.1): RTP of the video payload type is video; RTCP
// (payload types 64–95 with the marker bit folded in, RFC 5761 §4) and
// anything that is not RTP is control.
func classify(b []byte) (media, video bool) {
	if len(b) < 4 || b[2]>>6 != 2 {
		return false, false
	}
	pt := b[3] & 0x7f
	if pt >= 64 && pt <= 95 {
		return false, false
	}
	return true, pt == signal.PayloadTypeVP8
}

// Write queues one framed packet and returns at once.
func (q *tcpQueue) Write(b []byte) (int, error) {
	media, video := classify(b)
	e := queued{b: append([]byte(nil), b...), at: time.Now(), media: media}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, net.ErrClosed
	}
	q.expire(e.at)
	for q.bytes+len(b) > tcpQueueBytes && len(q.low) > 0 {
		q.dropLow()
	}
	if q.bytes+len(b) > tcpQueueBytes {
		q.m.tcpDropped.Add(1)
		return len(b), nil
	}
	if video {
		q.low = append(q.low, e)
	} else {
		q.high = append(q.high, e)
	}
	q.bytes += len(b)
	q.wake.Signal()
	return len(b), nil
}

// expire drops video older than tcpVideoMaxAge from the head of its queue.
func (q *tcpQueue) expire(now time.Time) {
	for len(q.low) > 0 && now.Sub(q.low[0].at) > tcpVideoMaxAge {
		q.dropLow()
	}
}

func (q *tcpQueue) dropLow() {
	q.bytes -= len(q.low[0].b)
	q.low[0] = queued{}
	q.low = q.low[1:]
	q.m.tcpDroppedVideo.Add(1)
}

// next waits for the packet to write: the oldest audio or control one,
// else the oldest video one that is still fresh.
func (q *tcpQueue) next() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return nil, false
		}
		now := time.Now()
		for len(q.high) > 0 {
			e := q.high[0]
			q.high[0] = queued{}
			q.high = q.high[1:]
			q.bytes -= len(e.b)
			if e.media && now.Sub(e.at) > tcpMediaMaxAge {
				q.m.tcpDropped.Add(1)
				continue
			}
			return e.b, true
		}
		q.expire(now)
		if len(q.low) > 0 {
			e := q.low[0]
			q.low[0] = queued{}
			q.low = q.low[1:]
			q.bytes -= len(e.b)
			return e.b, true
		}
		q.wake.Wait()
	}
}

func (q *tcpQueue) writeLoop() {
	for {
		b, ok := q.next()
		if !ok {
			return
		}
		if _, err := q.Conn.Write(b); err != nil {
			q.Close()
			return
		}
	}
}

// Close drops what is queued and closes the connection.
func (q *tcpQueue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.high, q.low, q.bytes = nil, nil, 0
	q.wake.Broadcast()
	q.mu.Unlock()
	return q.Conn.Close()
}
