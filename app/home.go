package app

import (
	"errors"
	"image"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/internal/call"
)

// Preference keys.
const (
	prefRelay      = "relay"
	prefCamera     = "camera"
	prefMicrophone = "microphone"
	prefSpeaker    = "speaker"
	prefQuality    = "quality"
	// Microphone processing switches (on unless switched off).
	prefEchoCancellation = "echo_cancellation"
	prefNoiseSuppression = "noise_suppression"
	prefGainControl      = "gain_control"
)

// fingerprintQRPrefix marks the home screen's QR code as a Sotto identity
// fingerprint (64 hex digits follow), so a scanner cannot mistake it for a
// link.
const fingerprintQRPrefix = "sotto-fingerprint:"

// recentContacts is how many contacts the home screen lists.
const recentContacts = 12

// homeScreen shows the user's identity and starts meetings.
type homeScreen struct {
	fingerprint *widget.Label
	qr          *canvas.Image
	joinLink    *widget.Entry
	joinError   *widget.Label
	joinBtn     *widget.Button
	hostBtn     *widget.Button
	contacts    *fyne.Container
}

func (a *App) showHome() {
	pub := a.self.Public()
	s := &homeScreen{
		fingerprint: widget.NewLabel(formatFingerprint(pub.FingerprintString())),
		joinLink:    widget.NewEntry(),
		joinError:   widget.NewLabel(""),
		contacts:    container.NewVBox(),
	}
	s.fingerprint.TextStyle.Monospace = true
	s.qr = qrImage(fingerprintQRPrefix+pub.FingerprintString(), 220)
	s.joinLink.SetPlaceHolder("Paste an invite link")
	s.joinError.Importance = widget.DangerImportance
	s.joinError.Wrapping = fyne.TextWrapWord
	s.joinLink.OnSubmitted = func(string) { a.joinFromLink(s) }
	s.joinBtn = widget.NewButtonWithIcon("Join", theme.LoginIcon(), func() { a.joinFromLink(s) })
	s.hostBtn = widget.NewButtonWithIcon("Host a meeting", theme.MediaVideoIcon(), func() { a.askHost() })
	s.hostBtn.Importance = widget.HighImportance

	name := widget.NewLabelWithStyle(a.selfName, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	// A long name (64 characters of a wide script) wraps rather than
	// widening the window.
	name.Wrapping = fyne.TextWrapBreak
	rename := widget.NewButton("Change name or passphrase", func() { a.showIdentitySettings() })
	you := container.NewVBox(
		widget.NewLabelWithStyle("Your identity", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		name,
		widget.NewLabel("Fingerprint"), s.fingerprint,
		container.NewCenter(s.qr),
		rename,
	)
	if err := call.CheckName(a.selfName); err != nil {
		// An identity made before names were checked at entry.
		warn := widget.NewLabel("Meetings cannot carry your name: " + err.Error() + " Change it to host or join.")
		warn.Importance = widget.DangerImportance
		warn.Wrapping = fyne.TextWrapWord
		you.Add(warn)
	}
	if a.emptyPassphrase {
		warn := widget.NewLabel("Your identity is stored without a passphrase.")
		warn.Importance = widget.WarningImportance
		warn.Wrapping = fyne.TextWrapWord
		you.Add(warn)
	}
	settings := widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { a.showSettings() })
	actions := container.NewVBox(
		widget.NewLabelWithStyle("Meetings", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		s.hostBtn,
		container.NewBorder(nil, nil, nil, s.joinBtn, s.joinLink),
		s.joinError,
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Recent contacts", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		s.contacts,
		widget.NewSeparator(),
		settings,
	)
	a.fillContacts(s)
	split := container.NewHSplit(container.NewVScroll(container.NewPadded(you)), container.NewVScroll(container.NewPadded(actions)))
	split.Offset = 0.4
	a.setScreen(split)
	a.home = s
}

func (a *App) fillContacts(s *homeScreen) {
	list := a.contacts.List()
	slices.SortFunc(list, func(x, y identity.Contact) int { return y.LastSeen.Compare(x.LastSeen) })
	if len(list) > recentContacts {
		list = list[:recentContacts]
	}
	s.contacts.RemoveAll()
	if len(list) == 0 {
		s.contacts.Add(widget.NewLabel("People you meet appear here."))
		return
	}
	for _, c := range list {
		c := c
		badge := widget.NewIcon(iconUnverified)
		status := "not verified"
		if c.Verified {
			badge.SetResource(iconVerified)
			status = "verified"
		}
		label := widget.NewLabel(c.Name + " — " + status)
		label.Truncation = fyne.TextTruncateEllipsis
		verify := widget.NewButton("Safety number", func() {
			a.showVerify(c.Name, c.Public, nil, func() { a.fillContacts(s) })
		})
		s.contacts.Add(container.NewBorder(nil, nil, badge, verify, label))
	}
}

func (a *App) joinFromLink(s *homeScreen) {
	inv, err := a.cfg.Connector.ParseInvite(strings.TrimSpace(s.joinLink.Text))
	if err != nil {
		s.joinError.SetText(errorMessage(err))
		return
	}
	s.joinError.SetText("")
	a.showLobby(lobbyJoin, inv, false)
}

// askHost lets the host choose where the meeting's relay runs.
func (a *App) askHost() {
	here := "On this computer (no server needed)"
	relay := "Through the relay " + a.relaySetting()
	opts := []string{here}
	if a.relaySetting() != "" {
		opts = append(opts, relay)
	}
	choice := widget.NewRadioGroup(opts, nil)
	choice.SetSelected(opts[len(opts)-1])
	note := widget.NewLabel("Hosting on this computer starts a relay inside Sotto. Participants connect to this computer directly, so it must be reachable from theirs: on the same network that just works; across the internet your router must forward the relay's port to this computer (or use a relay server). See the documentation on network limits.")
	note.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(choice, note)
	d := dialog.NewCustomConfirm("Host a meeting", "Continue", "Cancel", content, func(ok bool) {
		if ok {
			a.showLobby(lobbyHost, Invite{}, choice.Selected == here)
		}
	}, a.win)
	d.Resize(fyne.NewSize(520, 300))
	d.Show()
}

// validateRelay accepts an empty relay setting (host on this computer) or
// an address a meeting can use, with a sentence the user can act on.
func validateRelay(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if _, _, err := call.ParseRelay(s); err != nil {
		return errors.New("not a relay address: use host:port, wss://host:port or ws://host:port")
	}
	return nil
}

// showSettings edits relay address, devices and video quality.
func (a *App) showSettings() {
	p := a.fa.Preferences()
	relay := widget.NewEntry()
	relay.SetText(a.relaySetting())
	relay.SetPlaceHolder("host:port of your relay")
	// Save stays disabled while the address could not be hosted on or
	// joined (the same rule the meeting uses, call.ParseRelay).
	relay.Validator = validateRelay
	camera := deviceSelect(a.cfg.Devices.Cameras(), p.String(prefCamera))
	mic := deviceSelect(a.cfg.Devices.Microphones(), p.String(prefMicrophone))
	speaker := deviceSelect(a.cfg.Devices.Speakers(), p.String(prefSpeaker))
	quality := widget.NewSelect(qualityNames(), nil)
	quality.SetSelected(string(a.quality()))
	proc := a.processing()
	aec := widget.NewCheck("Echo cancellation", nil)
	aec.SetChecked(!proc.NoEchoCancellation)
	ns := widget.NewCheck("Noise suppression", nil)
	ns.SetChecked(!proc.NoNoiseSuppression)
	agc := widget.NewCheck("Automatic gain control", nil)
	agc.SetChecked(!proc.NoGainControl)
	items := []*widget.FormItem{
		widget.NewFormItem("Your identity", widget.NewButton("Name and passphrase…", func() { a.showIdentitySettings() })),
		widget.NewFormItem("Relay address", relay),
		widget.NewFormItem("Camera", camera.sel),
		widget.NewFormItem("Microphone", mic.sel),
		widget.NewFormItem("Speaker", speaker.sel),
		widget.NewFormItem("Video quality", quality),
		widget.NewFormItem("Microphone processing", container.NewVBox(aec, ns, agc)),
	}
	d := dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		p.SetString(prefRelay, strings.TrimSpace(relay.Text))
		p.SetString(prefCamera, camera.id())
		p.SetString(prefMicrophone, mic.id())
		p.SetString(prefSpeaker, speaker.id())
		p.SetString(prefQuality, quality.Selected)
		p.SetBool(prefEchoCancellation, aec.Checked)
		p.SetBool(prefNoiseSuppression, ns.Checked)
		p.SetBool(prefGainControl, agc.Checked)
	}, a.win)
	d.Resize(fyne.NewSize(520, 480))
	d.Show()
}

