package meeting

import (
	"github.com/sottohq/sotto/crypto/identity"
)

// Event is something the user interface or the media engine must act on.
// Events carrying keys hand ownership of the key bytes to the receiver, which
// should zero them once installed.
type Event interface{ isEvent() }

// SendKey tells the media engine to seal every following frame under KID
// with base key Key (RFC 9605 §4.4.1).
type SendKey struct {
	KID uint64
	Key []byte
}

// StopSending tells the media engine to stop sealing frames: this member
// left, was removed or was denied, and holds no key any more.
type StopSending struct{}

// ReceiveKey tells the media engine to accept frames under KID with base
// key Key, sent by the member at Session.
type ReceiveKey struct {
	KID     uint64
	Key     []byte
	Session SessionID
}

// DropReceiveKey tells the media engine to forget KID.
type DropReceiveKey struct {
	KID uint64
}

// RosterChanged reports a new roster epoch. Roster is a snapshot.
type RosterChanged struct {
	Roster RosterView
}

// WaitingRoomChanged reports a change of the host's waiting room.
type WaitingRoomChanged struct {
	Waiting []Waiting
}

// Admitted reports that this joiner was admitted.
type Admitted struct{ Epoch uint64 }

// Denied reports that the host denied this joiner.
type Denied struct{}

// Removed reports that this member is no longer in the roster. All meeting
// keys were dropped.
type Removed struct{}

// BecameHost reports that this member now holds the host role.
type BecameHost struct{}

// MemberGone reports that a member's session left while the host is gone
// (§6.8): nobody can take it out of the roster, but the others re-keyed
// without it, so it receives nothing more. The host's own leaving is
// AlertHostGone.
type MemberGone struct{ Session SessionID }

// ChatMessage is an authenticated chat message from a member.
type ChatMessage struct {
	From        SessionID
	Name        string
	Fingerprint [identity.FingerprintSize]byte
	Text        string
}

// ContactChecked reports what the contacts store says about a member; it
// arrives shortly after the RosterChanged that added the member.
type ContactChecked struct {
	Session SessionID
	Status  identity.Status
}

// KeysChanged reports the senders of the current roster whose current frame
// key this member does not hold (after MissingKeyAfter).
type KeysChanged struct {
	Missing []SessionID
}

// AlertKind names something a person should be told about.
type AlertKind int

const (
	// AlertForged: an envelope from Session failed authentication.
	AlertForged AlertKind = iota + 1
	// AlertUnknownSession: Session is present at the relay but is neither
	// in the signed roster nor in the host's waiting room (a ghost).
	AlertUnknownSession
	// AlertUnverifiedSender: Session sent messages under a member key that
	// is in no roster this member accepted; none were processed.
	AlertUnverifiedSender
	// AlertRosterRejected: a roster update failed its checks (forged,
	// forked or out of order beyond repair).
	AlertRosterRejected
	// AlertKeyRejected: a member sent a frame key in another member's name
	// or for a wrong epoch.
	AlertKeyRejected
	// AlertMissingKey: no current frame key from Session.
	AlertMissingKey
	// AlertKeyChanged: the contact named Name now presents a different key.
	AlertKeyChanged
	// AlertHostGone: the host's session left; nobody can admit or remove
	// until it returns (§6.8).
	AlertHostGone
	// AlertReplay: Session sent a message this member had already accepted.
	AlertReplay
)

func (k AlertKind) String() string {
	switch k {
	case AlertForged:
		return "forged"
	case AlertUnknownSession:
		return "unknown session"
	case AlertUnverifiedSender:
		return "unverified sender"
	case AlertRosterRejected:
		return "roster rejected"
	case AlertKeyRejected:
		return "key rejected"
	case AlertMissingKey:
		return "missing key"
	case AlertKeyChanged:
		return "key changed"
	case AlertHostGone:
		return "host gone"
	case AlertReplay:
		return "replay"
	}
	return "unknown"
}

// Alert is a security-relevant observation.
type Alert struct {
	Kind    AlertKind
	Session SessionID
	// Name is the display name concerned (AlertKeyChanged only). It is user
	// content: show it, never log it.
	Name string
}

func (SendKey) isEvent()            {}
func (ReceiveKey) isEvent()         {}
func (StopSending) isEvent()        {}
func (DropReceiveKey) isEvent()     {}
func (RosterChanged) isEvent()      {}
func (WaitingRoomChanged) isEvent() {}
func (Admitted) isEvent()           {}
func (Denied) isEvent()             {}
func (Removed) isEvent()            {}
func (BecameHost) isEvent()         {}
func (ChatMessage) isEvent()        {}
func (MemberGone) isEvent()         {}
func (KeysChanged) isEvent()        {}
func (ContactChecked) isEvent()     {}
func (Alert) isEvent()              {}

// RosterView is a snapshot of the roster for display.
type RosterView struct {
	Epoch   uint64
	Host    SessionID
	Code    Code
	Members []MemberView
}

// MemberView is one member as shown to the user.
type MemberView struct {
	Session     SessionID
	Name        string
	Identity    identity.Public
	Fingerprint [identity.FingerprintSize]byte
	// Self marks this member's own entry.
	Self bool
	// Host marks the host.
	Host bool
	// Safety is the pairwise safety number with this member, once
	// Member.SafetyNumber computed it ("" for self and before).
	Safety string
	// Contact is what the contacts store said (0 when there is none, or
	// until the ContactChecked event).
	Contact identity.Status
	// HasKey reports whether this member holds the member's current frame
	// key (always true for self).
	HasKey bool
	// KID is the member's current frame key ID, when HasKey.
	KID uint64
}

// Waiting is a joiner in the host's waiting room.
type Waiting struct {
	Session     SessionID
	Name        string
	Identity    identity.Public
	Fingerprint [identity.FingerprintSize]byte
	// Safety is the pairwise safety number once Member.SafetyNumber
	// computed it.
	Safety  string
	Contact identity.Status
}

// Counters count rejected and notable inputs. Every rejection increments
// exactly one counter.
type Counters struct {
	Malformed      uint64 `json:"malformed"`       // bytes that did not parse
	AuthFailed     uint64 `json:"auth_failed"`     // decryption, signature or addressing failures
	Misaddressed   uint64 `json:"misaddressed"`    // sealed to a member key that is not ours
	Replayed       uint64 `json:"replayed"`        // sequence numbers already accepted
	TooOld         uint64 `json:"too_old"`         // sequence numbers below the replay window
	Stale          uint64 `json:"stale"`           // authentic messages for an epoch already left
	RosterRejected uint64 `json:"roster_rejected"` // roster updates that failed §6.4
	KeyRejected    uint64 `json:"key_rejected"`    // frame keys in another member's name
	HeldExpired    uint64 `json:"held_expired"`    // messages never made processable by a roster
	HeldDropped    uint64 `json:"held_dropped"`    // messages dropped because the hold queue was full
	Retransmits    uint64 `json:"retransmits"`     // envelopes re-sent for lack of acknowledgement
	GaveUp         uint64 `json:"gave_up"`         // messages abandoned after RetransmitGiveUp
	SwitchTimeouts uint64 `json:"switch_timeouts"` // send key switches forced by SwitchTimeout
	LobbyFull      uint64 `json:"lobby_full"`      // hellos dropped because the waiting room was full
	BadChat        uint64 `json:"bad_chat"`        // chat messages that were not valid UTF-8
}
