package meeting

// An in-memory relay and meeting for tests: every participant is a real
// Member with a real identity, every frame is sealed and opened with the
// real SFrame implementation under the keys the protocol handed out. Time is
// virtual, so runs are exact.

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/sframe"
)

const (
	testSuite = sframe.AES128GCMSHA256_128
	// step is the virtual tick of the harness.
	step = 5 * time.Millisecond
)

var frameMD = []byte("sotto test frame")

type pkt struct {
	from, to SessionID
	payload  []byte
	at       time.Time
}

type world struct {
	t       testing.TB
	now     time.Time
	latency time.Duration
	nodes   []*node
	queue   []pkt
	// tap, if set, sees every delivery to one session and returns what is
	// delivered instead (the malicious relay).
	tap func(p pkt) []pkt
	// log records every envelope a member sent, per recipient.
	log []pkt
	// safety skips the real safety numbers (5200 SHA-512 rounds each).
	fastSafety bool
	contacts   map[string]ContactBook
}

type node struct {
	w      *world
	name   string
	id     *identity.Identity
	sid    SessionID
	m      *Member // nil for a ghost
	online bool

	sender *sframe.Sender
	rx     *sframe.Receiver
	events []Event
	// eventAt[i] is the virtual time events[i] was applied.
	eventAt []time.Time
	alerts  []Alert
	chats   []ChatMessage
	inbox   []pkt // everything delivered (ghosts keep it)

	rosterAt  time.Time // when the last RosterChanged arrived
	switchLag []time.Duration
}

func newWorld(t testing.TB) *world {
	return &world{t: t, now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), fastSafety: true}
}

func (w *world) config(name string, sid SessionID, id *identity.Identity, mid MeetingID) Config {
	cfg := Config{MeetingID: mid, Session: sid, Identity: id, Name: name}
	if w.fastSafety {
		cfg.SafetyNumber = func(a, b identity.Public) string { return "test" }
	}
	if c := w.contacts[name]; c != nil {
		cfg.Contacts = c
	}
	return cfg
}

func randomSID(t testing.TB) SessionID {
	var s SessionID
	if _, err := rand.Read(s[:]); err != nil {
		t.Fatal(err)
	}
	return s
}

func (w *world) newNode(name string) *node {
	id, err := identity.Generate()
	if err != nil {
		w.t.Fatal(err)
	}
	return &node{w: w, name: name, id: id, sid: randomSID(w.t), rx: sframe.NewReceiver(testSuite), online: true}
}

// connect announces n to the relay: others see it join, it sees them.
func (w *world) connect(n *node) {
	known := false
	for _, o := range w.nodes {
		if o == n {
			known = true // a reconnection under a new session
			continue
		}
		if !o.online {
			continue
		}
		if o.m != nil {
			o.m.PeerJoined(n.sid, w.now)
		}
		if n.m != nil {
			n.m.PeerJoined(o.sid, w.now)
		}
	}
	if !known {
		w.nodes = append(w.nodes, n)
	}
	n.drain()
	for _, o := range w.nodes {
		o.drain()
	}
}

