package app

import (
	"reflect"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Desktop conventions: the meeting's keyboard shortcuts, and a window
// title that says what the window shows.

// Window titles, in ASCII: X tools that find a window by its name (the
// screenshot tests use ImageMagick's import and xwininfo) read WM_NAME,
// which cannot carry every UTF-8 character.
const (
	titleIdle    = "Sotto"
	titleHosting = "Sotto: hosting a meeting"
	titleWaiting = "Sotto: waiting for the host to admit you"
	titleMeeting = "Sotto: in a meeting"
)

// setTitle shows the meeting's state in the window title (and so in the
// task bar and window switcher).
func (s *meetingScreen) setTitle() {
	switch {
	case s.ended || s.a.meeting != s:
		s.a.win.SetTitle(titleIdle)
	case s.isHost:
		s.a.win.SetTitle(titleHosting)
	case !s.admitting:
		s.a.win.SetTitle(titleMeeting)
	default:
		s.a.win.SetTitle(titleWaiting)
	}
}

// The meeting's keyboard shortcuts. Each runs what its button runs (so a
// confirmation the button asks for is asked too), only while the meeting
// screen is up. The modifier is Ctrl, Cmd on macOS.
type meetingShortcut struct {
	key   fyne.KeyName
	shift bool
	what  string
	run   func(s *meetingScreen)
}

var meetingShortcuts = []meetingShortcut{
	{fyne.KeyD, false, "Mute or unmute the microphone", func(s *meetingScreen) { s.muteBtn.OnTapped() }},
	{fyne.KeyE, false, "Start or stop the camera", func(s *meetingScreen) { s.camBtn.OnTapped() }},
	{fyne.KeyC, true, "Open the chat", func(s *meetingScreen) { s.openChat() }},
	{fyne.KeyL, true, "Leave the meeting", func(s *meetingScreen) { s.leaveBtn.OnTapped() }},
}

func (m meetingShortcut) shortcut() *desktop.CustomShortcut {
	mod := fyne.KeyModifierShortcutDefault
	if m.shift {
		mod |= fyne.KeyModifierShift
	}
	return &desktop.CustomShortcut{KeyName: m.key, Modifier: mod}
}

// label is how the shortcut is written for people ("Ctrl+Shift+L").
func (m meetingShortcut) label() string {
	s := "Ctrl+"
	if fyne.KeyModifierShortcutDefault == fyne.KeyModifierSuper {
		s = "Cmd+"
	}
	if m.shift {
		s += "Shift+"
	}
	return s + string(m.key)
}

// bindShortcuts registers the shortcuts for this meeting screen; those of
// an earlier meeting are replaced (a canvas keys them by name).
func (s *meetingScreen) bindShortcuts() {
	c := s.a.win.Canvas()
	for _, m := range meetingShortcuts {
		c.AddShortcut(m.shortcut(), func(fyne.Shortcut) { s.runShortcut(m) })
	}
	// F1 and Ctrl+/ list them.
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF1}, func(fyne.Shortcut) { s.a.showShortcuts() })
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeySlash, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) { s.a.showShortcuts() })
}

// runShortcut runs a shortcut if this meeting's screen is still up.
func (s *meetingScreen) runShortcut(m meetingShortcut) {
	if s.a.meeting == s && !s.ended {
		m.run(s)
	}
}

// openChat shows the chat tab with the cursor in the message box.
func (s *meetingScreen) openChat() {
	for _, it := range s.tabs.Items {
		if it.Text == "Chat" {
			s.tabs.Select(it)
		}
	}
	s.a.win.Canvas().Focus(s.chatEntry)
}

