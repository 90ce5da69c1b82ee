package app

import (
	"context"
	"slices"

	"fyne.io/fyne/v2"

	"github.com/sottohq/sotto/crypto/identity"
)

// pumpEvents reads meeting events and applies them on the UI thread.
//
// The meeting protocol consults the contacts store (it holds the store from
// the Host or Join request) and reports each key's status once: in the
// member's or joiner's Contact field, or, when the answer comes later, as a
// ContactStatus event. The app never asks the store itself: a second
// question about the same key would turn a first "key changed" into
// "known". observe keeps the first answer per ID, so a later roster that
// repeats the member does not overwrite it.
func (s *meetingScreen) pumpEvents(ctx context.Context, cancel context.CancelFunc) {
	defer cancel()
	observed := map[string]memberTrust{}
	observe := func(id string, self bool, known identity.Status) (memberTrust, bool) {
		if self {
			return trustSelf, false
		}
		if t, ok := observed[id]; ok {
			return t, false
		}
		if known == 0 {
			return trustUnknown, false // a ContactStatus event follows
		}
		t := trustFromStatus(known)
		observed[id] = t
		return t, true
	}
	for ev := range s.m.Events() {
		var fresh map[string]memberTrust
		switch e := ev.(type) {
		case RosterChanged:
			fresh = map[string]memberTrust{}
			for _, mb := range e.Members {
				if t, isNew := observe(mb.ID, mb.Self, mb.Contact); isNew || mb.Self {
					fresh[mb.ID] = t
				}
			}
		case WaitingChanged:
			fresh = map[string]memberTrust{}
			for _, j := range e.Joiners {
				if t, isNew := observe(j.ID, false, j.Contact); isNew {
					fresh[j.ID] = t
				}
			}
		}
		uiDo(func() { s.handle(ev, fresh) })
	}
	uiDo(func() {
		if !s.ended {
			s.end("The connection to the meeting was lost.")
		}
	})
}

// pumpVideo hands decoded frames to their tiles.
func (s *meetingScreen) pumpVideo() {
	for f := range s.m.Video() {
		s.tilesMu.Lock()
		t := s.tiles[f.Member]
		s.tilesMu.Unlock()
		if t != nil && f.Image != nil {
			t.offer(f.Image)
		}
	}
}

func (s *meetingScreen) handle(ev Event, fresh map[string]memberTrust) {
	if s.ended {
		return
	}
	al := s.a.alerts
	switch e := ev.(type) {
	case RosterChanged:
		s.applyRoster(e.Members, fresh)
	case WaitingChanged:
		for id, t := range fresh {
			s.jtrust[id] = t
		}
		known := map[string]bool{}
		for _, j := range s.joiners {
			known[j.ID] = true
		}
		now := map[string]bool{}
		for _, j := range e.Joiners {
			now[j.ID] = true
			if !known[j.ID] && s.isHost {
				s.knock(j)
				if s.jtrust[j.ID] == trustKeyChanged {
					s.alertKeyChanged(j.ID, j.Name, true)
				}
			}
		}
		for id := range known {
			if !now[id] { // admitted, denied or gone: handled
				al.clearKey("knock:" + id)
			}
		}
		s.joiners = e.Joiners
		s.syncWaiting()
	case Admitted:
		s.admitted()
		al.show(Alert{Kind: AlertInfo, Text: "The host admitted you. You are in the meeting."})
	case ChatReceived:
		s.addChat(e.Name, e.Text, e.At, false)
	case ActiveSpeaker:
		s.setActive(e.Member)
	case Progress:
		s.setTask(e.Task, !e.Done)
	case SecurityCodeChanged:
		s.code = e.Code
	case Undecryptable:
		al.show(Alert{Kind: AlertDanger, Key: "undecryptable:" + e.Member,
			Text: "Media or messages from " + displayName(s.memberName(e.Member)) + " cannot be decrypted. They may hold an old key, or someone is sending forged data."})
	case RelayInjected:
		al.show(Alert{Kind: AlertDanger, Key: "injected",
			Text: "The relay tried to add a participant the host never admitted. Sotto ignored it; nobody joined. The relay may be misbehaving."})
	case ContactStatus:
		s.applyContact(e.Member, trustFromStatus(e.Status))
	case HostLeft:
		s.hostLeft(e.Member, e.Name)
	case MemberLeft:
		s.memberLeft(e.Member, e.Name)
	case Warning:
		al.show(Alert{Kind: AlertWarning, Key: "warning:" + e.Text, Text: e.Text})
	case Ended:
		s.end(e.Reason)
	}
}

// applyContact records a contacts answer for a member or joiner.
func (s *meetingScreen) applyContact(id string, t memberTrust) {
	for _, j := range s.joiners {
		if j.ID == id {
			s.jtrust[id] = t
			if t == trustKeyChanged && s.isHost {
				s.alertKeyChanged(id, j.Name, true)
			}
			if s.a.alerts.has("knock:" + id) {
				s.knock(j) // with what the contacts said
			}
			s.syncWaiting()
		}
	}
	for _, m := range s.members {
		if m.ID != id || m.Self {
			continue
		}
		if s.trust[id] == t {
			return
		}
		if t == trustKeyChanged {
			s.alertKeyChanged(id, m.Name, false)
		}
		s.setTrust(id, t)
	}
}

