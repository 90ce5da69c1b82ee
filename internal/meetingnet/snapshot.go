package meetingnet

import (
	"github.com/sottohq/sotto/crypto/meeting"
)

// Snapshot is a JSON-serialisable view of a member's meeting state. It
// holds names (user content): show it, never log it.
type Snapshot struct {
	State         string         `json:"state"`
	Host          bool           `json:"host"`
	Epoch         uint64         `json:"epoch"`
	SecurityCode  string         `json:"security_code,omitempty"`
	SecurityWords string         `json:"security_words,omitempty"`
	SendKID       *uint64        `json:"send_kid,omitempty"`
	Members       []MemberState  `json:"members"`
	Waiting       []WaitingState `json:"waiting,omitempty"`
	// Missing are members whose current frame key this member lacks.
	Missing []string `json:"missing_keys,omitempty"`
	// Unknown are sessions present at the relay that are neither members
	// nor waiting (possible ghosts).
	Unknown []string `json:"unknown_sessions,omitempty"`
	// PendingRemoval are, on the host, the remaining members that have
	// not switched to the keys of the epoch that removed someone.
	PendingRemoval []string `json:"pending_removal,omitempty"`
	// Paused reports that this member stopped sending media because the
	// host's heartbeat is stale or names an epoch it does not hold.
	Paused   bool             `json:"paused,omitempty"`
	Counters meeting.Counters `json:"counters"`
	Dropped  DroppedCounters  `json:"dropped"`
}

// MemberState is one roster entry with this member's key state for it.
type MemberState struct {
	Session     string `json:"session"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Self        bool   `json:"self,omitempty"`
	Host        bool   `json:"host,omitempty"`
	Safety      string `json:"safety_number,omitempty"`
	Contact     string `json:"contact,omitempty"`
	HasKey      bool   `json:"has_key"`
	KID         uint64 `json:"kid,omitempty"`
}

// WaitingState is one joiner in the waiting room.
type WaitingState struct {
	Session     string `json:"session"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Safety      string `json:"safety_number,omitempty"`
	Contact     string `json:"contact,omitempty"`
}

// DroppedCounters count what the driver itself dropped or failed.
type DroppedCounters struct {
	Sends        uint64 `json:"sends"`
	SendErrors   uint64 `json:"send_errors"`
	EngineErrors uint64 `json:"engine_errors"`
	RelayErrors  uint64 `json:"relay_errors"`
}

func contactString(c interface{ String() string }, zero bool) string {
	if zero {
		return ""
	}
	return c.String()
}

// Snapshot returns the current state.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	r := m.Roster()
	snap := Snapshot{
		State: m.State().String(), Host: m.IsHost(), Epoch: r.Epoch, Counters: m.Counters(),
		Dropped: DroppedCounters{
			Sends: s.droppedSends.Load(), SendErrors: s.sendErrors.Load(),
			EngineErrors: s.engineErrors.Load(), RelayErrors: s.relayErrors.Load(),
		},
	}
	if r.Epoch > 0 {
		snap.SecurityCode, snap.SecurityWords = r.Code.Digits(), r.Code.Phrase()
	}
	if kid, ok := m.SendKID(); ok {
		snap.SendKID = &kid
	}
	for _, mv := range r.Members {
		fp := mv.Identity.FingerprintString()
		snap.Members = append(snap.Members, MemberState{
			Session: mv.Session.String(), Name: mv.Name, Fingerprint: fp, Self: mv.Self, Host: mv.Host,
			Safety: mv.Safety, Contact: contactString(mv.Contact, mv.Contact == 0), HasKey: mv.HasKey, KID: mv.KID,
		})
	}
	for _, w := range m.Waiting() {
		snap.Waiting = append(snap.Waiting, WaitingState{
			Session: w.Session.String(), Name: w.Name, Fingerprint: w.Identity.FingerprintString(),
			Safety: w.Safety, Contact: contactString(w.Contact, w.Contact == 0),
		})
	}
	for _, sid := range m.MissingKeys() {
		snap.Missing = append(snap.Missing, sid.String())
	}
	for _, sid := range m.Unknown() {
		snap.Unknown = append(snap.Unknown, sid.String())
	}
	for _, sid := range m.PendingRemoval() {
		snap.PendingRemoval = append(snap.PendingRemoval, sid.String())
	}
	snap.Paused = m.Paused()
	return snap
}