// processing is the saved microphone processing switches; every stage
// is on until switched off.
func (a *App) processing() AudioProcessing {
	p := a.fa.Preferences()
	return AudioProcessing{
		NoEchoCancellation: !p.BoolWithFallback(prefEchoCancellation, true),
		NoNoiseSuppression: !p.BoolWithFallback(prefNoiseSuppression, true),
		NoGainControl:      !p.BoolWithFallback(prefGainControl, true),
	}
}

func (a *App) quality() Quality {
	q := Quality(a.fa.Preferences().String(prefQuality))
	if slices.Contains(Qualities, q) {
		return q
	}
	return QualityMedium
}

func qualityNames() []string {
	out := make([]string, len(Qualities))
	for i, q := range Qualities {
		out[i] = string(q)
	}
	return out
}

// devicePicker is a Select over devices, remembering their IDs.
type devicePicker struct {
	sel     *widget.Select
	devices []Device
}

func deviceSelect(devs []Device, current string) *devicePicker {
	d := &devicePicker{devices: devs}
	labels := make([]string, len(devs))
	for i, dv := range devs {
		labels[i] = dv.Label
	}
	d.sel = widget.NewSelect(labels, nil)
	d.sel.PlaceHolder = "(none found)"
	for _, dv := range devs {
		if dv.ID == current {
			d.sel.SetSelected(dv.Label)
		}
	}
	if d.sel.Selected == "" && len(labels) > 0 {
		d.sel.SetSelected(labels[0])
	}
	return d
}

