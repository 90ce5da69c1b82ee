package call

import (
	"errors"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/meetingnet"
	"github.com/sottohq/sotto/internal/transport"
)

const (
	// eventBuffer sizes the channel of events to the GUI. Sending blocks
	// when it is full: events are never dropped (the GUI reads them
	// continuously), so a Removed or Denied is never lost.
	eventBuffer = 256
	// speakerEvery is how often the active speaker is re-evaluated.
	speakerEvery = 300 * time.Millisecond
	// speechThreshold is the level (RMS of full scale, about −34 dBFS)
	// above which a member counts as speaking.
	speechThreshold = 0.02
)

// keying is where frame keys come from: the meeting protocol, or the
// shared test key. The loop is its only caller.
type keying interface {
	// handle takes one relay event and reports whether the connection
	// closed.
	handle(ev transport.Event, now time.Time) (closed bool)
	tick(now time.Time)
	// events returns the protocol's events since the last call, in order.
	events() []meeting.Event
	// leave tells the others this member leaves; close zeroes the keys.
	leave()
	close()
}

// protocolKeying is the meeting protocol.
type protocolKeying struct{ ns *meetingnet.Session }

func (k protocolKeying) handle(ev transport.Event, now time.Time) bool { return k.ns.Handle(ev, now) }
func (k protocolKeying) tick(now time.Time)                            { k.ns.Tick(now) }
func (k protocolKeying) events() []meeting.Event                       { return k.ns.TakeEvents() }
func (k protocolKeying) leave()                                        { k.ns.Leave(leaveTimeout) }
func (k protocolKeying) close()                                        { k.ns.Close() }

// loopState is owned by the event loop.
type loopState struct {
	rotating bool
	epoch    uint64
	speaker  string
	ended    bool
	// pendingAdmit holds auto-admitted joiners whose admission failed.
	pendingAdmit map[string]bool
	// waitUntil is when a joiner not yet admitted gives up (zero: not
	// waiting).
	waitUntil time.Time
	// names are the display names of the current roster, by member ID.
	names map[string]string
}

// run is the meeting's one event loop: relay events and timer ticks go to
// the protocol, protocol events become GUI events, until the meeting ends
// for this user.
func (c *Call) run() {
	defer close(c.done)
	tick := time.NewTicker(meetingnet.TickEvery)
	defer tick.Stop()
	speak := time.NewTicker(speakerEvery)
	defer speak.Stop()
	if !c.cfg.Host && c.ns != nil {
		c.loop.waitUntil = time.Now().Add(c.cfg.AdmissionTimeout)
		c.emit(Progress{Task: TaskAdmission})
	}
	if c.audioNote != "" {
		c.emit(Warning{Text: c.audioNote})
	}
	relay := c.conn.Events()
	for !c.loop.ended {
		select {
		case ev, ok := <-relay:
			if !ok || c.keys.handle(ev, time.Now()) {
				c.drain()
				c.finish(EndedConnectionLost)
				continue
			}
		case now := <-tick.C:
			c.keys.tick(now)
			if !c.loop.waitUntil.IsZero() && now.After(c.loop.waitUntil) {
				// Nobody answered: a host who left cannot, and no
				// member can admit in its place (§6.8).
				c.keys.leave()
				c.drain()
				c.finish(EndedNoAnswer)
				continue
			}
		case <-c.wake:
		case <-speak.C:
			c.updateSpeaker()
			c.checkRotation()
			c.retryAdmits()
		case <-c.quit:
			c.keys.leave()
			c.drain()
			c.finish("")
			continue
		}
		c.drain()
	}
}

// drain turns the protocol's events into GUI events.
func (c *Call) drain() {
	for _, ev := range c.keys.events() {
		c.handle(ev)
	}
}

// nudge wakes the loop after a command produced protocol output.
func (c *Call) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Call) retryAdmits() {
	for sid := range c.loop.pendingAdmit {
		if err := c.ns.Admit(sid); err == nil || errors.Is(err, meeting.ErrNoSuchEntry) {
			delete(c.loop.pendingAdmit, sid)
		}
	}
}

// checkRotation ends the key-rotation progress once this member switched
// to its key for the current roster epoch.
func (c *Call) checkRotation() {
	if !c.loop.rotating || c.ns == nil {
		return
	}
	if tr := c.ns.LastTransition(); tr.Epoch == c.loop.epoch && !tr.SwitchedAt.IsZero() {
		c.loop.rotating = false
		c.emit(Progress{Task: TaskKeyRotation, Done: true})
	}
}

