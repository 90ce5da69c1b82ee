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
	// hostGone is the member ID of a host whose session left (HostLeft):
	// nobody can be admitted or removed any more.
	hostGone string
	// gone are members whose session left without a roster to say so
	// (the host, and anyone after it; HostLeft, MemberLeft).
	gone map[string]bool
	// admitting: this joiner waits for the host's answer; what needs
	// the meeting (chat, sharing, the security code) waits too.
	admitting bool
	// leaveAfterHandOver: Leave handed the host role over and leaves once
	// the roster names the new host; afterLeave then runs (leave.go).
	leaveAfterHandOver bool
	afterLeave         func()
	leaveDialog        dialog.Dialog
	// lastCode is what the security code dialog last showed (for tests).
	lastCode fyne.CanvasObject

	tilesMu sync.Mutex
	tiles   map[string]*videoTile

	grid          *fyne.Container
	unverified    *widget.Label
	progressLabel *widget.Label
	progress      *widget.ProgressBarInfinite
	progressBox   *fyne.Container
	noHost        *widget.Label
	waitBox       *fyne.Container
	waitingBadge  *widget.Button
	sendBtn       *widget.Button
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
	// alertHolder lies over the video: the alerts go there during the
	// meeting, never over the top bar's controls or the side panel.
	alertHolder *fyne.Container
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
				a.alerts.show(errorAlert("Could not start the meeting.", err, "connect"))
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
		gone:   map[string]bool{},
		tasks:  map[Task]bool{},
		isHost: hosting,
		code:   m.SecurityCode(),
		micOn:  true, camOn: true,
		selfID:    m.SessionID(),
		admitting: !hosting,
	}
	if a.lastMedia != nil {
		s.micOn, s.camOn = a.lastMedia.MicOn, a.lastMedia.CameraOn
	}
	s.build()
	a.alerts.clearAll() // nothing from before belongs to this meeting
	a.setScreen(s.root())
	a.meeting = s
	a.placeAlerts(s.alertHolder)
	s.bindShortcuts() // desktop.go
	s.setTitle()
	if !hosting {
		s.setTask(TaskAdmission, true)
		// The joiner sees itself while it waits: the self tile takes the
		// local preview's frames from the start.
		t := newVideoTile(s.selfID, a.selfName, true)
		t.setStatus(trustSelf)
		s.tilesMu.Lock()
		s.tiles[s.selfID] = t
		s.tilesMu.Unlock()
		s.grid.Objects = []fyne.CanvasObject{t}
		s.grid.Refresh()
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
	s.waitingBadge = widget.NewButtonWithIcon("", theme.AccountIcon(), func() { s.tabs.Select(s.waitingTab) })
	s.waitingBadge.Importance = widget.WarningImportance
	s.waitingBadge.Hide()
	s.progress = widget.NewProgressBarInfinite()
	s.progressLabel = widget.NewLabel("")
	// The bar joins the box only while a task runs (see setTask).
	s.progressBox = container.NewBorder(nil, nil, s.progressLabel, nil)
	s.progressBox.Hide()
	s.noHost = widget.NewLabel("No host: the host left, so nobody can be admitted or removed. The meeting goes on with the members here.")
	s.noHost.Wrapping = fyne.TextWrapWord
	s.noHost.Importance = widget.WarningImportance
	s.noHost.Hide()
	top := container.NewVBox(
		container.NewBorder(nil, nil, container.NewHBox(lock, enc, s.unverified), container.NewHBox(s.waitingBadge, s.codeBtn, s.inviteBtn)),
		s.progressBox,
		s.noHost,
	)

	s.participants = container.NewVBox()
	s.waiting = container.NewVBox()
	s.chatLog = container.NewVBox()
	s.chatScroll = container.NewVScroll(s.chatLog)
	s.chatEntry = widget.NewEntry()
	s.chatEntry.SetPlaceHolder("Message (end-to-end encrypted)")
	s.chatEntry.OnSubmitted = func(string) { s.sendChat() }
	s.sendBtn = widget.NewButtonWithIcon("", theme.MailSendIcon(), func() { s.sendChat() })
	chat := container.NewBorder(
		widget.NewLabel("Only members can read these messages."), container.NewBorder(nil, nil, nil, s.sendBtn, s.chatEntry),
		nil, nil, s.chatScroll)
	s.peopleTab = container.NewTabItem("People", container.NewVScroll(s.participants))
	s.waitingTab = container.NewTabItem("Waiting", container.NewVScroll(s.waiting))
	s.tabs = container.NewAppTabs(s.peopleTab, container.NewTabItem("Chat", chat))

	s.muteBtn = widget.NewButton("", func() { s.toggleMic() })
	s.camBtn = widget.NewButton("", func() { s.toggleCamera() })
	s.shareBtn = widget.NewButton("", func() { s.toggleShare() })
	s.leaveBtn = widget.NewButtonWithIcon("Leave", theme.LogoutIcon(), func() { s.confirmLeave(nil) })
	s.leaveBtn.Importance = widget.DangerImportance
	s.syncControls()
	s.syncHost()
	s.syncUnverified()
	s.controls = container.NewCenter(container.NewHBox(s.muteBtn, s.camBtn, s.shareBtn, widget.NewSeparator(), s.leaveBtn))
	s.top = top

	wait := widget.NewLabelWithStyle("Waiting for the host to admit you", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	why := widget.NewLabel("The host sees your name and the safety number between you, and decides. Until then nothing reaches the meeting: chat, screen sharing and the security code open once you are in. If the host has left the meeting, nobody can let you in; Sotto stops waiting after 5 minutes.")
	why.Wrapping = fyne.TextWrapWord
	why.Alignment = fyne.TextAlignCenter
	s.waitBox = container.NewVBox(wait, why)
	s.syncAdmitting()
}

// syncAdmitting shows the waiting explanation, and enables what needs
// the meeting, according to s.admitting.
func (s *meetingScreen) syncAdmitting() {
	for _, w := range []fyne.Disableable{s.shareBtn, s.chatEntry, s.sendBtn, s.codeBtn} {
		if s.admitting {
			w.Disable()
		} else {
			w.Enable()
		}
	}
	if s.admitting {
		s.waitBox.Show()
	} else {
		s.waitBox.Hide()
	}
}

// admitted ends the wait for the host.
func (s *meetingScreen) admitted() {
	if !s.admitting {
		return
	}
	s.admitting = false
	s.setTask(TaskAdmission, false)
	s.syncAdmitting()
	s.syncUnverified()
	s.setTitle()
}

func (s *meetingScreen) root() fyne.CanvasObject {
	s.alertHolder = container.New(alertLayout{})
	video := container.NewStack(container.NewPadded(container.NewBorder(s.waitBox, nil, nil, nil, s.grid)), s.alertHolder)
	split := container.NewHSplit(video, s.tabs)
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
	for _, k := range []Task{TaskConnecting, TaskAdmission, TaskKeyRotation} {
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
		s.muteBtn.SetIcon(iconMic)
	} else {
		s.muteBtn.SetText("Unmute")
		s.muteBtn.SetIcon(iconMicOff)
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
				if s.ended {
					return // the meeting is over: its failures are not news
				}
				if undo != nil {
					undo()
					s.syncControls()
				}
				s.a.alerts.show(errorAlert("Could not "+what+".", err, "op:"+what))
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
	if s.leaveDialog != nil {
		s.leaveDialog.Hide()
	}
	s.tilesMu.Lock()
	for _, t := range s.tiles {
		t.stop()
	}
	s.tilesMu.Unlock()
	if s.a.meeting == s {
		// The meeting's alerts end with it; only its ending is told.
		s.a.alerts.clearAll()
		s.a.showHome()
	}
	s.a.win.SetTitle(titleIdle)
	if reason != "" {
		// Each ending has its own words (call.Ended…).
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "ended", Text: reason})
	}
}
