package app

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/safety"
)

func (s *meetingScreen) syncWaiting() {
	s.waiting.RemoveAll()
	if len(s.joiners) == 0 {
		s.waiting.Add(widget.NewLabel("Nobody is waiting."))
	}
	for _, j := range s.joiners {
		j := j
		t := s.jtrust[j.ID]
		name := widget.NewLabelWithStyle(displayName(j.Name), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		status := widget.NewLabel(t.label())
		if t == trustKeyChanged {
			status.Importance = widget.DangerImportance
		}
		number := widget.NewLabelWithStyle(safetyLines(s.a.safetyNumber(j.Public)), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		admit := widget.NewButtonWithIcon("Admit", theme.ConfirmIcon(), func() { s.admit(j) })
		admit.Importance = widget.HighImportance
		deny := widget.NewButtonWithIcon("Deny", theme.CancelIcon(), func() { s.deny(j) })
		qr := widget.NewButton("Verify", func() { s.a.showVerify(j.Name, j.Public, nil, nil) })
		s.waiting.Add(container.NewVBox(name, status, widget.NewLabel("Safety number:"), number,
			container.NewHBox(admit, deny, qr), widget.NewSeparator()))
	}
	s.waitingTab.Text = fmt.Sprintf("Waiting (%d)", len(s.joiners))
	s.tabs.Refresh()
	s.syncWaitingBadge()
}

// syncWaitingBadge shows the host how many wait, over any tab; a click
// opens the waiting room.
func (s *meetingScreen) syncWaitingBadge() {
	if !s.isHost || len(s.joiners) == 0 {
		s.waitingBadge.Hide()
		return
	}
	s.waitingBadge.SetText(fmt.Sprintf("%d waiting", len(s.joiners)))
	s.waitingBadge.Show()
}

func (s *meetingScreen) admit(j Joiner) {
	s.a.alerts.clearKey("knock:" + j.ID)
	s.call("admit", func() error { return s.m.Admit(j.ID) })
}

func (s *meetingScreen) deny(j Joiner) {
	s.a.alerts.clearKey("knock:" + j.ID)
	s.call("deny", func() error { return s.m.Deny(j.ID) })
}

// knock tells the host that j is waiting, with Admit and Deny at hand; it
// stays until handled here or in the waiting room, or until j leaves.
func (s *meetingScreen) knock(j Joiner) {
	text := displayName(j.Name) + " is waiting to join (" + s.jtrust[j.ID].label() + "). Compare the safety number before admitting anyone you cannot see or hear."
	s.a.alerts.show(Alert{Kind: AlertWarning, Key: "knock:" + j.ID, Text: text, actions: []alertAction{
		{label: "Admit", importance: widget.HighImportance, do: func() { s.admit(j) }},
		{label: "Deny", do: func() { s.deny(j) }},
		{label: "Safety number", do: func() {
			s.tabs.Select(s.waitingTab)
			s.a.showVerify(j.Name, j.Public, nil, nil)
		}},
	}})
}

// safetyLines formats a safety number as 3 lines of 4 groups.
func safetyLines(number string) string {
	g := safety.Groups(number)
	out := ""
	for i, x := range g {
		if i > 0 {
			if i%safetyColumns == 0 {
				out += "\n"
			} else {
				out += " "
			}
		}
		out += x
	}
	return out
}

// syncHost shows the host-only controls when this user is host.
func (s *meetingScreen) syncHost() {
	has := false
	for _, it := range s.tabs.Items {
		if it == s.waitingTab {
			has = true
		}
	}
	if s.isHost {
		s.inviteBtn.Show()
		if !has {
			s.tabs.Append(s.waitingTab)
			s.syncWaiting()
		}
	} else {
		s.inviteBtn.Hide()
		if has {
			s.tabs.Remove(s.waitingTab)
		}
		s.a.alerts.clearPrefix("knock:") // no longer ours to answer
	}
	s.syncWaitingBadge()
}

func (s *meetingScreen) remove(m Member) {
	dialog.ShowConfirm("Remove "+displayName(m.Name)+"?",
		"They leave the meeting at once. Sotto rotates the meeting keys, so they cannot decrypt anything said after this.",
		func(ok bool) {
			if ok {
				s.call("remove the member", func() error { return s.m.Remove(m.ID) })
			}
		}, s.a.win)
}

func (s *meetingScreen) handOver(m Member) {
	dialog.ShowConfirm("Make "+displayName(m.Name)+" the host?",
		"They will decide who joins and who is removed. You stay in the meeting as a member.",
		func(ok bool) {
			if ok {
				s.call("hand over the host role", func() error { return s.m.HandOver(m.ID) })
			}
		}, s.a.win)
}

func (s *meetingScreen) copyInvite() {
	link := s.m.InviteLink()
	if link == "" {
		// Never claim to have copied nothing.
		s.a.alerts.show(Alert{Kind: AlertInfo, Text: "There is no invite link to copy: only the host has it. Ask the host to send it."})
		return
	}
	s.a.fa.Clipboard().SetContent(link)
	s.a.alerts.show(Alert{Kind: AlertInfo, Text: "Invite link copied. Send it only to the people you want here; you still admit each of them."})
}
