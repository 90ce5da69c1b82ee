package app

import (
	"context"
	"image"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/internal/call"
)

type lobbyMode int

const (
	lobbyHost lobbyMode = iota
	lobbyJoin
)

// lobbyScreen is the pre-join check: camera preview, microphone level,
// device pickers, and what the host will see.
type lobbyScreen struct {
	mode    lobbyMode
	invite  Invite
	here    bool
	preview *canvas.Image
	noCam   *widget.Label
	level   *widget.ProgressBar
	camera  *devicePicker
	mic     *devicePicker
	speaker *devicePicker
	camOn   *widget.Check
	micOn   *widget.Check
	enter   *widget.Button
	back    *widget.Button
	// shown counts preview frames put on screen.
	shown atomic.Int64

	cancel context.CancelFunc // stops preview and level
}

func (a *App) showLobby(mode lobbyMode, inv Invite, onThisComputer bool) {
	a.alerts.clearAll() // the last meeting's ending is not about this one
	p := a.fa.Preferences()
	s := &lobbyScreen{
		mode: mode, invite: inv, here: onThisComputer,
		preview: canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, 4, 3))),
		noCam:   widget.NewLabel(""),
		level:   widget.NewProgressBar(),
		camera:  deviceSelect(a.cfg.Devices.Cameras(), p.String(prefCamera)),
		mic:     deviceSelect(a.cfg.Devices.Microphones(), p.String(prefMicrophone)),
		speaker: deviceSelect(a.cfg.Devices.Speakers(), p.String(prefSpeaker)),
	}
	s.preview.FillMode = canvas.ImageFillContain
	s.preview.SetMinSize(fyne.NewSize(480, 360))
	s.level.TextFormatter = func() string { return "" }
	s.noCam.Importance = widget.WarningImportance
	s.noCam.Wrapping = fyne.TextWrapWord
	s.camOn = widget.NewCheck("Camera on", func(bool) { a.restartPreview(s) })
	s.micOn = widget.NewCheck("Microphone on", func(bool) { a.restartPreview(s) })
	s.camOn.Checked, s.micOn.Checked = true, true
	s.camera.sel.OnChanged = func(string) { a.restartPreview(s) }
	s.mic.sel.OnChanged = func(string) { a.restartPreview(s) }

	label := "Join meeting"
	title := "Ready to join?"
	if mode == lobbyHost {
		label, title = "Start meeting", "Ready to host?"
	}
	s.enter = widget.NewButtonWithIcon(label, theme.LoginIcon(), func() { a.enterFromLobby(s) })
	s.enter.Importance = widget.HighImportance
	s.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), func() {
		s.stop()
		a.showHome()
	})

	fp := a.self.Public().FingerprintString()
	seenTitle := "What the host will see"
	seenText := "The host sees your display name \"" + a.selfName + "\", your identity fingerprint (" + fp[:16] + "…) and the safety number between you, and whether you are in their contacts. The relay sees only an anonymous session, never your name or key."
	if mode == lobbyHost {
		seenTitle = "What the others will see"
		seenText = "You are the host: you admit or deny everyone who knocks. Whoever joins sees your display name \"" + a.selfName + "\", your identity fingerprint (" + fp[:16] + "…) and the safety number between you, and you see theirs before admitting them. The relay sees only anonymous sessions, never names or keys."
	}
	seen := widget.NewLabel(seenText)
	seen.Wrapping = fyne.TextWrapWord
	where := ""
	switch {
	case mode == lobbyJoin:
		where = "Relay: " + inv.Relay
	case onThisComputer:
		where = "The meeting's relay runs on this computer."
	default:
		where = "Relay: " + a.relaySetting()
	}
	left := container.NewVBox(
		widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewStack(canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground)), s.preview),
		s.noCam,
		container.NewBorder(nil, nil, container.NewHBox(widget.NewIcon(theme.MediaRecordIcon()), widget.NewLabel("Microphone level")), nil, s.level),
	)
	right := container.NewVBox(
		widget.NewForm(
			widget.NewFormItem("Camera", s.camera.sel),
			widget.NewFormItem("Microphone", s.mic.sel),
			widget.NewFormItem("Speaker", s.speaker.sel),
		),
		container.NewHBox(s.camOn, s.micOn),
		widget.NewSeparator(),
		widget.NewLabelWithStyle(seenTitle, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		seen,
		widget.NewButton("Change name", func() { a.showIdentitySettings() }),
		widget.NewLabel(where),
		widget.NewSeparator(),
		container.NewHBox(s.back, s.enter),
	)
	split := container.NewHSplit(container.NewPadded(left), container.NewVScroll(container.NewPadded(right)))
	split.Offset = 0.55
	a.setScreen(split)
	a.lobby = s
	a.restartPreview(s)
}

// restartPreview (re)opens the preview and level streams for the current
// picks. Frames are converted off the UI thread.
func (a *App) restartPreview(s *lobbyScreen) {
	s.stop()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.noCam.SetText("")
	s.noCam.Hide()
	if s.camOn.Checked && s.camera.id() != "" {
		frames, err := a.cfg.Devices.Preview(ctx, s.camera.id(), a.quality())
		if err != nil {
			s.noCam.SetText("The camera could not be opened: " + errorText(err))
			s.noCam.Show()
		} else {
			tile := &videoTile{}
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case img, ok := <-frames:
						if !ok {
							return
						}
						dst := tile.convert(img)
						uiDoAndWait(func() {
							if ctx.Err() == nil {
								s.preview.Image = dst
								s.preview.Refresh()
								s.shown.Add(1)
							}
						})
					}
				}
			}()
		}
	} else if s.camOn.Checked {
		s.noCam.SetText("No camera found.")
		s.noCam.Show()
	}
	s.level.SetValue(0)
	if s.micOn.Checked && s.mic.id() != "" {
		levels, err := a.cfg.Devices.Level(ctx, s.mic.id())
		if err == nil {
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case v, ok := <-levels:
						if !ok {
							return
						}
						uiDo(func() {
							if ctx.Err() == nil {
								s.level.SetValue(v)
							}
						})
					}
				}
			}()
		}
	}
}

func (s *lobbyScreen) stop() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

func (s *lobbyScreen) choice() MediaChoice {
	return MediaChoice{
		Camera: s.camera.id(), Microphone: s.mic.id(), Speaker: s.speaker.id(),
		CameraOn: s.camOn.Checked, MicOn: s.micOn.Checked,
	}
}

func (a *App) enterFromLobby(s *lobbyScreen) {
	if err := call.CheckName(a.selfName); err != nil {
		a.alerts.show(Alert{Kind: AlertDanger, Key: "name",
			Text: "Meetings cannot carry your name: " + err.Error() + " Change it on the home screen (Change name or passphrase)."})
		return
	}
	s.stop() // release the devices for the meeting
	media := s.choice()
	media.Quality = a.quality()
	media.Processing = a.processing()
	a.lastMedia = &media
	switch s.mode {
	case lobbyHost:
		a.HostNow(s.here, media)
	case lobbyJoin:
		inv := s.invite
		a.startMeeting(func(ctx context.Context) (Meeting, error) {
			return a.cfg.Connector.Join(ctx, JoinRequest{Self: a.self, Name: a.selfName, Contacts: a.contacts, Invite: inv, Media: media})
		}, false)
	}
}
