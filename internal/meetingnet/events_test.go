package meetingnet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// wire is an in-memory relay for two sessions: what one sends waits in a
// queue until the test delivers it to the other's Handle, so the test
// decides when every step happens.
type wire struct {
	mu    sync.Mutex
	queue []routed
}

type routed struct {
	from, to signal.ID
	payload  []byte
}

// end is one session's side of the wire.
type end struct {
	w    *wire
	self signal.ID
	peer signal.ID
}

func (e end) SessionID() signal.ID { return e.self }

func (e end) SendEnvelope(to signal.ID, payload []byte) error {
	if to.IsZero() {
		to = e.peer
	}
	e.w.mu.Lock()
	defer e.w.mu.Unlock()
	e.w.queue = append(e.w.queue, routed{e.self, to, append([]byte(nil), payload...)})
	return nil
}

// deliver hands every queued envelope to its recipient until the queue
// stays empty (the sending goroutines run in between).
func (w *wire) deliver(t *testing.T, sessions map[signal.ID]*Session, now time.Time) {
	t.Helper()
	for idle := 0; idle < 20; {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		if len(q) == 0 {
			idle++
			time.Sleep(time.Millisecond) // polling the sending goroutines' output
			continue
		}
		idle = 0
		for _, r := range q {
			sessions[r.to].Handle(transport.Envelope{From: r.from, Payload: r.payload}, now)
		}
	}
}

func takeUntil[T meeting.Event](t *testing.T, s *Session, w *wire, sessions map[signal.ID]*Session, now *time.Time) T {
	t.Helper()
	for range 200 {
		w.deliver(t, sessions, *now)
		for _, ev := range s.TakeEvents() {
			if e, ok := ev.(T); ok {
				return e
			}
		}
		*now = now.Add(TickEvery)
		for _, x := range sessions {
			x.Tick(*now)
		}
	}
	var zero T
	t.Fatalf("no %T", zero)
	return zero
}

// Lifecycle and chat events are never dropped however long the loop goes
// without reading them: 3000 chat messages (three times the old event
// buffer) and the removal after them all reach the member, in order.
func TestTakeEventsNeverDrops(t *testing.T) {
	hostID, joinID := signal.NewID(), signal.NewID()
	w := &wire{}
	newID := func() *identity.Identity {
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(id.Destroy)
		return id
	}
	mid, err := meeting.NewMeetingID(randReader{})
	if err != nil {
		t.Fatal(err)
	}
	host, err := Host(Config{Conn: end{w, hostID, joinID}, Identity: newID(), Name: "host", Peers: nil}, mid)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	joiner, err := Join(Config{Conn: end{w, joinID, hostID}, Identity: newID(), Name: "joiner", Peers: []signal.ID{hostID}}, host.Invite())
	if err != nil {
		t.Fatal(err)
	}
	defer joiner.Close()
	sessions := map[signal.ID]*Session{hostID: host, joinID: joiner}
	now := time.Now()
	host.Handle(transport.PeerJoined{ID: joinID}, now)

	takeUntil[meeting.WaitingRoomChanged](t, host, w, sessions, &now)
	if err := host.Admit(joinID.String()); err != nil {
		t.Fatal(err)
	}
	takeUntil[meeting.Admitted](t, joiner, w, sessions, &now)
	joiner.TakeEvents()

	const n = 3000
	for i := range n {
		if err := host.SendChat(fmt.Sprint("message ", i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 { // let acknowledgements flow, as a live meeting does
			w.deliver(t, sessions, now)
		}
	}
	if err := host.Remove(joinID.String()); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		w.deliver(t, sessions, now)
		now = now.Add(TickEvery)
		host.Tick(now)
		joiner.Tick(now)
	}
	var chats []string
	removed := false
	for _, ev := range joiner.TakeEvents() {
		switch e := ev.(type) {
		case meeting.ChatMessage:
			if removed {
				t.Fatal("a chat message after the removal")
			}
			chats = append(chats, e.Text)
		case meeting.Removed:
			removed = true
		}
	}
	if len(chats) != n || !removed {
		t.Fatalf("member got %d of %d chat messages, removed %v", len(chats), n, removed)
	}
	for i, c := range chats {
		if c != fmt.Sprint("message ", i) {
			t.Fatalf("chat %d is %q", i, c)
		}
	}
}