func (d *devicePicker) id() string {
	for _, dv := range d.devices {
		if dv.Label == d.sel.Selected {
			return dv.ID
		}
	}
	return ""
}

// formatFingerprint groups 64 hex digits in fours, four groups a line.
func formatFingerprint(hex string) string {
	var b strings.Builder
	for i := 0; i < len(hex); i += 4 {
		if i > 0 {
			if i%16 == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(hex[i:min(i+4, len(hex))])
	}
	return b.String()
}

// qrImage renders content as a QR code of about px pixels.
func qrImage(content string, px float32) *canvas.Image {
	img := canvas.NewImageFromImage(qrBitmap(content))
	img.FillMode = canvas.ImageFillContain
	img.ScaleMode = canvas.ImageScalePixels
	img.SetMinSize(fyne.NewSize(px, px))
	return img
}

// qrBitmap draws content as a QR code (ISO/IEC 18004) with error
// correction level M. The library is skip2/go-qrcode: it returns an
// image.Image directly, has no dependencies and never logs what it
// encodes; yeqown/go-qrcode/v2 was measured as no faster for our 65-byte
// safety-number payload and needs another module (or our own code) to
// draw an image (BENCHMARKS.md, "QR code library").
func qrBitmap(content string) image.Image {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		// Only content longer than a QR code can hold fails; callers pass
		// short fixed-size data.
		return image.NewGray(image.Rect(0, 0, 1, 1))
	}
	q.DisableBorder = false
	return q.Image(256)
}
