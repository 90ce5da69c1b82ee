package meetingnet

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/relay/signal"
)

// member is one participant of a loopback meeting: real identity, real
// relay connection, real media (synthetic VP8 and Opus) sealed and opened
// with the keys the meeting protocol hands out.
type member struct {
	name string
	id   *identity.Identity
	p    *participant.Participant
	conn *transport.Conn
	s    *Session
	stop func()
	ran  chan struct{}

	mu       sync.Mutex
	decoded  map[string]map[uint64]int // by sender session, by KID
	events   []meeting.Event
	rosterAt map[uint64]time.Time // when each roster epoch arrived
	switchAt map[uint64]time.Time // when this member started sending under each epoch
}

func (m *member) sid() string { return m.conn.SessionID().String() }

// decodedFrom returns how many frames from sender decoded, in total and
// under KIDs of epoch ≥ minEpoch.
func (m *member) decodedFrom(sender string, minEpoch uint64) (total, recent int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for kid, n := range m.decoded[sender] {
		total += n
		if meeting.KIDEpoch(kid) >= minEpoch {
			recent += n
		}
	}
	return total, recent
}

type memberOpts struct {
	media  bool
	policy meeting.Policy
	id     *identity.Identity
}

// start joins the relay and runs the meeting protocol: as host when inv is
// nil, as a joiner of inv otherwise.
func start(t testing.TB, e *evilRelay, name string, mid meeting.MeetingID, inv *meeting.Invite, o memberOpts) *member {
	t.Helper()
	m := &member{name: name, id: o.id, decoded: map[string]map[uint64]int{},
		rosterAt: map[uint64]time.Time{}, switchAt: map[uint64]time.Time{}}
	if m.id == nil {
		var err error
		if m.id, err = identity.Generate(); err != nil {
			t.Fatal(err)
		}
	}
	m.p, m.conn = m.connect(t, e, mid, o.media)
	var err error
	cfg := Config{Conn: m.conn, Keys: m.p, Identity: m.id, Name: name, Policy: o.policy, Peers: m.conn.Peers()}
	if inv == nil {
		m.s, err = Host(cfg, mid)
	} else {
		m.s, err = Join(cfg, *inv)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.run()
	t.Cleanup(func() { m.close() })
	return m
}

// record keeps what the tests look at of the protocol's events.
func (m *member) record(evs []meeting.Event) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range evs {
		switch ev := ev.(type) {
		case meeting.SendKey:
			m.switchAt[meeting.KIDEpoch(ev.KID)] = now
		case meeting.ReceiveKey:
		case meeting.RosterChanged:
			m.rosterAt[ev.Roster.Epoch] = now
			m.events = append(m.events, ev)
		default:
			m.events = append(m.events, ev)
		}
	}
}

// connect dials the relay once and starts the media engine on it, with
// (optionally) synthetic media whose decoded frames m records.
func (m *member) connect(t testing.TB, e *evilRelay, mid meeting.MeetingID, media bool) (*participant.Participant, *transport.Conn) {
	t.Helper()
	pcfg := participant.Config{
		MeetingID: signal.ID(mid),
		OnDecoded: func(from signal.ID, fi receive.FrameInfo) {
			m.mu.Lock()
			d := m.decoded[from.String()]
			if d == nil {
				d = map[uint64]int{}
				m.decoded[from.String()] = d
			}
			d[fi.KID]++
			m.mu.Unlock()
		},
	}
	if media {
		src, err := capture.Open(capture.Options{
			Video: capture.SyntheticVideo(), Audio: capture.SyntheticAudio(), Width: 160, Height: 120, FPS: 15,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		pcfg.Video, pcfg.Audio = src.Video(), src.Audio()
	}
	return dialParticipant(t, e, signal.ID(mid), pcfg)
}

// dialParticipant dials the relay once and starts a media engine on the
// connection, as internal/call does.
func dialParticipant(t testing.TB, e *evilRelay, mid signal.ID, pcfg participant.Config) (*participant.Participant, *transport.Conn) {
	t.Helper()
	pcfg.MeetingID = mid
	p, err := participant.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := transport.Dial(context.Background(), transport.Config{
		Conn: e.dial(), MeetingID: mid, SettingEngine: signal.LoopbackOnly, OnTrack: p.OnTrack,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); p.Close() })
	return p, conn
}

// disconnect closes m's relay connection and media engine, as leaving
// the meeting does.
func (m *member) disconnect() {
	m.conn.Close()
	m.p.Close()
}

// run drives m's session as the meeting's event loop does: relay events
// and ticks in, events out, until close.
func (m *member) run() {
	m.ran = make(chan struct{})
	quit := make(chan struct{})
	m.stop = sync.OnceFunc(func() { close(quit) })
	go func() {
		defer close(m.ran)
		tick := time.NewTicker(TickEvery)
		defer tick.Stop()
		events := m.conn.Events()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				m.s.Tick(now)
			case ev, ok := <-events:
				if !ok || m.s.Handle(ev, time.Now()) {
					m.record(m.s.TakeEvents())
					return
				}
			}
			m.record(m.s.TakeEvents())
		}
	}()
}

