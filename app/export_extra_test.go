package app

import "fyne.io/fyne/v2"

// WhileOpen is whileOpen; ReopenUI forgets that the window closed.
var WhileOpen = whileOpen

func ReopenUI() { windowClosed.Store(false) }

// PressShortcut runs what the canvas runs for the meeting shortcut
// Ctrl(+Shift)+key; false if there is none.
func (v *MeetingView) PressShortcut(key fyne.KeyName, shift bool) bool {
	for _, m := range meetingShortcuts {
		if m.key == key && m.shift == shift {
			v.s.runShortcut(m)
			return true
		}
	}
	return false
}

// ShowShortcuts is what F1 shows.
func (a *App) ShowShortcuts() { a.showShortcuts() }

// ToggleFullScreen is what F11 does.
func (a *App) ToggleFullScreen() { a.toggleFullScreen() }
