package meeting

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/safety"
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
	// baseKeySize is the size of a sender's SFrame base key.
	baseKeySize = 32
	// maxGeneration is the largest generation in a KID (8 bits).
	maxGeneration = 0xff
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

// Config configures a Member.
type Config struct {
	// MeetingID names the meeting at the relay.
	MeetingID MeetingID
	// Session is this participant's relay session ID.
	Session SessionID
	// Identity signs everything this member sends.
	Identity Signer
	// Name is the display name shown to others (1–64 bytes).
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
	ErrBadName     = errors.New("meeting: display name must be 1-64 bytes of text")
	ErrBadChat     = errors.New("meeting: chat message must be 1-2000 bytes of text")
	ErrFull        = errors.New("meeting: roster is full")
)

type peer struct {
	RosterMember
	index   int
	send    cipherAEAD // K_{self→peer}
	recv    cipherAEAD // K_{peer→self}
	contact identity.Status
	checked bool // the contacts store was consulted

	hasKey bool   // holds a key of the current epoch
	kid    uint64 // current receive KID when hasKey
	kids   map[uint64]bool
	gone   bool // its session left
	warned bool // missing key reported
}

type waiter struct {
	RosterMember
	contact identity.Status
}

type outKey struct {
	to  MemberKey
	seq uint64
}

type pendingMsg struct {
	to       SessionID
	payload  []byte
	first    time.Time
	next     time.Time
	interval time.Duration
}

type nextKey struct {
	active   bool
	kid      uint64
	key      []byte
	waiting  map[MemberKey]uint64 // recipient → seq of its SenderKey
	deadline time.Time
}

type held struct {
	from    SessionID
	payload []byte
	at      time.Time
	unknown bool // from a member key in no roster
}

type expiry struct {
	at  time.Time
	mk  MemberKey
	kid uint64
}

type alertKey struct {
	kind AlertKind
	sid  SessionID
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

	seq     uint64
	windows map[MemberKey]*replayWindow
	outbox  map[outKey]*pendingMsg

	sendKID  uint64
	hasSend  bool
	next     nextKey
	expiries []expiry
	missing  []SessionID

	held         []held
	reprocessing bool
	again        bool

	seen        map[MemberKey]bool // every member key of every roster accepted
	safetyCache map[[identity.FingerprintSize]byte]string
	present     map[SessionID]time.Time
	lobby       map[MemberKey]*waiter // host only
	denied      map[MemberKey]SessionID
	lobbySID    map[SessionID]bool // members: the host's Lobby
	alerted     map[alertKey]time.Time

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
		windows:     make(map[MemberKey]*replayWindow),
		outbox:      make(map[outKey]*pendingMsg),
		present:     make(map[SessionID]time.Time),
		seen:        make(map[MemberKey]bool),
		safetyCache: make(map[[identity.FingerprintSize]byte]string),
		lobby:       make(map[MemberKey]*waiter),
		denied:      make(map[MemberKey]SessionID),
		lobbySID:    make(map[SessionID]bool),
		alerted:     make(map[alertKey]time.Time),
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
		members:   []RosterMember{m.selfEntry()},
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
	body := append(m.self.Marshal(), byte(len(cfg.Name)))
	body = append(body, cfg.Name...)
	m.seq++
	in := encodeInner(cfg.Identity, cfg.MeetingID, m.mk, m.invitePub, kindHello, cfg.Session, SessionID{}, m.seq, body)
	a, err := deriveAEAD(&m.mkPriv, m.invitePub, cfg.MeetingID, labelHello, m.mk, m.invitePub)
	if err != nil {
		return nil, fmt.Errorf("meeting: invite key: %w", err)
	}
	m.helloMsg, err = sealHello(a, m.rand, m.mk, in)
	if err != nil {
		return nil, err
	}
	m.sendHello()
	return m, nil
}

func (m *Member) selfEntry() RosterMember {
	return RosterMember{Session: m.cfg.Session, Identity: m.self, MemberKey: m.mk, Name: m.cfg.Name}
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
func (m *Member) SendKID() (uint64, bool) { return m.sendKID, m.hasSend }

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
			mv.Self, mv.HasKey = true, m.hasSend
			mv.KID = m.sendKID
		} else if p := m.peers[e.MemberKey]; p != nil {
			mv.Contact, mv.HasKey, mv.KID = p.contact, p.hasKey, p.kid
			mv.Safety = m.safetyCache[mv.Fingerprint]
		}
		v.Members = append(v.Members, mv)
	}
	return v
}

// Waiting returns the host's waiting room, oldest first by session order.
func (m *Member) Waiting() []Waiting {
	var w []Waiting
	for _, x := range m.lobby {
		fp := x.Identity.Fingerprint()
		w = append(w, Waiting{Session: x.Session, Name: x.Name, Identity: x.Identity, Fingerprint: fp, Safety: m.safetyCache[fp], Contact: x.contact})
	}
	slices.SortFunc(w, func(a, b Waiting) int { return bytes.Compare(a.Session[:], b.Session[:]) })
	return w
}

