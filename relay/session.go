package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/relay/signal"
)

const (
	// writeTimeout bounds one signaling write to a client.
	writeTimeout = 10 * time.Second
	// flushTimeout bounds writing the final queued messages when closing.
	flushTimeout = time.Second
	// maxBufferedCandidates bounds candidates held before an answer arrives.
	maxBufferedCandidates = 64
	// maxRemoteCandidates bounds the ICE candidates one session may add
	// over its lifetime, buffered or applied: the ICE agent keeps every
	// remote candidate and pairs it with each local one.
	maxRemoteCandidates = 256
	// slotChurnFactor bounds the upload slots one session may open over
	// its lifetime to this many times MaxTracksPerSession. A stopped
	// transceiver is never freed (its m-line stays in every later offer),
	// so publish/unpublish cycles would otherwise grow the session's
	// PeerConnection and SDP without bound.
	slotChurnFactor = 4
)

// session is one participant: a signaling connection and a PeerConnection.
type session struct {
	r   *Relay
	id  string
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

	envBucket, msgBucket bucket // used by the read loop only

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

// ServeConn runs one participant's session on c until it ends. The first
// message must be a join. ServeConn closes c.
func (r *Relay) ServeConn(ctx context.Context, c signal.Conn) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		r.closeEarly(c, signal.CodeShutdown, "relay shutting down")
		return ErrClosing
	}
	if r.conns >= r.lim.MaxConnections {
		r.mu.Unlock()
		r.m.reject(signal.CodeRelayFull)
		r.closeEarly(c, signal.CodeRelayFull, "too many connections")
		return errors.New("relay: too many connections")
	}
	r.conns++
	r.wg.Add(1)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.conns--
		r.mu.Unlock()
		r.wg.Done()
	}()

	join, err := r.readJoin(ctx, c)
	if err != nil {
		return err
	}
	s, err := r.newSession(c)
	if err != nil {
		r.m.reject(signal.CodeInternal)
		r.closeEarly(c, signal.CodeInternal, "cannot create session")
		return err
	}
	if code := r.admit(s, join.Meeting); code != "" {
		s.pc.Close()
		if code != signal.CodeShutdown {
			r.m.reject(code)
		}
		r.closeEarly(c, code, "join refused")
		return errors.New("relay: join refused: " + code)
	}
	defer s.leave()
	go s.writeLoop()
	s.readLoop(ctx)
	return nil
}

// readJoin waits for the join message.
func (r *Relay) readJoin(ctx context.Context, c signal.Conn) (signal.Join, error) {
	jctx, cancel := context.WithTimeout(ctx, r.lim.JoinTimeout)
	defer cancel()
	unwatch := context.AfterFunc(r.stopping, cancel)
	defer unwatch()
	b, err := c.Read(jctx)
	if err != nil {
		code := ""
		switch {
		case r.stopping.Err() != nil:
			r.closeEarly(c, signal.CodeShutdown, "relay shutting down")
			return signal.Join{}, ErrClosing
		case errors.Is(err, signal.ErrTooBig):
			code = signal.CodeTooBig
		case errors.Is(err, signal.ErrBinaryFrame):
			code = signal.CodeBadMessage
		case jctx.Err() != nil && ctx.Err() == nil:
			code = signal.CodeIdle
		}
		if code != "" {
			r.m.reject(code)
			r.closeEarly(c, code, "no valid join")
		} else {
			c.Close("")
		}
		return signal.Join{}, err
	}
	m, err := signal.Decode(b)
	if err != nil {
		code := signal.CodeBadMessage
		var de *signal.DecodeError
		if errors.As(err, &de) {
			code = de.Code
		}
		r.m.reject(code)
		r.closeEarly(c, code, "no valid join")
		return signal.Join{}, err
	}
	j, ok := m.(signal.Join)
	if !ok {
		r.m.reject(signal.CodeNotJoined)
		r.closeEarly(c, signal.CodeNotJoined, "first message must be join")
		return signal.Join{}, errors.New("relay: first message was not join")
	}
	return j, nil
}

