package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/safety"
)

// maxChatLines bounds the chat history kept on screen.
const maxChatLines = 500

// maxChatInput bounds an outgoing chat message in bytes (the protocol's
// limit, crypto/meeting.MaxChat).
const maxChatInput = 2000

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

// pumpEvents reads meeting events, looks members up in the contacts store
// (a file write, so not on the UI thread), and applies them on the UI thread.
func (s *meetingScreen) pumpEvents(ctx context.Context, cancel context.CancelFunc) {
	defer cancel()
	observed := map[string]memberTrust{}
	observe := func(id, name string, pub identity.Public, self bool, known identity.Status) (memberTrust, bool) {
		if self {
			return trustSelf, false
		}
		if t, ok := observed[id]; ok {
			return t, false
		}
		t := trustFromStatus(known)
		if known == 0 && s.a.cfg.ContactsByProtocol {
			return t, false // the protocol reports it later
		}
		if known == 0 {
			// The protocol did not consult the contacts store: do it here.
			if st, err := s.a.contacts.Observe(name, pub); err == nil {
				t = trustFromStatus(st)
			}
		}
		observed[id] = t
		return t, true
	}
	for ev := range s.m.Events() {
		var fresh map[string]memberTrust
		switch e := ev.(type) {
		case RosterChanged:
			fresh = map[string]memberTrust{}
			for _, mb := range e.Members {
				if t, isNew := observe(mb.ID, mb.Name, mb.Public, mb.Self, mb.Contact); isNew || mb.Self {
					fresh[mb.ID] = t
				}
			}
		case WaitingChanged:
			fresh = map[string]memberTrust{}
			for _, j := range e.Joiners {
				if t, isNew := observe(j.ID, j.Name, j.Public, false, j.Contact); isNew {
					fresh[j.ID] = t
				}
			}
		}
		uiDo(func() { s.handle(ev, fresh) })
	}
	uiDo(func() {
		if !s.ended {
			s.end("The connection to the meeting was lost.")
		}
	})
}

// pumpVideo hands decoded frames to their tiles.
func (s *meetingScreen) pumpVideo() {
	for f := range s.m.Video() {
		s.tilesMu.Lock()
		t := s.tiles[f.Member]
		s.tilesMu.Unlock()
		if t != nil && f.Image != nil {
			t.offer(f.Image)
		}
	}
}

func (s *meetingScreen) handle(ev Event, fresh map[string]memberTrust) {
	if s.ended {
		return
	}
	al := s.a.alerts
	switch e := ev.(type) {
	case RosterChanged:
		s.applyRoster(e.Members, fresh)
	case WaitingChanged:
		for id, t := range fresh {
			s.jtrust[id] = t
		}
		known := map[string]bool{}
		for _, j := range s.joiners {
			known[j.ID] = true
		}
		for _, j := range e.Joiners {
			if !known[j.ID] && s.isHost {
				al.show(Alert{Kind: AlertInfo, Text: displayName(j.Name) + " is in the waiting room."})
				if s.jtrust[j.ID] == trustKeyChanged {
					al.show(Alert{Kind: AlertDanger, Key: "keychanged:" + j.ID,
						Text: "The name " + displayName(j.Name) + " was used by a different key when you last met. Compare safety numbers before admitting."})
				}
			}
		}
		s.joiners = e.Joiners
		s.syncWaiting()
	case Admitted:
		s.setTask(TaskAdmission, false)
		al.show(Alert{Kind: AlertInfo, Text: "The host admitted you. You are in the meeting."})
	case ChatReceived:
		s.addChat(e.Name, e.Text, e.At, false)
	case ActiveSpeaker:
		s.setActive(e.Member)
	case Progress:
		s.setTask(e.Task, !e.Done)
	case SecurityCodeChanged:
		s.code = e.Code
	case Undecryptable:
		al.show(Alert{Kind: AlertDanger, Key: "undecryptable:" + e.Member,
			Text: "Media or messages from " + displayName(s.memberName(e.Member)) + " cannot be decrypted. They may hold an old key, or someone is sending forged data."})
	case RelayInjected:
		al.show(Alert{Kind: AlertDanger, Key: "injected",
			Text: "The relay tried to add a participant the host never admitted. Sotto ignored it; nobody joined. The relay may be misbehaving."})
	case ContactStatus:
		s.applyContact(e.Member, trustFromStatus(e.Status))
	case Warning:
		al.show(Alert{Kind: AlertWarning, Key: "warning:" + e.Text, Text: e.Text})
	case Ended:
		s.end(e.Reason)
	}
}