// finish ends the call: media stops, channels close.
func (c *Call) finish(reason string) {
	if c.loop.ended {
		return
	}
	c.loop.ended = true
	if reason != "" {
		c.emit(Ended{Reason: reason})
	}
	c.closeMedia()
	close(c.events)
	c.videoMu.Lock()
	c.videoClosed = true
	close(c.video)
	c.videoMu.Unlock()
}

// emit sends an event to the GUI, blocking: events are never dropped.
func (c *Call) emit(e Event) {
	if c.loop.ended && !isEnded(e) {
		return
	}
	c.events <- e
}

func isEnded(e Event) bool { _, ok := e.(Ended); return ok }

// handle translates one protocol event.
func (c *Call) handle(ev meeting.Event) {
	switch e := ev.(type) {
	case meeting.RosterChanged:
		if c.loop.epoch != 0 && e.Roster.Epoch != c.loop.epoch && !c.loop.rotating {
			c.loop.rotating = true
			c.emit(Progress{Task: TaskKeyRotation})
		}
		c.loop.epoch = e.Roster.Epoch
		code := securityCode(e.Roster.Code)
		c.codeMu.Lock()
		c.code = code
		c.codeMu.Unlock()
		clear(c.loop.names)
		for _, m := range e.Roster.Members {
			c.loop.names[m.Session.String()] = m.Name
		}
		c.emit(RosterChanged{Members: members(e.Roster)})
		c.emit(SecurityCodeChanged{Code: code})
	case meeting.WaitingRoomChanged:
		js := make([]Joiner, 0, len(e.Waiting))
		for _, w := range e.Waiting {
			if c.cfg.AutoAdmit != nil && c.cfg.AutoAdmit(w.Identity) {
				if c.ns.Admit(w.Session.String()) != nil {
					c.loop.pendingAdmit[w.Session.String()] = true // retried by run
				}
				continue
			}
			js = append(js, Joiner{ID: w.Session.String(), Name: w.Name, Public: w.Identity, Contact: w.Contact})
		}
		c.emit(WaitingChanged{Joiners: js})
	case meeting.Admitted:
		c.loop.waitUntil = time.Time{}
		c.emit(Progress{Task: TaskAdmission, Done: true})
		c.emit(Admitted{})
	case meeting.Denied:
		c.finish(EndedDenied)
	case meeting.Removed:
		c.finish(EndedRemoved)
	case meeting.BecameHost:
		c.emit(Warning{Text: "You are now the host: you admit, deny and remove members."})
	case meeting.MemberGone:
		sid := e.Session.String()
		c.emit(MemberLeft{Member: sid, Name: c.loop.names[sid]})
	case meeting.ChatMessage:
		c.emit(ChatReceived{From: e.From.String(), Name: e.Name, Text: e.Text, At: time.Now()})
	case meeting.ContactChecked:
		c.emit(ContactStatus{Member: e.Session.String(), Status: e.Status})
	case meeting.KeysChanged:
		for _, sid := range e.Missing {
			c.emit(Undecryptable{Member: sid.String()})
		}
	case meeting.Alert:
		switch e.Kind {
		case meeting.AlertUnknownSession:
			c.emit(RelayInjected{Session: e.Session.String()})
		case meeting.AlertHostGone:
			sid := e.Session.String()
			c.emit(HostLeft{Member: sid, Name: c.loop.names[sid]})
		case meeting.AlertForged, meeting.AlertKeyRejected, meeting.AlertMissingKey, meeting.AlertUnverifiedSender:
			c.emit(Undecryptable{Member: e.Session.String()})
		}
	}
}

func members(r meeting.RosterView) []Member {
	out := make([]Member, 0, len(r.Members))
	for _, m := range r.Members {
		out = append(out, Member{
			ID: m.Session.String(), Name: m.Name, Public: m.Identity,
			Host: m.Host, Self: m.Self, Contact: m.Contact,
		})
	}
	return out
}

func securityCode(c meeting.Code) SecurityCode {
	return SecurityCode{Digits: c.Digits(), Words: c.Words[:]}
}

// updateSpeaker picks the loudest member above the speech threshold, this
// user included.
func (c *Call) updateSpeaker() {
	best, ok := c.mixer.ActiveSpeaker(speechThreshold)
	level := c.mixer.Level(best)
	if own := c.src.AudioLevel(); c.micOn.Load() && own >= speechThreshold && (!ok || own > level) {
		best, ok = c.self, true
	}
	if !ok {
		best = ""
	}
	if best != c.loop.speaker {
		c.loop.speaker = best
		c.emit(ActiveSpeaker{Member: best})
	}
}
