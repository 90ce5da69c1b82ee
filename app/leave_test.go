package app_test

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// topDialog is what the window shows on top: the open dialog's content.
func topDialog(a *app.App) fyne.CanvasObject { return a.Window().Canvas().Overlays().Top() }

// enterMeeting starts the app as Ada and joins a meeting on a fake
// meeting m, up to the meeting screen (still waiting to be admitted).
func enterMeeting(t *testing.T) (*app.App, *apptest.Meeting) {
	t.Helper()
	m := apptest.NewMeeting()
	a := newApp(t, t.TempDir(), m)
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	tap(a.LobbyView().Enter)
	eventually(t, "meeting screen", func() bool { return a.MeetingView() != nil })
	return a, m
}

// joinedMeeting starts the app as Ada and joins a meeting on m hosted by
// Bob; Carol is the third member.
func joinedMeeting(t *testing.T) (*app.App, *apptest.Meeting, *app.MeetingView) {
	t.Helper()
	a, m := enterMeeting(t)
	m.Emit(app.Admitted{})
	m.Emit(app.RosterChanged{Members: []app.Member{
		{ID: "bob", Name: "Bob", Public: newPeer(t), Host: true},
		{ID: "self", Name: "Ada", Self: true},
		{ID: "carol", Name: "Carol", Public: newPeer(t)},
	}})
	mv := a.MeetingView()
	eventually(t, "the members' tiles", func() bool { return mv.TileShown("bob") == 0 && mv.TileShown("carol") == 0 })
	return a, m, mv
}

// The host's leaving is told by name, its tile and entry go, and the
// screen says nobody can be admitted now; the meeting goes on.
func TestHostLeftIsShown(t *testing.T) {
	lockUI(t)
	a, m, mv := joinedMeeting(t)
	if mv.NoHostShown() {
		t.Fatal("the hostless state is shown while the host is here")
	}
	m.Emit(app.HostLeft{Member: "bob", Name: "Bob"})
	eventually(t, "the host's leaving", func() bool { return hasAlert(a, app.AlertInfo, "Bob (host) left") })
	if mv.TileShown("bob") != -1 {
		t.Fatal("the gone host still has a tile")
	}
	if mv.TileShown("carol") != 0 {
		t.Fatal("another member's tile went with the host")
	}
	if !mv.NoHostShown() {
		t.Fatal("no hostless state shown")
	}
	for _, s := range labelTexts(mv.Members) {
		if strings.Contains(s, "Bob") {
			t.Fatalf("the gone host is still listed: %q", s)
		}
	}
	if hasAlert(a, app.AlertInfo, "Bob left.") {
		t.Fatal("the host's leaving told twice")
	}
	if a.MeetingView() == nil || slices.Contains(m.Calls(), "Leave") {
		t.Fatal("the meeting ended with the host's leaving")
	}
	// Carol leaves after the host: the roster, which nobody can change
	// now, still lists her, but her tile goes too.
	m.Emit(app.MemberLeft{Member: "carol", Name: "Carol"})
	eventually(t, "Carol's leaving", func() bool { return hasAlert(a, app.AlertInfo, "Carol left") })
	if mv.TileShown("carol") != -1 || mv.TileShown("self") != 0 {
		t.Fatalf("tiles after Carol left: carol %d, self %d", mv.TileShown("carol"), mv.TileShown("self"))
	}
	if !mv.NoHostShown() {
		t.Fatal("the hostless state went with Carol")
	}
}

// Leave asks first; a member who confirms leaves, one who stays does not.
func TestLeaveAsksFirst(t *testing.T) {
	lockUI(t)
	a, m, mv := joinedMeeting(t)
	tap(mv.Leave)
	d := topDialog(a)
	if d == nil {
		t.Fatal("Leave did not ask")
	}
	if slices.Contains(m.Calls(), "Leave") {
		t.Fatal("left before confirming")
	}
	tap(findButton(t, d, "Stay"))
	if a.MeetingView() == nil || slices.Contains(m.Calls(), "Leave") {
		t.Fatal("Stay left the meeting")
	}
	tap(mv.Leave)
	tap(findButton(t, topDialog(a), "Leave"))
	eventually(t, "home after leaving", func() bool { return a.HomeView() != nil && slices.Contains(m.Calls(), "Leave") })
}

// A host with others in the meeting is offered to hand over first: the
// chosen member becomes host and the host leaves once the roster says so.
// Closing the window asks the same.
func TestHostIsPromptedToHandOverBeforeLeaving(t *testing.T) {
	lockUI(t)
	a, m, _ := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newPeer(t)}}})
	eventually(t, "bob's tile", func() bool { return a.MeetingView().TileShown("bob") == 0 })
	a.RequestClose()
	d := topDialog(a)
	if d == nil {
		t.Fatal("closing the window while hosting did not ask")
	}
	sel := findLabelled(t, d, "Bob", func(s *widget.Select) string { return s.Selected })
	if len(sel.Options) != 1 {
		t.Fatalf("new host choices %v, want Bob alone", sel.Options)
	}
	tap(findButton(t, d, "Hand over and leave"))
	eventually(t, "the hand-over", func() bool { return slices.Contains(m.Calls(), "HandOver bob") })
	if slices.Contains(m.Calls(), "Leave") {
		t.Fatal("left before the hand-over completed")
	}
	m.Emit(app.RosterChanged{Members: []app.Member{
		{ID: "self", Name: "Ada", Self: true}, {ID: "bob", Name: "Bob", Public: newPeer(t), Host: true},
	}})
	eventually(t, "leaving once Bob is host", func() bool { return slices.Contains(m.Calls(), "Leave") && a.HomeView() != nil })
}

// A host who leaves without handing over is told what that means.
func TestHostCanLeaveWithoutHandingOver(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newPeer(t)}}})
	eventually(t, "bob's tile", func() bool { return mv.TileShown("bob") == 0 })
	tap(mv.Leave)
	d := topDialog(a)
	if !slices.ContainsFunc(labelTexts(d), func(s string) bool { return strings.Contains(s, "nobody can be admitted") }) {
		t.Fatalf("the prompt does not say what leaving without a host means: %q", labelTexts(d))
	}
	tap(findButton(t, d, "Leave without a host"))
	eventually(t, "home after leaving", func() bool { return a.HomeView() != nil && slices.Contains(m.Calls(), "Leave") })
	if slices.ContainsFunc(m.Calls(), func(c string) bool { return strings.HasPrefix(c, "HandOver") }) {
		t.Fatal("handed over anyway")
	}
}
