package app

import "fyne.io/fyne/v2"

// AlertBar is the strip of alerts, for tests that tap inside one.
func (a *App) AlertBar() fyne.CanvasObject { return a.alerts.box }

// WhileOpen is whileOpen; ReopenUI forgets that the window closed.
var WhileOpen = whileOpen

func ReopenUI() { windowClosed.Store(false) }
