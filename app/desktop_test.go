package app_test

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// The meeting's keyboard shortcuts do what their buttons do, and the
// help lists them.
func TestMeetingShortcuts(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	if !mv.PressShortcut(fyne.KeyD, false) {
		t.Fatal("no Ctrl+D")
	}
	eventually(t, "mute by shortcut", func() bool { return slices.Contains(m.Calls(), "SetMicrophone false") })
	if !mv.PressShortcut(fyne.KeyE, false) {
		t.Fatal("no Ctrl+E")
	}
	eventually(t, "camera by shortcut", func() bool { return slices.Contains(m.Calls(), "SetCamera false") })
	if !mv.PressShortcut(fyne.KeyC, true) || a.Window().Canvas().Focused() == nil {
		t.Fatal("Ctrl+Shift+C did not put the cursor in the chat")
	}

	a.ShowShortcuts()
	top := a.Window().Canvas().Overlays().Top()
	if top == nil || !slices.ContainsFunc(labelTexts(top), func(s string) bool { return strings.Contains(s, "Mute or unmute") }) {
		t.Fatal("the help does not list the shortcuts")
	}
	if !slices.Contains(labelTexts(top), "Ctrl+Shift+L") {
		t.Fatalf("the help lacks Ctrl+Shift+L: %q", labelTexts(top))
	}
}

// The window title says what the window shows: hosting, waiting to be
// admitted, in a meeting, or nothing.
func TestWindowTitleShowsMeetingState(t *testing.T) {
	lockUI(t)
	a, _, mv := hostedMeeting(t)
	if got := a.Window().Title(); got != "Sotto: hosting a meeting" {
		t.Fatalf("hosting: title %q", got)
	}
	if !mv.PressShortcut(fyne.KeyL, true) {
		t.Fatal("no Ctrl+Shift+L")
	}
	// The shortcut asks, as the Leave button does.
	tap(findButton(t, topDialog(a), "Leave"))
	eventually(t, "leave by shortcut", func() bool { return a.MeetingView() == nil })
	if got := a.Window().Title(); got != "Sotto" {
		t.Fatalf("after leaving: title %q", got)
	}

	m := apptest.NewMeeting()
	g := newApp(t, t.TempDir(), m)
	createIdentity(t, g, "Ada", "")
	setText(g.HomeView().Link, validLink(t))
	tap(g.HomeView().Join)
	tap(g.LobbyView().Enter)
	eventually(t, "the meeting screen", func() bool { return g.MeetingView() != nil })
	if got := g.Window().Title(); got != "Sotto: waiting for the host to admit you" {
		t.Fatalf("waiting: title %q", got)
	}
	m.Emit(app.Admitted{})
	eventually(t, "admitted title", func() bool { return g.Window().Title() == "Sotto: in a meeting" })
}

// The mute control shows a microphone, struck through while muted.
func TestMuteIconIsAMicrophone(t *testing.T) {
	lockUI(t)
	_, _, mv := hostedMeeting(t)
	if got := mv.Mute.Icon.Name(); !strings.Contains(got, "mic.svg") {
		t.Fatalf("live microphone icon %q", got)
	}
	tap(mv.Mute)
	if got := mv.Mute.Icon.Name(); !strings.Contains(got, "mic-off.svg") || mv.Mute.Text != "Unmute" {
		t.Fatalf("muted: icon %q, text %q", got, mv.Mute.Text)
	}
}

// Esc closes the topmost dialog as its dismiss button does.
func TestEscapeClosesDialogs(t *testing.T) {
	lockUI(t)
	a, _, _ := hostedMeeting(t)
	c := a.Window().Canvas()
	esc := func() { c.OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape}) }
	a.ShowShortcuts()
	if c.Overlays().Top() == nil {
		t.Fatal("no dialog shown")
	}
	esc()
	if c.Overlays().Top() != nil {
		t.Fatal("Esc did not close the dialog")
	}
	esc() // nothing open: nothing happens
	if a.MeetingView() == nil {
		t.Fatal("Esc without a dialog left the meeting")
	}
}

// F11 switches full screen on and off; the help lists it.
func TestFullScreenToggles(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), nil)
	a.ToggleFullScreen()
	if !a.Window().FullScreen() {
		t.Fatal("F11 did not go full screen")
	}
	a.ToggleFullScreen()
	if a.Window().FullScreen() {
		t.Fatal("F11 did not leave full screen")
	}
	a.ShowShortcuts()
	if !slices.Contains(labelTexts(a.Window().Canvas().Overlays().Top()), "F11") {
		t.Fatal("the help does not list F11")
	}
}