func (w *world) host(name string) *node {
	n := w.newNode(name)
	mid, err := NewMeetingID(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	n.m, err = NewHost(w.config(name, n.sid, n.id, mid), w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	w.connect(n)
	return n
}

func (w *world) joinWith(name string, id *identity.Identity, inv Invite) *node {
	n := w.newNode(name)
	if id != nil {
		n.id = id
	}
	var err error
	n.m, err = NewJoiner(w.config(name, n.sid, n.id, inv.MeetingID), inv, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	w.connect(n)
	return n
}

func (w *world) join(name string, inv Invite) *node { return w.joinWith(name, nil, inv) }

// ghost adds a session the relay made up.
func (w *world) ghost() *node {
	n := w.newNode("ghost")
	w.connect(n)
	return n
}

// disconnect makes the relay report n gone.
func (w *world) disconnect(n *node) {
	n.online = false
	for _, o := range w.nodes {
		if o.online && o.m != nil {
			o.m.PeerLeft(n.sid, w.now)
			o.drain()
		}
	}
}

func (w *world) find(sid SessionID) *node {
	for _, n := range w.nodes {
		if n.sid == sid {
			return n
		}
	}
	return nil
}

// drain moves n's outgoing envelopes into the relay queue and applies its
// events to its media engine.
func (n *node) drain() {
	if n.m == nil {
		return
	}
	for _, o := range n.m.Outgoing() {
		n.w.send(n, o)
	}
	for _, e := range n.m.Events() {
		n.apply(e)
	}
}

func (n *node) apply(e Event) {
	n.events = append(n.events, e)
	n.eventAt = append(n.eventAt, n.w.now)
	switch e := e.(type) {
	case SendKey:
		s, err := sframe.NewSender(testSuite, e.KID, e.Key)
		if err != nil {
			n.w.t.Fatalf("%s: new sender: %v", n.name, err)
		}
		n.sender = s
		n.switchLag = append(n.switchLag, n.w.now.Sub(n.rosterAt))
	case StopSending:
		n.sender = nil
	case ReceiveKey:
		if err := n.rx.SetKey(e.KID, e.Key); err != nil {
			n.w.t.Fatalf("%s: set key: %v", n.name, err)
		}
	case DropReceiveKey:
		n.rx.RemoveKey(e.KID)
	case RosterChanged:
		n.rosterAt = n.w.now
	case Alert:
		n.alerts = append(n.alerts, e)
	case ChatMessage:
		n.chats = append(n.chats, e)
	}
}

func (w *world) send(from *node, o Outgoing) {
	if !from.online {
		return
	}
	if o.To.IsZero() {
		for _, n := range w.nodes {
			if n != from && n.online {
				w.enqueue(pkt{from: from.sid, to: n.sid, payload: o.Payload})
			}
		}
		return
	}
	w.enqueue(pkt{from: from.sid, to: o.To, payload: o.Payload})
}

func (w *world) enqueue(p pkt) {
	p.at = w.now.Add(w.latency)
	w.log = append(w.log, p)
	if w.tap != nil {
		for _, q := range w.tap(p) {
			q.at = p.at
			w.queue = append(w.queue, q)
		}
		return
	}
	w.queue = append(w.queue, p)
}

// inject delivers bytes as if the relay forwarded them (bypassing the tap).
func (w *world) inject(p pkt) {
	p.at = w.now
	w.queue = append(w.queue, p)
}

// deliver hands every due packet to its recipient, until nothing is due.
func (w *world) deliver() {
	for {
		var due, later []pkt
		for _, p := range w.queue {
			if p.at.After(w.now) {
				later = append(later, p)
			} else {
				due = append(due, p)
			}
		}
		w.queue = later
		if len(due) == 0 {
			return
		}
		for _, p := range due {
			n := w.find(p.to)
			if n == nil || !n.online {
				continue
			}
			n.inbox = append(n.inbox, p)
			if n.m != nil {
				n.m.Receive(p.from, p.payload, w.now)
				n.drain()
			}
		}
	}
}

// run advances virtual time by d, delivering and ticking every step.
func (w *world) run(d time.Duration) {
	end := w.now.Add(d)
	w.deliver()
	for w.now.Before(end) {
		w.now = w.now.Add(step)
		w.deliver()
		for _, n := range w.nodes {
			if n.online && n.m != nil {
				n.m.Tick(w.now)
				n.drain()
			}
		}
		w.deliver()
	}
}

// members returns the online nodes that are members.
func (w *world) members() []*node {
	var out []*node
	for _, n := range w.nodes {
		if n.online && n.m != nil && n.m.State() == StateMember {
			out = append(out, n)
		}
	}
	return out
}

var errNoSender = errors.New("no send key")

// frame seals one frame from n and tries to open it at every other online
// session (the relay forwards media to everyone). It returns the outcome
// per recipient.
func (n *node) frame() map[*node]error {
	out := map[*node]error{}
	if n.sender == nil {
		for _, o := range n.w.nodes {
			if o != n && o.online {
				out[o] = errNoSender
			}
		}
		return out
	}
	pt := []byte(fmt.Sprintf("frame from %s at %v", n.name, n.w.now))
	ct, err := n.sender.Seal(nil, pt, frameMD)
	if err != nil {
		n.w.t.Fatal(err)
	}
	for _, o := range n.w.nodes {
		if o == n || !o.online {
			continue
		}
		got, _, err := o.rx.Open(nil, ct, frameMD)
		if err == nil && !bytes.Equal(got, pt) {
			err = errors.New("wrong plaintext")
		}
		out[o] = err
	}
	return out
}

// requireAllDecode checks that every member decodes every other member.
func (w *world) requireAllDecode(t testing.TB, ms ...*node) {
	t.Helper()
	for _, a := range ms {
		res := a.frame()
		for _, b := range ms {
			if a == b {
				continue
			}
			if err := res[b]; err != nil {
				t.Fatalf("%s cannot decode %s: %v", b.name, a.name, err)
			}
		}
	}
}

// requireSameCode checks that every node shows the same security code and epoch.
func requireSameCode(t testing.TB, ms ...*node) Code {
	t.Helper()
	c := ms[0].m.SecurityCode()
	for _, n := range ms[1:] {
		if n.m.SecurityCode() != c || n.m.Epoch() != ms[0].m.Epoch() {
			t.Fatalf("%s has code %s at epoch %d, %s has %s at epoch %d",
				n.name, n.m.SecurityCode(), n.m.Epoch(), ms[0].name, c, ms[0].m.Epoch())
		}
	}
	return c
}

func (n *node) hasAlert(kind AlertKind, sid SessionID) bool {
	for _, a := range n.alerts {
		if a.Kind == kind && (sid.IsZero() || a.Session == sid) {
			return true
		}
	}
	return false
}

// admitAll admits everyone in the host's waiting room.
func (w *world) admitAll(t testing.TB, host *node) {
	t.Helper()
	for _, x := range host.m.Waiting() {
		if err := host.m.Admit(x.Session); err != nil {
			t.Fatal(err)
		}
		host.drain()
	}
}

func cryptoRandRead(p []byte) (int, error) { return rand.Read(p) }
