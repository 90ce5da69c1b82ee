package meeting

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/internal/replay"
	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// Timing of the protocol (docs/PROTOCOL.md §6.3, §6.6).
const (
	// RetransmitInitial is the first re-send delay of an unacknowledged message.
	RetransmitInitial = 250 * time.Millisecond
	// RetransmitMax caps the doubling re-send delay.
	RetransmitMax = 2 * time.Second
	// RetransmitGiveUp abandons a message nobody acknowledged for this long.
	RetransmitGiveUp = 60 * time.Second
	// SwitchTimeout bounds how long a sender keeps its previous key after a
	// roster change when not every member acknowledged the new one.
	SwitchTimeout = 500 * time.Millisecond
	// JoinSwitchTimeout replaces SwitchTimeout when a roster change only
	// added members (or changed the host): the previous key may stay in
	// use a little longer without exposing anything to a departed member.
	JoinSwitchTimeout = 2 * time.Second
	// ReceiveGrace is how long a sender's previous receive key stays
	// installed after its newer key arrived.
	ReceiveGrace = 5 * time.Second
	// HelloInterval is the joiner's hello re-send interval.
	HelloInterval = 2 * time.Second
	// HoldTTL bounds how long a not-yet-processable message is held.
	HoldTTL = 10 * time.Second
	// GhostGrace is how long a session may be present without being in the
	// roster or the waiting room before it is reported.
	GhostGrace = 5 * time.Second
	// MissingKeyAfter is how long after a roster change a missing sender
	// key is reported.
	MissingKeyAfter = 2 * time.Second
	// alertEvery rate-limits identical alerts.
	alertEvery = 5 * time.Second
)

// Bounds on state driven by the network.
const (
	// maxHeld bounds the hold queue.
	maxHeld = 256
	// maxPresent bounds the sessions tracked as present (the relay could
	// announce any number).
	maxPresent = 4 * MaxMembers
	// maxWaiting bounds the waiting room.
	maxWaiting = 64
	// maxOutbox bounds messages awaiting acknowledgement.
	maxOutbox = 8192
	// MaxChat bounds a chat message, in bytes of UTF-8.
	MaxChat = 2000
)

// Policy decides which joiners the host admits without asking.
type Policy int

const (
	// PolicyAsk puts every joiner in the waiting room (the default).
	PolicyAsk Policy = iota
	// PolicyAdmitVerified admits contacts marked verified at once.
	PolicyAdmitVerified
	// PolicyAdmitAll admits everyone holding the link (test bots only).
	PolicyAdmitAll
)

// State is a member's life-cycle state.
type State int

