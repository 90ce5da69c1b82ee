// Package signal is the contract between Sotto clients and the relay: the
// one package both sides import, so that neither imports the other.
//
// It defines:
//   - the signaling wire format (message.go, docs/PROTOCOL.md §4): every
//     message is one JSON object in one WebSocket text frame with a "type"
//     field naming it;
//   - the identifiers of meetings and sessions (ID, id.go);
//   - the media contract both PeerConnections must agree on: the codec
//     table (RegisterCodecs) and the loopback-only ICE setting used by
//     tests and same-machine setups (LoopbackOnly), in media.go;
//   - the connection that carries the messages (Conn: WebSocket or an
//     in-memory Pipe), in conn.go.
//
// The decoder is strict: unknown types and unknown fields are rejected,
// sizes are bounded before and after parsing, and identifiers must have
// the exact form String produces. The relay never looks inside envelope
// payloads; they are opaque bytes carried base64-encoded.
package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Wire limits. A relay may configure tighter limits, never looser ones.
const (
	// IDBytes is the number of random bytes in a meeting or session ID.
	IDBytes = 16
	// IDLen is the length of an ID on the wire: IDBytes as lowercase hex.
	IDLen = 2 * IDBytes
	// MaxMessageLen bounds one signaling message (one WebSocket frame), in bytes.
	MaxMessageLen = 512 << 10
	// MaxSDPLen bounds the SDP text of an offer or answer, in bytes.
	MaxSDPLen = 384 << 10
	// MaxCandidateLen bounds one ICE candidate line, in bytes.
	MaxCandidateLen = 512
	// MaxMidLen bounds a media stream identification tag (SDP a=mid).
	MaxMidLen = 32
	// MaxEnvelopePayload bounds the decoded payload of one envelope, in bytes.
	MaxEnvelopePayload = 64 << 10
	// MaxReasonLen bounds error and bye reasons, in bytes (fits a WebSocket
	// close frame, which allows 123).
	MaxReasonLen = 120
	// MaxCodeLen bounds error codes, in bytes.
	MaxCodeLen = 32
	// MaxPeers bounds the peer list in a joined message.
	MaxPeers = 1024
	// MaxICEServers bounds the ICE server list in a joined message.
	MaxICEServers = 8
	// MaxICEFieldLen bounds a URL, username or credential of an ICE server.
	MaxICEFieldLen = 256
)

// Message types (the "type" field).
const (
	TypeJoin       = "join"        // client → relay: enter a meeting
	TypeJoined     = "joined"      // relay → client: your session ID and who is present
	TypePeerJoined = "peer-joined" // relay → client: a session entered the meeting
	TypePeerLeft   = "peer-left"   // relay → client: a session left the meeting
	TypePublish    = "publish"     // client → relay: open an upload slot of a kind
	TypeUnpublish  = "unpublish"   // client → relay: stop publishing the track in a slot
	TypeOffer      = "offer"       // relay → client: SDP offer (the relay always offers)
	TypeAnswer     = "answer"      // client → relay: SDP answer
	TypeCandidate  = "candidate"   // both ways: trickled ICE candidate
	TypeEnvelope   = "envelope"    // both ways: opaque bytes for other participants
	TypePing       = "ping"        // client → relay: keepalive
	TypePong       = "pong"        // relay → client: keepalive reply
	TypeError      = "error"       // relay → client: a request was rejected
	TypeBye        = "bye"         // relay → client: the relay is closing the session
)

// Track kinds for Publish.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// Error codes carried in Error.Code and used as close reasons.
const (
	CodeBadMessage     = "bad-message"     // malformed JSON, unknown field or invalid value
	CodeUnknownType    = "unknown-type"    // the type field names no message
	CodeTooBig         = "too-big"         // the message exceeds the size limit
	CodeNotJoined      = "not-joined"      // a message that needs a session came before join
	CodeAlreadyJoined  = "already-joined"  // a second join on one connection
	CodeMeetingFull    = "meeting-full"    // sessions-per-meeting limit reached
	CodeRelayFull      = "relay-full"      // meetings-per-relay limit reached
	CodeUnknownSession = "unknown-session" // envelope to a session not in this meeting
	CodeRateLimited    = "rate-limited"    // envelope rate limit exceeded; message dropped
	CodeBadSDP         = "bad-sdp"         // an answer or candidate the relay could not apply
	CodeTooManyTracks  = "too-many-tracks" // tracks-per-session limit reached
	CodeUnexpected     = "unexpected"      // a valid message that is wrong in this state
	CodeIdle           = "idle"            // nothing received within the idle timeout
	CodeSlow           = "slow-consumer"   // the client did not read its messages fast enough
	CodeShutdown       = "shutdown"        // the relay is shutting down
	CodeInternal       = "internal"        // the relay failed; not the client's fault
)

// Message is one signaling message.
type Message interface {
	// MessageType returns the value of the type field.
	MessageType() string
}

// Join asks to enter a meeting. Meeting is chosen by clients (NewID).
type Join struct {
	Meeting ID `json:"meeting"`
}

