package app

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// handOverWait bounds how long "Hand over and leave" waits for the roster
// that names the new host before it gives up and keeps this user in.
const handOverWait = 15 * time.Second

// Leaving: the Leave button and closing the window ask first, and a host
// with others in the meeting is offered to hand the role over, since a
// meeting without its host can admit and remove nobody.

// confirmLeave asks before leaving; done (which may be nil) runs once this
// user has left.
func (s *meetingScreen) confirmLeave(done func()) {
	if s.ended {
		if done != nil {
			done()
		}
		return
	}
	leave := func() {
		s.leave()
		if done != nil {
			done()
		}
	}
	others := s.otherMembers()
	if !s.isHost || len(others) == 0 {
		title, text := "Leave the meeting?", "To come back you need the invite link, and the host must admit you again."
		if s.isHost {
			text = "You are the only member. Leaving ends the meeting."
		}
		d := dialog.NewConfirm(title, text, func(ok bool) {
			if ok {
				leave()
			}
		}, s.a.win)
		d.SetConfirmText("Leave")
		d.SetDismissText("Stay")
		d.Show()
		s.leaveDialog = d
		return
	}
	names := make([]string, len(others))
	for i, m := range others {
		names[i] = displayName(m.Name)
	}
	pick := widget.NewSelect(names, nil)
	pick.SetSelectedIndex(0)
	text := widget.NewLabel("You are the host. If you leave without handing over, the meeting goes on without a host: nobody can be admitted, and nobody can be removed.")
	text.Wrapping = fyne.TextWrapWord
	var d *dialog.CustomDialog
	handOver := widget.NewButton("Hand over and leave", func() {
		d.Hide()
		s.handOverAndLeave(others[pick.SelectedIndex()], done)
	})
	handOver.Importance = widget.HighImportance
	anyway := widget.NewButton("Leave without a host", func() { d.Hide(); leave() })
	anyway.Importance = widget.DangerImportance
	stay := widget.NewButton("Stay", func() { d.Hide() })
	body := container.NewVBox(text, widget.NewLabel("New host:"), pick)
	d = dialog.NewCustomWithoutButtons("Hand over the host role first?", body, s.a.win)
	d.SetButtons([]fyne.CanvasObject{stay, anyway, handOver})
	d.Resize(fyne.NewSize(480, 260))
	d.Show()
	s.leaveDialog = d
}

// otherMembers are the members other than this user who are still here.
func (s *meetingScreen) otherMembers() []Member {
	var out []Member
	for _, m := range s.members {
		if !m.Self {
			out = append(out, m)
		}
	}
	return out
}

// handOverAndLeave hands the host role to m and leaves once the roster
// names the new host (applyRoster calls leaveIfHandedOver); if that does
// not come, the user stays, still host, and is told.
func (s *meetingScreen) handOverAndLeave(m Member, done func()) {
	s.leaveAfterHandOver = true
	s.afterLeave = done
	s.call("hand over the host role", func() error { return s.m.HandOver(m.ID) })
	time.AfterFunc(handOverWait, func() {
		uiDo(func() {
			if s.ended || !s.leaveAfterHandOver {
				return
			}
			s.leaveAfterHandOver, s.afterLeave = false, nil
			s.a.alerts.show(Alert{Kind: AlertDanger, Key: "handover",
				Text: "The hand-over did not complete, so you are still the host and still in the meeting. Try again, or leave without a host."})
		})
	})
}

// leaveIfHandedOver leaves once a hand-over asked for by Leave completed.
func (s *meetingScreen) leaveIfHandedOver() {
	if !s.leaveAfterHandOver || s.isHost {
		return
	}
	s.leaveAfterHandOver = false
	done := s.afterLeave
	s.afterLeave = nil
	s.leave()
	if done != nil {
		done()
	}
}

// requestClose is the window's close button: in a meeting it asks first.
func (a *App) requestClose() {
	if a.meeting == nil || a.meeting.ended {
		a.win.Close()
		return
	}
	a.meeting.confirmLeave(a.win.Close)
}