// alertKeyChanged warns that the contacts know name with another key: a
// joiner still waiting to be admitted, or a member already in.
func (s *meetingScreen) alertKeyChanged(id, name string, waiting bool) {
	text := "The key of " + displayName(name) + " changed since you last met. This is what an impersonator looks like (or a reinstall): compare safety numbers before trusting them."
	if waiting {
		text = "The name " + displayName(name) + " was used by a different key when you last met. Compare safety numbers before admitting."
	}
	s.a.alerts.show(Alert{Kind: AlertDanger, Key: "keychanged:" + id, Text: text})
}

func (s *meetingScreen) memberName(id string) string {
	for _, m := range s.members {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}

// hostLeft shows that the host's session left: its tile and entry go,
// and the screen says that nobody can be admitted or removed now.
func (s *meetingScreen) hostLeft(id, name string) {
	if s.hostGone == id {
		return
	}
	if name == "" {
		name = s.memberName(id)
	}
	s.hostGone = id
	s.gone[id] = true
	s.a.alerts.show(Alert{Kind: AlertInfo, Key: "left:" + id, Text: displayName(name) + " (host) left."})
	s.noHost.Show()
	s.applyRoster(s.members, nil)
}

// memberLeft shows that a member left while the host is gone: the roster
// (only the host changes it) still lists them, but they are not here.
func (s *meetingScreen) memberLeft(id, name string) {
	if s.gone[id] {
		return
	}
	if name == "" {
		name = s.memberName(id)
	}
	s.gone[id] = true
	s.a.alerts.show(Alert{Kind: AlertInfo, Key: "left:" + id, Text: displayName(name) + " left."})
	s.applyRoster(s.members, nil)
}

func (s *meetingScreen) applyRoster(members []Member, fresh map[string]memberTrust) {
	al := s.a.alerts
	if s.hostGone != "" && slices.ContainsFunc(members, func(m Member) bool { return m.Host && m.ID != s.hostGone }) {
		// A roster naming another host session ends the hostless state
		// (the host came back, §6.8): that roster says who is here.
		s.hostGone = ""
		s.noHost.Hide()
		clear(s.gone)
	}
	if len(s.gone) > 0 {
		// Until then, those who left are not shown as present.
		members = slices.DeleteFunc(slices.Clone(members), func(m Member) bool { return s.gone[m.ID] })
	}
	old := map[string]Member{}
	for _, m := range s.members {
		old[m.ID] = m
	}
	now := map[string]bool{}
	for _, m := range members {
		now[m.ID] = true
		if t, ok := fresh[m.ID]; ok && (t != trustUnknown || s.trust[m.ID] == trustUnknown) {
			s.trust[m.ID] = t
		} else if _, known := s.trust[m.ID]; !known {
			if jt, ok := s.jtrust[m.ID]; ok {
				s.trust[m.ID] = jt // admitted from the waiting room
			}
		}
		if m.Self {
			s.selfID = m.ID
			s.isHost = m.Host
			s.admitted() // a roster naming this user: it is in
		}
		if _, was := old[m.ID]; !was && !m.Self && len(s.members) > 0 {
			al.show(Alert{Kind: AlertInfo, Text: displayName(m.Name) + " joined."})
		}
		if _, was := old[m.ID]; !was && !m.Self && s.trust[m.ID] == trustKeyChanged {
			s.alertKeyChanged(m.ID, m.Name, false)
		}
	}
	for id, m := range old {
		if !now[id] {
			if !s.gone[id] { // told by hostLeft or memberLeft
				al.show(Alert{Kind: AlertInfo, Text: displayName(m.Name) + " left."})
			}
			al.clearKey("undecryptable:" + id)
			delete(s.trust, id)
		}
	}
	s.members = members

	// Tiles follow the roster order.
	s.tilesMu.Lock()
	objs := make([]fyne.CanvasObject, 0, len(members))
	for _, m := range members {
		t := s.tiles[m.ID]
		if t == nil {
			t = newVideoTile(m.ID, m.Name, m.Self)
			s.tiles[m.ID] = t
		}
		t.setName(m.Name)
		t.setStatus(s.trust[m.ID])
		t.setMuted(m.Muted)
		objs = append(objs, t)
	}
	for id, t := range s.tiles {
		if !now[id] {
			t.stop()
			delete(s.tiles, id)
		}
	}
	s.tilesMu.Unlock()
	s.grid.Objects = objs
	s.grid.Refresh()
	s.setActive(s.active)
	s.syncParticipants()
	s.syncHost()
	s.syncUnverified()
	s.leaveIfHandedOver()
}

func (s *meetingScreen) setActive(id string) {
	s.active = id
	s.tilesMu.Lock()
	defer s.tilesMu.Unlock()
	for mid, t := range s.tiles {
		t.setSpeaking(mid == id && id != "")
	}
}
