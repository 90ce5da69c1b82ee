package app

import (
	"image/color"
	"slices"
	"strings"
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

// maxVisible is how many alerts show at once; the others wait their turn,
// the most severe first (a knock counts after a danger, before a warning).
const maxVisible = 2

// maxAlerts bounds the alerts kept, shown or waiting; the oldest info
// alerts go first.
const maxAlerts = 8

// Alert is one message in the alert bar.
type Alert struct {
	Kind AlertKind
	Text string
	// Key deduplicates: a new alert with the same non-empty key replaces
	// the old one instead of stacking.
	Key string

	// actions are buttons in the alert (a knock's Admit and Deny); any
	// of them also removes the alert.
	actions []alertAction
	// Details, if set, is the technical text behind a Details button
	// (errorAlert): for a report to whoever runs the relay.
	Details string
}

// alertAction is one button of an alert.
type alertAction struct {
	label      string
	importance widget.Importance
	do         func()
}

// errorAlert is a danger alert for a failure: what failed, the sentence
// that says what to do, and the error itself behind Details.
func errorAlert(what string, err error, key string) Alert {
	return Alert{Kind: AlertDanger, Key: key, Text: what + " " + errorMessage(err), Details: err.Error()}
}

type alertRow struct {
	alert Alert
	obj   fyne.CanvasObject
	seq   int
}

// alertBar is the strip of alerts over the top of every screen. It
// overlays the screen rather than pushing it down, so nothing moves under
// the pointer when an alert comes or goes, and shows at most maxVisible
// alerts.
type alertBar struct {
	box     *fyne.Container
	rows    []*alertRow
	visible []*alertRow
	seq     int
	after   func(time.Duration, func())
	// changed runs after the alerts shown changed, so the overlay lays
	// them out again.
	changed func()
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
	b.seq++
	row := &alertRow{alert: al, seq: b.seq}
	// Opaque under the tint: the alert lies over video.
	under := canvas.NewRectangle(theme.Color(theme.ColorNameBackground))
	under.CornerRadius = 4
	bg := canvas.NewRectangle(tint(theme.Color(alertColor(al.Kind)), 0x50))
	bg.CornerRadius = 4
	icon := widget.NewIcon(alertIcon(al.Kind))
	text := widget.NewLabel(al.Text)
	text.Wrapping = fyne.TextWrapWord
	text.TextStyle.Bold = al.Kind != AlertInfo
	closeBtn := widget.NewButtonWithIcon("", theme.CancelIcon(), func() { b.remove(row) })
	closeBtn.Importance = widget.LowImportance
	var content fyne.CanvasObject = text
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
		content = container.NewVBox(text, container.NewHBox(toggle), details)
	}
	if len(al.actions) > 0 {
		buttons := container.NewHBox()
		for _, act := range al.actions {
			do := act.do
			btn := widget.NewButton(act.label, func() {
				b.remove(row)
				do()
			})
			btn.Importance = act.importance
			buttons.Add(btn)
		}
		content = container.NewVBox(content, buttons)
	}
	row.obj = container.NewPadded(container.NewStack(under, bg, container.NewBorder(nil, nil, icon, closeBtn, content)))
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

// clearPrefix removes the alerts whose key starts with prefix.
func (b *alertBar) clearPrefix(prefix string) {
	kept := b.rows[:0]
	for _, r := range b.rows {
		if !strings.HasPrefix(r.alert.Key, prefix) {
			kept = append(kept, r)
		}
	}
	if len(kept) != len(b.rows) {
		b.rows = kept
		b.sync()
	}
}

// has reports whether an alert with key is kept (shown or waiting).
func (b *alertBar) has(key string) bool {
	return slices.ContainsFunc(b.rows, func(r *alertRow) bool { return r.alert.Key == key })
}

// clearKey removes the alert with key.
func (b *alertBar) clearKey(key string) {
	for _, r := range b.rows {
		if r.alert.Key == key {
			b.remove(r)
			return
		}
	}
}

// clearAll removes every alert: a meeting's alerts belong to it, and go
// when it ends or the next one is prepared.
func (b *alertBar) clearAll() {
	if len(b.rows) == 0 {
		return
	}
	b.rows = nil
	b.sync()
}

// texts returns the visible alerts, oldest first (for tests).
func (b *alertBar) list() []Alert {
	out := make([]Alert, len(b.rows))
	for i, r := range b.rows {
		out[i] = r.alert
	}
	return out
}

// shown returns the alerts on screen, top first (for tests).
func (b *alertBar) shown() []Alert {
	out := make([]Alert, len(b.visible))
	for i, r := range b.visible {
		out[i] = r.alert
	}
	return out
}

// sync shows the maxVisible most severe alerts, the oldest first among
// equals, so an alert stays where it is until it goes.
func (b *alertBar) sync() {
	order := slices.Clone(b.rows)
	slices.SortStableFunc(order, func(x, y *alertRow) int {
		if px, py := x.alert.priority(), y.alert.priority(); px != py {
			return py - px
		}
		return x.seq - y.seq
	})
	b.visible = order[:min(len(order), maxVisible)]
	objs := make([]fyne.CanvasObject, len(b.visible))
	for i, r := range b.visible {
		objs[i] = r.obj
	}
	b.box.Objects = objs
	b.box.Refresh()
	if b.changed != nil {
		b.changed()
	}
}

// alertLayout places the alerts at the top of what they lie over, at
// their own height: what is under them is never pushed down.
type alertLayout struct{}

func (alertLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(fyne.NewSize(size.Width, o.MinSize().Height))
	}
}

// MinSize is zero: the alerts never make the window larger.
func (alertLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.Size{} }

// priority orders alerts for the screen: danger, then a knock (an alert
// with actions), then warning, then info.
func (al Alert) priority() int {
	switch {
	case al.Kind == AlertDanger:
		return 3
	case len(al.actions) > 0:
		return 2
	case al.Kind == AlertWarning:
		return 1
	}
	return 0
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
