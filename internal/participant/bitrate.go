package participant

import (
	"sync"
)

// BitrateAware is a local video stream whose encoder follows the uplink
// estimate; capture's video stream is one.
type BitrateAware interface {
	// SetTargetBitrate sets the video encoder's target in bits per
	// second. The stream keeps its own ceiling (its configured bitrate)
	// and may go no lower than it can encode. It must not block (it is
	// called from the RTCP goroutine).
	SetTargetBitrate(bps int)
}

// Sharing the uplink estimate (transport.Conn.OnUplinkEstimate, package
// bwe) between the tracks: audio first, at its constant rate, and what
// remains to video, less its packet overhead, never below videoFloor.
const (
	// audioReserve is the audio track's share of the estimate, which
	// counts RTP bytes: Opus at 32 kbit/s CBR plus, at 50 packets a
	// second, the RTP header, the transport-wide sequence number and
	// SFrame's header and tag (about 40 bytes a packet).
	audioReserve = 48_000
	// videoShare is the share of video's remainder given to the encoder:
	// the rest pays for its packets' RTP, SFrame and VP8 headers and the
	// encoder's overshoot.
	videoShare = 0.92
	// videoFloor is the lowest target given to video: below it a picture
	// is no longer worth its bandwidth, and the estimate must find the
	// rest by loss and delay.
	videoFloor = 100_000
	// minBitrateChange is the relative change of the video target worth
	// passing to the encoder (each change reconfigures libvpx's rate
	// control).
	minBitrateChange = 0.03
)

// videoBudget is video's target for an uplink estimate.
func videoBudget(estimate int, audio bool) int {
	rest := float64(estimate)
	if audio {
		rest -= audioReserve
	}
	return max(int(rest*videoShare), videoFloor)
}

// bitrateControl passes the uplink estimate on to the video encoder of
// the current video stream (which SetVideoSource replaces).
type bitrateControl struct {
	audio bool

	mu     sync.Mutex
	stream BitrateAware // nil: the current stream is not BitrateAware
	last   int          // target last set, 0: none
}

// setStream makes s the stream that follows the estimate, at the current
// target at once.
func (b *bitrateControl) setStream(s Stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stream, _ = s.(BitrateAware)
	if b.stream != nil && b.last > 0 {
		b.stream.SetTargetBitrate(b.last)
	}
}

// estimate takes a new uplink estimate and returns video's target.
func (b *bitrateControl) estimate(bps int) int {
	v := videoBudget(bps, b.audio)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last > 0 && v != videoFloor {
		d := float64(v-b.last) / float64(b.last)
		if d < minBitrateChange && d > -minBitrateChange {
			return b.last
		}
	}
	if v != b.last {
		b.last = v
		if b.stream != nil {
			b.stream.SetTargetBitrate(v)
		}
	}
	return v
}

func (b *bitrateControl) target() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}