// closeEarly sends an error and closes a connection that has no session.
func (r *Relay) closeEarly(c signal.Conn, code, reason string) {
	if b, err := signal.Encode(signal.Error{Code: code, Reason: reason}); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		_ = c.Write(ctx, b)
		cancel()
	}
	c.Close(code)
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
		envBucket:  newBucket(r.lim.EnvelopeRate, r.lim.EnvelopeBurst),
		msgBucket:  newBucket(r.lim.MessageRate, r.lim.MessageBurst),
		published:  make(map[string]*forwarder),
		down:       make(map[*forwarder]*webrtc.RTPSender),
	}
	s.log = r.log.With("session", s.id)
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

// admit adds s to the meeting, or returns the refusal code.
func (r *Relay) admit(s *session, meetingID string) string {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return signal.CodeShutdown
	}
	mt := r.meetings[meetingID]
	if mt == nil {
		if len(r.meetings) >= r.lim.MaxMeetings {
			r.mu.Unlock()
			return signal.CodeRelayFull
		}
		mt = &meeting{id: meetingID, ref: meetingRef(meetingID), sessions: make(map[string]*session)}
		r.meetings[meetingID] = mt
		r.m.meetings.Add(1)
	}
	mt.mu.Lock()
	if len(mt.sessions) >= r.lim.MaxSessionsPerMeeting {
		empty := len(mt.sessions) == 0
		mt.mu.Unlock()
		if empty {
			delete(r.meetings, meetingID)
			r.m.meetings.Add(-1)
		}
		r.mu.Unlock()
		return signal.CodeMeetingFull
	}
	s.mt = mt
	s.log = s.log.With("meeting", mt.ref)
	r.sessions[s] = struct{}{}
	r.m.sessions.Add(1)
	r.m.sessionsTotal.Add(1)
	peers := make([]string, 0, len(mt.sessions))
	var fwds []*forwarder
	for id, o := range mt.sessions {
		peers = append(peers, id)
		o.send(signal.PeerJoined{Session: s.id})
		o.mu.Lock()
		for _, f := range o.published {
			fwds = append(fwds, f)
		}
		o.mu.Unlock()
	}
	mt.sessions[s.id] = s
	ice := append([]signal.ICEServer(nil), r.cfg.ICEServers...)
	if r.cfg.ICEServersFor != nil {
		ice = append(ice, r.cfg.ICEServersFor()...)
	}
	s.send(signal.Joined{Session: s.id, Peers: peers, ICEServers: ice, IdleMs: r.lim.IdleTimeout.Milliseconds()})
	// Subscribe under the meeting lock so a track published concurrently is
	// added exactly once (either here or by its forwarder).
	added := false
	for _, f := range fwds {
		if f.subscribe(s) {
			added = true
		}
	}
	mt.mu.Unlock()
	r.mu.Unlock()
	s.log.Info("session joined", "peers", len(peers))
	if added {
		s.negotiate()
	}
	return ""
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

// reject counts a bad input and closes the session with code.
func (s *session) rejectClose(code, reason string) {
	s.r.m.reject(code)
	s.closeWith(signal.Error{Code: code, Reason: reason}, code)
}

// rejectReply counts a bad input and answers with an error message.
func (s *session) rejectReply(code, reason string) {
	s.r.m.reject(code)
	s.send(signal.Error{Code: code, Reason: reason})
}

// send queues a message for the client.
func (s *session) send(m signal.Message) {
	b, err := signal.Encode(m)
	if err != nil {
		s.log.Error("cannot encode message", "type", m.MessageType(), "err", err)
		return
	}
	s.enqueue(b)
}

// enqueue queues an encoded message without blocking; a client whose queue
// is full is closed as a slow consumer.
func (s *session) enqueue(b []byte) bool {
	select {
	case <-s.quit:
		s.r.m.droppedMessages.Add(1)
		return false
	default:
	}
	select {
	case s.out <- b:
		return true
	default:
		s.r.m.droppedMessages.Add(1)
		s.r.m.reject(signal.CodeSlow)
		s.closeWith(nil, signal.CodeSlow)
		s.abort() // the write in progress is to a client that does not read
		return false
	}
}