const (
	// StateWaiting: a joiner waiting for the host's decision.
	StateWaiting State = iota + 1
	// StateMember: in the roster.
	StateMember
	// StateDenied: the host denied entry.
	StateDenied
	// StateRemoved: no longer in the roster.
	StateRemoved
	// StateLeft: this member left.
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateWaiting:
		return "waiting"
	case StateMember:
		return "member"
	case StateDenied:
		return "denied"
	case StateRemoved:
		return "removed"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// ContactBook is the contacts store (identity.Contacts).
type ContactBook interface {
	Observe(name string, pub identity.Public) (identity.Status, error)
}

// ContactLookup is a ContactBook that can also be read without observing
// (identity.Contacts). With it, a key the user marks verified during a
// meeting is shown as verified when it is seen again in that meeting.
type ContactLookup interface {
	ContactBook
	Get(pub identity.Public) (identity.Contact, bool)
}

// Config configures a Member.
type Config struct {
	// MeetingID names the meeting at the relay.
	MeetingID MeetingID
	// Session is this participant's relay session ID.
	Session SessionID
	// Identity signs everything this member sends.
	Identity Signer
	// Name is the display name shown to others (ValidName).
	Name string
	// Policy is the host's admission policy.
	Policy Policy
	// Contacts, if set, is consulted for every identity seen.
	Contacts ContactBook
	// SafetyNumber, if set, replaces the pairwise safety number shown for
	// each member and joiner (by default crypto/safety over both identities'
	// safety keys with empty IDs, §2.2, formatted in groups).
	SafetyNumber func(local, remote identity.Public) string
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
}

// Outgoing is an envelope to send through the relay.
type Outgoing struct {
	// To is the recipient session; zero means every other session.
	To      SessionID
	Payload []byte
}

// Errors returned by commands.
var (
	ErrNotHost     = errors.New("meeting: only the host can do this")
	ErrNotMember   = errors.New("meeting: not a member of the meeting")
	ErrNoSuchEntry = errors.New("meeting: no such session")
	ErrBadName     = errors.New("meeting: display name must be 1-64 characters of text")
	ErrBadChat     = errors.New("meeting: chat message must be 1-2000 bytes of text")
	ErrFull        = errors.New("meeting: roster is full")
	// ErrTooManyHandOvers: the roster's host lineage is full (16 hand-overs
	// in one meeting); the host keeps the role.
	ErrTooManyHandOvers = errors.New("meeting: too many hand-overs in this meeting")
)

type peer struct {
	rosterMember
	index   int
	send    cipherAEAD // K_{self→peer}
	recv    cipherAEAD // K_{peer→self}
	contact identity.Status
	checked bool // the contacts store was consulted

	gone   bool // its session left
	warned bool // missing key reported
}

// Member is one participant's view of a meeting: a joiner, a member or the
// host. See the package documentation.
type Member struct {
	cfg    Config
	rand   io.Reader
	self   identity.Public
	mkPriv [keySize]byte
	mk     MemberKey
	state  State
	now    time.Time

	hostFP [identity.FingerprintSize]byte
	// invite key: the public half everyone with the link has; the private
	// half only while this member is host.
	invitePub  [keySize]byte
	invitePriv *[keySize]byte
	helloMsg   []byte
	nextHello  time.Time

	roster    *roster
	selfIndex int
	rosterAt  time.Time
	code      Code
	peers     map[MemberKey]*peer
	seen      map[MemberKey]bool // every member key of every roster accepted

	seq     uint64 // the last seq this member sent (§6.3)
	windows map[MemberKey]*replay.Window
	outbox  outbox
	held    holdQueue

	keys    keyRing
	missing []SessionID // senders whose current key is overdue

	waiting  waitingRoom
	presence presence
	alerts   alertLimiter

	safetyCache map[[identity.FingerprintSize]byte]string
	contactSeen map[[identity.FingerprintSize]byte]identity.Status

	out      []Outgoing
	events   []Event
	counters Counters
}

func newMember(cfg Config, now time.Time) (*Member, error) {
	if !validName(cfg.Name) {
		return nil, ErrBadName
	}
	if cfg.Identity == nil || cfg.Session.IsZero() {
		return nil, errors.New("meeting: config needs an identity and a session")
	}
	m := &Member{
		cfg:         cfg,
		rand:        cfg.Rand,
		self:        cfg.Identity.Public(),
		now:         now,
		peers:       make(map[MemberKey]*peer),
		seen:        make(map[MemberKey]bool),
		windows:     make(map[MemberKey]*replay.Window),
		outbox:      newOutbox(),
		keys:        newKeyRing(),
		waiting:     newWaitingRoom(),
		presence:    newPresence(),
		alerts:      newAlertLimiter(),
		safetyCache: make(map[[identity.FingerprintSize]byte]string),
		contactSeen: make(map[[identity.FingerprintSize]byte]identity.Status),
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	var err error
	m.mkPriv, m.mk, err = newKeyPair(m.rand)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// NewHost starts a meeting hosted by cfg.Identity: it draws the invite key
// and makes roster epoch 1 with the host alone. The invite to put in a link
// is Member.Invite.
func NewHost(cfg Config, now time.Time) (*Member, error) {
	m, err := newMember(cfg, now)
	if err != nil {
		return nil, err
	}
	priv, pub, err := newKeyPair(m.rand)
	if err != nil {
		return nil, err
	}
	m.invitePriv, m.invitePub = &priv, pub
	m.hostFP = m.self.Fingerprint()
	m.state = StateMember
	r := &roster{
		meetingID: cfg.MeetingID,
		epoch:     1,
		members:   []rosterMember{m.selfEntry()},
		origin:    m.self,
	}
	r.sign(cfg.Identity)
	m.applyRoster(r, false)
	return m, nil
}

// NewJoiner starts knocking at a meeting: it sends a hello sealed to the
// invite key and waits in the host's waiting room.
func NewJoiner(cfg Config, inv Invite, now time.Time) (*Member, error) {
	if cfg.MeetingID != inv.MeetingID {
		return nil, errors.New("meeting: config and invite name different meetings")
	}
	m, err := newMember(cfg, now)
	if err != nil {
		return nil, err
	}
	m.hostFP, m.invitePub = inv.HostFingerprint, inv.InviteKey
	m.state = StateWaiting
	body := format.AppendHello(nil, m.self, cfg.Name)
	m.seq++
	in := encodeInner(cfg.Identity, cfg.MeetingID, m.mk, m.invitePub, format.KindHello, cfg.Session, SessionID{}, m.seq, body)
	a, err := deriveAEAD(&m.mkPriv, m.invitePub, cfg.MeetingID, format.LabelHello, m.mk, m.invitePub)
	if err != nil {
		return nil, fmt.Errorf("meeting: invite key: %w", err)
	}
	m.helloMsg, err = format.SealHello(a, m.rand, m.mk, in)
	if err != nil {
		return nil, err
	}
	m.sendHello()
	return m, nil
}

func (m *Member) selfEntry() rosterMember {
	return rosterMember{Session: m.cfg.Session, Identity: m.self, MemberKey: m.mk, Name: m.cfg.Name}
}

func (m *Member) sendHello() {
	m.out = append(m.out, Outgoing{Payload: m.helloMsg})
	m.nextHello = m.now.Add(HelloInterval)
}

// Invite returns what a meeting link must carry (host only; after a
// hand-over the invite key stays the same and the origin fingerprint too).
func (m *Member) Invite() Invite {
	return Invite{MeetingID: m.cfg.MeetingID, HostFingerprint: m.hostFP, InviteKey: m.invitePub}
}

// Outgoing returns and clears the envelopes to send, in order.
func (m *Member) Outgoing() []Outgoing {
	o := m.out
	m.out = nil
	return o
}

// Events returns and clears the pending events, in order.
func (m *Member) Events() []Event {
	e := m.events
	m.events = nil
	return e
}

// State returns the life-cycle state.
func (m *Member) State() State { return m.state }

// Session returns this member's session ID.
func (m *Member) Session() SessionID { return m.cfg.Session }

// MemberKey returns this member's per-meeting public key.
func (m *Member) MemberKey() MemberKey { return m.mk }

// IsHost reports whether this member holds the host role.
func (m *Member) IsHost() bool { return m.state == StateMember && m.invitePriv != nil }

// Counters returns the rejection counters.
func (m *Member) Counters() Counters { return m.counters }

// Epoch returns the current roster epoch (0 before admission).
func (m *Member) Epoch() uint64 {
	if m.roster == nil {
		return 0
	}
	return m.roster.epoch
}

// SecurityCode returns the current security code (zero before admission).
func (m *Member) SecurityCode() Code { return m.code }

// SendKID returns the KID this member currently sends under.
func (m *Member) SendKID() (uint64, bool) { return m.keys.sendKID, m.keys.hasSend }

// SetPolicy changes the admission policy (host).
func (m *Member) SetPolicy(p Policy) { m.cfg.Policy = p }

// Roster returns a snapshot of the roster.
func (m *Member) Roster() RosterView {
	if m.roster == nil {
		return RosterView{}
	}
	r := m.roster
	v := RosterView{Epoch: r.epoch, Host: r.members[r.host].Session, Code: m.code}
	for i, e := range r.members {
		mv := MemberView{Session: e.Session, Name: e.Name, Identity: e.Identity, Fingerprint: e.Identity.Fingerprint(), Host: i == r.host}
		if i == m.selfIndex {
			mv.Self, mv.HasKey = true, m.keys.hasSend
			mv.KID = m.keys.sendKID
		} else if p := m.peers[e.MemberKey]; p != nil {
			mv.Contact = p.contact
			mv.KID, mv.HasKey = m.keys.current(e.MemberKey)
			mv.Safety = m.safetyCache[mv.Fingerprint]
		}
		v.Members = append(v.Members, mv)
	}
	return v
}

// Waiting returns the host's waiting room, oldest first by session order.
func (m *Member) Waiting() []Waiting {
	return m.waiting.list(func(fp [identity.FingerprintSize]byte) string { return m.safetyCache[fp] })
}

// MissingKeys returns the members whose current frame key this member has
// not received for MissingKeyAfter.
func (m *Member) MissingKeys() []SessionID { return slices.Clone(m.missing) }

// Unknown returns the sessions present at the relay for GhostGrace that are
// neither in the roster nor in the waiting room.
func (m *Member) Unknown() []SessionID {
	if m.roster == nil {
		return nil
	}
	return m.presence.ghosts(m.now, m.accountedFor)
}

// accountedFor reports whether sid is this member, in the roster or
// waiting to be admitted.
func (m *Member) accountedFor(sid SessionID) bool {
	if sid == m.cfg.Session || m.waiting.holds(sid) {
		return true
	}
	for _, e := range m.roster.members {
		if e.Session == sid {
			return true
		}
	}
	return false
}

func (m *Member) emit(e Event) { m.events = append(m.events, e) }

func (m *Member) alert(kind AlertKind, sid SessionID, name string) {
	if m.alerts.allow(kind, sid, m.now) {
		m.emit(Alert{Kind: kind, Session: sid, Name: name})
	}
}

func (m *Member) live() bool { return m.state == StateWaiting || m.state == StateMember }
