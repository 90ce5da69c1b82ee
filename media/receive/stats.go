package receive

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sottohq/sotto/media/framing"
)

// Drops counts frames thrown away before decoding, by reason. None of them
// ever reaches a decoder.
type Drops struct {
	UnknownKID      uint64 `json:"unknown_kid"`      // SFrame KID with no receive key
	Replay          uint64 `json:"replay"`           // SFrame counter already seen or too old
	Auth            uint64 `json:"auth"`             // SFrame tag check failed
	Malformed       uint64 `json:"malformed"`        // unparsable header, packet or frame, or too big
	Gap             uint64 `json:"gap"`              // loss bursts the reassembler gave up on (audio: holes in the sequence)
	WaitingKeyframe uint64 `json:"waiting_keyframe"` // decrypted delta frames dropped until a keyframe
	DecodeError     uint64 `json:"decode_error"`     // authenticated frames the decoder rejected
	Late            uint64 `json:"late"`             // video packets after their frame was emitted or given up (audio: the jitter buffer's late count)
}

// DecryptFailures is the sum of the drops where SFrame refused the frame.
func (d Drops) DecryptFailures() uint64 { return d.UnknownKID + d.Replay + d.Auth + d.Malformed }

// Stats is a snapshot of one receive pipeline (one remote track).
type Stats struct {
	Kind             string  `json:"kind"`
	Packets          uint64  `json:"packets"`
	FramesReceived   uint64  `json:"frames_received"`
	FramesDecrypted  uint64  `json:"frames_decrypted"`
	FramesDecoded    uint64  `json:"frames_decoded"`
	Keyframes        uint64  `json:"keyframes"`
	Dropped          Drops   `json:"dropped"`
	DecryptFailures  uint64  `json:"decrypt_failures"` // Dropped.DecryptFailures()
	BitrateBps       uint64  `json:"bitrate_bps"`
	KID              *uint64 `json:"kid,omitempty"` // KID of the last frame that decrypted
	KeyframeRequests uint64  `json:"keyframe_requests"`
	ParityPackets    uint64  `json:"parity_packets"` // video parity packets received (relay/fec)
	Recovered        uint64  `json:"recovered"`      // video packets rebuilt from parity
}

// counters are written by the pipeline goroutine and read by Snapshot.
type counters struct {
	kind                                  framing.Kind
	packets, received, decrypted, decoded atomic.Uint64
	keyframes, keyframeRequests           atomic.Uint64
	unknownKID, replay, auth, malformed   atomic.Uint64
	gap, waitingKeyframe, decodeErr, late atomic.Uint64
	fecParity, fecRecovered               atomic.Uint64
	kid                                   atomic.Uint64
	hasKID                                atomic.Bool
	rate                                  bitrate
}

func (c *counters) snapshot(now time.Time) Stats {
	s := Stats{
		Kind:             c.kind.String(),
		Packets:          c.packets.Load(),
		FramesReceived:   c.received.Load(),
		FramesDecrypted:  c.decrypted.Load(),
		FramesDecoded:    c.decoded.Load(),
		Keyframes:        c.keyframes.Load(),
		KeyframeRequests: c.keyframeRequests.Load(),
		ParityPackets:    c.fecParity.Load(),
		Recovered:        c.fecRecovered.Load(),
		BitrateBps:       c.rate.bps(now),
		Dropped: Drops{
			UnknownKID: c.unknownKID.Load(), Replay: c.replay.Load(), Auth: c.auth.Load(),
			Malformed: c.malformed.Load(), Gap: c.gap.Load(), WaitingKeyframe: c.waitingKeyframe.Load(),
			DecodeError: c.decodeErr.Load(), Late: c.late.Load(),
		},
	}
	s.DecryptFailures = s.Dropped.DecryptFailures()
	if c.hasKID.Load() {
		k := c.kid.Load()
		s.KID = &k
	}
	return s
}

// bitrate is the received bit rate over the last whole second.
type bitrate struct {
	mu       sync.Mutex
	second   int64 // unix second being filled
	cur      uint64
	previous uint64 // bytes of second-1
}

func (b *bitrate) add(now time.Time, n int) {
	b.mu.Lock()
	b.roll(now.Unix())
	b.cur += uint64(n)
	b.mu.Unlock()
}

func (b *bitrate) roll(sec int64) {
	switch {
	case sec == b.second:
	case sec == b.second+1:
		b.previous, b.cur, b.second = b.cur, 0, sec
	default:
		b.previous, b.cur, b.second = 0, 0, sec
	}
}

func (b *bitrate) bps(now time.Time) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now.Unix())
	return b.previous * 8
}