func (s *session) writeLoop() {
	defer close(s.writerDone)
	for {
		select {
		case b := <-s.out:
			ctx, cancel := context.WithTimeout(s.abortCtx, writeTimeout)
			err := s.sig.Write(ctx, b)
			cancel()
			if err != nil {
				s.closeWith(nil, "connection lost")
				s.sig.Close(s.closeReason())
				return
			}
		case <-s.quit:
			s.mu.Lock()
			final, why := s.final, s.closeWhy
			s.mu.Unlock()
			// Flush what is queued, then the final message, all within one
			// flushTimeout: a client that does not read cannot hold the
			// session open.
			ctx, cancel := context.WithTimeout(s.abortCtx, flushTimeout)
			ok := true
			for ok {
				select {
				case b := <-s.out:
					ok = s.sig.Write(ctx, b) == nil
				default:
					if final != nil {
						_ = s.sig.Write(ctx, final)
					}
					ok = false
				}
			}
			cancel()
			s.sig.Close(why)
			return
		}
	}
}

func (s *session) readLoop(ctx context.Context) {
	// The reader is not cancelled when the session is closed: cancelling a
	// WebSocket read tears the connection down before the writer can send
	// the final message. The writer closes the connection instead, which
	// ends the read.
	for {
		rctx, rcancel := context.WithTimeout(ctx, s.r.lim.IdleTimeout)
		b, err := s.sig.Read(rctx)
		idle := rctx.Err() != nil && ctx.Err() == nil
		rcancel()
		if err != nil {
			switch {
			case errors.Is(err, signal.ErrBinaryFrame):
				// A binary frame is a message too: it counts against
				// the message rate before it costs an error reply.
				if !s.msgBucket.allow() {
					s.rejectClose(signal.CodeRateLimited, "message flood")
					return
				}
				s.rejectReply(signal.CodeBadMessage, "binary frame")
				continue
			case errors.Is(err, signal.ErrTooBig):
				s.rejectClose(signal.CodeTooBig, "message too big")
			case idle:
				s.rejectClose(signal.CodeIdle, "idle timeout")
			default:
				s.closeWith(nil, "client closed")
			}
			return
		}
		if !s.msgBucket.allow() {
			s.rejectClose(signal.CodeRateLimited, "message flood")
			return
		}
		if len(b) > s.r.lim.MaxMessageBytes {
			s.rejectClose(signal.CodeTooBig, "message too big")
			return
		}
		m, err := signal.Decode(b)
		if err != nil {
			code := signal.CodeBadMessage
			reason := "malformed message"
			var de *signal.DecodeError
			if errors.As(err, &de) {
				code, reason = de.Code, de.Reason
			}
			s.rejectReply(code, reason)
			continue
		}
		s.handle(m)
		select {
		case <-s.quit:
			return
		default:
		}
	}
}

func (s *session) handle(m signal.Message) {
	switch v := m.(type) {
	case signal.Envelope:
		s.envelope(v)
	case signal.Answer:
		s.applyAnswer(v.SDP)
	case signal.Candidate:
		s.addCandidate(v)
	case signal.Publish:
		s.publish(v.Kind)
	case signal.Unpublish:
		s.unpublish(v.Mid)
	case signal.Ping:
		s.send(signal.Pong{})
	case signal.Join:
		s.rejectReply(signal.CodeAlreadyJoined, "already joined")
	default:
		s.rejectReply(signal.CodeUnexpected, "unexpected message type")
	}
}

func (s *session) envelope(v signal.Envelope) {
	if v.From != "" {
		s.rejectReply(signal.CodeBadMessage, "envelope from a client must not name a sender")
		return
	}
	if !s.envBucket.allow() {
		s.r.m.droppedMessages.Add(1)
		s.rejectReply(signal.CodeRateLimited, "envelope dropped")
		return
	}
	b, err := signal.Encode(signal.Envelope{From: s.id, Payload: v.Payload})
	if err != nil {
		s.rejectReply(signal.CodeTooBig, "envelope too big")
		return
	}
	mt := s.mt
	mt.mu.Lock()
	if v.To != "" {
		t := mt.sessions[v.To]
		if t == nil || t == s {
			mt.mu.Unlock()
			s.r.m.droppedMessages.Add(1)
			s.rejectReply(signal.CodeUnknownSession, "no such session in this meeting")
			return
		}
		if t.enqueue(b) {
			s.r.m.envelopesOut.Add(1)
		}
	} else {
		for _, t := range mt.sessions {
			if t != s && t.enqueue(b) {
				s.r.m.envelopesOut.Add(1)
			}
		}
	}
	mt.mu.Unlock()
	s.r.m.envelopesIn.Add(1)
}

