package app_test

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
	"github.com/sottohq/sotto/crypto/identity"
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
	a, m, mv := hostedMeeting(t)
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

// A screen that is replaced leaves no spinner animating behind it (Fyne
// keeps an unseen widget's animation running for about a minute).
func TestReplacedScreenAnimatesNothing(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), apptest.NewMeeting())
	var bars []*widget.ProgressBarInfinite
	walk(a.Window().Canvas().Content(), func(o fyne.CanvasObject) {
		if p, ok := o.(*widget.ProgressBarInfinite); ok {
			bars = append(bars, p)
		}
	})
	if len(bars) == 0 {
		t.Fatal("no progress bar on the first-run screen")
	}
	// The driver creates a widget's renderer when it first measures or
	// draws it, hidden or not; Fyne's infinite bar starts animating then.
	for _, p := range bars {
		test.WidgetRenderer(p)
		if !p.Running() {
			t.Fatal("the progress bar did not start with its renderer: this test no longer checks anything")
		}
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	a.UseIdentity(id, "Ada")
	if a.HomeView() == nil {
		t.Fatal("no home screen")
	}
	for _, p := range bars {
		if p.Running() {
			t.Fatal("the first-run screen's progress bar still animates after the screen was replaced")
		}
	}
}
