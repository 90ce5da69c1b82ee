package app

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

func (s *meetingScreen) syncParticipants() {
	s.participants.RemoveAll()
	for _, m := range s.members {
		m := m
		t := s.trust[m.ID]
		name := m.Name
		if m.Host {
			name += " (host)"
		}
		if m.Self {
			name += " (you)"
		}
		head := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		head.Truncation = fyne.TextTruncateEllipsis
		status := widget.NewLabel(t.label())
		status.Wrapping = fyne.TextWrapWord
		switch {
		case t == trustKeyChanged:
			status.Importance = widget.DangerImportance
		case !t.verified():
			status.Importance = widget.WarningImportance
		}
		row := container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(t.icon()), nil, head), status)
		if !m.Self {
			buttons := container.NewHBox(widget.NewButton("Verify", func() { s.verify(m) }))
			if s.isHost {
				buttons.Add(widget.NewButton("Make host", func() { s.handOver(m) }))
				rm := widget.NewButton("Remove", func() { s.remove(m) })
				rm.Importance = widget.DangerImportance
				buttons.Add(rm)
			}
			row.Add(buttons)
		}
		row.Add(widget.NewSeparator())
		s.participants.Add(row)
	}
	s.peopleTab.Text = fmt.Sprintf("People (%d)", len(s.members))
	s.tabs.Refresh()
}

// unverifiedCount is the number of other members whose key the user has
// not verified.
func (s *meetingScreen) unverifiedCount() int {
	n := 0
	for _, m := range s.members {
		if !m.Self && !s.trust[m.ID].verified() {
			n++
		}
	}
	return n
}

func (s *meetingScreen) syncUnverified() {
	n := s.unverifiedCount()
	switch {
	case s.admitting:
		s.unverified.SetText("· waiting to be admitted")
		s.unverified.Importance = widget.MediumImportance
	case n == 0 && len(s.members) <= 1:
		s.unverified.SetText("· no other members yet")
		s.unverified.Importance = widget.MediumImportance
	case n == 0:
		s.unverified.SetText("· all members verified")
		s.unverified.Importance = widget.SuccessImportance
	case n == 1:
		s.unverified.SetText("· 1 member not verified")
		s.unverified.Importance = widget.WarningImportance
	default:
		s.unverified.SetText(fmt.Sprintf("· %d members not verified", n))
		s.unverified.Importance = widget.WarningImportance
	}
	s.unverified.Refresh()
	if n > 0 {
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "unverified",
			Text: fmt.Sprintf("%s in this meeting not verified. Check safety numbers in the participants panel before saying anything sensitive.", plural(n, "member is", "members are"))})
	} else {
		s.a.alerts.clearKey("unverified")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (s *meetingScreen) verify(m Member) {
	code := s.code
	s.a.showVerify(m.Name, m.Public, &code, func() { s.setTrust(m.ID, trustVerified) })
}

// setTrust records a member's trust and shows it on their tile, in the
// participants panel and in the unverified count.
func (s *meetingScreen) setTrust(id string, t memberTrust) {
	s.trust[id] = t
	s.tilesMu.Lock()
	if tl := s.tiles[id]; tl != nil {
		tl.setStatus(t)
	}
	s.tilesMu.Unlock()
	s.syncParticipants()
	s.syncUnverified()
}

func (s *meetingScreen) showCode() {
	var view fyne.CanvasObject
	if s.code.Digits == "" {
		// There is no code before the first roster this user holds.
		l := widget.NewLabel("There is no security code yet. It comes from the meeting's member list and keys, which you receive once the host admits you; then every member sees the same code.")
		l.Wrapping = fyne.TextWrapWord
		view = l
	} else {
		view = securityCodeView(s.code)
	}
	s.lastCode = view
	d := dialog.NewCustom("Meeting security code", "Close", view, s.a.win)
	d.Resize(fyne.NewSize(460, 320))
	d.Show()
}