// ICEServer is a STUN or TURN server the relay offers its clients.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Joined confirms a join: the session ID the relay assigned, the sessions
// already present, ICE servers the client may use, and the idle timeout
// after which a silent client is closed (clients ping well within it).
type Joined struct {
	Session    ID          `json:"session"`
	Peers      []ID        `json:"peers"`
	ICEServers []ICEServer `json:"iceServers,omitempty"`
	IdleMs     int64       `json:"idleMs,omitempty"`
}

// PeerJoined announces a session that entered the meeting.
type PeerJoined struct {
	Session ID `json:"session"`
}

// PeerLeft announces a session that left the meeting.
type PeerLeft struct {
	Session ID `json:"session"`
}

// Publish asks the relay to open an upload slot (a recvonly m-line on the
// relay's side) of the given kind in its next offer.
type Publish struct {
	Kind string `json:"kind"`
}

// Unpublish tells the relay the client stopped sending in the slot Mid.
type Unpublish struct {
	Mid string `json:"mid"`
}

// Offer carries an SDP offer (relay → client).
type Offer struct {
	SDP string `json:"sdp"`
}

// Answer carries an SDP answer (client → relay).
type Answer struct {
	SDP string `json:"sdp"`
}

// Candidate carries one trickled ICE candidate. An empty Candidate string
// signals the end of candidates.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// Envelope carries opaque bytes. From a client, To names the recipient
// session (the zero ID for every other session of the meeting) and From
// is zero. From the relay, From names the sender and To is zero. A zero ID
// is omitted on the wire, and an absent or empty field decodes to it.
type Envelope struct {
	To      ID     `json:"to,omitzero"`
	From    ID     `json:"from,omitzero"`
	Payload []byte `json:"payload"`
}

// Ping is a client keepalive.
type Ping struct{}

// Pong answers a Ping.
type Pong struct{}

// Error reports a rejected request. Code is one of the Code constants.
type Error struct {
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// Bye tells the client the relay is ending its session.
type Bye struct {
	Reason string `json:"reason,omitempty"`
}

func (Join) MessageType() string       { return TypeJoin }
func (Joined) MessageType() string     { return TypeJoined }
func (PeerJoined) MessageType() string { return TypePeerJoined }
func (PeerLeft) MessageType() string   { return TypePeerLeft }
func (Publish) MessageType() string    { return TypePublish }
func (Unpublish) MessageType() string  { return TypeUnpublish }
func (Offer) MessageType() string      { return TypeOffer }
func (Answer) MessageType() string     { return TypeAnswer }
func (Candidate) MessageType() string  { return TypeCandidate }
func (Envelope) MessageType() string   { return TypeEnvelope }
func (Ping) MessageType() string       { return TypePing }
func (Pong) MessageType() string       { return TypePong }
func (Error) MessageType() string      { return TypeError }
func (Bye) MessageType() string        { return TypeBye }

// DecodeError is returned by Decode. Code is CodeBadMessage, CodeUnknownType
// or CodeTooBig; the error text never contains message content.
type DecodeError struct {
	Code   string
	Reason string
}

func (e *DecodeError) Error() string { return "signal: " + e.Code + ": " + e.Reason }

func decodeErr(code, reason string) error { return &DecodeError{Code: code, Reason: reason} }

// Encode serialises m with its type field first.
func Encode(m Message) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("signal: encode %s: %w", m.MessageType(), err)
	}
	out := make([]byte, 0, len(body)+len(m.MessageType())+12)
	out = append(out, `{"type":"`...)
	out = append(out, m.MessageType()...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	if len(out) > MaxMessageLen {
		return nil, fmt.Errorf("signal: encode %s: message of %d bytes exceeds %d", m.MessageType(), len(out), MaxMessageLen)
	}
	return out, nil
}

