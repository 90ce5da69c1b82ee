package relay

import (
	"context"
	"errors"

	"github.com/sottohq/sotto/relay/signal"
)

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

// admit adds s to the meeting, or returns the refusal code.
func (r *Relay) admit(s *session, meetingID signal.ID) string {
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
		mt = &meeting{id: meetingID, ref: meetingRef(meetingID), sessions: make(map[signal.ID]*session)}
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
	peers := make([]signal.ID, 0, len(mt.sessions))
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