func (m *member) close() {
	m.stop()
	<-m.ran
	m.s.Close()
}

func (m *member) hasAlert(kind meeting.AlertKind, sid string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range m.events {
		if a, ok := ev.(meeting.Alert); ok && a.Kind == kind && (sid == "" || a.Session.String() == sid) {
			return true
		}
	}
	return false
}

// waitFor is the suites' one condition wait.
var waitFor = waittest.Until

// admit waits for j in the host's waiting room and admits it.
func admit(t testing.TB, host, j *member) {
	t.Helper()
	waitFor(t, j.name+" in the waiting room", 10*time.Second, func() bool {
		for _, w := range host.s.Snapshot().Waiting {
			if w.Session == j.sid() {
				return true
			}
		}
		return false
	})
	if err := host.s.Admit(j.sid()); err != nil {
		t.Fatal(err)
	}
}

// converged reports whether ms share one epoch and code, every one holds
// every other's current key and sends under the current epoch.
func converged(ms ...*member) (string, bool) {
	var code string
	var epoch uint64
	for i, m := range ms {
		s := m.s.Snapshot()
		if s.State != "member" || len(s.Members) != len(ms) || s.SendKID == nil || meeting.KIDEpoch(*s.SendKID) != s.Epoch {
			return "", false
		}
		if i == 0 {
			code, epoch = s.SecurityCode, s.Epoch
		} else if s.SecurityCode != code || s.Epoch != epoch {
			return "", false
		}
		for _, mv := range s.Members {
			if !mv.HasKey {
				return "", false
			}
		}
	}
	return code, true
}

func requireConverged(t testing.TB, ms ...*member) string {
	t.Helper()
	var code string
	waitFor(t, "members to agree on roster and keys", 15*time.Second, func() bool {
		var ok bool
		code, ok = converged(ms...)
		return ok
	})
	return code
}

// failures sums decrypt failures at m for frames of the senders in from.
func failures(m *member, from []*member) map[string]uint64 {
	out := map[string]uint64{}
	st := m.p.Stats()
	for _, o := range from {
		if o == m {
			continue
		}
		r := st.Remotes[o.sid()]
		var n uint64
		if r.Video != nil {
			n += r.Video.Dropped.DecryptFailures()
		}
		if r.Audio != nil {
			n += r.Audio.Dropped.DecryptFailures()
		}
		out[o.sid()] = n
	}
	return out
}

// requireDecodeEachOther waits until every member decoded new frames of
// every other under the current epoch.
func requireDecodeEachOther(t testing.TB, ms ...*member) {
	t.Helper()
	epoch := ms[0].s.Snapshot().Epoch
	waitFor(t, "members to decode each other in the current epoch", 20*time.Second, func() bool {
		for _, a := range ms {
			for _, b := range ms {
				if a == b {
					continue
				}
				if _, recent := b.decodedFrom(a.sid(), epoch); recent < 5 {
					return false
				}
			}
		}
		return true
	})
}

func newMeetingID(t testing.TB) meeting.MeetingID {
	mid, err := meeting.NewMeetingID(randReader{})
	if err != nil {
		t.Fatal(err)
	}
	return mid
}

