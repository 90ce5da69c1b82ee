package app_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// A joiner waiting for the host sees itself and why it waits, not a blank
// grid and "no other members yet"; what needs the meeting is disabled
// until the host admits it, and the security code explains its absence.
func TestJoinerWaitingScreen(t *testing.T) {
	lockUI(t)
	a, m := enterMeeting(t)
	mv := a.MeetingView()

	if !mv.WaitingShown() || !slices.Contains(labelTexts(a.Window().Content()), "Waiting for the host to admit you") {
		t.Fatal("the waiting screen does not say what it waits for")
	}
	if !slices.ContainsFunc(labelTexts(a.Window().Content()), func(s string) bool { return strings.Contains(s, "stops waiting after 5 minutes") }) {
		t.Fatal("the waiting screen does not say that the wait ends")
	}
	if strings.Contains(mv.Unverified.Text, "no other members") {
		t.Fatalf("the waiting joiner is told %q", mv.Unverified.Text)
	}
	for i := range 3 {
		m.Frame("self", apptest.Pattern(64, 48, i))
	}
	eventually(t, "the self-preview", func() bool { return mv.TileShown("self") >= 1 })

	share, code, send, chat := mv.Controls()
	if !share.Disabled() || !code.Disabled() || !send.Disabled() || !chat.Disabled() {
		t.Fatalf("controls active while waiting: share %v, code %v, send %v, chat %v",
			!share.Disabled(), !code.Disabled(), !send.Disabled(), !chat.Disabled())
	}
	if mute := mv.Mute; mute.Disabled() {
		t.Fatal("mute disabled while waiting: it works on the preview")
	}
	if texts := labelTexts(mv.ShowCode()); !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, "no security code yet") }) {
		t.Fatalf("the empty code is not explained: %q", texts)
	}

	m.Emit(app.Admitted{})
	m.Emit(app.RosterChanged{Members: []app.Member{{ID: "bob", Name: "Bob", Public: newPeer(t), Host: true}, {ID: "self", Name: "Ada", Self: true}}})
	eventually(t, "the meeting after admission", func() bool { return mv.TileShown("bob") == 0 && !mv.WaitingShown() })
	if share.Disabled() || code.Disabled() || send.Disabled() || chat.Disabled() {
		t.Fatal("controls still disabled after admission")
	}
	if mv.TileShown("self") < 1 {
		t.Fatal("the self tile lost its preview on admission")
	}
}
