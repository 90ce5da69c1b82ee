// Package meetingnet runs the meeting protocol (crypto/meeting) over a relay
// connection and hands the frame keys it produces to the media engine.
//
//  1. receive: the relay's envelopes and presence events arrive from the
//     transport connection;
//  2. authenticate: the protocol core opens, checks and applies them (roster,
//     waiting room, keys, chat);
//  3. install keys: key events go to the media engine (SetSendKey,
//     SetReceiveKey, RemoveReceiveKey);
//  4. send: envelopes the core produces go back to the relay, in order, from
//     one sending goroutine;
//  5. notify: roster, waiting room, chat and alerts go to the user interface
//     on Events (and OnEvent).
//
// A timer ticks the core every TickEvery for re-sends, key switches and
// expiries.
package meetingnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/relay/signal"
	"github.com/sottohq/sotto/transport"
)

// Defaults.
const (
	// DefaultTick is the core's timer resolution.
	DefaultTick = 20 * time.Millisecond
	// eventBuffer is the capacity of Events; when the UI falls behind,
	// further events are dropped and counted (the state is always
	// available from Snapshot).
	eventBuffer = 1024
	// sendBuffer bounds envelopes waiting for the relay connection; the
	// protocol re-sends what is lost.
	sendBuffer = 4096
)

// Envelopes is the relay connection (transport.Conn).
type Envelopes interface {
	SessionID() signal.ID
	SendEnvelope(to signal.ID, payload []byte) error
}

// Engine is the media engine (participant.Participant).
type Engine interface {
	SetSendKey(kid uint64, baseKey []byte) error
	SetReceiveKey(kid uint64, baseKey []byte) error
	RemoveReceiveKey(kid uint64)
}

// SessionKeyer is implemented by engines that bind a receive key to the
// relay session of its sender (participant.Participant does), so that the
// relay cannot present one member's media as another's. meetingnet
// prefers it to Engine.SetReceiveKey.
type SessionKeyer interface {
	SetReceiveKeyFrom(session string, kid uint64, baseKey []byte) error
}

// StopSender is implemented by engines that can stop sealing frames when
// this member leaves or is removed.
type StopSender interface {
	StopSending()
}

// Config configures a Session.
type Config struct {
	// Conn carries envelopes; its SessionID is this member's session.
	Conn Envelopes
	// Engine receives frame keys; nil runs the protocol without media.
	Engine Engine
	// Identity signs for this member.
	Identity meeting.Signer
	// Name is the display name.
	Name string
	// Policy is the admission policy when hosting.
	Policy meeting.Policy
	// Contacts, if set, is consulted for every identity seen.
	Contacts meeting.ContactBook
	// Peers are the sessions present when this member joined the relay
	// (transport.Conn.Peers).
	Peers []signal.ID
	// TickEvery is the timer resolution (DefaultTick when zero).
	TickEvery time.Duration
	// OnEvent, if set, is called for every event in order, on the
	// session's goroutine, before it is offered on Events. It must not
	// call the Session.
	OnEvent func(meeting.Event)
}

// Session is one member's meeting over one relay connection. Its methods
// are safe for concurrent use.
type Session struct {
	cfg  Config
	self meeting.SessionID

	mu     sync.Mutex
	m      *meeting.Member
	engine Engine // cfg.Engine, or the one given to Rebind; guarded by mu
	last   Transition

	conn atomic.Pointer[connHolder] // read by the sending goroutine

	events  chan meeting.Event
	out     chan meeting.Outgoing
	done    chan struct{}
	closeMu sync.Once

	droppedEvents, droppedSends, sendErrors, engineErrors, badSessions, relayErrors atomic.Uint64
}

// Transition is the timing of this member's latest roster change and key
// switch (for a "rotating keys…" indicator).
type Transition struct {
	// Epoch is the roster epoch.
	Epoch uint64
	// RosterAt is when the roster epoch arrived.
	RosterAt time.Time
	// SwitchedAt is when this member switched its send key for it (zero
	// until then).
	SwitchedAt time.Time
}

type connHolder struct{ Envelopes }

func newSession(cfg Config) (*Session, error) {
	if cfg.Conn == nil || cfg.Identity == nil {
		return nil, errors.New("meetingnet: config needs a connection and an identity")
	}
	self, err := meeting.ParseSessionID(cfg.Conn.SessionID().String())
	if err != nil {
		return nil, fmt.Errorf("meetingnet: own session id: %w", err)
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = DefaultTick
	}
	s := &Session{
		cfg:    cfg,
		self:   self,
		engine: cfg.Engine,
		events: make(chan meeting.Event, eventBuffer),
		out:    make(chan meeting.Outgoing, sendBuffer),
		done:   make(chan struct{}),
	}
	s.conn.Store(&connHolder{cfg.Conn})
	return s, nil
}

func (s *Session) coreConfig(id meeting.MeetingID) meeting.Config {
	return meeting.Config{
		MeetingID: id, Session: s.self, Identity: s.cfg.Identity, Name: s.cfg.Name,
		Policy: s.cfg.Policy, Contacts: s.cfg.Contacts,
	}
}

