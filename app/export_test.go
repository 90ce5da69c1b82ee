package app

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/crypto/identity"
)

// Accessors for the external tests (package app_test), which need the
// apptest fakes and therefore cannot live in package app.

type FirstRunView struct {
	Name, Pass, Confirm *widget.Entry
	Warning, Error      *widget.Label
	Create              *widget.Button
}

func (a *App) FirstRunView() *FirstRunView {
	s := a.firstRun
	if s == nil {
		return nil
	}
	return &FirstRunView{s.name, s.pass, s.confirm, s.warning, s.errLabel, s.create}
}

type UnlockView struct {
	Pass   *widget.Entry
	Error  *widget.Label
	Unlock *widget.Button
}

func (a *App) UnlockView() *UnlockView {
	s := a.unlock
	if s == nil {
		return nil
	}
	return &UnlockView{s.pass, s.errLabel, s.unlock}
}

type HomeView struct {
	Fingerprint *widget.Label
	Link        *widget.Entry
	JoinError   *widget.Label
	Join, Host  *widget.Button
	Contacts    *fyne.Container
}

func (a *App) HomeView() *HomeView {
	s := a.home
	if s == nil {
		return nil
	}
	return &HomeView{s.fingerprint, s.joinLink, s.joinError, s.joinBtn, s.hostBtn, s.contacts}
}

type LobbyView struct {
	Enter, Back *widget.Button
	Invite      Invite
	s           *lobbyScreen
}

// PreviewFrames counts camera frames the lobby has shown.
func (v *LobbyView) PreviewFrames() int { return int(v.s.shown.Load()) }

func (a *App) LobbyView() *LobbyView {
	s := a.lobby
	if s == nil {
		return nil
	}
	return &LobbyView{s.enter, s.back, s.invite, s}
}

type MeetingView struct {
	Unverified   *widget.Label
	Waiting      *fyne.Container
	Members      *fyne.Container
	Mute, Leave  *widget.Button
	Progress     *fyne.Container
	ProgressText *widget.Label
	s            *meetingScreen
}

func (a *App) MeetingView() *MeetingView {
	s := a.meeting
	if s == nil {
		return nil
	}
	return &MeetingView{s.unverified, s.waiting, s.participants, s.muteBtn, s.leaveBtn, s.progressBox, s.progressLabel, s}
}

// TileShown returns frames shown by a member's tile (-1: no tile).
func (v *MeetingView) TileShown(member string) int {
	v.s.tilesMu.Lock()
	defer v.s.tilesMu.Unlock()
	t := v.s.tiles[member]
	if t == nil {
		return -1
	}
	return int(t.shown.Load())
}

// TileBadge returns a member tile's badge resource.
func (v *MeetingView) TileBadge(member string) fyne.Resource {
	v.s.tilesMu.Lock()
	defer v.s.tilesMu.Unlock()
	t := v.s.tiles[member]
	if t == nil {
		return nil
	}
	return t.badge.Resource
}

// TilePlaceholderVisible reports whether a tile still shows its placeholder.
func (v *MeetingView) TilePlaceholderVisible(member string) bool {
	v.s.tilesMu.Lock()
	defer v.s.tilesMu.Unlock()
	return v.s.tiles[member].placeholder.Visible()
}

func (v *MeetingView) Verify(member string) *VerifyView {
	for _, m := range v.s.members {
		if m.ID == member {
			v.s.verify(m)
		}
	}
	return v.s.a.VerifyView()
}

func (v *MeetingView) UnverifiedCount() int { return v.s.unverifiedCount() }

type VerifyView struct {
	Groups []string
	QR     []byte
	Status *widget.Label
	Mark   *widget.Button
}

func (a *App) VerifyView() *VerifyView {
	v := a.lastVerify
	if v == nil {
		return nil
	}
	return &VerifyView{v.groups, v.qr, v.status, v.mark}
}

