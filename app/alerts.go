package app

import (
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// AlertKind classifies an alert; it decides colour and lifetime.
type AlertKind int

// Alert kinds.
const (
	// AlertInfo: someone joined or left. Disappears by itself.
	AlertInfo AlertKind = iota
	// AlertWarning: an unverified member is present. Stays until dismissed.
	AlertWarning
	// AlertDanger: a key changed, a sender cannot be decrypted, the relay
	// tried to add a participant. Stays until dismissed.
	AlertDanger
)

// infoLifetime is how long an AlertInfo stays visible.
const infoLifetime = 8 * time.Second

// maxAlerts bounds the alerts on screen; the oldest info alerts go first.
const maxAlerts = 5

// Alert is one message in the alert bar.
type Alert struct {
	Kind AlertKind
	Text string
	// Key deduplicates: a new alert with the same non-empty key replaces
	// the old one instead of stacking.
	Key string
	// Details, if set, is the technical text behind a Details button
	// (errorAlert): for a report to whoever runs the relay.
	Details string
}

// errorAlert is a danger alert for a failure: what failed, the sentence
// that says what to do, and the error itself behind Details.
func errorAlert(what string, err error, key string) Alert {
	return Alert{Kind: AlertDanger, Key: key, Text: what + " " + errorMessage(err), Details: err.Error()}
}

type alertRow struct {
	alert Alert
	obj   fyne.CanvasObject
}

// alertBar is the strip of alerts above every screen.
type alertBar struct {
	box   *fyne.Container
	rows  []*alertRow
	after func(time.Duration, func())
	// onResize runs after the bar's height may have changed, so the window
	// lays out its content again.
	onResize func()
}

func newAlertBar() *alertBar {
	return &alertBar{
		box: container.NewVBox(),
		after: func(d time.Duration, f func()) {
			time.AfterFunc(d, func() { uiDo(f) })
		},
	}
}

// show adds an alert. Call on the UI goroutine.
func (b *alertBar) show(al Alert) {
	if al.Key != "" {
		for _, r := range b.rows {
			if r.alert.Key == al.Key {
				b.remove(r)
				break
			}
		}
	}
	row := &alertRow{alert: al}
	bg := canvas.NewRectangle(tint(theme.Color(alertColor(al.Kind)), 0x50))
	bg.CornerRadius = 4
	icon := widget.NewIcon(alertIcon(al.Kind))
	text := widget.NewLabel(al.Text)
	text.Wrapping = fyne.TextWrapWord
	text.TextStyle.Bold = al.Kind != AlertInfo
	closeBtn := widget.NewButtonWithIcon("", theme.CancelIcon(), func() { b.remove(row) })
	closeBtn.Importance = widget.LowImportance
	var body fyne.CanvasObject = text
	if al.Details != "" {
		details := widget.NewLabel(al.Details)
		details.Wrapping = fyne.TextWrapWord
		details.Selectable = true
		details.Hide()
		var toggle *widget.Button
		toggle = widget.NewButtonWithIcon("Details", theme.MenuDropDownIcon(), func() {
			if details.Visible() {
				details.Hide()
				toggle.SetIcon(theme.MenuDropDownIcon())
			} else {
				details.Show()
				toggle.SetIcon(theme.MenuDropUpIcon())
			}
			b.sync()
		})
		toggle.Importance = widget.LowImportance
		body = container.NewVBox(text, container.NewHBox(toggle), details)
	}
	row.obj = container.NewStack(bg, container.NewBorder(nil, nil, icon, closeBtn, body))
	b.rows = append(b.rows, row)
	for len(b.rows) > maxAlerts {
		b.remove(b.oldestRemovable())
	}
	b.sync()
	if al.Kind == AlertInfo {
		b.after(infoLifetime, func() { b.remove(row) })
	}
}

func (b *alertBar) oldestRemovable() *alertRow {
	for _, r := range b.rows {
		if r.alert.Kind == AlertInfo {
			return r
		}
	}
	return b.rows[0]
}

func (b *alertBar) remove(row *alertRow) {
	for i, r := range b.rows {
		if r == row {
			b.rows = append(b.rows[:i], b.rows[i+1:]...)
			b.sync()
			return
		}
	}
}

// clear removes the alerts whose key starts with prefix.
func (b *alertBar) clearKey(key string) {
	for _, r := range b.rows {
		if r.alert.Key == key {
			b.remove(r)
			return
		}
	}
}

// texts returns the visible alerts, oldest first (for tests).
func (b *alertBar) list() []Alert {
	out := make([]Alert, len(b.rows))
	for i, r := range b.rows {
		out[i] = r.alert
	}
	return out
}

func (b *alertBar) sync() {
	objs := make([]fyne.CanvasObject, len(b.rows))
	for i, r := range b.rows {
		objs[i] = r.obj
	}
	b.box.Objects = objs
	b.box.Refresh()
	if b.onResize != nil {
		b.onResize()
	}
}

func alertColor(k AlertKind) fyne.ThemeColorName {
	switch k {
	case AlertWarning:
		return theme.ColorNameWarning
	case AlertDanger:
		return theme.ColorNameError
	}
	return theme.ColorNameInputBackground
}

func alertIcon(k AlertKind) fyne.Resource {
	switch k {
	case AlertWarning:
		return theme.WarningIcon()
	case AlertDanger:
		return theme.ErrorIcon()
	}
	return theme.InfoIcon()
}

// tint returns c with alpha a, for backgrounds behind text.
func tint(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}
