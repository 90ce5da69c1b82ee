package app_test

import (
	"slices"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/crypto/identity"
)

// A knock is a notification with Admit and Deny that stays until it is
// handled (never timing out like "joined"), and a badge counts who waits.
func TestKnockStaysUntilHandled(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	a.ExpireAlertsAtOnce()
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a)}})
	m.Emit(app.WaitingChanged{Joiners: []app.Joiner{
		{ID: "j-bob", Name: "Bob", Public: newPeer(t), Contact: identity.StatusNew},
		{ID: "j-eve", Name: "Eve", Public: newPeer(t), Contact: identity.StatusNew},
	}})
	eventually(t, "two knocks", func() bool {
		return hasAlert(a, app.AlertWarning, "Bob is waiting") && hasAlert(a, app.AlertWarning, "Eve is waiting")
	})
	if b := mv.WaitingBadge(); !b.Visible() || b.Text != "2 waiting" {
		t.Fatalf("badge %q, shown %v", b.Text, b.Visible())
	}
	tap(mv.WaitingBadge())
	if !mv.WaitingRoomSelected() {
		t.Fatal("the badge does not open the waiting room")
	}
	// Admit from the notification: the first knock shown is Bob's.
	tap(findButton(t, a.AlertBar().Objects[0], "Admit"))
	eventually(t, "Bob admitted", func() bool { return slices.Contains(m.Calls(), "Admit j-bob") })
	if hasAlert(a, app.AlertWarning, "Bob is waiting") {
		t.Fatal("Bob's knock stays after Admit")
	}
	// Eve's knock goes when she is no longer waiting (here: denied from
	// the waiting room).
	m.Emit(app.WaitingChanged{Joiners: []app.Joiner{{ID: "j-eve", Name: "Eve", Public: newPeer(t), Contact: identity.StatusNew}}})
	eventually(t, "badge of one", func() bool { return mv.WaitingBadge().Text == "1 waiting" })
	if !hasAlert(a, app.AlertWarning, "Eve is waiting") {
		t.Fatal("Eve's knock went before it was handled")
	}
	m.Emit(app.WaitingChanged{})
	eventually(t, "Eve's knock handled", func() bool { return !hasAlert(a, app.AlertWarning, "Eve is waiting") && !mv.WaitingBadge().Visible() })
}

// At most two alerts show, the most severe first; the others wait their
// turn. They lie over the screen: nothing under them moves.
func TestAlertsOverlayAtMostTwo(t *testing.T) {
	lockUI(t)
	a, m, mv := hostedMeeting(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a)}})
	eventually(t, "roster", func() bool { return mv.TileShown("self") == 0 })
	d := fyne.CurrentApp().Driver()
	before := d.AbsolutePositionForObject(mv.Leave)
	beforeTop := d.AbsolutePositionForObject(mv.Unverified)
	a.ShowAlert(app.Alert{Kind: app.AlertInfo, Text: "one"})
	a.ShowAlert(app.Alert{Kind: app.AlertWarning, Text: "two", Key: "w"})
	a.ShowAlert(app.Alert{Kind: app.AlertInfo, Text: "three"})
	a.ShowAlert(app.Alert{Kind: app.AlertDanger, Text: "four", Key: "d"})
	shown := a.ShownAlerts()
	if len(shown) != 2 || shown[0].Text != "four" || shown[1].Text != "two" {
		t.Fatalf("shown %+v, want the danger then the warning", shown)
	}
	if len(a.Alerts()) != 4 {
		t.Fatalf("kept %d alerts, want all 4", len(a.Alerts()))
	}
	if got := d.AbsolutePositionForObject(mv.Leave); got != before {
		t.Fatalf("Leave moved from %v to %v when alerts came", before, got)
	}
	if got := d.AbsolutePositionForObject(mv.Unverified); got != beforeTop {
		t.Fatalf("the top bar moved from %v to %v when alerts came", beforeTop, got)
	}
	// Nor do they cover the top bar's controls (security code, invite,
	// waiting badge) or the side panel: they lie over the video.
	bar := d.AbsolutePositionForObject(a.AlertBar())
	if top := d.AbsolutePositionForObject(mv.Unverified).Y + mv.Unverified.Size().Height; bar.Y < top {
		t.Fatalf("the alerts start at y=%v, over the top bar that ends at y=%v", bar.Y, top)
	}
	if right, panel := bar.X+a.AlertBar().Size().Width, d.AbsolutePositionForObject(mv.SidePanel()).X; right > panel {
		t.Fatalf("the alerts reach x=%v, over the side panel from x=%v", right, panel)
	}
	tap(findButton(t, a.AlertBar().Objects[0], ""))
	shown = a.ShownAlerts()
	if len(shown) != 2 || shown[0].Text != "two" || shown[1].Text != "one" {
		t.Fatalf("after dismissing the danger: %+v", shown)
	}
}
