// Package vp8 is Sotto's realtime VP8 encoder and VP8 decoder, both thin cgo
// layers over libvpx.
//
// Why not mediadevices' own libvpx encoder: v0.9.4 never sets libvpx's
// speed control (VP8E_SET_CPUUSED), so a 640×480 frame costs about 35 ms on
// a small machine and 1280×720 cannot hold 30 fps. This encoder sets
// cpu-used (−6 by default), the realtime deadline (VPX_DL_REALTIME), error
// resilience (VPX_ERROR_RESILIENT_DEFAULT), CBR rate control with a target
// bitrate, a bounded keyframe interval, and keyframe-on-request.
//
// Keyframe requests and bitrate changes are lock-free flags: ForceKeyFrame
// and SetBitRate only store an atomic value that the next Encode acts on,
// so an RTCP goroutine calling them never waits for a camera frame.
//
// The encoder is driven directly by media/capture, which owns the capture
// clock; it is not a mediadevices codec.VideoEncoderBuilder, whose reader
// holds its lock while waiting for a picture (so a keyframe request from a
// PLI handler would wait for the camera).
package vp8

/*
#cgo pkg-config: vpx
#include "vpx.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Defaults for Params fields left at zero.
const (
	// DefaultCPUUsed is libvpx's speed/quality trade-off for VP8 in
	// realtime mode: negative values are "realtime, speed |n|"; −6 keeps a
	// 640×480 frame near 5 ms on one core while staying visually sound.
	DefaultCPUUsed = -6
	// DefaultBitrate is the target in bits per second when none is given.
	DefaultBitrate = 800_000
	// DefaultKeyFrameInterval bounds the distance between keyframes in
	// frames (3 s at 30 fps), so a receiver that missed a keyframe and
	// whose request was lost still recovers.
	DefaultKeyFrameInterval = 90
	// DefaultDropFrameThreshold lets CBR skip frames rather than overshoot
	// on content it cannot compress enough (WebRTC's camera setting).
	DefaultDropFrameThreshold = 30
	// DefaultMaxQuantizer is the worst quantizer rate control may use.
	DefaultMaxQuantizer = 63
	// DefaultMinQuantizer is the best quantizer rate control may use.
	DefaultMinQuantizer = 2
	// DefaultMaxIntraBitratePct caps a keyframe at this percentage of an
	// average frame's budget, limiting the burst a keyframe causes.
	DefaultMaxIntraBitratePct = 900
	// TimebaseHz is the encoder's timestamp unit: the 90 kHz RTP video clock.
	TimebaseHz = 90000
	// maxDimension is the largest width or height the encoder accepts
	// (VP8 codes 14-bit dimensions).
	maxDimension = 16383
)

// Params configures the encoder. Zero fields take the defaults above.
type Params struct {
	// Bitrate is the CBR target in bits per second.
	Bitrate int
	// KeyFrameInterval is the maximum distance between keyframes in frames.
	KeyFrameInterval int
	// CPUUsed is VP8E_SET_CPUUSED (−16…16). Zero means DefaultCPUUsed; use
	// a value like −1 for slower, better encodes.
	CPUUsed int
	// Threads is libvpx's worker count (default 1). libvpx's VP8 workers
	// spin-wait for each other: measured on a busy 2-core machine, 720p
	// with 2 threads cost 30 ms of CPU per frame against 4.2 ms with one,
	// so more threads only pay off on an idle machine with spare cores.
	Threads int
	// DisableErrorResilience turns off VPX_ERROR_RESILIENT_DEFAULT, which is
	// on by default so that a lost frame does not corrupt entropy contexts.
	DisableErrorResilience bool
	// DropFrameThreshold lets rate control skip a frame when its buffer
	// drains below this percentage of the optimal level. 0 means
	// DefaultDropFrameThreshold; a negative value disables dropping (the
	// bitrate then overshoots on content that cannot be compressed enough).
	DropFrameThreshold int
	// MinQuantizer and MaxQuantizer bound rate control (0…63).
	MinQuantizer, MaxQuantizer int
	// ScreenContent tunes the encoder for screen sharing.
	ScreenContent bool
}

// withDefaults returns p with zero fields replaced by defaults.
func (p Params) withDefaults(width, height int) Params {
	if p.Bitrate <= 0 {
		p.Bitrate = DefaultBitrate
	}
	if p.KeyFrameInterval <= 0 {
		p.KeyFrameInterval = DefaultKeyFrameInterval
	}
	if p.CPUUsed == 0 {
		p.CPUUsed = DefaultCPUUsed
	}
	if p.Threads <= 0 {
		p.Threads = 1
	}
	if p.DropFrameThreshold == 0 {
		p.DropFrameThreshold = DefaultDropFrameThreshold
	}
	if p.MaxQuantizer <= 0 || p.MaxQuantizer > 63 {
		p.MaxQuantizer = DefaultMaxQuantizer
	}
	if p.MinQuantizer <= 0 || p.MinQuantizer > p.MaxQuantizer {
		p.MinQuantizer = DefaultMinQuantizer
	}
	return p
}

// Frame is one encoded VP8 frame: exactly what a VP8 RTP payloader takes.
type Frame struct {
	// Data is the whole encoded frame, owned by the caller. It is nil when
	// rate control dropped the frame to hold the target bitrate.
	Data []byte
	// Keyframe reports an intra frame that decodes on its own.
	Keyframe bool
}

// Encoder is a VP8 encoder for I420 pictures of one size. Encode and Close
// must not be called concurrently with each other from several goroutines
// without care (they serialise on a mutex); ForceKeyFrame and SetBitRate
// may be called from any goroutine at any time and never block.
type Encoder struct {
	mu      sync.Mutex // held by Encode and Close only
	enc     *C.sotto_enc
	params  Params
	width   int
	height  int
	out     []byte // scratch output buffer handed to C
	applied int    // bitrate currently configured in libvpx
	closed  bool

	forceKey   atomic.Bool
	bitrate    atomic.Int64 // requested bitrate; applied by the next Encode
	frameCount atomic.Uint64
	keyCount   atomic.Uint64
}

// NewEncoder opens a VP8 encoder for width×height I420 pictures.
func NewEncoder(width, height int, p Params) (*Encoder, error) {
	if width <= 0 || height <= 0 || width > maxDimension || height > maxDimension {
		return nil, fmt.Errorf("vp8: invalid picture size %dx%d", width, height)
	}
	p = p.withDefaults(width, height)
	e := &Encoder{params: p, width: width, height: height}
	if err := e.open(); err != nil {
		return nil, err
	}
	e.bitrate.Store(int64(p.Bitrate))
	e.applied = p.Bitrate
	return e, nil
}

func (e *Encoder) open() error {
	p := e.params
	cp := C.sotto_enc_params{
		width:             C.uint(e.width),
		height:            C.uint(e.height),
		timebase_den:      C.uint(TimebaseHz),
		bitrate_kbps:      C.uint(max(1, p.Bitrate/1000)),
		kf_max_dist:       C.uint(p.KeyFrameInterval),
		cpu_used:          C.int(p.CPUUsed),
		threads:           C.uint(p.Threads),
		drop_frame_thresh: C.uint(max(0, p.DropFrameThreshold)),
		min_q:             C.uint(p.MinQuantizer),
		max_q:             C.uint(p.MaxQuantizer),
		max_intra_pct:     C.uint(DefaultMaxIntraBitratePct),
	}
	if !p.DisableErrorResilience {
		cp.error_resilient = 1
	}
	if p.ScreenContent {
		cp.screen_content = 1
	}
	var enc *C.sotto_enc
	if rc := C.sotto_enc_open(&enc, &cp); rc != 0 {
		return fmt.Errorf("vp8: opening libvpx encoder: %w", vpxError(rc))
	}
	e.enc = enc
	// A keyframe of noise can exceed the raw picture size slightly.
	e.out = make([]byte, e.width*e.height*3/2+64*1024)
	return nil
}

// Size returns the picture size the encoder currently expects.
func (e *Encoder) Size() (width, height int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.width, e.height
}

// ForceKeyFrame makes the next encoded frame a keyframe. It only sets a
// flag, so it is safe to call from an RTCP goroutine.
func (e *Encoder) ForceKeyFrame() error {
	e.forceKey.Store(true)
	return nil
}

// SetBitRate changes the CBR target (bits per second) from the next frame
// on. It only stores the value.
func (e *Encoder) SetBitRate(bps int) error {
	if bps < 1000 {
		return fmt.Errorf("vp8: bitrate %d below 1 kbit/s", bps)
	}
	e.bitrate.Store(int64(bps))
	return nil
}

// BitRate is the CBR target last requested (bits per second): the one
// the next Encode applies.
func (e *Encoder) BitRate() int { return int(e.bitrate.Load()) }

// Stats reports the number of frames encoded and how many were keyframes.
func (e *Encoder) Stats() (frames, keyframes uint64) {
	return e.frameCount.Load(), e.keyCount.Load()
}

// ErrClosed is returned by Encode after Close.
var ErrClosed = errors.New("vp8: encoder closed")

// Encode encodes one I420 picture. pts and duration are in TimebaseHz units
// (duration is the time until the next picture; it drives rate control).
// If the picture size differs from the encoder's, the encoder is reopened
// at the new size and the frame is a keyframe.
func (e *Encoder) Encode(img *image.YCbCr, pts int64, duration int64) (Frame, error) {
	if img == nil {
		return Frame{}, errors.New("vp8: nil picture")
	}
	if img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return Frame{}, fmt.Errorf("vp8: picture is %v, want 4:2:0", img.SubsampleRatio)
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w <= 0 || h <= 0 || w > maxDimension || h > maxDimension {
		return Frame{}, fmt.Errorf("vp8: invalid picture size %dx%d", w, h)
	}
	// Bounds checks: libvpx reads stride×rows from each plane.
	cw, ch := (w+1)/2, (h+1)/2
	yOff := img.YOffset(img.Rect.Min.X, img.Rect.Min.Y)
	cOff := img.COffset(img.Rect.Min.X, img.Rect.Min.Y)
	if img.YStride < w || img.CStride < cw ||
		yOff+img.YStride*(h-1)+w > len(img.Y) ||
		cOff+img.CStride*(ch-1)+cw > len(img.Cb) ||
		cOff+img.CStride*(ch-1)+cw > len(img.Cr) {
		return Frame{}, errors.New("vp8: picture planes shorter than their size")
	}
	if duration < 1 {
		duration = 1
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Frame{}, ErrClosed
	}
	if w != e.width || h != e.height {
		C.sotto_enc_close(e.enc)
		e.enc = nil
		e.width, e.height = w, h
		if err := e.open(); err != nil {
			e.closed = true
			return Frame{}, err
		}
		e.applied = e.params.Bitrate
	}
	if want := int(e.bitrate.Load()); want != e.applied {
		if rc := C.sotto_enc_set_bitrate(e.enc, C.uint(want/1000)); rc != 0 {
			return Frame{}, fmt.Errorf("vp8: setting bitrate: %w", vpxError(rc))
		}
		e.applied = want
	}
	// Swap rather than load: a request arriving during this encode stays
	// set for the next frame.
	force := e.forceKey.Swap(false)
	var outLen C.size_t
	var isKey C.int
	for {
		rc := C.sotto_enc_encode(e.enc,
			(*C.uchar)(unsafe.Pointer(&img.Y[yOff])),
			(*C.uchar)(unsafe.Pointer(&img.Cb[cOff])),
			(*C.uchar)(unsafe.Pointer(&img.Cr[cOff])),
			C.int(img.YStride), C.int(img.CStride),
			C.int64_t(pts), C.ulong(duration), boolInt(force),
			(*C.uchar)(unsafe.Pointer(&e.out[0])), C.size_t(len(e.out)),
			&outLen, &isKey)
		if rc == -1 {
			// The output did not fit: the frame is lost inside libvpx, so
			// grow the buffer and ask for a keyframe to resynchronise.
			e.out = make([]byte, int(outLen)*2)
			force = true
			continue
		}
		if rc != 0 {
			if force {
				e.forceKey.Store(true)
			}
			return Frame{}, fmt.Errorf("vp8: encoding: %w", vpxError(rc))
		}
		break
	}
	if outLen == 0 {
		if force {
			e.forceKey.Store(true) // dropped frame: keep the request
		}
		return Frame{}, nil
	}
	e.frameCount.Add(1)
	key := isKey != 0
	if key {
		e.keyCount.Add(1)
	} else if force {
		e.forceKey.Store(true)
	}
	data := make([]byte, int(outLen))
	copy(data, e.out[:outLen])
	return Frame{Data: data, Keyframe: key}, nil
}

// Close releases libvpx's encoder. It waits for an Encode in progress.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.enc != nil {
		C.sotto_enc_close(e.enc)
		e.enc = nil
	}
	return nil
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// vpxError turns a libvpx status code into an error without any frame data.
func vpxError(rc C.int) error {
	return fmt.Errorf("libvpx: %s (%d)", C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(rc))), int(rc))
}
