package relay

import (
	"context"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/sottohq/sotto/relay/signal"
)

// session is one participant: its signaling connection and its
// PeerConnection to the relay. The work is split by responsibility:
//
//   - join.go: admission (the join handshake, limits, entering a meeting);
//   - signaling.go: the read loop and message dispatch, the write loop;
//   - envelope.go: relaying opaque envelopes within the meeting;
//   - publish.go: upload slots (publish, unpublish);
//   - negotiate.go: offers, answers and ICE candidates (the relay always
//     offers, docs/PROTOCOL.md §4.3);
//   - forward.go and reuse.go: forwarding published tracks to the others.
//
// Lifecycle: ServeConn admits the session, runs the writer on its own
// goroutine and the reader on the caller's; closeWith ends it from
// anywhere (once), and leave tears it down when the reader returns.
type session struct {
	r   *Relay
	id  signal.ID
	mt  *meeting
	sig signal.Conn
	pc  *webrtc.PeerConnection
	log *slog.Logger

	out        chan []byte
	abortCtx   context.Context // cancelled to abandon writes to a stuck client
	abort      context.CancelFunc
	quit       chan struct{}
	quitOnce   sync.Once
	final      []byte // last message written before closing, if any
	closeWhy   string
	writerDone chan struct{}

	// envLimit and msgLimit are token buckets for envelopes and for
	// messages of any type; only the read loop uses them.
	envLimit, msgLimit *rate.Limiter

	negMu        sync.Mutex
	offerPending bool
	needNeg      bool
	haveRemote   bool
	remoteCands  []webrtc.ICECandidateInit
	candCount    int // remote candidates received, buffered or applied
	// Downstream transceivers of ended tracks, on their way to reuse
	// (see reuse.go).
	retired []parked // track ended, placeholder not yet offered
	offered []parked // placeholder in the outstanding offer
	spare   []parked // old track ended on both sides: reusable

	mu        sync.Mutex
	slots     int                              // upload slots open now
	opened    int                              // upload slots opened in the session's lifetime
	published map[string]*forwarder            // by the relay-side mid
	down      map[*forwarder]*webrtc.RTPSender // tracks forwarded to this session
	gone      bool
}

func (r *Relay) newSession(c signal.Conn) (*session, error) {
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	abortCtx, abort := context.WithCancel(context.Background())
	s := &session{
		abortCtx:   abortCtx,
		abort:      abort,
		r:          r,
		id:         signal.NewID(),
		sig:        c,
		pc:         pc,
		out:        make(chan []byte, r.lim.SendQueue),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		envLimit:   rate.NewLimiter(rate.Limit(r.lim.EnvelopeRate), r.lim.EnvelopeBurst),
		msgLimit:   rate.NewLimiter(rate.Limit(r.lim.MessageRate), r.lim.MessageBurst),
		published:  make(map[string]*forwarder),
		down:       make(map[*forwarder]*webrtc.RTPSender),
	}
	s.log = r.log.With("session", s.id.String())
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		s.send(signal.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("peer connection state", "state", st.String())
		if st == webrtc.PeerConnectionStateFailed {
			s.closeWith(signal.Error{Code: signal.CodeInternal, Reason: "media connection failed"}, "ice-failed")
		}
	})
	pc.OnTrack(s.onTrack)
	return s, nil
}

// leave removes s from its meeting and tears it down.
func (s *session) leave() {
	s.closeWith(nil, "")
	r := s.r
	r.mu.Lock()
	mt := s.mt
	mt.mu.Lock()
	delete(mt.sessions, s.id)
	for _, o := range mt.sessions {
		o.send(signal.PeerLeft{Session: s.id})
	}
	if len(mt.sessions) == 0 {
		delete(r.meetings, mt.id)
		r.m.meetings.Add(-1)
	}
	mt.mu.Unlock()
	delete(r.sessions, s)
	r.mu.Unlock()

	s.mu.Lock()
	s.gone = true
	pubs := make([]*forwarder, 0, len(s.published))
	for _, f := range s.published {
		pubs = append(pubs, f)
	}
	downs := make([]*forwarder, 0, len(s.down))
	for f := range s.down {
		downs = append(downs, f)
	}
	s.mu.Unlock()
	for _, f := range pubs {
		f.close()
	}
	for _, f := range downs {
		f.unsubscribe(s)
	}
	s.pc.Close()
	<-s.writerDone
	s.abort()
	r.m.sessions.Add(-1)
	s.log.Info("session left", "reason", s.closeReason())
}

func (s *session) closeReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeWhy
}

// closeWith ends the session: final (if not nil) is the last message
// written, reason the close reason.
func (s *session) closeWith(final signal.Message, reason string) {
	s.quitOnce.Do(func() {
		s.mu.Lock()
		if final != nil {
			s.final, _ = signal.Encode(final)
		}
		s.closeWhy = reason
		s.mu.Unlock()
		close(s.quit)
	})
}
