package meetingnet

// The adversarial relay suite over the real relay and real media: each test
// makes the relay misbehave one way and shows the attack detected or
// harmless. The in-memory suite in crypto/meeting covers the same attacks
// message by message (forged and forked rosters, keys in another's name).

import (
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// meetingOf starts a host with media and admits the named members.
func meetingOf(t testing.TB, e *evilRelay, names ...string) (meeting.MeetingID, meeting.Invite, []*member) {
	t.Helper()
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{media: true})
	inv := host.s.Invite()
	ms := []*member{host}
	for _, n := range names {
		j := start(t, e, n, mid, &inv, memberOpts{media: true})
		admit(t, host, j)
		ms = append(ms, j)
		requireConverged(t, ms...)
	}
	return mid, inv, ms
}

func TestRelayGhostInjection(t *testing.T) {
	e := newEvilRelay(t)
	mid, _, ms := meetingOf(t, e, "a", "b")
	requireDecodeEachOther(t, ms...)
	// The relay operator joins its own participant: it receives every
	// forwarded track and listens for envelopes.
	var mu sync.Mutex
	var envelopes int
	ghostMedia, ghost := dialParticipant(t, e, signal.ID(mid), participant.Config{})
	go func() {
		for ev := range ghost.Events() {
			if _, ok := ev.(transport.Envelope); ok {
				mu.Lock()
				envelopes++
				mu.Unlock()
			}
		}
	}()
	gsid := ghost.SessionID().String()
	waitFor(t, "everyone to report the ghost", meeting.GhostGrace+5*time.Second, func() bool {
		for _, m := range ms {
			if !m.hasAlert(meeting.AlertUnknownSession, gsid) {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		s := m.s.Snapshot()
		if len(s.Unknown) != 1 || s.Unknown[0] != gsid {
			t.Fatalf("%s lists unknown sessions %v", m.name, s.Unknown)
		}
		for _, mv := range s.Members {
			if mv.Session == gsid {
				t.Fatal("the ghost is in the roster")
			}
		}
	}
	mu.Lock()
	got := envelopes
	mu.Unlock()
	if got != 0 {
		t.Fatalf("members sent the ghost %d envelopes", got)
	}
	var packets, decoded uint64
	for _, r := range ghostMedia.Stats().Remotes {
		if r.Video != nil {
			packets += r.Video.Packets
			decoded += r.Video.FramesDecrypted
		}
		if r.Audio != nil {
			packets += r.Audio.Packets
			decoded += r.Audio.FramesDecrypted
		}
	}
	if packets == 0 || decoded != 0 {
		t.Fatalf("ghost got %d forwarded packets and decrypted %d frames", packets, decoded)
	}
}

// dropping returns a hook that drops envelopes delivered to client "to"
// from session "from" (any sender when from is empty) while on() is true.
func dropping(to, from string, on func() bool) hook {
	return func(client string, dir direction, m signal.Message) []signal.Message {
		if env, ok := m.(signal.Envelope); ok && dir == toClient && client == to && (from == "" || env.From.String() == from) && on() {
			return nil
		}
		return []signal.Message{m}
	}
}

type toggle struct {
	mu sync.Mutex
	on bool
}

func (f *toggle) set(v bool) { f.mu.Lock(); f.on = v; f.mu.Unlock() }
func (f *toggle) get() bool  { f.mu.Lock(); defer f.mu.Unlock(); return f.on }

// joinWhileDropping starts a meeting of host, a and b, makes the relay drop
// the envelopes route picks (to, from), and admits c meanwhile. Setting the
// returned toggle to false ends the dropping.
func joinWhileDropping(t *testing.T, route func(host, a, b *member) (to, from string)) (host, a, b, c *member, drop *toggle) {
	e := newEvilRelay(t)
	mid, inv, ms := meetingOf(t, e, "a", "b")
	host, a, b = ms[0], ms[1], ms[2]
	drop = new(toggle)
	drop.set(true)
	to, from := route(host, a, b)
	e.setHook(dropping(to, from, drop.get))
	c = start(t, e, "c", mid, &inv, memberOpts{media: true})
	admit(t, host, c)
	return host, a, b, c, drop
}

func TestRelaySplitView(t *testing.T) {
	host, a, b, c, withhold := joinWhileDropping(t, func(host, a, b *member) (string, string) { return b.sid(), host.sid() })
	requireSameRoster(t, host, a, c)
	if sa, sb := a.s.Snapshot(), b.s.Snapshot(); sa.SecurityCode == sb.SecurityCode || sa.Epoch == sb.Epoch {
		t.Fatalf("members with different rosters show the same code (epochs %d and %d)", sa.Epoch, sb.Epoch)
	}
	withhold.set(false)
	requireConverged(t, host, a, b, c)
	requireDecodeEachOther(t, host, a, b, c)
}

func TestRelayReplay(t *testing.T) {
	e := newEvilRelay(t)
	_, _, ms := meetingOf(t, e, "a", "b")
	host, a := ms[0], ms[1]
	if err := host.s.SendChat("once"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "chat", 5*time.Second, func() bool { return chats(a) == 1 })
	before := a.s.Snapshot()
	// Replay every envelope the relay ever delivered to a, twice, in front
	// of the next one.
	var old []signal.Message
	for _, d := range e.recorded() {
		if d.to == a.sid() {
			old = append(old, d.env, d.env)
		}
	}
	var once sync.Once
	e.setHook(func(client string, dir direction, m signal.Message) []signal.Message {
		if _, ok := m.(signal.Envelope); ok && dir == toClient && client == a.sid() {
			var out []signal.Message
			once.Do(func() { out = old })
			return append(out, m)
		}
		return []signal.Message{m}
	})
	if err := host.s.SendChat("twice?"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second chat", 5*time.Second, func() bool { return chats(a) == 2 })
	waitFor(t, "the replays to be refused", 5*time.Second, func() bool {
		c := a.s.Snapshot().Counters
		return c.Replayed+c.TooOld-before.Counters.Replayed-before.Counters.TooOld >= uint64(len(old))/2
	})
	after := a.s.Snapshot()
	if chats(a) != 2 || after.Epoch != before.Epoch || after.SecurityCode != before.SecurityCode {
		t.Fatalf("replays changed state: %d chats, epoch %d→%d", chats(a), before.Epoch, after.Epoch)
	}
	replays := (after.Counters.Replayed + after.Counters.TooOld) - (before.Counters.Replayed + before.Counters.TooOld)
	if replays < uint64(len(old))/2 || len(old) < 10 {
		t.Fatalf("%d envelopes replayed, %d counted", len(old), replays)
	}
	requireDecodeEachOther(t, ms...)
}

func chats(m *member) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, ev := range m.events {
		if _, ok := ev.(meeting.ChatMessage); ok {
			n++
		}
	}
	return n
}

func TestRelayTampering(t *testing.T) {
	e := newEvilRelay(t)
	mid, inv, ms := meetingOf(t, e, "a")
	host, a := ms[0], ms[1]
	var tamper toggle
	tamper.set(true)
	e.setHook(func(client string, dir direction, m signal.Message) []signal.Message {
		if env, ok := m.(signal.Envelope); ok && dir == toClient && client == a.sid() && tamper.get() {
			env.Payload = append([]byte(nil), env.Payload...)
			env.Payload[len(env.Payload)/2] ^= 0x80
			return []signal.Message{env}
		}
		return []signal.Message{m}
	})
	c := start(t, e, "c", mid, &inv, memberOpts{media: true})
	admit(t, host, c)
	if err := host.s.SendChat("tampered"); err != nil {
		t.Fatal(err)
	}
	requireSameRoster(t, host, c)
	waitFor(t, "tampered envelopes counted and reported", 5*time.Second, func() bool {
		return a.s.Snapshot().Counters.AuthFailed > 0 && a.hasAlert(meeting.AlertForged, host.sid())
	})
	s := a.s.Snapshot()
	if s.Epoch != 2 || chats(a) != 0 {
		t.Fatalf("a acted on tampered bytes: epoch %d, %d chats", s.Epoch, chats(a))
	}
	tamper.set(false)
	requireConverged(t, host, a, c)
	waitFor(t, "the chat after tampering stopped", 5*time.Second, func() bool { return chats(a) == 1 })
	requireDecodeEachOther(t, host, a, c)
}

func TestRelayWithholdKeys(t *testing.T) {
	host, a, b, c, withhold := joinWhileDropping(t, func(host, a, b *member) (string, string) { return b.sid(), a.sid() })
	waitFor(t, "b to report a's key missing", 10*time.Second, func() bool {
		s := b.s.Snapshot()
		return len(s.Missing) == 1 && s.Missing[0] == a.sid()
	})
	if !b.hasAlert(meeting.AlertMissingKey, a.sid()) {
		t.Fatal("no missing-key alert")
	}
	epoch := b.s.Snapshot().Epoch
	if _, recent := b.decodedFrom(a.sid(), epoch); recent != 0 {
		t.Fatal("b decoded a's frames without a's key")
	}
	withhold.set(false)
	requireConverged(t, host, a, b, c)
	requireDecodeEachOther(t, host, a, b, c)
	if s := b.s.Snapshot(); len(s.Missing) != 0 {
		t.Fatalf("still missing %v", s.Missing)
	}
}

func TestRelayRemovedMemberKeepsReceivingMedia(t *testing.T) {
	e := newEvilRelay(t)
	_, _, ms := meetingOf(t, e, "a", "b")
	host, a, b := ms[0], ms[1], ms[2]
	requireDecodeEachOther(t, ms...)
	// The relay hides every envelope from b from now on: b never learns it
	// was removed, and keeps receiving the forwarded media.
	var hide toggle
	hide.set(true)
	e.setHook(dropping(b.sid(), "", hide.get))
	if err := host.s.Remove(b.sid()); err != nil {
		t.Fatal(err)
	}
	requireConverged(t, host, a)
	requireDecodeEachOther(t, host, a)
	epoch := host.s.Snapshot().Epoch
	if b.s.Snapshot().State != "member" {
		t.Fatal("test setup: b learned of its removal")
	}
	awaitUnknownKID(t, b, []*member{host, a}, 10)
	for _, o := range []*member{host, a} {
		if _, recent := b.decodedFrom(o.sid(), epoch); recent != 0 {
			t.Fatalf("removed member decoded %d frames of %s sent after the rotation", recent, o.name)
		}
	}
}

// requireSameRoster waits until ms hold the same roster epoch and code
// (without requiring every key: a member cut off by the relay cannot send
// its own).
func requireSameRoster(t testing.TB, ms ...*member) {
	t.Helper()
	waitFor(t, "members to agree on the roster", 15*time.Second, func() bool {
		s0 := ms[0].s.Snapshot()
		for _, m := range ms[1:] {
			s := m.s.Snapshot()
			if s.Epoch != s0.Epoch || s.SecurityCode != s0.SecurityCode || s.State != "member" {
				return false
			}
		}
		return s0.Epoch > 0
	})
}

// The relay hides a removal from everyone (docs/PROTOCOL.md §6.4
// "Heartbeat"): the remaining member stops sending and says so, and the
// host shows the removal pending, until the relay relents.
func TestRelayWithheldRemoval(t *testing.T) {
	e := newEvilRelay(t)
	_, _, ms := meetingOf(t, e, "a", "b")
	host, a, b := ms[0], ms[1], ms[2]
	hide := new(toggle)
	hide.set(true)
	e.setHook(func(client string, dir direction, m signal.Message) []signal.Message {
		if env, ok := m.(signal.Envelope); ok && dir == toClient && (client == a.sid() || client == b.sid()) &&
			env.From.String() == host.sid() && hide.get() {
			return nil
		}
		return []signal.Message{m}
	})
	if err := host.s.Remove(b.sid()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the host to show the removal pending", 5*time.Second, func() bool {
		p := host.s.Snapshot().PendingRemoval
		return len(p) == 1 && p[0] == a.sid()
	})
	waitFor(t, "a to stop sending", meeting.HeartbeatStale+3*time.Second, func() bool {
		return a.s.Snapshot().Paused && a.hasAlert(meeting.AlertHostSilent, host.sid())
	})
	if p := host.s.Snapshot().PendingRemoval; len(p) != 1 {
		t.Fatalf("host shows pending %v while a is cut off", p)
	}
	hide.set(false)
	waitFor(t, "the removal to complete", 10*time.Second, func() bool {
		return !a.s.Snapshot().Paused && len(host.s.Snapshot().PendingRemoval) == 0
	})
	requireConverged(t, host, a)
	requireDecodeEachOther(t, host, a)
}