// TestLoopbackMeetingLifecycle: a host and three participants join, one
// leaves, one is removed, a new one joins; all remaining members decode
// each other throughout and agree on the security code at each step.
func TestLoopbackMeetingLifecycle(t *testing.T) {
	e := newEvilRelay(t)
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{media: true})
	inv := host.s.Invite()
	ms := []*member{host}
	codes := map[string]bool{}
	step := func(what string, cur []*member) {
		t.Helper()
		code := requireConverged(t, cur...)
		if codes[code] {
			t.Fatalf("%s: security code repeats an earlier roster's", what)
		}
		codes[code] = true
		requireDecodeEachOther(t, cur...)
		t.Logf("%s: %d members agree on %s", what, len(cur), code)
	}
	// No member present on both sides of a change may fail to decrypt any
	// frame of another such member.
	type pair struct{ to, from string }
	base := map[pair]uint64{}
	remember := func(cur []*member) {
		for _, m := range cur {
			for from, n := range failures(m, cur) {
				base[pair{m.sid(), from}] = n
			}
		}
	}
	check := func(what string, cur []*member) {
		t.Helper()
		for _, m := range cur {
			for from, n := range failures(m, cur) {
				if old, ok := base[pair{m.sid(), from}]; ok && n != old {
					t.Errorf("%s: %s failed to decrypt %d frames of a remaining member", what, m.name, n-old)
				}
			}
		}
	}

	for _, name := range []string{"a", "b", "c"} {
		remember(ms)
		prev := slices.Clone(ms)
		j := start(t, e, name, mid, &inv, memberOpts{media: true})
		admit(t, host, j)
		ms = append(ms, j)
		step("join "+name, ms)
		check("join "+name, prev)
	}
	a, b, c := ms[1], ms[2], ms[3]

	remember(ms)
	a.s.Leave(time.Second)
	a.close()
	a.disconnect()
	ms = []*member{host, b, c}
	step("a leaves", ms)
	check("a leaves", ms)

	remember(ms)
	if err := host.s.Remove(b.sid()); err != nil {
		t.Fatal(err)
	}
	ms = []*member{host, c}
	step("b removed", ms)
	check("b removed", ms)
	waitFor(t, "b to learn it was removed", 5*time.Second, func() bool { return b.s.Snapshot().State == "removed" })
	removedAt := host.s.Snapshot().Epoch
	awaitUnknownKID(t, b, ms, 10) // the relay keeps forwarding media to b
	for _, o := range ms {
		if _, recent := b.decodedFrom(o.sid(), removedAt); recent != 0 {
			t.Fatalf("removed member decoded %d frames of %s sent after its removal", recent, o.name)
		}
	}

	remember(ms)
	d := start(t, e, "d", mid, &inv, memberOpts{media: true})
	admit(t, host, d)
	ms = append(ms, d)
	step("join d", ms)
	check("join d", []*member{host, c})
	for _, m := range ms {
		if n := m.s.Snapshot().Counters.AuthFailed; n != 0 {
			t.Errorf("%s counted %d authentication failures on an honest relay", m.name, n)
		}
	}
}

// awaitUnknownKID waits until r has dropped at least n more video frames of
// every sender in from for want of their key: the witness that frames
// sealed after r lost its keys reached it.
func awaitUnknownKID(t testing.TB, r *member, from []*member, n uint64) {
	t.Helper()
	count := func(o *member) uint64 {
		if v := r.p.Stats().Remotes[o.sid()].Video; v != nil {
			return v.Dropped.UnknownKID
		}
		return 0
	}
	base := map[*member]uint64{}
	for _, o := range from {
		base[o] = count(o)
	}
	waitFor(t, r.name+" to be sent frames it has no key for", 15*time.Second, func() bool {
		for _, o := range from {
			if o != r && count(o) < base[o]+n {
				return false
			}
		}
		return true
	})
}

// decodedUnder returns how many frames of sender r decoded under the
// sender's current send KID.
func decodedUnder(r, sender *member) int {
	kid := sender.s.Snapshot().SendKID
	if kid == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.decoded[sender.sid()][*kid]
}

func TestLastTransition(t *testing.T) {
	e := newEvilRelay(t)
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{})
	inv := host.s.Invite()
	j := start(t, e, "j", mid, &inv, memberOpts{})
	admit(t, host, j)
	requireConverged(t, host, j)
	for _, m := range []*member{host, j} {
		tr := m.s.LastTransition()
		if tr.Epoch != 2 || tr.RosterAt.IsZero() || tr.SwitchedAt.Before(tr.RosterAt) {
			t.Fatalf("%s: transition %+v", m.name, tr)
		}
	}
}

// TestCloseZeroesSecrets: a session closed without Leave (its connection
// was lost) keeps no key: the core has left and wiped its member key and,
// for the host, the invite key.
func TestCloseZeroesSecrets(t *testing.T) {
	e := newEvilRelay(t)
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{})
	inv := host.s.Invite()
	j := start(t, e, "j", mid, &inv, memberOpts{})
	admit(t, host, j)
	requireConverged(t, host, j)
	for _, m := range []*member{host, j} {
		m.close()
		m.s.mu.Lock()
		st, isHost := m.s.m.State(), m.s.m.IsHost()
		m.s.mu.Unlock()
		if st != meeting.StateLeft || isHost {
			t.Fatalf("%s after Close: state %v, host %v; want left and no invite key", m.name, st, isHost)
		}
	}
}