func (s *session) publish(kind string) {
	s.mu.Lock()
	if s.slots >= s.r.lim.MaxTracksPerSession {
		s.mu.Unlock()
		s.rejectReply(signal.CodeTooManyTracks, "track limit reached")
		return
	}
	if s.opened >= slotChurnFactor*s.r.lim.MaxTracksPerSession {
		s.mu.Unlock()
		s.rejectReply(signal.CodeTooManyTracks, "upload slot churn limit reached")
		return
	}
	s.slots++
	s.opened++
	s.mu.Unlock()
	k := webrtc.RTPCodecTypeAudio
	if kind == signal.KindVideo {
		k = webrtc.RTPCodecTypeVideo
	}
	if _, err := s.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		s.log.Warn("cannot open upload slot", "err", err)
		s.closeWith(signal.Error{Code: signal.CodeInternal, Reason: "cannot open upload slot"}, signal.CodeInternal)
		return
	}
	s.negotiate()
}

func (s *session) unpublish(mid string) {
	var slot *webrtc.RTPTransceiver
	for _, t := range s.pc.GetTransceivers() {
		if t.Mid() == mid && t.Direction() == webrtc.RTPTransceiverDirectionRecvonly {
			slot = t
		}
	}
	if slot == nil {
		s.rejectReply(signal.CodeUnexpected, "no upload slot with this mid")
		return
	}
	s.mu.Lock()
	f := s.published[mid]
	delete(s.published, mid)
	s.slots--
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
	_ = slot.Stop()
	s.negotiate()
}

// negotiate sends a new offer, or marks one as needed after the answer to
// the outstanding offer. The relay is always the offerer.
func (s *session) negotiate() {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	select {
	case <-s.quit:
		return
	default:
	}
	if s.offerPending {
		s.needNeg = true
		return
	}
	s.needNeg = false
	if len(s.pc.GetTransceivers()) == 0 {
		return
	}
	offer, err := s.pc.CreateOffer(nil)
	if err == nil {
		err = s.pc.SetLocalDescription(offer)
	}
	if err != nil {
		select {
		case <-s.quit: // closing; the failure is expected
		default:
			s.log.Warn("cannot create offer", "err", err)
			s.closeWith(signal.Error{Code: signal.CodeInternal, Reason: "negotiation failed"}, signal.CodeInternal)
		}
		return
	}
	s.offerPending = true
	s.offerSent()
	s.send(signal.Offer{SDP: s.pc.LocalDescription().SDP})
}

func (s *session) applyAnswer(sdp string) {
	s.negMu.Lock()
	if !s.offerPending {
		s.negMu.Unlock()
		s.rejectReply(signal.CodeUnexpected, "answer without offer")
		return
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		s.negMu.Unlock()
		if s.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			// The client closed its side (DTLS close_notify closes ours):
			// it is leaving, not misbehaving.
			s.closeWith(nil, "client closed")
			return
		}
		s.log.Debug("answer rejected", "err", err)
		s.rejectClose(signal.CodeBadSDP, "answer rejected")
		return
	}
	s.offerPending = false
	s.haveRemote = true
	s.answerApplied()
	cands := s.remoteCands
	s.remoteCands = nil
	again := s.needNeg
	s.negMu.Unlock()
	for _, c := range cands {
		if err := s.pc.AddICECandidate(c); err != nil {
			s.rejectReply(signal.CodeBadSDP, "candidate rejected")
		}
	}
	if again {
		s.negotiate()
	}
}

func (s *session) addCandidate(v signal.Candidate) {
	init := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
	s.negMu.Lock()
	if s.candCount >= maxRemoteCandidates {
		s.negMu.Unlock()
		s.rejectReply(signal.CodeUnexpected, "too many candidates")
		return
	}
	s.candCount++
	if !s.haveRemote {
		if len(s.remoteCands) >= maxBufferedCandidates {
			s.negMu.Unlock()
			s.rejectReply(signal.CodeUnexpected, "too many candidates before answer")
			return
		}
		s.remoteCands = append(s.remoteCands, init)
		s.negMu.Unlock()
		return
	}
	s.negMu.Unlock()
	if err := s.pc.AddICECandidate(init); err != nil && s.pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
		s.rejectReply(signal.CodeBadSDP, "candidate rejected")
	}
}

// bucket is a token bucket rate limiter.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

func (b *bucket) allow() bool {
	now := time.Now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	b.last = now
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
