package app_test

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// runningSpinners counts infinite progress bars under o that animate.
func runningSpinners(o fyne.CanvasObject) int {
	n := 0
	walk(o, func(o fyne.CanvasObject) {
		if p, ok := o.(*widget.ProgressBarInfinite); ok && p.Running() {
			n++
		}
	})
	return n
}

// An idle meeting screen animates nothing: Fyne repaints the whole window
// for every animation step, so a spinner left running out of sight would
// cost as much as a 60 fps video. A running task shows a running spinner;
// once it is done none runs.
func TestIdleMeetingAnimatesNothing(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	a := newApp(t, t.TempDir(), m)
	createIdentity(t, a, "Ada", "")
	mv := hostMeeting(t, a, m)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newPeer(t)}}})
	eventually(t, "tiles", func() bool { return mv.TileShown("bob") == 0 })
	content := a.Window().Canvas().Content()
	if n := runningSpinners(content); n != 0 {
		t.Fatalf("%d progress bars animate in an idle meeting", n)
	}
	m.Emit(app.Progress{Task: app.TaskKeyRotation})
	eventually(t, "key rotation progress", func() bool { return mv.Progress.Visible() })
	if n := runningSpinners(content); n != 1 {
		t.Fatalf("%d progress bars animate during a key rotation, want 1", n)
	}
	m.Emit(app.Progress{Task: app.TaskKeyRotation, Done: true})
	eventually(t, "progress gone", func() bool { return !mv.Progress.Visible() })
	if n := runningSpinners(content); n != 0 {
		t.Fatalf("%d progress bars still animate after the task", n)
	}
}