// Decode parses and validates one message. It accepts every type in both
// directions; the receiver checks that a type is one it expects.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageLen {
		return nil, decodeErr(CodeTooBig, fmt.Sprintf("message of %d bytes exceeds %d", len(b), MaxMessageLen))
	}
	var head struct {
		Type *string `json:"type"`
	}
	// The first pass only finds the type; the strict second pass below
	// rejects anything else that is wrong.
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, decodeErr(CodeBadMessage, "not a JSON object")
	}
	if head.Type == nil {
		return nil, decodeErr(CodeBadMessage, "missing type")
	}
	var (
		m   Message
		err error
	)
	switch *head.Type {
	case TypeJoin:
		var w struct {
			T string `json:"type"`
			Join
		}
		err = strict(b, &w, "invalid meeting id")
		m = w.Join
	case TypeJoined:
		var w struct {
			T string `json:"type"`
			Joined
		}
		err = strict(b, &w, "invalid session or peer id")
		m = w.Joined
	case TypePeerJoined:
		var w struct {
			T string `json:"type"`
			PeerJoined
		}
		err = strict(b, &w, "invalid session id")
		m = w.PeerJoined
	case TypePeerLeft:
		var w struct {
			T string `json:"type"`
			PeerLeft
		}
		err = strict(b, &w, "invalid session id")
		m = w.PeerLeft
	case TypePublish:
		var w struct {
			T string `json:"type"`
			Publish
		}
		err = strict(b, &w, "")
		m = w.Publish
	case TypeUnpublish:
		var w struct {
			T string `json:"type"`
			Unpublish
		}
		err = strict(b, &w, "")
		m = w.Unpublish
	case TypeOffer:
		var w struct {
			T string `json:"type"`
			Offer
		}
		err = strict(b, &w, "")
		m = w.Offer
	case TypeAnswer:
		var w struct {
			T string `json:"type"`
			Answer
		}
		err = strict(b, &w, "")
		m = w.Answer
	case TypeCandidate:
		var w struct {
			T string `json:"type"`
			Candidate
		}
		err = strict(b, &w, "")
		m = w.Candidate
	case TypeEnvelope:
		var w struct {
			T string `json:"type"`
			Envelope
		}
		err = strict(b, &w, "invalid recipient or sender id")
		m = w.Envelope
	case TypePing:
		var w struct {
			T string `json:"type"`
		}
		err = strict(b, &w, "")
		m = Ping{}
	case TypePong:
		var w struct {
			T string `json:"type"`
		}
		err = strict(b, &w, "")
		m = Pong{}
	case TypeError:
		var w struct {
			T string `json:"type"`
			Error
		}
		err = strict(b, &w, "")
		m = w.Error
	case TypeBye:
		var w struct {
			T string `json:"type"`
			Bye
		}
		err = strict(b, &w, "")
		m = w.Bye
	default:
		return nil, decodeErr(CodeUnknownType, "unknown message type")
	}
	if err != nil {
		return nil, err
	}
	if err := Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// strict decodes b into v, rejecting unknown fields and trailing data. A
// malformed identifier is reported with idReason, which names the field
// (the JSON decoder does not say which text field failed to parse).
func strict(b []byte, v any, idReason string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.Is(err, errID) && idReason != "":
			return decodeErr(CodeBadMessage, idReason)
		case errors.As(err, &ute):
			return decodeErr(CodeBadMessage, "wrong type for field "+safeField(ute.Field))
		default:
			return decodeErr(CodeBadMessage, "malformed or unknown field")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return decodeErr(CodeBadMessage, "trailing data after message")
	}
	return nil
}

// safeField keeps a field name printable and short for an error reason.
func safeField(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "?"
		}
	}
	return s
}

// Validate checks the values of a message against the wire rules.
func Validate(m Message) error {
	bad := func(r string) error { return decodeErr(CodeBadMessage, r) }
	switch v := m.(type) {
	case Join:
		if v.Meeting.IsZero() {
			return bad("invalid meeting id")
		}
	case Joined:
		if v.Session.IsZero() {
			return bad("invalid session id")
		}
		if len(v.Peers) > MaxPeers {
			return bad("too many peers")
		}
		for _, p := range v.Peers {
			if p.IsZero() {
				return bad("invalid peer id")
			}
		}
		if v.IdleMs < 0 {
			return bad("negative idle timeout")
		}
		if len(v.ICEServers) > MaxICEServers {
			return bad("too many ice servers")
		}
		for _, s := range v.ICEServers {
			if len(s.URLs) == 0 || len(s.URLs) > MaxICEServers {
				return bad("invalid ice server urls")
			}
			for _, u := range s.URLs {
				if len(u) == 0 || len(u) > MaxICEFieldLen {
					return bad("invalid ice server url")
				}
			}
			if len(s.Username) > MaxICEFieldLen || len(s.Credential) > MaxICEFieldLen {
				return bad("ice server credential too long")
			}
		}
	case PeerJoined:
		if v.Session.IsZero() {
			return bad("invalid session id")
		}
	case PeerLeft:
		if v.Session.IsZero() {
			return bad("invalid session id")
		}
	case Publish:
		if v.Kind != KindAudio && v.Kind != KindVideo {
			return bad("invalid kind")
		}
	case Unpublish:
		if v.Mid == "" || len(v.Mid) > MaxMidLen {
			return bad("invalid mid")
		}
	case Offer:
		if v.SDP == "" || len(v.SDP) > MaxSDPLen {
			return bad("invalid sdp size")
		}
	case Answer:
		if v.SDP == "" || len(v.SDP) > MaxSDPLen {
			return bad("invalid sdp size")
		}
	case Candidate:
		if len(v.Candidate) > MaxCandidateLen {
			return bad("candidate too long")
		}
		if v.SDPMid != nil && len(*v.SDPMid) > MaxMidLen {
			return bad("invalid mid")
		}
	case Envelope:
		if !v.To.IsZero() && !v.From.IsZero() {
			return bad("envelope has both to and from")
		}
		if v.Payload == nil {
			return bad("missing payload")
		}
		if len(v.Payload) > MaxEnvelopePayload {
			return decodeErr(CodeTooBig, "envelope payload too big")
		}
	case Error:
		if v.Code == "" || len(v.Code) > MaxCodeLen || len(v.Reason) > MaxReasonLen {
			return bad("invalid error")
		}
	case Bye:
		if len(v.Reason) > MaxReasonLen {
			return bad("reason too long")
		}
	case Ping, Pong:
	default:
		return decodeErr(CodeUnknownType, "unknown message type")
	}
	return nil
}
