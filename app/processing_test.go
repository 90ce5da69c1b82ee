package app_test

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

func findCheck(t *testing.T, o fyne.CanvasObject, text string) *widget.Check {
	t.Helper()
	return findLabelled(t, o, text, func(c *widget.Check) string { return c.Text })
}

// The settings dialog has the three microphone processing switches, on
// by default; what is saved reaches the meeting's MediaChoice.
func TestProcessingSwitchesReachTheMeeting(t *testing.T) {
	lockUI(t)
	speakers := []app.Device{{ID: "default", Label: "System default output"}}
	a, conn := newShareApp(t, &shareMeeting{Meeting: apptest.NewMeeting()}, speakers)

	open := func() fyne.CanvasObject {
		tap(findButton(t, a.Window().Content(), "Settings"))
		o := a.Window().Canvas().Overlays().Top()
		if o == nil {
			t.Fatal("no settings dialog")
		}
		return o
	}
	overlay := open()
	for _, name := range []string{"Echo cancellation", "Noise suppression", "Automatic gain control"} {
		if !findCheck(t, overlay, name).Checked {
			t.Errorf("%s is off by default", name)
		}
	}
	findCheck(t, overlay, "Noise suppression").SetChecked(false)
	tap(findButton(t, overlay, "Save"))

	// Saved: the dialog shows it next time.
	overlay = open()
	if findCheck(t, overlay, "Noise suppression").Checked || !findCheck(t, overlay, "Echo cancellation").Checked {
		t.Fatal("the saved switches are not what the dialog shows again")
	}
	tap(findButton(t, overlay, "Cancel"))

	setText(a.HomeView().Link, validLink(t))
	tap(a.HomeView().Join)
	lv := a.LobbyView()
	if lv == nil {
		t.Fatal("no lobby")
	}
	tap(lv.Enter)
	eventually(t, "join request", func() bool { return len(conn.Joins()) == 1 })
	got := conn.Joins()[0].Media.Processing
	want := app.AudioProcessing{NoNoiseSuppression: true}
	if got != want {
		t.Fatalf("joined with processing %+v, want %+v", got, want)
	}
}
