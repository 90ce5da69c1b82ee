// Package meetingnet drives the meeting protocol (crypto/meeting) over a
// relay connection and hands the frame keys it produces to the media
// engine. It owns no loop of its own: the meeting's one event loop
// (internal/call) feeds it, step by step:
//
//  1. receive: Handle takes each relay event (envelope, presence, close);
//     Tick advances the protocol's timers (re-sends, key switches, expiry);
//  2. authenticate: the protocol core opens, checks and applies what
//     arrived (roster, waiting room, keys, chat);
//  3. install keys: key events go to the media engine through Keys;
//  4. send: envelopes the core produces go back to the relay, in order,
//     from one sending goroutine, so a slow socket never stalls the loop;
//  5. notify: TakeEvents hands the loop every other event, in order and
//     never dropped (key events only as KIDs, their bytes zeroed).
package meetingnet

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// TickEvery is the protocol timer resolution the loop should keep.
const TickEvery = 20 * time.Millisecond

// sendBuffer bounds envelopes waiting for the relay connection; beyond it
// they are dropped and counted, and the protocol re-sends what matters.
const sendBuffer = 4096

// Envelopes is the relay connection (transport.Conn).
type Envelopes interface {
	SessionID() signal.ID
	SendEnvelope(to signal.ID, payload []byte) error
}

// Keys is where frame keys go: the media engine (participant.Participant).
// A receive key is bound to the relay session of its sender, so that the
// relay cannot present one member's media as another's.
type Keys interface {
	SetSendKey(kid uint64, baseKey []byte) error
	// StopSending drops the send key when this member leaves or is removed.
	StopSending()
	SetReceiveKey(from signal.ID, kid uint64, baseKey []byte) error
	RemoveReceiveKey(kid uint64)
}

// Config configures a Session.
type Config struct {
	// Conn carries envelopes; its SessionID is this member's session.
	Conn Envelopes
	// Keys receives frame keys; nil runs the protocol without media.
	Keys Keys
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
}

// Session is one member's meeting over one relay connection. Its methods
// are safe for concurrent use.
type Session struct {
	cfg  Config
	self meeting.SessionID
	conn Envelopes

	mu      sync.Mutex
	m       *meeting.Member
	last    Transition
	pending []meeting.Event // for TakeEvents

	out     chan outgoing
	done    chan struct{}
	closeMu sync.Once

	droppedSends, sendErrors, engineErrors, relayErrors atomic.Uint64
}

