package call

// The contract between the desktop GUI (app/) and a meeting. The app
// receives everything that touches the network or devices through the
// narrow interfaces below: this package implements them for real (Dialer,
// LocalDevices, *Call); the GUI's tests pass small fakes from app/apptest.
// Nothing here imports Fyne.

import (
	"context"
	"errors"
	"image"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
)

// Connector parses invite links and starts or joins meetings.
type Connector interface {
	// ParseInvite checks a pasted invite link. It must reject anything
	// malformed with an error whose text can be shown to the user.
	ParseInvite(link string) (Invite, error)
	// Host starts a new meeting with the caller as host. It returns once
	// the meeting is running; later progress arrives as events.
	Host(ctx context.Context, req HostRequest) (Meeting, error)
	// Join connects to the relay named by the invite and asks the host to
	// be admitted. It returns once the request is with the host; the
	// admission itself arrives as an Admitted event (or Ended when denied).
	Join(ctx context.Context, req JoinRequest) (Meeting, error)
}

// Invite is a parsed invite link.
type Invite struct {
	Link            string // the link as pasted, trimmed
	Relay           string // relay address the link points at
	HostFingerprint string // host identity fingerprint, 64 hex digits
}

// MediaChoice is what the user picked in the lobby.
type MediaChoice struct {
	Camera     string // device ID; empty: none
	Microphone string
	Speaker    string
	CameraOn   bool
	MicOn      bool
	Quality    Quality
	// Processing is the settings' microphone processing switches (all
	// on in the zero value).
	Processing AudioProcessing
}

// HostRequest asks for a new meeting.
type HostRequest struct {
	Self *identity.Identity
	Name string
	// Contacts is the user's contacts store, for the protocol to consult.
	Contacts *identity.Contacts
	// OnThisComputer starts the embedded relay in this process; otherwise
	// Relay names the relay to use.
	OnThisComputer bool
	Relay          string
	Media          MediaChoice
}

// JoinRequest asks to join the meeting behind an invite.
type JoinRequest struct {
	Self     *identity.Identity
	Name     string
	Contacts *identity.Contacts
	Invite   Invite
	Media    MediaChoice
}

// Quality is the video quality setting.
type Quality string

// Video quality settings offered in the settings dialog.
const (
	QualityLow    Quality = "Low (320×240)"
	QualityMedium Quality = "Medium (640×480)"
	QualityHigh   Quality = "High (1280×720)"
)

// Qualities lists the settings in display order.
var Qualities = []Quality{QualityLow, QualityMedium, QualityHigh}

// Size returns the capture size for q.
func (q Quality) Size() (w, h int) {
	switch q {
	case QualityLow:
		return 320, 240
	case QualityHigh:
		return 1280, 720
	}
	return 640, 480
}

// Meeting is one running meeting as the UI drives it.
type Meeting interface {
	// Events delivers roster changes, chat, alerts and progress. It is
	// closed after the Ended event.
	Events() <-chan Event
	// Video delivers decoded frames of every member, the local preview
	// included (Member = the local member ID). Frames are decoded off the
	// UI thread by the engine; the UI may drop frames it cannot show.
	Video() <-chan VideoFrame
	// SessionID is this user's member ID: the ID of the Self entry once
	// admitted, and of the local preview's frames from the start (a
	// joiner sees itself while it waits).
	SessionID() string
	// InviteLink is the link to share; empty for members who are not host.
	InviteLink() string
	SecurityCode() SecurityCode

	Admit(memberID string) error
	Deny(memberID string) error
	// Remove takes a member out of the meeting; the protocol rotates keys.
	Remove(memberID string) error
	HandOver(memberID string) error

	SendChat(text string) error
	SetMicrophone(on bool) error
	SetCamera(on bool) error
	SetScreenShare(on bool) error
	Leave()
}

// Member is one admitted participant.
type Member struct {
	ID        string // meeting-local ID (session ID), stable for the meeting
	Name      string // display name as presented; a label, not a proof
	Public    identity.Public
	Host      bool
	Self      bool
	Muted     bool
	CameraOff bool
	// Contact is what the contacts store said when the meeting protocol
	// saw this key; zero if it has not (yet): a ContactStatus event
	// follows.
	Contact identity.Status
}

// Joiner is someone in the waiting room.
type Joiner struct {
	ID      string
	Name    string
	Public  identity.Public
	Contact identity.Status // as in Member
}

// SecurityCode is the meeting's current security code: every member sees
// the same code exactly when they hold the same keys and roster.
type SecurityCode struct {
	Digits string
	Words  []string
}