// Host starts a new meeting hosted by this member. meetingID must be the
// meeting the connection joined. The link to share is built from Invite.
func Host(cfg Config, meetingID meeting.MeetingID) (*Session, error) {
	s, err := newSession(cfg)
	if err != nil {
		return nil, err
	}
	s.m, err = meeting.NewHost(s.coreConfig(meetingID), time.Now())
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// Join knocks at the meeting of inv; the host admits or denies.
func Join(cfg Config, inv meeting.Invite) (*Session, error) {
	s, err := newSession(cfg)
	if err != nil {
		return nil, err
	}
	s.m, err = meeting.NewJoiner(s.coreConfig(inv.MeetingID), inv, time.Now())
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

func (s *Session) start() {
	s.mu.Lock()
	now := time.Now()
	for _, p := range s.cfg.Peers {
		if sid, err := meeting.ParseSessionID(p.String()); err == nil {
			s.m.PeerJoined(sid, now)
		}
	}
	s.flush()
	s.mu.Unlock()
	go s.sendLoop()
}

// Run feeds relay events to the protocol and ticks it until ctx ends, the
// connection closes (a transport.Closed event or a closed channel), or
// Close is called.
func (s *Session) Run(ctx context.Context, events <-chan transport.Event) error {
	t := time.NewTicker(s.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return nil
		case now := <-t.C:
			s.tick(now)
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if closed := s.Handle(ev); closed {
				return nil
			}
		}
	}
}

// Handle processes one relay event and reports whether the connection
// closed. Run calls it; it is exported for drivers with their own loop.
func (s *Session) Handle(ev transport.Event) (closed bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := ev.(type) {
	case transport.Envelope:
		from, err := meeting.ParseSessionID(e.From.String())
		if err != nil {
			s.badSessions.Add(1)
			return false
		}
		s.m.Receive(from, e.Payload, now)
	case transport.PeerJoined:
		if sid, err := meeting.ParseSessionID(e.ID.String()); err == nil {
			s.m.PeerJoined(sid, now)
		}
	case transport.PeerLeft:
		if sid, err := meeting.ParseSessionID(e.ID.String()); err == nil {
			s.m.PeerLeft(sid, now)
		}
	case transport.RelayError:
		// An envelope the relay refused (rate limit, a session that just
		// left); the protocol re-sends what matters.
		s.relayErrors.Add(1)
	case transport.Closed:
		return true
	}
	s.flush()
	return false
}

// flush moves the core's output to the sender and the engine. s.mu is held.
func (s *Session) flush() {
	for _, o := range s.m.Outgoing() {
		select {
		case s.out <- o:
		default:
			s.droppedSends.Add(1)
		}
	}
	for _, e := range s.m.Events() {
		s.apply(e)
		if s.cfg.OnEvent != nil {
			s.cfg.OnEvent(e)
		}
		switch e := e.(type) {
		case meeting.SendKey:
			clear(e.Key)
			continue // keys never leave for the UI
		case meeting.ReceiveKey:
			clear(e.Key)
			continue
		}
		select {
		case s.events <- e:
		default:
			s.droppedEvents.Add(1)
		}
	}
}

// apply installs key events in the engine; flush zeroes the key bytes after
// OnEvent has seen them.
func (s *Session) apply(e meeting.Event) {
	switch e := e.(type) {
	case meeting.RosterChanged:
		s.last = Transition{Epoch: e.Roster.Epoch, RosterAt: time.Now()}
	case meeting.SendKey:
		if e.KID>>16 == s.last.Epoch && s.last.SwitchedAt.IsZero() {
			s.last.SwitchedAt = time.Now()
		}
		if s.engine != nil {
			if err := s.engine.SetSendKey(e.KID, e.Key); err != nil {
				s.engineErrors.Add(1)
			}
		}
	case meeting.ReceiveKey:
		if s.engine != nil {
			var err error
			if sk, ok := s.engine.(SessionKeyer); ok {
				err = sk.SetReceiveKeyFrom(e.Session.String(), e.KID, e.Key)
			} else {
				err = s.engine.SetReceiveKey(e.KID, e.Key)
			}
			if err != nil {
				s.engineErrors.Add(1)
			}
		}
	case meeting.DropReceiveKey:
		if s.engine != nil {
			s.engine.RemoveReceiveKey(e.KID)
		}
	case meeting.StopSending:
		if st, ok := s.engine.(StopSender); ok {
			st.StopSending()
		}
	}
}

func (s *Session) sendLoop() {
	for {
		select {
		case <-s.done:
			return
		case o := <-s.out:
			if err := s.conn.Load().SendEnvelope(signal.ID(o.To), o.Payload); err != nil {
				s.sendErrors.Add(1)
			}
		}
	}
}

// Events delivers roster changes, waiting-room changes, chat, alerts and
// life-cycle events (never keys) for the user interface.
func (s *Session) Events() <-chan meeting.Event { return s.events }

// Close stops the session's goroutines and zeroes the member's secrets
// (its member key, the invite key of a host, a prepared send key): a
// session closed without Leave, because its connection was lost, holds no
// key afterwards. It does not close the connection; nothing more is sent.
func (s *Session) Close() {
	s.closeMu.Do(func() {
		close(s.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.m.Leave()
		s.m.Outgoing() // the leave notice: the connection is not ours to use now
		for _, e := range s.m.Events() {
			switch e := e.(type) {
			case meeting.SendKey:
				clear(e.Key)
			case meeting.ReceiveKey:
				clear(e.Key)
			}
		}
	})
}

func (s *Session) command(f func(m *meeting.Member) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := f(s.m)
	s.flush()
	return err
}

func parseSID(sid string) (meeting.SessionID, error) {
	id, err := meeting.ParseSessionID(sid)
	if err != nil {
		return id, fmt.Errorf("meetingnet: %w", err)
	}
	return id, nil
}

// Admit lets a waiting joiner in (host only).
func (s *Session) Admit(session string) error {
	sid, err := parseSID(session)
	if err != nil {
		return err
	}
	return s.command(func(m *meeting.Member) error { return m.Admit(sid) })
}

// Deny turns a waiting joiner away (host only).
func (s *Session) Deny(session string) error {
	sid, err := parseSID(session)
	if err != nil {
		return err
	}
	return s.command(func(m *meeting.Member) error { return m.Deny(sid) })
}

// Remove takes a member out of the meeting (host only).
func (s *Session) Remove(session string) error {
	sid, err := parseSID(session)
	if err != nil {
		return err
	}
	return s.command(func(m *meeting.Member) error { return m.Remove(sid) })
}

// HandOver gives the host role to a member (host only).
func (s *Session) HandOver(session string) error {
	sid, err := parseSID(session)
	if err != nil {
		return err
	}
	return s.command(func(m *meeting.Member) error { return m.HandOver(sid) })
}

// SendChat sends an end-to-end encrypted chat message to every member.
func (s *Session) SendChat(text string) error {
	return s.command(func(m *meeting.Member) error { return m.SendChat(text) })
}

// SetPolicy changes the admission policy (host).
func (s *Session) SetPolicy(p meeting.Policy) {
	_ = s.command(func(m *meeting.Member) error { m.SetPolicy(p); return nil })
}

// Leave tells the host this member leaves and drops every key. It waits up
// to timeout for the notice to be handed to the connection; the caller then
// closes the connection.
func (s *Session) Leave(timeout time.Duration) {
	_ = s.command(func(m *meeting.Member) error { m.Leave(); return nil })
	deadline := time.Now().Add(timeout)
	for len(s.out) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// Invite returns what the meeting link carries (see meeting.Link).
func (s *Session) Invite() meeting.Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.Invite()
}

// SessionID returns this member's relay session ID.
func (s *Session) SessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.self.String()
}

// Rebind moves a host's meeting to a new relay connection and media engine
// after its connection dropped (§6.8 "Host back"): the host publishes the
// next roster with its new session and every member re-keys, so the new
// engine receives every key it needs. peers are the sessions present on the
// new connection. Other members cannot keep their place; they join again.
// The caller runs the session on the new connection's events.
func (s *Session) Rebind(conn Envelopes, engine Engine, peers []signal.ID) error {
	sid, err := meeting.ParseSessionID(conn.SessionID().String())
	if err != nil {
		return fmt.Errorf("meetingnet: own session id: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.m.IsHost() {
		return meeting.ErrNotHost
	}
	s.conn.Store(&connHolder{conn})
	s.engine, s.self = engine, sid
	now := time.Now()
	for _, p := range peers {
		if psid, err := meeting.ParseSessionID(p.String()); err == nil {
			s.m.PeerJoined(psid, now)
		}
	}
	err = s.m.Reconnected(sid, now)
	s.flush()
	return err
}

// LastTransition returns the timing of this member's latest roster change
// and key switch.
func (s *Session) LastTransition() Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// RunTimers ticks the protocol until ctx ends or Close is called, for
// drivers that read the relay's events themselves and pass them to Handle.
func (s *Session) RunTimers(ctx context.Context) {
	t := time.NewTicker(s.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

func (s *Session) tick(now time.Time) {
	s.mu.Lock()
	s.m.Tick(now)
	s.flush()
	s.mu.Unlock()
}

// SafetyNumber returns the pairwise safety number with a member or waiting
// joiner, computing it on first use (thousands of hash rounds), or "" for an
// unknown session.
func (s *Session) SafetyNumber(session string) string {
	sid, err := meeting.ParseSessionID(session)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mv := range s.m.Roster().Members {
		if mv.Session == sid && !mv.Self {
			return s.m.SafetyNumber(mv.Identity)
		}
	}
	for _, w := range s.m.Waiting() {
		if w.Session == sid {
			return s.m.SafetyNumber(w.Identity)
		}
	}
	return ""
}