func (a *App) ShowVerify(name string, pub identity.Public) *VerifyView {
	a.showVerify(name, pub, nil, nil)
	return a.VerifyView()
}

func (a *App) Alerts() []Alert { return a.alerts.list() }

func (a *App) Contacts() *identity.Contacts { return a.contacts }

var (
	IconVerified        = iconVerified
	IconUnverified      = iconUnverified
	IconKeyChanged      = iconKeyChanged
	TextEmptyPassphrase = textEmptyPassphrase
	TextWrongPassphrase = textWrongPassphrase
	TextCorrupt         = textCorrupt
)

func (a *App) SelfPublic() identity.Public { return a.self.Public() }

// ShowWaitingRoom selects the waiting-room tab.
func (v *MeetingView) ShowWaitingRoom() { v.s.tabs.Select(v.s.waitingTab) }

// SetDispatch replaces how background work reaches the UI.
func SetDispatch(do, wait func(func())) { uiDo, uiDoAndWait = do, wait }

// ValidateRelay is the settings dialog's check of the relay address.
var ValidateRelay = validateRelay

// NoHostShown reports whether the meeting screen shows the hostless state.
func (v *MeetingView) NoHostShown() bool { return v.s.noHost.Visible() }

// RequestClose is the window's close button.
func (a *App) RequestClose() { a.requestClose() }

type IdentityView struct {
	Name, Current, Pass, Confirm *widget.Entry
	Error                        *widget.Label
	Save                         *widget.Button
}

// ShowIdentitySettings opens the name and passphrase dialog.
func (a *App) ShowIdentitySettings() *IdentityView {
	a.showIdentitySettings()
	return a.IdentityView()
}

// IdentityView is the open name and passphrase dialog.
func (a *App) IdentityView() *IdentityView {
	f := a.identityForm
	return &IdentityView{f.name, f.current, f.pass, f.confirm, f.errLabel, f.save}
}

// SelfName is the display name the app uses in meetings.
func (a *App) SelfName() string { return a.selfName }

// Controls are the meeting's buttons and entries that need the meeting.
func (v *MeetingView) Controls() (share, code, send *widget.Button, chat *widget.Entry) {
	return v.s.shareBtn, v.s.codeBtn, v.s.sendBtn, v.s.chatEntry
}

// WaitingShown reports whether the joiner's waiting explanation shows.
func (v *MeetingView) WaitingShown() bool { return v.s.waitBox.Visible() }

// ShowCode opens the security code dialog and returns its content.
func (v *MeetingView) ShowCode() fyne.CanvasObject {
	v.s.showCode()
	return v.s.lastCode
}

// AlertBar is the alert strip over the screens.
func (a *App) AlertBar() *fyne.Container { return a.alerts.box }

// ShownAlerts are the alerts on screen, top first.
func (a *App) ShownAlerts() []Alert { return a.alerts.shown() }

// ExpireAlertsAtOnce makes alerts that expire do so at once.
func (a *App) ExpireAlertsAtOnce() {
	a.alerts.after = func(_ time.Duration, f func()) { f() }
}

// WaitingBadge is the host's count of joiners waiting.
func (v *MeetingView) WaitingBadge() *widget.Button { return v.s.waitingBadge }

// WaitingRoomSelected reports whether the waiting-room tab is open.
func (v *MeetingView) WaitingRoomSelected() bool { return v.s.tabs.Selected() == v.s.waitingTab }

// ShowAlert shows an alert as the app does.
func (a *App) ShowAlert(al Alert) { a.alerts.show(al) }

// UnlockWhose is what the unlock screen says about the identity.
func (v *UnlockView) Whose(a *App) string { return a.unlock.whose.Text }

// ShowHostLobby opens the lobby as a host on this computer.
func (a *App) ShowHostLobby() { a.showLobby(lobbyHost, Invite{}, true) }

// SidePanel is the meeting's side panel (people, chat, waiting room).
func (v *MeetingView) SidePanel() fyne.CanvasObject { return v.s.tabs }
