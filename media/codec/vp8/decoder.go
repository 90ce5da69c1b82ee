package vp8

/*
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

// Limits on hostile input, checked before libvpx sees a frame.
const (
	// MaxFrameSize bounds one encoded frame in bytes.
	MaxFrameSize = 4 << 20
	// DefaultMaxWidth and DefaultMaxHeight bound a keyframe's declared
	// picture size, so a forged header cannot make libvpx allocate
	// gigabytes (VP8 allows 16383×16383).
	DefaultMaxWidth  = 3840
	DefaultMaxHeight = 2160
)

// VP8 keyframe header layout (RFC 6386 §9.1 and §19.1).
const (
	frameTagSize      = 3  // key flag, version, show_frame, first partition size
	keyframeHeaderLen = 10 // frame tag + start code + two 16-bit dimensions
)

// keyframeStartCode is the 3-byte start code after a keyframe's frame tag
// (RFC 6386 §9.1).
var keyframeStartCode = [3]byte{0x9d, 0x01, 0x2a}

// Errors returned by Decode.
var (
	ErrEmpty         = errors.New("vp8: empty frame")
	ErrTooLarge      = errors.New("vp8: frame too large")
	ErrBadHeader     = errors.New("vp8: malformed keyframe header")
	ErrDimensions    = errors.New("vp8: picture dimensions out of bounds")
	ErrNoKeyframe    = errors.New("vp8: no keyframe decoded yet")
	ErrCorrupted     = errors.New("vp8: picture corrupted (missing reference); request a keyframe")
	ErrNoPicture     = errors.New("vp8: frame produced no picture")
	ErrDecoderClosed = errors.New("vp8: decoder closed")
)

// Decoder decodes a VP8 stream, one whole frame per Decode call.
// It is safe for concurrent use but decodes serially.
type Decoder struct {
	mu        sync.Mutex
	ctx       *C.vpx_codec_ctx_t
	img       *image.YCbCr // reused output picture
	maxW      int
	maxH      int
	sawKey    bool
	closed    bool
	decoded   atomic.Uint64
	rejected  atomic.Uint64
	corrupted atomic.Uint64
}

// NewDecoder opens a VP8 decoder that accepts keyframes up to
// DefaultMaxWidth×DefaultMaxHeight.
func NewDecoder() (*Decoder, error) {
	return NewDecoderLimit(DefaultMaxWidth, DefaultMaxHeight)
}

// NewDecoderLimit opens a decoder with a custom picture size bound.
func NewDecoderLimit(maxWidth, maxHeight int) (*Decoder, error) {
	if maxWidth <= 0 || maxHeight <= 0 || maxWidth > maxDimension || maxHeight > maxDimension {
		return nil, fmt.Errorf("vp8: invalid decoder limit %dx%d", maxWidth, maxHeight)
	}
	var ctx *C.vpx_codec_ctx_t
	if rc := C.sotto_dec_open(&ctx, 1); rc != 0 {
		return nil, fmt.Errorf("vp8: opening libvpx decoder: %w", vpxError(rc))
	}
	return &Decoder{ctx: ctx, maxW: maxWidth, maxH: maxHeight}, nil
}

// KeyframeSize parses a VP8 keyframe header (RFC 6386 §9.1) and returns
// the picture size it declares. ok is false for inter frames; err is set
// for a malformed keyframe header.
func KeyframeSize(frame []byte) (width, height int, ok bool, err error) {
	if len(frame) < frameTagSize {
		return 0, 0, false, ErrBadHeader
	}
	if frame[0]&0x01 != 0 { // P bit set: inter frame
		return 0, 0, false, nil
	}
	if len(frame) < keyframeHeaderLen || [3]byte(frame[3:6]) != keyframeStartCode {
		return 0, 0, true, ErrBadHeader
	}
	// 14-bit dimensions; the top two bits are the upscaling mode.
	width = int(uint16(frame[6])|uint16(frame[7])<<8) & 0x3fff
	height = int(uint16(frame[8])|uint16(frame[9])<<8) & 0x3fff
	return width, height, true, nil
}

// IsKeyframe reports whether frame starts with a VP8 keyframe header.
func IsKeyframe(frame []byte) bool {
	_, _, ok, err := KeyframeSize(frame)
	return ok && err == nil
}

// Decode decodes one whole VP8 frame. The returned picture is owned by the
// Decoder and overwritten by the next Decode: copy it (or draw it) before
// calling Decode again. Malformed, oversized or undecodable input returns
// an error and leaves the decoder usable; after ErrCorrupted the caller
// should ask the sender for a keyframe.
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	img, err := d.decode(frame)
	if err != nil {
		if errors.Is(err, ErrCorrupted) {
			d.corrupted.Add(1)
		} else {
			d.rejected.Add(1)
		}
		return nil, err
	}
	d.decoded.Add(1)
	return img, nil
}

func (d *Decoder) decode(frame []byte) (*image.YCbCr, error) {
	if len(frame) == 0 {
		return nil, ErrEmpty
	}
	if len(frame) > MaxFrameSize {
		return nil, ErrTooLarge
	}
	w, h, key, err := KeyframeSize(frame)
	if err != nil {
		return nil, err
	}
	if key && (w == 0 || h == 0 || w > d.maxW || h > d.maxH) {
		return nil, ErrDimensions
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrDecoderClosed
	}
	if !key && !d.sawKey {
		return nil, ErrNoKeyframe
	}
	var vimg *C.vpx_image_t
	var corrupt C.int
	rc := C.sotto_dec_decode(d.ctx, (*C.uchar)(unsafe.Pointer(&frame[0])), C.uint(len(frame)), &vimg, &corrupt)
	if rc != 0 {
		return nil, fmt.Errorf("vp8: decoding: %w", vpxError(rc))
	}
	if key {
		d.sawKey = true
	}
	if corrupt != 0 {
		return nil, ErrCorrupted
	}
	if vimg == nil {
		return nil, ErrNoPicture
	}
	if vimg.fmt != C.VPX_IMG_FMT_I420 {
		return nil, fmt.Errorf("vp8: unexpected picture format %d", int(vimg.fmt))
	}
	return d.copyPicture(vimg), nil
}

// copyPicture copies libvpx's picture planes into the reused Go picture.
func (d *Decoder) copyPicture(v *C.vpx_image_t) *image.YCbCr {
	w, h := int(v.d_w), int(v.d_h)
	cw, ch := (w+1)/2, (h+1)/2
	if d.img == nil || d.img.Rect.Dx() != w || d.img.Rect.Dy() != h {
		d.img = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	img := d.img
	copyPlane(img.Y, img.YStride, v.planes[0], int(v.stride[0]), w, h)
	copyPlane(img.Cb, img.CStride, v.planes[1], int(v.stride[1]), cw, ch)
	copyPlane(img.Cr, img.CStride, v.planes[2], int(v.stride[2]), cw, ch)
	return img
}

func copyPlane(dst []byte, dstStride int, src *C.uchar, srcStride, w, h int) {
	if h == 0 || w == 0 {
		return
	}
	s := unsafe.Slice((*byte)(unsafe.Pointer(src)), srcStride*(h-1)+w)
	for y := 0; y < h; y++ {
		copy(dst[y*dstStride:y*dstStride+w], s[y*srcStride:y*srcStride+w])
	}
}

// Stats reports pictures decoded, frames rejected as malformed or
// undecodable, and frames reported corrupted.
func (d *Decoder) Stats() (decoded, rejected, corrupted uint64) {
	return d.decoded.Load(), d.rejected.Load(), d.corrupted.Load()
}

// Close releases libvpx's decoder.
func (d *Decoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	C.sotto_dec_close(d.ctx)
	d.ctx = nil
	return nil
}
