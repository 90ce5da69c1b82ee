package framing

import "time"

// Frame is one encoded frame between capture and the send pipeline: the
// unit that is sealed with SFrame (RFC 9605 §4.1: a frame is the codec's
// output for one picture or one audio packet).
type Frame struct {
	// Data is one whole VP8 frame or one Opus packet.
	Data []byte
	// Keyframe marks a VP8 intra frame (always false for audio).
	Keyframe bool
	// Duration is the media time this frame covers.
	Duration time.Duration
	// CaptureTime is when the picture or the last audio chunk was captured.
	CaptureTime time.Time
	// Release, when set, hands Data back to its producer once it is
	// sealed; capture's streams always set it.
	Release func()
}
