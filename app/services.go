package app

import "github.com/sottohq/sotto/internal/call"

// The app receives everything that touches the network or devices through
// the narrow interfaces of internal/call (the meeting contract, which
// imports no Fyne). The names below are that contract under the app's
// own names, so the screens read as before; tests pass small fakes from
// app/apptest.

type (
	Connector   = call.Connector
	Invite      = call.Invite
	MediaChoice = call.MediaChoice
	// AudioProcessing is the microphone processing switches.
	AudioProcessing = call.AudioProcessing
	HostRequest     = call.HostRequest
	JoinRequest     = call.JoinRequest
	Quality         = call.Quality
	Meeting         = call.Meeting
	Member          = call.Member
	Joiner          = call.Joiner
	SecurityCode    = call.SecurityCode
	VideoFrame      = call.VideoFrame
	Event           = call.Event
	Devices         = call.Devices
	Device          = call.Device
	Task            = call.Task

	RosterChanged       = call.RosterChanged
	WaitingChanged      = call.WaitingChanged
	Admitted            = call.Admitted
	ChatReceived        = call.ChatReceived
	ActiveSpeaker       = call.ActiveSpeaker
	Progress            = call.Progress
	SecurityCodeChanged = call.SecurityCodeChanged
	Undecryptable       = call.Undecryptable
	RelayInjected       = call.RelayInjected
	ContactStatus       = call.ContactStatus
	Warning             = call.Warning
	HostLeft            = call.HostLeft
	MemberLeft          = call.MemberLeft
	Ended               = call.Ended
)

// Video quality settings offered in the settings dialog.
const (
	QualityLow    = call.QualityLow
	QualityMedium = call.QualityMedium
	QualityHigh   = call.QualityHigh
)

// Qualities lists the settings in display order.
var Qualities = call.Qualities

// Long operations shown with progress.
const (
	TaskConnecting  = call.TaskConnecting
	TaskAdmission   = call.TaskAdmission
	TaskKeyRotation = call.TaskKeyRotation
)

// ErrNoDevice is returned when a device cannot be opened.
var ErrNoDevice = call.ErrNoDevice

// errorMessage is the sentence a user reads for an error (what to do);
// the error's own text goes behind an alert's Details.
var errorMessage = call.ErrorMessage
