package app

import (
	"context"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// meetingScreen is the in-meeting view.
type meetingScreen struct {
	a *App
	m Meeting

	members []Member
	trust   map[string]memberTrust // by member ID
	joiners []Joiner
	jtrust  map[string]memberTrust // waiting room, by joiner ID
	code    SecurityCode
	isHost  bool
	selfID  string
	tasks   map[Task]bool
	active  string
	ended   bool

	tilesMu sync.Mutex
	tiles   map[string]*videoTile

	grid          *fyne.Container
	unverified    *widget.Label
	progressLabel *widget.Label
	progress      *widget.ProgressBarInfinite
	progressBox   *fyne.Container
	inviteBtn     *widget.Button
	codeBtn       *widget.Button
	participants  *fyne.Container
	waiting       *fyne.Container
	waitingTab    *container.TabItem
	peopleTab     *container.TabItem
	tabs          *container.AppTabs
	chatLog       *fyne.Container
	chatScroll    *container.Scroll
	chatEntry     *widget.Entry
	muteBtn       *widget.Button
	camBtn        *widget.Button
	shareBtn      *widget.Button
	leaveBtn      *widget.Button

	micOn, camOn, sharing bool

	top, controls fyne.CanvasObject
}

// startMeeting runs start (Host or Join) off the UI thread behind a
// progress dialog that can cancel it, then shows the meeting.
func (a *App) startMeeting(start func(context.Context) (Meeting, error), hosting bool) {
	ctx, cancel := context.WithCancel(context.Background())
	bar := widget.NewProgressBarInfinite()
	msg := widget.NewLabel(string(TaskConnecting))
	var dlg dialog.Dialog
	finished := false
	dlg = dialog.NewCustom("Please wait", "Cancel", container.NewVBox(msg, bar), a.win)
	dlg.SetOnClosed(func() {
		bar.Stop() // it would keep animating, and repainting the window, after the dialog
		if !finished {
			cancel()
		}
	})
	dlg.Show()
	a.connecting = dlg
	go func() {
		m, err := start(ctx)
		uiDo(func() {
			finished = true
			dlg.Hide()
			a.connecting = nil
			if err == nil && ctx.Err() != nil {
				// Cancelled just as it connected: leave at once.
				go m.Leave()
				return
			}
			if err != nil {
				cancelled := ctx.Err() != nil
				cancel()
				if cancelled {
					return // the user cancelled
				}
				a.alerts.show(Alert{Kind: AlertDanger, Text: "Could not start the meeting: " + errorText(err), Key: "connect"})
				return
			}
			a.showMeeting(ctx, cancel, m, hosting)
		})
	}()
}

func (a *App) showMeeting(ctx context.Context, cancel context.CancelFunc, m Meeting, hosting bool) {
	s := &meetingScreen{
		a: a, m: m,
		trust:  map[string]memberTrust{},
		jtrust: map[string]memberTrust{},
		tiles:  map[string]*videoTile{},
		tasks:  map[Task]bool{},
		isHost: hosting,
		code:   m.SecurityCode(),
		micOn:  true, camOn: true,
	}
	if a.lastMedia != nil {
		s.micOn, s.camOn = a.lastMedia.MicOn, a.lastMedia.CameraOn
	}
	s.build()
	a.setScreen(s.root())
	a.meeting = s
	if !hosting {
		s.setTask(TaskAdmission, true)
	}
	go s.pumpEvents(ctx, cancel)
	go s.pumpVideo()
}

func (s *meetingScreen) build() {
	s.grid = container.New(gridLayout{})
	lock := widget.NewIcon(iconLock)
	enc := widget.NewLabelWithStyle("End-to-end encrypted", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	enc.Importance = widget.SuccessImportance
	s.unverified = widget.NewLabel("")
	s.codeBtn = widget.NewButtonWithIcon("Security code", theme.VisibilityIcon(), func() { s.showCode() })
	s.inviteBtn = widget.NewButtonWithIcon("Copy invite link", theme.ContentCopyIcon(), func() { s.copyInvite() })
	s.progress = widget.NewProgressBarInfinite()
	s.progressLabel = widget.NewLabel("")
	// The bar joins the box only while a task runs (see setTask).
	s.progressBox = container.NewBorder(nil, nil, s.progressLabel, nil)
	s.progressBox.Hide()
	top := container.NewVBox(
		container.NewBorder(nil, nil, container.NewHBox(lock, enc, s.unverified), container.NewHBox(s.codeBtn, s.inviteBtn)),
		s.progressBox,
	)

	s.participants = container.NewVBox()
	s.waiting = container.NewVBox()
	s.chatLog = container.NewVBox()
	s.chatScroll = container.NewVScroll(s.chatLog)
	s.chatEntry = widget.NewEntry()
	s.chatEntry.SetPlaceHolder("Message (end-to-end encrypted)")
	s.chatEntry.OnSubmitted = func(string) { s.sendChat() }
	send := widget.NewButtonWithIcon("", theme.MailSendIcon(), func() { s.sendChat() })
	chat := container.NewBorder(
		widget.NewLabel("Only members can read these messages."), container.NewBorder(nil, nil, nil, send, s.chatEntry),
		nil, nil, s.chatScroll)
	s.peopleTab = container.NewTabItem("People", container.NewVScroll(s.participants))
	s.waitingTab = container.NewTabItem("Waiting", container.NewVScroll(s.waiting))
	s.tabs = container.NewAppTabs(s.peopleTab, container.NewTabItem("Chat", chat))

	s.muteBtn = widget.NewButton("", func() { s.toggleMic() })
	s.camBtn = widget.NewButton("", func() { s.toggleCamera() })
	s.shareBtn = widget.NewButton("", func() { s.toggleShare() })
	s.leaveBtn = widget.NewButtonWithIcon("Leave", theme.LogoutIcon(), func() { s.leave() })
	s.leaveBtn.Importance = widget.DangerImportance
	s.syncControls()
	s.syncHost()
	s.syncUnverified()
	s.controls = container.NewCenter(container.NewHBox(s.muteBtn, s.camBtn, s.shareBtn, widget.NewSeparator(), s.leaveBtn))
	s.top = top
}

func (s *meetingScreen) root() fyne.CanvasObject {
	split := container.NewHSplit(container.NewPadded(s.grid), s.tabs)
	split.Offset = 0.72
	return container.NewBorder(container.NewPadded(s.top), container.NewPadded(s.controls), nil, nil, split)
}

func (s *meetingScreen) setTask(t Task, running bool) {
	if running {
		s.tasks[t] = true
	} else {
		delete(s.tasks, t)
	}
	var show Task
	for _, k := range []Task{TaskConnecting, TaskAdmission, TaskKeyRotation, TaskRemoval} {
		if s.tasks[k] {
			show = k
			break
		}
	}
	// Fyne's infinite bar animates from the moment it is first measured
	// or drawn, even inside a hidden container, and once drawn each step
	// repaints the whole window (60 times a second): keep it out of the
	// tree when idle.
	s.progressBox.Remove(s.progress)
	if show == "" {
		s.progress.Stop()
		s.progressBox.Hide()
		return
	}
	s.progressLabel.SetText(string(show))
	s.progressBox.Add(s.progress)
	s.progressBox.Show()
	s.progress.Start()
}

func (s *meetingScreen) syncControls() {
	if s.micOn {
		s.muteBtn.SetText("Mute")
		s.muteBtn.SetIcon(theme.VolumeMuteIcon())
	} else {
		s.muteBtn.SetText("Unmute")
		s.muteBtn.SetIcon(theme.VolumeUpIcon())
	}
	if s.camOn {
		s.camBtn.SetText("Stop camera")
	} else {
		s.camBtn.SetText("Start camera")
	}
	s.camBtn.SetIcon(theme.MediaVideoIcon())
	if s.sharing {
		s.shareBtn.SetText("Stop sharing")
	} else {
		s.shareBtn.SetText("Share screen")
	}
	s.shareBtn.SetIcon(theme.ComputerIcon())
}

func (s *meetingScreen) toggleMic() {
	s.toggle(&s.micOn, "switch the microphone", s.m.SetMicrophone)
}

func (s *meetingScreen) toggleCamera() {
	s.toggle(&s.camOn, "switch the camera", s.m.SetCamera)
}

func (s *meetingScreen) toggleShare() {
	s.toggle(&s.sharing, "share the screen", s.m.SetScreenShare)
}

// toggle flips a media switch at once, so the button answers the click,
// asks the meeting to follow, and flips it back if that fails.
func (s *meetingScreen) toggle(on *bool, what string, set func(bool) error) {
	*on = !*on
	want := *on
	s.syncControls()
	s.callUndo(what, func() error { return set(want) }, func() { *on = !want })
}

// call runs a meeting operation off the UI thread and reports failure.
func (s *meetingScreen) call(what string, f func() error) { s.callUndo(what, f, nil) }

// callUndo is call, and on failure also runs undo (on the UI thread) to
// put a toggled control back.
func (s *meetingScreen) callUndo(what string, f func() error, undo func()) {
	go func() {
		if err := f(); err != nil {
			uiDo(func() {
				if undo != nil {
					undo()
					s.syncControls()
				}
				s.a.alerts.show(Alert{Kind: AlertDanger, Key: "op:" + what, Text: "Could not " + what + ": " + errorText(err)})
			})
		}
	}()
}

// leave ends the meeting for this user and returns home.
func (s *meetingScreen) leave() {
	if s.ended {
		return
	}
	go s.m.Leave()
	s.end("")
}

func (s *meetingScreen) end(reason string) {
	if s.ended {
		return
	}
	s.ended = true
	s.tilesMu.Lock()
	for _, t := range s.tiles {
		t.stop()
	}
	s.tilesMu.Unlock()
	s.a.alerts.clearKey("unverified")
	if s.a.meeting == s {
		s.a.showHome()
	}
	if reason != "" {
		// Each ending has its own words (call.Ended…).
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "ended", Text: reason})
	}
}
