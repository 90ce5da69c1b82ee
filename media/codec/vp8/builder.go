package vp8

import (
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// RTPCodec describes VP8 at the 90 kHz clock (codec.VideoEncoderBuilder).
func (p *Params) RTPCodec() *codec.RTPCodec {
	return codec.NewRTPVP8Codec(TimebaseHz)
}

// BuildVideoEncoder builds an encoder reading pictures from r
// (codec.VideoEncoderBuilder). Pictures in any format mediadevices can
// convert are turned into I420 first.
func (p *Params) BuildVideoEncoder(r video.Reader, m prop.Media) (codec.ReadCloser, error) {
	return NewReader(r, m, *p)
}

// Reader pulls pictures from a video.Reader and encodes them, one whole
// frame per Read. It implements codec.ReadCloser, codec.KeyFrameController
// and codec.BitRateController.
type Reader struct {
	src  video.Reader
	enc  *Encoder
	fps  float64
	mu   sync.Mutex // serialises reads
	t0   time.Time
	last int64 // pts of the previous picture
	n    int

	// OnPicture, if set before the first read, sees every I420 picture
	// just before it is encoded. The picture is only valid during the call.
	OnPicture func(*image.YCbCr)
}

// NewReader builds a Reader. m gives the expected size and frame rate; the
// encoder follows the pictures' real size if it differs.
func NewReader(r video.Reader, m prop.Media, p Params) (*Reader, error) {
	if r == nil {
		return nil, errors.New("vp8: nil video reader")
	}
	w, h := m.Width, m.Height
	if w <= 0 || h <= 0 {
		w, h = 640, 480
	}
	enc, err := NewEncoder(w, h, p)
	if err != nil {
		return nil, err
	}
	fps := float64(m.FrameRate)
	if fps <= 0 {
		fps = 30
	}
	return &Reader{src: video.ToI420(r), enc: enc, fps: fps}, nil
}

// Encoder returns the underlying encoder.
func (r *Reader) Encoder() *Encoder { return r.enc }

// ReadFrame waits for the next picture and encodes it. It never returns a
// dropped (empty) frame: it reads on until the encoder emits one.
func (r *Reader) ReadFrame() (Frame, time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		img, release, err := r.src.Read()
		if err != nil {
			return Frame{}, 0, err
		}
		now := time.Now()
		yuv, ok := img.(*image.YCbCr)
		if !ok {
			release()
			return Frame{}, 0, fmt.Errorf("vp8: converter returned %T", img)
		}
		if r.OnPicture != nil {
			r.OnPicture(yuv)
		}
		// Timestamps follow the real capture clock so that CBR budgets
		// match a camera that delivers fewer frames than nominal.
		var pts, dur int64
		if r.n == 0 {
			r.t0 = now
			dur = int64(TimebaseHz / r.fps)
		} else {
			pts = now.Sub(r.t0).Nanoseconds() * TimebaseHz / int64(time.Second)
			if pts <= r.last {
				pts = r.last + 1
			}
			dur = min(pts-r.last, TimebaseHz)
		}
		r.n++
		r.last = pts
		f, err := r.enc.Encode(yuv, pts, dur)
		release()
		if err != nil {
			return Frame{}, 0, err
		}
		if f.Data == nil {
			continue
		}
		return f, time.Duration(dur) * time.Second / TimebaseHz, nil
	}
}

// Read implements codec.ReadCloser.
func (r *Reader) Read() ([]byte, func(), error) {
	f, _, err := r.ReadFrame()
	if err != nil {
		return nil, func() {}, err
	}
	return f.Data, func() {}, nil
}

// Close releases the encoder. It does not close the picture source.
func (r *Reader) Close() error { return r.enc.Close() }

// Controller implements codec.Controllable.
func (r *Reader) Controller() codec.EncoderController { return r }

// ForceKeyFrame implements codec.KeyFrameController without blocking.
func (r *Reader) ForceKeyFrame() error { return r.enc.ForceKeyFrame() }

// SetBitRate implements codec.BitRateController without blocking.
func (r *Reader) SetBitRate(bps int) error { return r.enc.SetBitRate(bps) }

var (
	_ codec.VideoEncoderBuilder = (*Params)(nil)
	_ codec.ReadCloser          = (*Reader)(nil)
	_ codec.KeyFrameController  = (*Reader)(nil)
	_ codec.BitRateController   = (*Reader)(nil)
	_ io.Closer                 = (*Reader)(nil)
)