// showShortcuts is the help dialog listing the shortcuts (F1).
func (a *App) showShortcuts() {
	grid := container.NewGridWithColumns(2)
	for _, m := range meetingShortcuts {
		grid.Add(widget.NewLabelWithStyle(m.label(), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		grid.Add(widget.NewLabel(m.what))
	}
	grid.Add(widget.NewLabelWithStyle("F1", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	grid.Add(widget.NewLabel("Show these shortcuts"))
	grid.Add(widget.NewLabelWithStyle("F11", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	grid.Add(widget.NewLabel("Full screen on or off"))
	grid.Add(widget.NewLabelWithStyle("Esc", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	grid.Add(widget.NewLabel("Close a dialog"))
	dialog.ShowCustom("Keyboard shortcuts", "Close", grid, a.win)
}

// dismissLabels are the dismiss buttons of Sotto's dialogs.
var dismissLabels = []string{"Cancel", "Close", "No"}

// bindKeys binds the window's keys: F11 switches full screen, and Esc
// closes the topmost dialog as its dismiss button does, so closing means
// what the button means (cancel connecting, keep the member). Dialogs are
// modal pop-ups whose content holds their buttons.
func (a *App) bindKeys() {
	c := a.win.Canvas()
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF11}, func(fyne.Shortcut) { a.toggleFullScreen() })
	c.SetOnTypedKey(func(ev *fyne.KeyEvent) {
		if ev.Name != fyne.KeyEscape {
			return
		}
		p := topPopUp(c.Overlays().Top())
		if p == nil {
			return
		}
		if b := findDismiss(p.Content); b != nil && !b.Disabled() {
			b.OnTapped()
		}
	})
}

// toggleFullScreen switches the window between full screen and not (F11).
func (a *App) toggleFullScreen() { a.win.SetFullScreen(!a.win.FullScreen()) }

// topPopUp is the pop-up an overlay shows. Fyne wraps each pop-up in an
// overlay container of an internal type whose exported Content field is
// the pop-up; it is read by name.
func topPopUp(o fyne.CanvasObject) *widget.PopUp {
	if p, ok := o.(*widget.PopUp); ok || o == nil {
		return p
	}
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Content")
	if !f.IsValid() || !f.CanInterface() {
		return nil
	}
	p, _ := f.Interface().(*widget.PopUp)
	return p
}

// findDismiss finds a dismiss button among o's containers.
func findDismiss(o fyne.CanvasObject) *widget.Button {
	switch x := o.(type) {
	case *widget.Button:
		if slices.Contains(dismissLabels, x.Text) && x.OnTapped != nil {
			return x
		}
	case *fyne.Container:
		for _, c := range x.Objects {
			if b := findDismiss(c); b != nil {
				return b
			}
		}
	}
	return nil
}

// Microphone icons (Material "mic" and "mic_off"): the mute control shows
// a microphone, struck through while muted, as meeting apps do.
const (
	micSVG    = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#000000" d="M12 14c1.66 0 2.99-1.34 2.99-3L15 5c0-1.66-1.34-3-3-3S9 3.34 9 5v6c0 1.66 1.34 3 3 3zm5.3-3c0 3-2.54 5.1-5.3 5.1S6.7 14 6.7 11H5c0 3.41 2.72 6.23 6 6.72V21h2v-3.28c3.28-.48 6-3.3 6-6.72h-1.7z"/></svg>`
	micOffSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#000000" d="M19 11h-1.7c0 .74-.16 1.43-.43 2.05l1.23 1.23c.56-.98.9-2.09.9-3.28zm-4.02.17c0-.06.02-.11.02-.17V5c0-1.66-1.34-3-3-3S9 3.34 9 5v.18l5.98 5.99zM4.27 3L3 4.27l6.01 6.01V11c0 1.66 1.33 3 2.99 3 .22 0 .44-.03.65-.08l1.66 1.66c-.71.33-1.5.52-2.31.52-2.76 0-5.3-2.1-5.3-5.1H5c0 3.41 2.72 6.23 6 6.72V21h2v-3.28c.91-.13 1.77-.45 2.54-.9L19.73 21 21 19.73 4.27 3z"/></svg>`
)

var (
	iconMic    = theme.NewThemedResource(fyne.NewStaticResource("mic.svg", []byte(micSVG)))
	iconMicOff = theme.NewThemedResource(fyne.NewStaticResource("mic-off.svg", []byte(micOffSVG)))
)