// applyContact records a contacts answer for a member or joiner.
func (s *meetingScreen) applyContact(id string, t memberTrust) {
	for _, j := range s.joiners {
		if j.ID == id {
			s.jtrust[id] = t
			if t == trustKeyChanged && s.isHost {
				s.a.alerts.show(Alert{Kind: AlertDanger, Key: "keychanged:" + id,
					Text: "The name " + displayName(j.Name) + " was used by a different key when you last met. Compare safety numbers before admitting."})
			}
			s.syncWaiting()
		}
	}
	for _, m := range s.members {
		if m.ID != id || m.Self {
			continue
		}
		if s.trust[id] == t {
			return
		}
		s.trust[id] = t
		if t == trustKeyChanged {
			s.a.alerts.show(Alert{Kind: AlertDanger, Key: "keychanged:" + id,
				Text: "The key of " + displayName(m.Name) + " changed since you last met. This is what an impersonator looks like (or a reinstall): compare safety numbers before trusting them."})
		}
		s.tilesMu.Lock()
		if tl := s.tiles[id]; tl != nil {
			tl.setStatus(t)
		}
		s.tilesMu.Unlock()
		s.syncParticipants()
		s.syncUnverified()
	}
}

func (s *meetingScreen) memberName(id string) string {
	for _, m := range s.members {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}

func (s *meetingScreen) applyRoster(members []Member, fresh map[string]memberTrust) {
	al := s.a.alerts
	old := map[string]Member{}
	for _, m := range s.members {
		old[m.ID] = m
	}
	now := map[string]bool{}
	for _, m := range members {
		now[m.ID] = true
		if t, ok := fresh[m.ID]; ok && (t != trustUnknown || s.trust[m.ID] == trustUnknown) {
			s.trust[m.ID] = t
		} else if _, known := s.trust[m.ID]; !known {
			if jt, ok := s.jtrust[m.ID]; ok {
				s.trust[m.ID] = jt // admitted from the waiting room
			}
		}
		if m.Self {
			s.selfID = m.ID
			s.isHost = m.Host
		}
		if _, was := old[m.ID]; !was && !m.Self && len(s.members) > 0 {
			al.show(Alert{Kind: AlertInfo, Text: displayName(m.Name) + " joined."})
		}
		if _, was := old[m.ID]; !was && !m.Self && s.trust[m.ID] == trustKeyChanged {
			al.show(Alert{Kind: AlertDanger, Key: "keychanged:" + m.ID,
				Text: "The key of " + displayName(m.Name) + " changed since you last met. This is what an impersonator looks like (or a reinstall): compare safety numbers before trusting them."})
		}
	}
	for id, m := range old {
		if !now[id] {
			al.show(Alert{Kind: AlertInfo, Text: displayName(m.Name) + " left."})
			al.clearKey("undecryptable:" + id)
			delete(s.trust, id)
		}
	}
	s.members = members

	// Tiles follow the roster order.
	s.tilesMu.Lock()
	objs := make([]fyne.CanvasObject, 0, len(members))
	for _, m := range members {
		t := s.tiles[m.ID]
		if t == nil {
			t = newVideoTile(m.ID, m.Name, m.Self)
			s.tiles[m.ID] = t
		}
		t.setName(m.Name)
		t.setStatus(s.trust[m.ID])
		t.setMuted(m.Muted)
		objs = append(objs, t)
	}
	for id, t := range s.tiles {
		if !now[id] {
			t.stop()
			delete(s.tiles, id)
		}
	}
	s.tilesMu.Unlock()
	s.grid.Objects = objs
	s.grid.Refresh()
	s.setActive(s.active)
	s.syncParticipants()
	s.syncHost()
	s.syncUnverified()
}

// unverifiedCount is the number of other members whose key the user has
// not verified.
func (s *meetingScreen) unverifiedCount() int {
	n := 0
	for _, m := range s.members {
		if !m.Self && !s.trust[m.ID].verified() {
			n++
		}
	}
	return n
}

func (s *meetingScreen) syncUnverified() {
	n := s.unverifiedCount()
	switch {
	case n == 0 && len(s.members) <= 1:
		s.unverified.SetText("· no other members yet")
		s.unverified.Importance = widget.MediumImportance
	case n == 0:
		s.unverified.SetText("· all members verified")
		s.unverified.Importance = widget.SuccessImportance
	case n == 1:
		s.unverified.SetText("· 1 member not verified")
		s.unverified.Importance = widget.WarningImportance
	default:
		s.unverified.SetText(fmt.Sprintf("· %d members not verified", n))
		s.unverified.Importance = widget.WarningImportance
	}
	s.unverified.Refresh()
	if n > 0 {
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "unverified",
			Text: fmt.Sprintf("%s in this meeting not verified. Check safety numbers in the participants panel before saying anything sensitive.", plural(n, "member is", "members are"))})
	} else {
		s.a.alerts.clearKey("unverified")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (s *meetingScreen) setActive(id string) {
	s.active = id
	s.tilesMu.Lock()
	defer s.tilesMu.Unlock()
	for mid, t := range s.tiles {
		t.setSpeaking(mid == id && id != "")
	}
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

func (s *meetingScreen) syncParticipants() {
	s.participants.RemoveAll()
	for _, m := range s.members {
		m := m
		t := s.trust[m.ID]
		name := m.Name
		if m.Host {
			name += " (host)"
		}
		if m.Self {
			name += " (you)"
		}
		head := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		head.Truncation = fyne.TextTruncateEllipsis
		status := widget.NewLabel(t.label())
		status.Wrapping = fyne.TextWrapWord
		switch {
		case t == trustKeyChanged:
			status.Importance = widget.DangerImportance
		case !t.verified():
			status.Importance = widget.WarningImportance
		}
		row := container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(t.icon()), nil, head), status)
		if !m.Self {
			buttons := container.NewHBox(widget.NewButton("Verify", func() { s.verify(m) }))
			if s.isHost {
				buttons.Add(widget.NewButton("Make host", func() { s.handOver(m) }))
				rm := widget.NewButton("Remove", func() { s.remove(m) })
				rm.Importance = widget.DangerImportance
				buttons.Add(rm)
			}
			row.Add(buttons)
		}
		row.Add(widget.NewSeparator())
		s.participants.Add(row)
	}
	s.peopleTab.Text = fmt.Sprintf("People (%d)", len(s.members))
	s.tabs.Refresh()
}