// outgoing is one envelope for the sending goroutine, or (sent non-nil) a
// marker it closes once everything queued before it has been handed on.
type outgoing struct {
	meeting.Outgoing
	sent chan struct{}
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

func newSession(cfg Config) (*Session, error) {
	if cfg.Conn == nil || cfg.Identity == nil {
		return nil, errors.New("meetingnet: config needs a connection and an identity")
	}
	return &Session{
		cfg:  cfg,
		self: sessionID(cfg.Conn.SessionID()),
		conn: cfg.Conn,
		out:  make(chan outgoing, sendBuffer),
		done: make(chan struct{}),
	}, nil
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
	if s.m, err = meeting.NewHost(s.coreConfig(meetingID), time.Now()); err != nil {
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
	if s.m, err = meeting.NewJoiner(s.coreConfig(inv.MeetingID), inv, time.Now()); err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

func (s *Session) start() {
	s.mu.Lock()
	now := time.Now()
	for _, p := range s.cfg.Peers {
		s.m.PeerJoined(sessionID(p), now)
	}
	s.flush()
	s.mu.Unlock()
	go s.sendLoop()
}

// Handle processes one relay event and reports whether the connection
// closed.
func (s *Session) Handle(ev transport.Event, now time.Time) (closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := ev.(type) {
	case transport.Envelope:
		s.m.Receive(sessionID(e.From), e.Payload, now)
	case transport.PeerJoined:
		s.m.PeerJoined(sessionID(e.ID), now)
	case transport.PeerLeft:
		s.m.PeerLeft(sessionID(e.ID), now)
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

// Tick advances the protocol's timers to now.
func (s *Session) Tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.Tick(now)
	s.flush()
}

// TakeEvents returns the events since the last call, in order. Key events
// (SendKey, ReceiveKey) are included for their KIDs only: their key bytes
// went to Keys and are zeroed.
func (s *Session) TakeEvents() []meeting.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.pending
	s.pending = nil
	return evs
}

// flush moves the core's output to the sender and the engine. s.mu is held.
func (s *Session) flush() {
	for _, o := range s.m.Outgoing() {
		select {
		case s.out <- outgoing{Outgoing: o}:
		default:
			s.droppedSends.Add(1)
		}
	}
	for _, e := range s.m.Events() {
		s.pending = append(s.pending, s.apply(e))
	}
}

// apply installs key events in the engine and returns e as the loop may
// see it: without key bytes.
func (s *Session) apply(e meeting.Event) meeting.Event {
	switch e := e.(type) {
	case meeting.RosterChanged:
		s.last = Transition{Epoch: e.Roster.Epoch, RosterAt: time.Now()}
	case meeting.SendKey:
		if meeting.KIDEpoch(e.KID) == s.last.Epoch && s.last.SwitchedAt.IsZero() {
			s.last.SwitchedAt = time.Now()
		}
		if s.cfg.Keys != nil && s.cfg.Keys.SetSendKey(e.KID, e.Key) != nil {
			s.engineErrors.Add(1)
		}
		clear(e.Key)
		e.Key = nil
		return e
	case meeting.ReceiveKey:
		if s.cfg.Keys != nil && s.cfg.Keys.SetReceiveKey(signal.ID(e.Session), e.KID, e.Key) != nil {
			s.engineErrors.Add(1)
		}
		clear(e.Key)
		e.Key = nil
		return e
	case meeting.DropReceiveKey:
		if s.cfg.Keys != nil {
			s.cfg.Keys.RemoveReceiveKey(e.KID)
		}
	case meeting.StopSending:
		if s.cfg.Keys != nil {
			s.cfg.Keys.StopSending()
		}
	}
	return e
}

func (s *Session) sendLoop() {
	for {
		select {
		case <-s.done:
			return
		case o := <-s.out:
			if o.sent != nil {
				close(o.sent)
				continue
			}
			if err := s.conn.SendEnvelope(signal.ID(o.To), o.Payload); err != nil {
				s.sendErrors.Add(1)
			}
		}
	}
}

// Close stops the sending goroutine and zeroes the member's secrets (its
// member key, the invite key of a host, a prepared send key): a session
// closed without Leave, because its connection was lost, holds no key
// afterwards. It does not close the connection; nothing more is sent.
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
		for _, e := range s.pending {
			if sk, ok := e.(meeting.SendKey); ok {
				clear(sk.Key)
			}
		}
		s.pending = nil
	})
}

func (s *Session) command(f func(m *meeting.Member) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := f(s.m)
	s.flush()
	return err
}

// sessionID is the one conversion between the relay's session IDs and
// the protocol's: the same 16 bytes, already checked when the signaling
// message was decoded (relay/signal), so there is nothing to parse.
func sessionID(id signal.ID) meeting.SessionID { return meeting.SessionID(id) }

// memberCommand runs a host command on the member or joiner with relay
// session sid: the GUI's member ID, its hex form.
func (s *Session) memberCommand(sid string, f func(m *meeting.Member, id meeting.SessionID) error) error {
	id, err := meeting.ParseSessionID(sid)
	if err != nil {
		return fmt.Errorf("meetingnet: %w", err)
	}
	return s.command(func(m *meeting.Member) error { return f(m, id) })
}

// Admit lets a waiting joiner in (host only).
func (s *Session) Admit(session string) error {
	return s.memberCommand(session, (*meeting.Member).Admit)
}

// Deny turns a waiting joiner away (host only).
func (s *Session) Deny(session string) error {
	return s.memberCommand(session, (*meeting.Member).Deny)
}

// Remove takes a member out of the meeting (host only).
func (s *Session) Remove(session string) error {
	return s.memberCommand(session, (*meeting.Member).Remove)
}

// HandOver gives the host role to a member (host only).
func (s *Session) HandOver(session string) error {
	return s.memberCommand(session, (*meeting.Member).HandOver)
}

// SendChat sends an end-to-end encrypted chat message to every member.
func (s *Session) SendChat(text string) error {
	return s.command(func(m *meeting.Member) error { return m.SendChat(text) })
}

// Leave tells the host this member leaves and drops every key. It waits up
// to timeout for the notice to be handed to the connection; the caller then
// closes the connection.
func (s *Session) Leave(timeout time.Duration) {
	sent := make(chan struct{})
	_ = s.command(func(m *meeting.Member) error {
		m.Leave()
		s.flush()
		select {
		case s.out <- outgoing{sent: sent}:
		default:
			close(sent) // the queue is full: nothing to wait for
		}
		return nil
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	case <-s.done:
	}
}

// Invite returns what the meeting link carries (see meeting.Link).
func (s *Session) Invite() meeting.Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.Invite()
}

// LastTransition returns the timing of this member's latest roster change
// and key switch.
func (s *Session) LastTransition() Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
