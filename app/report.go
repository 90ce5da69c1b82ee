//go:build uireport

// The report is test instrumentation: only binaries built with
// -tags uireport (the real-window test's) contain it.

package app

import (
	"fyne.io/fyne/v2"
)

// Report describes what the window shows, for the real-window test and for
// measuring rendering: which screen, and where each video tile is and how
// many frames it has shown.
type Report struct {
	Screen string       `json:"screen"`
	Title  string       `json:"title"` // the window's title, which follows the meeting's state
	Scale  float32      `json:"scale"` // canvas pixels per Fyne unit
	Tiles  []TileReport `json:"tiles"`
	Alerts []string     `json:"alerts"`
	// Unverified counts members whose key is not verified.
	Unverified int `json:"unverified"`
}

// TileReport is one video tile; X, Y, W, H are in canvas pixels.
type TileReport struct {
	Member      string `json:"member"`
	Self        bool   `json:"self"`
	Shown       uint64 `json:"shown"`
	Offered     uint64 `json:"offered"`
	Placeholder bool   `json:"placeholder"`
	X           int    `json:"x"`
	Y           int    `json:"y"`
	W           int    `json:"w"`
	H           int    `json:"h"`
}

// Report returns the current state. Call on the UI goroutine (fyne.DoAndWait).
func (a *App) Report() Report {
	r := Report{Scale: a.win.Canvas().Scale(), Title: a.win.Title()}
	switch {
	case a.firstRun != nil:
		r.Screen = "first-run"
	case a.unlock != nil:
		r.Screen = "unlock"
	case a.home != nil:
		r.Screen = "home"
	case a.lobby != nil:
		r.Screen = "lobby"
	case a.meeting != nil:
		r.Screen = "meeting"
	}
	for _, al := range a.alerts.list() {
		r.Alerts = append(r.Alerts, al.Text)
	}
	s := a.meeting
	if s == nil {
		return r
	}
	r.Unverified = s.unverifiedCount()
	drv := fyne.CurrentApp().Driver()
	s.tilesMu.Lock()
	defer s.tilesMu.Unlock()
	for _, o := range s.grid.Objects {
		t, ok := o.(*videoTile)
		if !ok {
			continue
		}
		pos := drv.AbsolutePositionForObject(t)
		size := t.Size()
		r.Tiles = append(r.Tiles, TileReport{
			Member: t.member, Self: t.self, Shown: t.shown.Load(), Offered: t.offered.Load(),
			Placeholder: !t.live.Load(),
			X:           int(pos.X * r.Scale), Y: int(pos.Y * r.Scale),
			W: int(size.Width * r.Scale), H: int(size.Height * r.Scale),
		})
	}
	return r
}
