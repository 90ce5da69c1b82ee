package call

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/waittest"
)

// recorder keeps every event a call delivers (it drains the channel, as
// the GUI does).
type recorder struct {
	mu     sync.Mutex
	events []Event
}

// joinAs joins the meeting of inv as a new identity named name, leaves it
// when the test ends, and records its events.
func joinAs(ctx context.Context, t *testing.T, c *Dialer, inv Invite, media MediaChoice, name string) (*Call, *recorder) {
	t.Helper()
	jm, err := c.Join(ctx, JoinRequest{Self: newIdentity(t), Name: name, Invite: inv, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	j := jm.(*Call)
	t.Cleanup(j.Leave)
	return j, record(j)
}

func record(c *Call) *recorder {
	r := &recorder{}
	go func() {
		for ev := range c.Events() {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	go func() {
		for range c.Video() {
		}
	}()
	return r
}

// find returns the last event for which ok holds.
func find[T Event](r *recorder, ok func(T) bool) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if e, is := r.events[i].(T); is && ok(e) {
			return e, true
		}
	}
	var zero T
	return zero, false
}

func waitEvent[T Event](t *testing.T, r *recorder, what string, ok func(T) bool) T {
	t.Helper()
	var e T
	waittest.Until(t, what, 30*time.Second, func() bool {
		var found bool
		e, found = find(r, ok)
		return found
	})
	return e
}

// alarms returns the security alerts r holds.
func (r *recorder) alarms() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		switch ev.(type) {
		case RelayInjected, Undecryptable:
			out = append(out, ev)
		}
	}
	return out
}

// No alert fires in an honest meeting: every host action (admit, chat,
// remove, deny, hand over) through the real relay, then long enough for
// every timer behind an alert (ghost sessions, missing keys) to run out,
// and neither the host nor any member has seen a security alert. A false
// alarm teaches people to ignore the one alert that matters.
func TestHonestMeetingRaisesNoAlert(t *testing.T) {
	c, contacts, media := testDialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host := hostOnThisComputer(ctx, t, c, contacts, media)
	hostEvents := record(host)
	inv, err := c.ParseInvite(host.InviteLink())
	if err != nil {
		t.Fatal(err)
	}
	join := func(name string) (*Call, *recorder) { return joinAs(ctx, t, c, inv, media, name) }
	waiting := func(j *Call) {
		t.Helper()
		waitEvent(t, hostEvents, j.cfg.Name+" in the waiting room", func(e WaitingChanged) bool {
			for _, w := range e.Joiners {
				if w.ID == j.self {
					return true
				}
			}
			return false
		})
	}
	roster := func(r *recorder, n int) {
		t.Helper()
		waitEvent(t, r, "a roster of the members", func(e RosterChanged) bool { return len(e.Members) == n })
	}

	a, aEvents := join("A")
	waiting(a)
	if err := host.Admit(a.self); err != nil {
		t.Fatal(err)
	}
	roster(aEvents, 2)
	b, bEvents := join("B")
	waiting(b)
	if err := host.Admit(b.self); err != nil {
		t.Fatal(err)
	}
	roster(bEvents, 3)
	if err := host.SendChat("hello"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bEvents, "the chat", func(e ChatReceived) bool { return e.Text == "hello" })

	if err := host.Remove(a.self); err != nil { // a's call ends and leaves the relay
		t.Fatal(err)
	}
	if e := waitEvent(t, aEvents, "a's meeting to end", func(Ended) bool { return true }); e.Reason != EndedRemoved {
		t.Errorf("the removed member is told %q", e.Reason)
	}
	roster(hostEvents, 2)

	d, dEvents := join("D")
	waiting(d)
	if err := host.Deny(d.self); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, dEvents, "d's meeting to end", func(Ended) bool { return true }); e.Reason != EndedDenied {
		t.Errorf("the denied joiner is told %q", e.Reason)
	}

	if err := host.HandOver(b.self); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bEvents, "b to become host", func(e RosterChanged) bool {
		for _, m := range e.Members {
			if m.ID == b.self && m.Host {
				return true
			}
		}
		return false
	})

	// Every alert timer runs out: ghosts are reported after GhostGrace,
	// missing keys after MissingKeyAfter.
	quiet := time.Now().Add(max(meeting.GhostGrace, meeting.MissingKeyAfter) + 2*time.Second)
	waittest.Until(t, "the alert timers to run out", time.Until(quiet)+10*time.Second, func() bool {
		return time.Now().After(quiet) || len(hostEvents.alarms()) > 0 || len(bEvents.alarms()) > 0
	})
	for name, r := range map[string]*recorder{"host": hostEvents, "B": bEvents, "A before removal": aEvents} {
		if al := r.alarms(); len(al) != 0 {
			t.Errorf("%s saw security alerts in an honest meeting: %+v", name, al)
		}
	}
}