// VideoFrame is one decoded frame of one member.
type VideoFrame struct {
	Member string
	Image  image.Image
}

// Event is anything a meeting reports to the UI.
type Event interface{ isEvent() }

// RosterChanged carries the full list of admitted members.
type RosterChanged struct{ Members []Member }

// WaitingChanged carries the full waiting-room list (host only).
type WaitingChanged struct{ Joiners []Joiner }

// Admitted reports that the host let this user in.
type Admitted struct{}

// ChatReceived is one decrypted chat message.
type ChatReceived struct {
	From string // member ID
	Name string
	Text string
	At   time.Time
}

// ActiveSpeaker names the member currently speaking ("" for none).
type ActiveSpeaker struct{ Member string }

// Progress reports a long operation starting (Done false) or finishing.
type Progress struct {
	Task Task
	Done bool
}

// Task names a long operation.
type Task string

// Long operations shown with progress.
const (
	TaskConnecting  Task = "Connecting to the relay…"
	TaskAdmission   Task = "Waiting for the host to admit you…"
	TaskKeyRotation Task = "Rotating meeting keys…"
)

// SecurityCodeChanged carries a new security code (after any roster change).
type SecurityCodeChanged struct{ Code SecurityCode }

// Undecryptable reports media or chat from a member that cannot be
// decrypted (wrong or missing key).
type Undecryptable struct{ Member string }

// RelayInjected reports that the relay announced a participant the host
// never admitted; the protocol ignored it.
type RelayInjected struct{ Session string }

// ContactStatus reports what the contacts store said about a member or
// joiner: the meeting protocol consults the store itself, so that a first
// "key changed" answer is never turned into "known" by a second look.
type ContactStatus struct {
	Member string
	Status identity.Status
}

// HostLeft reports that the host's session left the meeting. The meeting
// goes on with the members present and their keys, but nobody can admit,
// deny or remove anyone any more: nobody else holds the host's identity
// (docs/PROTOCOL.md §6.8). Name is the host's display name.
type HostLeft struct {
	Member string
	Name   string
}

// MemberLeft reports that a member's session left while the host is gone.
// Only the host changes the roster, so it still lists the member, but the
// others re-keyed without it and it receives nothing more (§6.8).
type MemberLeft struct {
	Member string
	Name   string
}

// Warning is something the user should know that is not a security
// alert (for example: no audio output device).
type Warning struct{ Text string }

// Ended reports the end of the meeting for this user. Reason is a whole
// sentence for the user, one per way a meeting ends (the Ended…
// constants); it is empty when the user left.
type Ended struct {
	Reason string // shown to the user as it is
}

// How a meeting ends for a user who did not leave.
const (
	EndedDenied         = "The host did not let you in."
	EndedRemoved        = "The host removed you from the meeting."
	EndedConnectionLost = "The connection to the relay was lost, so you are no longer in the meeting. Use the invite link to join again."
	// EndedNoAnswer: a joiner waited DefaultAdmissionTimeout (or
	// Config.AdmissionTimeout) without an answer from the host.
	EndedNoAnswer = "The host did not answer, so Sotto stopped waiting. The host may have left the meeting, and then nobody can let you in. Ask them, then use the invite link again."
)

func (RosterChanged) isEvent()       {}
func (WaitingChanged) isEvent()      {}
func (Admitted) isEvent()            {}
func (ChatReceived) isEvent()        {}
func (ActiveSpeaker) isEvent()       {}
func (Progress) isEvent()            {}
func (SecurityCodeChanged) isEvent() {}
func (Undecryptable) isEvent()       {}
func (RelayInjected) isEvent()       {}
func (Ended) isEvent()               {}
func (Warning) isEvent()             {}
func (ContactStatus) isEvent()       {}
func (HostLeft) isEvent()            {}
func (MemberLeft) isEvent()          {}

// Devices lists capture and playback devices and gives the lobby a live
// preview and microphone level.
type Devices interface {
	Cameras() []Device
	Microphones() []Device
	Speakers() []Device
	// Preview streams frames from a camera until ctx ends. Frames are
	// decoded and scaled off the UI thread.
	Preview(ctx context.Context, cameraID string, q Quality) (<-chan image.Image, error)
	// Level streams the microphone level in [0, 1] until ctx ends.
	Level(ctx context.Context, micID string) (<-chan float64, error)
}

// Device is one capture or playback device.
type Device struct {
	ID    string
	Label string
}

// ErrNoDevice is returned when a device cannot be opened.
var ErrNoDevice = errors.New("call: device not available")