// MissingKeys returns the members whose current frame key this member has
// not received for MissingKeyAfter.
func (m *Member) MissingKeys() []SessionID { return slices.Clone(m.missing) }

// Unknown returns the sessions present at the relay for GhostGrace that are
// neither in the roster nor in the waiting room.
func (m *Member) Unknown() []SessionID {
	var out []SessionID
	for sid, since := range m.present {
		if m.isGhost(sid, since) {
			out = append(out, sid)
		}
	}
	slices.SortFunc(out, func(a, b SessionID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func (m *Member) isGhost(sid SessionID, since time.Time) bool {
	if m.roster == nil || sid == m.cfg.Session || m.now.Sub(since) < GhostGrace || m.lobbySID[sid] {
		return false
	}
	for _, e := range m.roster.members {
		if e.Session == sid {
			return false
		}
	}
	for _, w := range m.lobby {
		if w.Session == sid {
			return false
		}
	}
	return true
}

func (m *Member) emit(e Event) { m.events = append(m.events, e) }

func (m *Member) alert(kind AlertKind, sid SessionID, name string) {
	k := alertKey{kind, sid}
	if t, ok := m.alerted[k]; ok && m.now.Sub(t) < alertEvery {
		return
	}
	if len(m.alerted) > 4*maxHeld {
		clear(m.alerted)
	}
	m.alerted[k] = m.now
	m.emit(Alert{Kind: kind, Session: sid, Name: name})
}

func (m *Member) live() bool { return m.state == StateWaiting || m.state == StateMember }

// --- input: envelopes -------------------------------------------------------

// Receive processes one envelope the relay delivered from session from.
func (m *Member) Receive(from SessionID, payload []byte, now time.Time) {
	m.now = now
	if !m.live() {
		return
	}
	h, err := parseEnvelope(payload)
	if err != nil {
		m.counters.Malformed++
		return
	}
	switch h.typ {
	case typeHello:
		m.onHello(from, h, payload)
	case typeSealed:
		m.onSealed(from, h, payload, now)
	}
}

func (m *Member) window(mk MemberKey) *replayWindow {
	w := m.windows[mk]
	if w == nil {
		w = new(replayWindow)
		m.windows[mk] = w
	}
	return w
}

func (m *Member) onHello(from SessionID, h envelopeHeader, payload []byte) {
	if !m.IsHost() {
		return // only the holder of the invite key can open hellos
	}
	if sid, ok := m.denied[h.sender]; ok {
		if sid == from {
			m.sendDeny(h.sender, sid)
		}
		return
	}
	if m.lobby[h.sender] != nil {
		return // a re-sent hello
	}
	if m.seen[h.sender] {
		// A replayed hello of someone who was in the meeting before: a
		// member key is admitted at most once.
		m.counters.Replayed++
		return
	}
	a, err := deriveAEAD(m.invitePriv, h.sender, m.cfg.MeetingID, labelHello, h.sender, m.invitePub)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	raw, err := openHello(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := parseInner(raw)
	if err != nil || in.kind != kindHello || len(in.body) < identity.PublicSize+1 {
		m.counters.Malformed++
		return
	}
	pub, err := identity.ParsePublic(in.body[:identity.PublicSize])
	nameLen := int(in.body[identity.PublicSize])
	if err != nil || len(in.body) != identity.PublicSize+1+nameLen {
		m.counters.Malformed++
		return
	}
	name := string(in.body[identity.PublicSize+1:])
	if !in.verify(pub, m.cfg.MeetingID, h.sender, m.invitePub) || in.from != from || !in.to.IsZero() {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if !validName(name) {
		m.counters.Malformed++
		return
	}
	for _, e := range m.roster.members {
		if e.Session == from {
			m.counters.AuthFailed++
			return
		}
	}
	if len(m.lobby) >= maxWaiting {
		m.counters.LobbyFull++
		return
	}
	w := &waiter{RosterMember: RosterMember{Session: from, Identity: pub, MemberKey: h.sender, Name: name}}
	w.contact = m.observe(name, pub, from)
	m.lobby[h.sender] = w
	m.lobbyChanged()
	switch {
	case m.cfg.Policy == PolicyAdmitAll,
		m.cfg.Policy == PolicyAdmitVerified && w.contact == identity.StatusVerified:
		_ = m.Admit(from)
	}
}

// observe consults the contacts store, raising the key-changed alert.
func (m *Member) observe(name string, pub identity.Public, sid SessionID) identity.Status {
	if m.cfg.Contacts == nil {
		return 0
	}
	st, err := m.cfg.Contacts.Observe(name, pub)
	if err != nil {
		return 0
	}
	if st == identity.StatusKeyChanged {
		m.alert(AlertKeyChanged, sid, name)
	}
	return st
}

// checkContacts consults the contacts store for members not yet checked.
// It runs from Tick, after a roster change's keys went out: the store
// writes to disk, which must not delay a key rotation.
func (m *Member) checkContacts() {
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		if p.checked {
			continue
		}
		p.checked = true
		p.contact = m.observe(p.Name, p.Identity, p.Session)
		if p.contact != 0 {
			m.emit(ContactChecked{Session: p.Session, Status: p.contact})
		}
	}
}

// SafetyNumber returns the pairwise safety number (§2) with pub, formatted
// in groups. It costs thousands of hash rounds the first time for each
// identity, so the core never computes it on the protocol's hot path; views
// show it once it was asked for.
func (m *Member) SafetyNumber(pub identity.Public) string {
	fp := pub.Fingerprint()
	if sn, ok := m.safetyCache[fp]; ok {
		return sn
	}
	var sn string
	if m.cfg.SafetyNumber != nil {
		sn = m.cfg.SafetyNumber(m.self, pub)
	} else {
		sn = safety.Format(safety.Number(m.self.SafetyKey(), nil, pub.SafetyKey(), nil))
	}
	if len(m.safetyCache) < 4*MaxMembers {
		m.safetyCache[fp] = sn
	}
	return sn
}

func (m *Member) onSealed(from SessionID, h envelopeHeader, payload []byte, at time.Time) {
	if h.to != m.mk {
		m.counters.Misaddressed++
		return
	}
	p := m.peers[h.sender]
	var a cipherAEAD
	if p != nil {
		a = p.recv
	} else {
		var err error
		a, err = deriveAEAD(&m.mkPriv, h.sender, m.cfg.MeetingID, labelPairwise, h.sender, m.mk)
		if err != nil {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
	}
	raw, err := openSealed(a, payload)
	if err != nil {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	in, err := parseInner(raw)
	if err != nil {
		m.counters.Malformed++
		return
	}
	if in.to != m.cfg.Session || in.from != from {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if p == nil {
		if m.state == StateWaiting && (in.kind == kindRoster || in.kind == kindDeny) {
			m.onWelcome(from, h, in)
			return
		}
		m.hold(from, payload, at, true)
		return
	}
	hostPeer := m.roster.host != m.selfIndex && p.index == m.roster.host
	if in.from != p.Session && !(hostPeer && in.kind == kindRoster) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	if !in.verify(p.Identity, m.cfg.MeetingID, h.sender, m.mk) {
		m.counters.AuthFailed++
		m.alert(AlertForged, from, "")
		return
	}
	w := m.window(h.sender)
	switch w.check(in.seq) {
	case seqDuplicate:
		m.counters.Replayed++
		if in.kind != kindAck {
			m.sendAck(p, in.seq)
		}
		return
	case seqTooOld:
		m.counters.TooOld++
		m.alert(AlertReplay, from, "")
		return
	}
	if !m.dispatch(p, in) {
		m.hold(from, payload, at, false)
		return
	}
	w.mark(in.seq)
	if in.kind != kindAck && m.state == StateMember && m.peers[p.MemberKey] == p {
		m.sendAck(p, in.seq)
	}
}

// dispatch handles an authenticated message from a member; false means "not
// processable yet: hold it".
func (m *Member) dispatch(p *peer, in inner) bool {
	switch in.kind {
	case kindAck:
		if len(in.body) != seqSize {
			m.counters.Malformed++
			return true
		}
		m.onAck(p, binary.BigEndian.Uint64(in.body))
	case kindRoster:
		return m.onRosterUpdate(p, in)
	case kindSenderKey:
		return m.onSenderKey(p, in)
	case kindChat:
		m.onChat(p, in)
	case kindLobby:
		m.onLobby(p, in)
	case kindHandOver:
		m.onHandOver(p, in)
	case kindLeave:
		if m.IsHost() && len(in.body) == 0 {
			_ = m.Remove(p.Session)
		}
	default:
		m.counters.Malformed++
	}
	return true
}

func (m *Member) hold(from SessionID, payload []byte, at time.Time, unknown bool) {
	if len(m.held) >= maxHeld {
		m.counters.HeldDropped++
		m.held = m.held[1:]
	}
	m.held = append(m.held, held{from: from, payload: payload, at: at, unknown: unknown})
}

// reprocessHeld runs held messages again after a roster change.
func (m *Member) reprocessHeld() {
	if m.reprocessing {
		m.again = true
		return
	}
	m.reprocessing = true
	defer func() { m.reprocessing = false }()
	for {
		m.again = false
		items := m.held
		m.held = nil
		for _, it := range items {
			if !m.live() {
				return
			}
			h, err := parseEnvelope(it.payload)
			if err == nil {
				m.onSealed(it.from, h, it.payload, it.at)
			}
		}
		if !m.again {
			return
		}
	}
}

// --- roster -----------------------------------------------------------------

// onWelcome handles a roster or deny addressed to a waiting joiner.
func (m *Member) onWelcome(from SessionID, h envelopeHeader, in inner) {
	switch in.kind {
	case kindRoster:
		r, err := parseRoster(in.body, m.cfg.MeetingID)
		if err != nil || !r.verifyLineage(m.hostFP) {
			m.counters.RosterRejected++
			m.alert(AlertRosterRejected, from, "")
			return
		}
		host := r.members[r.host]
		if host.MemberKey != h.sender || host.Session != from || !in.verify(host.Identity, m.cfg.MeetingID, h.sender, m.mk) {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
		me := m.selfEntry()
		found := false
		for _, e := range r.members {
			if e.MemberKey == m.mk {
				found = e.Session == me.Session && e.Identity.Equal(me.Identity) && e.Name == me.Name
			}
		}
		if !found {
			m.counters.RosterRejected++
			m.alert(AlertRosterRejected, from, "")
			return
		}
		m.window(h.sender).mark(in.seq)
		m.state = StateMember
		m.helloMsg = nil
		m.emit(Admitted{Epoch: r.epoch})
		m.applyRoster(r, false)
		if p := m.peers[h.sender]; p != nil {
			m.sendAck(p, in.seq)
		}
	case kindDeny:
		rd := &reader{b: in.body}
		signer := rd.public()
		r := &roster{meetingID: m.cfg.MeetingID, epoch: ^uint64(0), origin: rd.public()}
		c := rd.u8()
		if c > maxCerts {
			rd.bad = true
		}
		for range c {
			r.certs = append(r.certs, rd.cert())
		}
		if rd.bad || len(rd.b) != 0 {
			m.counters.Malformed++
			return
		}
		r.members, r.host = []RosterMember{{Identity: signer}}, 0
		if !r.verifyLineage(m.hostFP) || !in.verify(signer, m.cfg.MeetingID, h.sender, m.mk) {
			m.counters.AuthFailed++
			m.alert(AlertForged, from, "")
			return
		}
		m.state = StateDenied
		m.wipe()
		m.emit(Denied{})
	}
}

// onRosterUpdate applies §6.4 "Accepting a roster update".
func (m *Member) onRosterUpdate(p *peer, in inner) bool {
	r, err := parseRoster(in.body, m.cfg.MeetingID)
	if err != nil {
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return true
	}
	cur := m.roster
	switch {
	case r.epoch <= cur.epoch:
		m.counters.Stale++
		return true
	case r.epoch > cur.epoch+1:
		return false
	}
	if !m.acceptable(cur, r, p) {
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return true
	}
	m.applyRoster(r, false)
	return true
}

// acceptable checks rules 1–4 of §6.4 for r following cur, sent by p.
func (m *Member) acceptable(cur, r *roster, p *peer) bool {
	if r.prev != cur.hash || !r.origin.Equal(cur.origin) || !r.verifyLineage(m.hostFP) {
		return false
	}
	newHost := r.members[r.host]
	if newHost.MemberKey != p.MemberKey {
		return false
	}
	curHost := cur.members[cur.host].Identity
	prefix := func(n int) bool {
		if len(r.certs) != n {
			return false
		}
		for i := range cur.certs {
			if !bytes.Equal(cur.certs[i].Sig, r.certs[i].Sig) {
				return false
			}
		}
		return true
	}
	if newHost.Identity.Equal(curHost) {
		return prefix(len(cur.certs))
	}
	if !prefix(len(cur.certs) + 1) {
		return false
	}
	last := r.certs[len(r.certs)-1]
	return last.Epoch == r.epoch && last.Host.Equal(newHost.Identity) &&
		curHost.Verify(hostCertMessage(r.meetingID, last.Epoch, last.Host), last.Sig)
}

// applyRoster installs r (already verified) and starts the new epoch's key
// schedule (§6.6). With send set, r is first sent to every other member.
func (m *Member) applyRoster(r *roster, send bool) {
	self := -1
	for i, e := range r.members {
		if e.MemberKey == m.mk {
			self = i
		}
	}
	if self < 0 {
		m.state = StateRemoved
		m.wipe()
		m.emit(Removed{})
		return
	}
	wasHost := m.IsHost()
	peers := make(map[MemberKey]*peer, len(r.members))
	for i, e := range r.members {
		m.seen[e.MemberKey] = true
		if i == self {
			continue
		}
		p := m.peers[e.MemberKey]
		if p == nil {
			var err error
			p = &peer{kids: make(map[uint64]bool)}
			p.send, err = deriveAEAD(&m.mkPriv, e.MemberKey, m.cfg.MeetingID, labelPairwise, m.mk, e.MemberKey)
			if err == nil {
				p.recv, err = deriveAEAD(&m.mkPriv, e.MemberKey, m.cfg.MeetingID, labelPairwise, e.MemberKey, m.mk)
			}
			if err != nil {
				// A low-order member key: the host admitted garbage. Nobody
				// can talk to it; leave it out of the key schedule.
				m.counters.RosterRejected++
				continue
			}
			p.checked = m.cfg.Contacts == nil
		}
		if p.Session != e.Session {
			p.gone = false // the member is back under a new session
		}
		p.RosterMember, p.index = e, i
		p.hasKey, p.warned = false, false
		peers[e.MemberKey] = p
	}
	var enc []byte
	if send {
		enc = r.encoded()
	}
	for _, mk := range m.peerOrder() {
		if p := m.peers[mk]; peers[mk] == nil {
			if send {
				// Tell a removed member once, so it knows to stop (§6.4);
				// it is not re-sent: nothing else goes to it any more.
				m.seq++
				m.out = append(m.out, Outgoing{To: p.Session, Payload: m.seal(p, kindRoster, enc, m.seq)})
			}
			m.dropPeer(p)
		}
	}
	m.peers = peers
	m.roster, m.selfIndex, m.rosterAt = r, self, m.now
	m.code = securityCode(r.meetingID, r.epoch, r.hash)
	for sid := range m.lobbySID {
		for _, e := range r.members {
			if e.Session == sid {
				delete(m.lobbySID, sid)
			}
		}
	}
	if r.host != self && m.invitePriv != nil {
		clear(m.invitePriv[:])
		m.invitePriv = nil
		m.lobby = make(map[MemberKey]*waiter)
	}
	if send {
		for _, mk := range m.peerOrder() {
			m.sendReliable(m.peers[mk], kindRoster, enc)
		}
	}
	m.emit(RosterChanged{Roster: m.Roster()})
	m.rekey(0)
	m.updateMissing()
	if !wasHost && m.IsHost() && r.epoch > 1 {
		m.emit(BecameHost{})
	}
	m.reprocessHeld()
}

// peerOrder lists peers in roster order (deterministic output).
func (m *Member) peerOrder() []MemberKey {
	out := make([]MemberKey, 0, len(m.peers))
	if m.roster == nil {
		return out
	}
	for _, e := range m.roster.members {
		if m.peers[e.MemberKey] != nil {
			out = append(out, e.MemberKey)
		}
	}
	return out
}

// dropPeer forgets a departed member: its receive keys go at once, and
// nothing more is sent to it.
func (m *Member) dropPeer(p *peer) {
	for _, kid := range sortedKIDs(p.kids) {
		m.emit(DropReceiveKey{KID: kid})
	}
	clear(p.kids)
	for k := range m.outbox {
		if k.to == p.MemberKey {
			delete(m.outbox, k)
		}
	}
	delete(m.windows, p.MemberKey)
}

func sortedKIDs(s map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// wipe zeroes and drops all secrets of this member.
func (m *Member) wipe() {
	for _, p := range m.peers {
		m.dropPeer(p)
	}
	if m.hasSend {
		m.emit(StopSending{})
	}
	m.peers = map[MemberKey]*peer{}
	clear(m.next.key)
	m.next = nextKey{}
	m.hasSend = false
	clear(m.mkPriv[:])
	if m.invitePriv != nil {
		clear(m.invitePriv[:])
		m.invitePriv = nil
	}
	m.outbox = map[outKey]*pendingMsg{}
	m.held = nil
	m.lobby = map[MemberKey]*waiter{}
}

// publish signs a roster following the current one with the given members,
// host and certificates, installs it and sends it to everyone in it.
func (m *Member) publish(members []RosterMember, host int, certs []HostCert) {
	cur := m.roster
	r := &roster{
		meetingID: cur.meetingID,
		epoch:     cur.epoch + 1,
		prev:      cur.hash,
		host:      host,
		members:   members,
		origin:    cur.origin,
		certs:     certs,
	}
	r.sign(m.cfg.Identity)
	m.applyRoster(r, true)
}

// --- frame keys -------------------------------------------------------------

func makeKID(epoch uint64, index, gen int) uint64 {
	return epoch<<16 | uint64(index)<<8 | uint64(gen)
}

func splitKID(kid uint64) (epoch uint64, index, gen int) {
	return kid >> 16, int(kid >> 8 & 0xff), int(kid & 0xff)
}

// rekey draws a fresh base key for the current epoch and generation, sends
// it to every present member and switches once all acknowledged (§6.6).
func (m *Member) rekey(gen int) {
	clear(m.next.key)
	key := make([]byte, baseKeySize)
	if _, err := io.ReadFull(m.rand, key); err != nil {
		panic("meeting: random source failed: " + err.Error())
	}
	m.next = nextKey{
		active:   true,
		kid:      makeKID(m.roster.epoch, m.selfIndex, gen),
		key:      key,
		waiting:  make(map[MemberKey]uint64),
		deadline: m.now.Add(SwitchTimeout),
	}
	body := binary.BigEndian.AppendUint64(nil, m.next.kid)
	body = append(body, key...)
	for _, mk := range m.peerOrder() {
		p := m.peers[mk]
		if p.gone {
			continue
		}
		m.next.waiting[mk] = m.sendReliable(p, kindSenderKey, body)
	}
	clear(body)
	if len(m.next.waiting) == 0 {
		m.switchKey()
	}
}

func (m *Member) switchKey() {
	m.emit(SendKey{KID: m.next.kid, Key: bytes.Clone(m.next.key)})
	m.sendKID, m.hasSend = m.next.kid, true
	clear(m.next.key)
	m.next = nextKey{}
}

func (m *Member) onAck(p *peer, seq uint64) {
	delete(m.outbox, outKey{p.MemberKey, seq})
	if m.next.active {
		if s, ok := m.next.waiting[p.MemberKey]; ok && s == seq {
			delete(m.next.waiting, p.MemberKey)
			if len(m.next.waiting) == 0 {
				m.switchKey()
			}
		}
	}
}

func (m *Member) onSenderKey(p *peer, in inner) bool {
	if len(in.body) != 8+baseKeySize {
		m.counters.Malformed++
		return true
	}
	kid := binary.BigEndian.Uint64(in.body)
	epoch, index, gen := splitKID(kid)
	switch {
	case epoch > m.roster.epoch:
		return false
	case epoch < m.roster.epoch:
		m.counters.Stale++
		return true
	case index != p.index:
		m.counters.KeyRejected++
		m.alert(AlertKeyRejected, p.Session, "")
		return true
	case p.hasKey && gen <= int(p.kid&0xff):
		m.counters.Stale++
		return true
	}
	for _, old := range sortedKIDs(p.kids) {
		m.expiries = append(m.expiries, expiry{at: m.now.Add(ReceiveGrace), mk: p.MemberKey, kid: old})
	}
	p.kids[kid] = true
	p.hasKey, p.kid = true, kid
	m.emit(ReceiveKey{KID: kid, Key: bytes.Clone(in.body[8:]), Session: p.Session})
	m.updateMissing()
	return true
}

// updateMissing recomputes the senders without a current key and reports a
// change.
func (m *Member) updateMissing() {
	var miss []SessionID
	if m.roster != nil && m.now.Sub(m.rosterAt) >= MissingKeyAfter {
		for _, mk := range m.peerOrder() {
			p := m.peers[mk]
			if !p.hasKey && !p.gone {
				miss = append(miss, p.Session)
				if !p.warned {
					p.warned = true
					m.alert(AlertMissingKey, p.Session, "")
				}
			}
		}
	}
	if !slices.Equal(miss, m.missing) {
		m.missing = miss
		m.emit(KeysChanged{Missing: slices.Clone(miss)})
	}
}

// --- sending ----------------------------------------------------------------

func (m *Member) seal(p *peer, kind byte, body []byte, seq uint64) []byte {
	in := encodeInner(m.cfg.Identity, m.cfg.MeetingID, m.mk, p.MemberKey, kind, m.cfg.Session, p.Session, seq, body)
	env, err := sealEnvelope(p.send, m.rand, m.mk, p.MemberKey, in)
	if err != nil {
		panic("meeting: random source failed: " + err.Error())
	}
	return env
}

// sendReliable sends a message that is re-sent until acknowledged and
// returns its seq.
func (m *Member) sendReliable(p *peer, kind byte, body []byte) uint64 {
	m.seq++
	env := m.seal(p, kind, body, m.seq)
	m.out = append(m.out, Outgoing{To: p.Session, Payload: env})
	if len(m.outbox) < maxOutbox {
		m.outbox[outKey{p.MemberKey, m.seq}] = &pendingMsg{to: p.Session, payload: env, first: m.now, next: m.now.Add(RetransmitInitial), interval: RetransmitInitial}
	} else {
		m.counters.GaveUp++
	}
	return m.seq
}

func (m *Member) sendAck(p *peer, seq uint64) {
	m.seq++
	m.out = append(m.out, Outgoing{To: p.Session, Payload: m.seal(p, kindAck, binary.BigEndian.AppendUint64(nil, seq), m.seq)})
}

// --- timers -----------------------------------------------------------------

// Tick advances timers: re-sends, key switch timeouts, receive key expiry,
// hello re-sends, held message expiry and ghost detection.
func (m *Member) Tick(now time.Time) {
	m.now = now
	if !m.live() {
		return
	}
	if m.state == StateWaiting {
		if !now.Before(m.nextHello) {
			m.sendHello()
		}
		m.expireHeld()
		return
	}
	m.retransmit()
	m.checkContacts()
	if m.next.active && !now.Before(m.next.deadline) {
		m.counters.SwitchTimeouts++
		m.switchKey()
	}
	kept := m.expiries[:0]
	for _, e := range m.expiries {
		if now.Before(e.at) {
			kept = append(kept, e)
			continue
		}
		if p := m.peers[e.mk]; p != nil && p.kids[e.kid] && p.kid != e.kid {
			delete(p.kids, e.kid)
			m.emit(DropReceiveKey{KID: e.kid})
		}
	}
	m.expiries = kept
	m.expireHeld()
	m.updateMissing()
	for _, sid := range m.Unknown() {
		m.alert(AlertUnknownSession, sid, "")
	}
}

func (m *Member) retransmit() {
	var due []outKey
	for k, pm := range m.outbox {
		if !m.now.Before(pm.next) {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b outKey) int {
		if a.seq < b.seq {
			return -1
		}
		if a.seq > b.seq {
			return 1
		}
		return 0
	})
	for _, k := range due {
		pm := m.outbox[k]
		if m.now.Sub(pm.first) >= RetransmitGiveUp {
			m.counters.GaveUp++
			delete(m.outbox, k)
			continue
		}
		m.counters.Retransmits++
		m.out = append(m.out, Outgoing{To: pm.to, Payload: pm.payload})
		pm.interval = min(2*pm.interval, RetransmitMax)
		pm.next = m.now.Add(pm.interval)
	}
}

func (m *Member) expireHeld() {
	kept := m.held[:0]
	for _, h := range m.held {
		if m.now.Sub(h.at) < HoldTTL {
			kept = append(kept, h)
			continue
		}
		m.counters.HeldExpired++
		if h.unknown {
			m.alert(AlertUnverifiedSender, h.from, "")
		}
	}
	m.held = kept
}

// --- presence ---------------------------------------------------------------

// PeerJoined records a session the relay announced.
func (m *Member) PeerJoined(sid SessionID, now time.Time) {
	m.now = now
	if sid == m.cfg.Session {
		return
	}
	if _, ok := m.present[sid]; !ok && len(m.present) < maxPresent {
		m.present[sid] = now
	}
	for _, p := range m.peers {
		if p.Session == sid {
			p.gone = false
		}
	}
}

// PeerLeft records a session the relay reported gone. The host removes a
// departed member from the roster; without a host, every member re-keys
// (§6.8).
func (m *Member) PeerLeft(sid SessionID, now time.Time) {
	m.now = now
	delete(m.present, sid)
	if m.state != StateMember {
		return
	}
	for mk, w := range m.lobby {
		if w.Session == sid {
			delete(m.lobby, mk)
			m.lobbyChanged()
		}
	}
	var left *peer
	for _, p := range m.peers {
		if p.Session == sid {
			left = p
		}
	}
	if left == nil || left.gone {
		return
	}
	left.gone = true
	if m.IsHost() {
		_ = m.Remove(sid)
		return
	}
	host := m.roster.members[m.roster.host]
	hostGone := host.MemberKey == left.MemberKey
	if hp := m.peers[host.MemberKey]; hp != nil && hp.gone {
		hostGone = true
	}
	if hostGone {
		if host.MemberKey == left.MemberKey {
			m.alert(AlertHostGone, sid, "")
		}
		gen := int(m.next.kid & 0xff)
		if !m.next.active {
			gen = int(m.sendKID & 0xff)
		}
		if gen < maxGeneration {
			m.rekey(gen + 1)
		}
	}
	m.updateMissing()
}

// --- commands ---------------------------------------------------------------

func (m *Member) waiterBySession(sid SessionID) *waiter {
	for _, w := range m.lobby {
		if w.Session == sid {
			return w
		}
	}
	return nil
}

// Admit lets a joiner from the waiting room in: a new roster epoch with the
// joiner added (host only).
func (m *Member) Admit(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiterBySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	var members []RosterMember
	host := 0
	for i, e := range m.roster.members {
		if e.Identity.Equal(w.Identity) {
			continue // the same person from a new session replaces the old
		}
		if i == m.roster.host {
			host = len(members)
		}
		members = append(members, e)
	}
	if len(members) >= MaxMembers {
		return ErrFull
	}
	delete(m.lobby, w.MemberKey)
	m.lobbyChanged()
	m.publish(append(members, w.RosterMember), host, m.roster.certs)
	return nil
}

// Deny turns a joiner away (host only).
func (m *Member) Deny(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	w := m.waiterBySession(sid)
	if w == nil {
		return ErrNoSuchEntry
	}
	delete(m.lobby, w.MemberKey)
	if len(m.denied) < maxWaiting {
		m.denied[w.MemberKey] = w.Session
	}
	m.sendDeny(w.MemberKey, w.Session)
	m.lobbyChanged()
	return nil
}

func (m *Member) sendDeny(mk MemberKey, sid SessionID) {
	body := append(m.self.Marshal(), m.roster.origin.Marshal()...)
	body = append(body, byte(len(m.roster.certs)))
	for _, c := range m.roster.certs {
		body = appendCert(body, c)
	}
	a, err := deriveAEAD(&m.mkPriv, mk, m.cfg.MeetingID, labelPairwise, m.mk, mk)
	if err != nil {
		return
	}
	m.seq++
	in := encodeInner(m.cfg.Identity, m.cfg.MeetingID, m.mk, mk, kindDeny, m.cfg.Session, sid, m.seq, body)
	env, err := sealEnvelope(a, m.rand, m.mk, mk, in)
	if err == nil {
		m.out = append(m.out, Outgoing{To: sid, Payload: env})
	}
}

// lobbyChanged tells the UI and the members about the waiting room.
func (m *Member) lobbyChanged() {
	m.emit(WaitingRoomChanged{Waiting: m.Waiting()})
	w := m.Waiting()
	body := binary.BigEndian.AppendUint64(nil, m.roster.epoch)
	body = append(body, byte(len(w)))
	for _, x := range w {
		body = append(body, x.Session[:]...)
	}
	for _, mk := range m.peerOrder() {
		m.sendReliable(m.peers[mk], kindLobby, body)
	}
}

func (m *Member) onLobby(p *peer, in inner) {
	if p.index != m.roster.host || len(in.body) < 9 || len(in.body) != 9+sidSize*int(in.body[8]) {
		m.counters.Malformed++
		return
	}
	clear(m.lobbySID)
	for i := 9; i < len(in.body); i += sidSize {
		m.lobbySID[SessionID(in.body[i:i+sidSize])] = true
	}
}

// Remove takes a member out of the meeting: a new epoch without it, whose
// keys it never receives (host only).
func (m *Member) Remove(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	if sid == m.cfg.Session {
		return errors.New("meeting: the host cannot remove itself; hand over first")
	}
	var members []RosterMember
	host, found := 0, false
	for i, e := range m.roster.members {
		if e.Session == sid {
			found = true
			continue
		}
		if i == m.roster.host {
			host = len(members)
		}
		members = append(members, e)
	}
	if !found {
		return ErrNoSuchEntry
	}
	m.publish(members, host, m.roster.certs)
	return nil
}

// HandOver gives the host role to a member (host only). The new host
// publishes the next roster; until then nobody is host.
func (m *Member) HandOver(sid SessionID) error {
	if !m.IsHost() {
		return ErrNotHost
	}
	var target *peer
	for _, p := range m.peers {
		if p.Session == sid {
			target = p
		}
	}
	if target == nil {
		return ErrNoSuchEntry
	}
	cert := signHostCert(m.cfg.Identity, m.cfg.MeetingID, m.roster.epoch+1, target.Identity)
	body := appendCert(nil, cert)
	body = append(body, m.invitePriv[:]...)
	m.sendReliable(target, kindHandOver, body)
	clear(body)
	clear(m.invitePriv[:])
	m.invitePriv = nil
	m.lobby = map[MemberKey]*waiter{}
	m.emit(WaitingRoomChanged{})
	return nil
}

func (m *Member) onHandOver(p *peer, in inner) {
	rd := &reader{b: in.body}
	cert := rd.cert()
	priv := rd.take(keySize)
	if rd.bad || len(rd.b) != 0 {
		m.counters.Malformed++
		return
	}
	var ip [keySize]byte
	copy(ip[:], priv)
	pub, err := publicOf(&ip)
	if err != nil || p.index != m.roster.host || cert.Epoch != m.roster.epoch+1 || !cert.Host.Equal(m.self) ||
		!p.Identity.Verify(hostCertMessage(m.cfg.MeetingID, cert.Epoch, cert.Host), cert.Sig) {
		clear(ip[:])
		m.counters.RosterRejected++
		m.alert(AlertRosterRejected, p.Session, "")
		return
	}
	m.invitePriv, m.invitePub = &ip, pub
	members := slices.Clone(m.roster.members)
	m.publish(members, m.selfIndex, append(slices.Clone(m.roster.certs), cert))
}

// Reconnected tells the core that this member's relay connection was
// replaced and now has session sid. A host publishes the next roster with
// its new session (§6.8 "Host back"); other members cannot change their
// roster entry and must knock again with a new Member.
func (m *Member) Reconnected(sid SessionID, now time.Time) error {
	m.now = now
	if !m.IsHost() {
		return ErrNotHost
	}
	if sid.IsZero() {
		return ErrNoSuchEntry
	}
	m.cfg.Session = sid
	members := slices.Clone(m.roster.members)
	members[m.selfIndex].Session = sid
	m.publish(members, m.roster.host, m.roster.certs)
	return nil
}

// SendChat sends an end-to-end encrypted chat message to every member.
func (m *Member) SendChat(text string) error {
	if m.state != StateMember {
		return ErrNotMember
	}
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		return ErrBadChat
	}
	body := binary.BigEndian.AppendUint16(nil, uint16(len(text)))
	body = append(body, text...)
	for _, mk := range m.peerOrder() {
		m.sendReliable(m.peers[mk], kindChat, body)
	}
	return nil
}

func (m *Member) onChat(p *peer, in inner) {
	if len(in.body) < 2 || len(in.body) != 2+int(binary.BigEndian.Uint16(in.body)) {
		m.counters.Malformed++
		return
	}
	text := string(in.body[2:])
	if len(text) == 0 || len(text) > MaxChat || !utf8.ValidString(text) {
		m.counters.BadChat++
		return
	}
	m.emit(ChatMessage{From: p.Session, Name: p.Name, Fingerprint: p.Identity.Fingerprint(), Text: text})
}

// Leave tells the host this member is leaving and drops every key. The
// caller sends the returned envelopes and then closes the connection.
func (m *Member) Leave() {
	if m.state == StateMember && !m.IsHost() {
		if hp := m.peers[m.roster.members[m.roster.host].MemberKey]; hp != nil {
			m.seq++
			m.out = append(m.out, Outgoing{To: hp.Session, Payload: m.seal(hp, kindLeave, nil, m.seq)})
		}
	}
	if m.live() {
		m.state = StateLeft
		m.wipe()
	}
}
