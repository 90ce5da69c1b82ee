package app_test

import (
	"testing"

	"github.com/sottohq/sotto/app"
)

// Once the window has closed, UI work that still arrives (a meeting's
// last events and pictures) is dropped, not run on the caller's goroutine.
func TestUIWorkAfterCloseIsDropped(t *testing.T) {
	lockUI(t)
	app.ReopenUI() // earlier tests closed their windows
	t.Cleanup(app.ReopenUI)
	a := newApp(t, t.TempDir(), nil)
	ran := 0
	work := app.WhileOpen(func() { ran++ })
	work()
	if ran != 1 {
		t.Fatal("UI work did not run while the window was open")
	}
	a.Window().Close()
	work()
	if ran != 1 {
		t.Fatal("UI work ran after the window closed")
	}
}