func (s *meetingScreen) syncWaiting() {
	s.waiting.RemoveAll()
	if len(s.joiners) == 0 {
		s.waiting.Add(widget.NewLabel("Nobody is waiting."))
	}
	for _, j := range s.joiners {
		j := j
		t := s.jtrust[j.ID]
		name := widget.NewLabelWithStyle(displayName(j.Name), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		status := widget.NewLabel(t.label())
		if t == trustKeyChanged {
			status.Importance = widget.DangerImportance
		}
		number := widget.NewLabelWithStyle(safetyLines(s.a.safetyNumber(j.Public)), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		admit := widget.NewButtonWithIcon("Admit", theme.ConfirmIcon(), func() { s.call("admit", func() error { return s.m.Admit(j.ID) }) })
		admit.Importance = widget.HighImportance
		deny := widget.NewButtonWithIcon("Deny", theme.CancelIcon(), func() { s.call("deny", func() error { return s.m.Deny(j.ID) }) })
		qr := widget.NewButton("Verify", func() { s.a.showVerify(j.Name, j.Public, nil, nil) })
		s.waiting.Add(container.NewVBox(name, status, widget.NewLabel("Safety number:"), number,
			container.NewHBox(admit, deny, qr), widget.NewSeparator()))
	}
	s.waitingTab.Text = fmt.Sprintf("Waiting (%d)", len(s.joiners))
	s.tabs.Refresh()
}

// safetyLines formats a safety number as 3 lines of 4 groups.
func safetyLines(number string) string {
	g := safety.Groups(number)
	out := ""
	for i, x := range g {
		if i > 0 {
			if i%safetyColumns == 0 {
				out += "\n"
			} else {
				out += " "
			}
		}
		out += x
	}
	return out
}

// syncHost shows the host-only controls when this user is host.
func (s *meetingScreen) syncHost() {
	has := false
	for _, it := range s.tabs.Items {
		if it == s.waitingTab {
			has = true
		}
	}
	if s.isHost {
		s.inviteBtn.Show()
		if !has {
			s.tabs.Append(s.waitingTab)
			s.syncWaiting()
		}
	} else {
		s.inviteBtn.Hide()
		if has {
			s.tabs.Remove(s.waitingTab)
		}
	}
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
	s.micOn = !s.micOn
	on := s.micOn
	s.syncControls()
	s.callUndo("switch the microphone", func() error { return s.m.SetMicrophone(on) }, func() { s.micOn = !on })
}

func (s *meetingScreen) toggleCamera() {
	s.camOn = !s.camOn
	on := s.camOn
	s.syncControls()
	s.callUndo("switch the camera", func() error { return s.m.SetCamera(on) }, func() { s.camOn = !on })
}

func (s *meetingScreen) toggleShare() {
	s.sharing = !s.sharing
	on := s.sharing
	s.syncControls()
	s.callUndo("share the screen", func() error { return s.m.SetScreenShare(on) }, func() { s.sharing = !on })
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

func (s *meetingScreen) verify(m Member) {
	code := s.code
	s.a.showVerify(m.Name, m.Public, &code, func() {
		s.trust[m.ID] = trustVerified
		s.tilesMu.Lock()
		if t := s.tiles[m.ID]; t != nil {
			t.setStatus(trustVerified)
		}
		s.tilesMu.Unlock()
		s.syncParticipants()
		s.syncUnverified()
	})
}

func (s *meetingScreen) remove(m Member) {
	dialog.ShowConfirm("Remove "+displayName(m.Name)+"?",
		"They leave the meeting at once. Sotto rotates the meeting keys, so they cannot decrypt anything said after this.",
		func(ok bool) {
			if ok {
				s.call("remove the member", func() error { return s.m.Remove(m.ID) })
			}
		}, s.a.win)
}

func (s *meetingScreen) handOver(m Member) {
	dialog.ShowConfirm("Make "+displayName(m.Name)+" the host?",
		"They will decide who joins and who is removed. You stay in the meeting as a member.",
		func(ok bool) {
			if ok {
				s.call("hand over the host role", func() error { return s.m.HandOver(m.ID) })
			}
		}, s.a.win)
}

func (s *meetingScreen) showCode() {
	d := dialog.NewCustom("Meeting security code", "Close", securityCodeView(s.code), s.a.win)
	d.Resize(fyne.NewSize(460, 320))
	d.Show()
}

func (s *meetingScreen) copyInvite() {
	link := s.m.InviteLink()
	s.a.fa.Clipboard().SetContent(link)
	s.a.alerts.show(Alert{Kind: AlertInfo, Text: "Invite link copied. Send it only to the people you want here; you still admit each of them."})
}

func (s *meetingScreen) sendChat() {
	text := s.chatEntry.Text
	if text == "" {
		return
	}
	if len(text) > maxChatInput {
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "chatlen", Text: "That message is too long to send."})
		return
	}
	s.chatEntry.SetText("")
	s.addChat(s.a.selfName, text, time.Now(), true)
	s.call("send the message", func() error { return s.m.SendChat(text) })
}

func (s *meetingScreen) addChat(name, text string, at time.Time, self bool) {
	head := widget.NewLabelWithStyle(displayName(name)+"  "+at.Format("15:04"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	if self {
		head.Importance = widget.HighImportance
	}
	body := widget.NewLabel(text)
	body.Wrapping = fyne.TextWrapWord
	s.chatLog.Add(container.NewVBox(head, body))
	if n := len(s.chatLog.Objects); n > maxChatLines {
		s.chatLog.Objects = s.chatLog.Objects[n-maxChatLines:]
		s.chatLog.Refresh()
	}
	s.chatScroll.ScrollToBottom()
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
		s.a.alerts.show(Alert{Kind: AlertWarning, Key: "ended", Text: "The meeting ended: " + reason})
	}
}

// TileStats reports, per member ID, how many frames each tile has shown.
func (s *meetingScreen) tileStats() map[string]uint64 {
	s.tilesMu.Lock()
	defer s.tilesMu.Unlock()
	out := make(map[string]uint64, len(s.tiles))
	for id, t := range s.tiles {
		out[id] = t.shown.Load()
	}
	return out
}
