package app

import "sync/atomic"

// windowClosed is set when the window has closed and the app is shutting
// down. From then on Fyne's driver no longer runs work handed to fyne.Do
// on its own goroutine but on the caller's (its queue is drained), where
// each widget call logs "Error in Fyne call thread": a meeting's events
// and pictures still arriving while the meeting is left would print that
// at every quit. Work that comes after the close is dropped instead; there
// is no window left to show it.
var windowClosed atomic.Bool

// whileOpen wraps UI work so that it does nothing once the window closed.
func whileOpen(f func()) func() {
	return func() {
		if !windowClosed.Load() {
			f()
		}
	}
}
