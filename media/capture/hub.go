package capture

// A mediadevices driver can be opened once per process, but one process may
// need a device several times (the app's preview and its meeting; a test
// running three synthetic participants). A hub opens the driver once and
// fans its output out to subscribers:
//
//  1. pump goroutine: read a picture/chunk from the driver reader
//  2. convert pictures to I420 (and scale synthetic ones to the asked size)
//  3. call preview taps / update the microphone level
//  4. hand a copy to every subscriber's one-slot mailbox (pictures) or
//     bounded queue (audio chunks), dropping the oldest when a reader lags
//
// The hub closes the driver when its last subscriber leaves.

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

var (
	hubsMu sync.Mutex
	hubs   = map[string]*hub{} // by driver ID
)

// picture is one captured I420 picture with its capture time.
type picture struct {
	img *image.YCbCr
	at  time.Time
}

// chunk is one captured audio chunk (shared read-only between subscribers).
type chunk struct {
	audio wave.Audio
	at    time.Time
}

type hub struct {
	drv   driver.Driver
	media prop.Media // negotiated properties
	video bool

	mu      sync.Mutex
	subs    map[*sub]struct{}
	refs    int
	err     error
	taps    map[int]func(image.Image)
	nextTap int
	level   atomic.Uint64 // float64 bits: RMS of the last audio chunk

	// requested output size for scaled (synthetic) video, 0 = as captured.
	scaleW, scaleH int

	pumpDone chan struct{} // closed when the pump goroutine returns
	retired  chan struct{} // closed when the hub left the registry and closed its driver
}

type sub struct {
	h    *hub
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	ready   chan struct{} // signalled when a picture is pending
	pending *picture
	free    []*image.YCbCr

	chunks chan chunk // audio
	// lastAt is the capture time (unix ns) of the last chunk read.
	lastAt atomic.Int64
}

const audioQueue = 16 // chunks (320 ms at 20 ms) before dropping the oldest

// acquireHub opens drv (or joins its running hub) and subscribes. A hub
// whose last subscriber is just leaving is waited for (until it has closed
// the driver), then reopened.
func acquireHub(drv driver.Driver, want prop.MediaConstraints, isVideo bool, scaleW, scaleH int) (*hub, *sub, error) {
	deadline := time.NewTimer(2 * stopWait)
	defer deadline.Stop()
	for {
		h, s, err := tryAcquire(drv, want, isVideo, scaleW, scaleH)
		if !errors.Is(err, errRetiring) {
			return h, s, err
		}
		select {
		case <-h.retired: // the driver is closed: open it again
		case <-deadline.C:
			return nil, nil, err
		}
	}
}

// errRetiring reports a hub that is being closed.
var errRetiring = errors.New("capture: device is closing")

func tryAcquire(drv driver.Driver, want prop.MediaConstraints, isVideo bool, scaleW, scaleH int) (*hub, *sub, error) {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	h := hubs[drv.ID()]
	if h == nil {
		var err error
		h, err = startHub(drv, want, isVideo, scaleW, scaleH)
		if err != nil {
			return nil, nil, err
		}
		hubs[drv.ID()] = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h, nil, errRetiring
	}
	s := &sub{h: h, done: make(chan struct{}), ready: make(chan struct{}, 1), chunks: make(chan chunk, audioQueue)}
	h.subs[s] = struct{}{}
	h.refs++
	return h, s, nil
}

func startHub(drv driver.Driver, want prop.MediaConstraints, isVideo bool, scaleW, scaleH int) (*hub, error) {
	if drv.Status() != driver.StateClosed {
		return nil, fmt.Errorf("capture: device busy (%s)", drv.Status())
	}
	if err := drv.Open(); err != nil {
		return nil, fmt.Errorf("capture: opening device: %w", err)
	}
	media, err := choose(drv.Properties(), want)
	if err != nil {
		drv.Close()
		return nil, err
	}
	h := &hub{drv: drv, media: media, video: isVideo, subs: map[*sub]struct{}{}, taps: map[int]func(image.Image){},
		scaleW: scaleW, scaleH: scaleH, pumpDone: make(chan struct{}), retired: make(chan struct{})}
	if isVideo {
		rec, ok := drv.(driver.VideoRecorder)
		if !ok {
			drv.Close()
			return nil, errors.New("capture: device does not record video")
		}
		r, err := rec.VideoRecord(media)
		if err != nil {
			return nil, fmt.Errorf("capture: starting video: %w", err)
		}
		go h.pumpVideo(video.ToI420(r))
	} else {
		rec, ok := drv.(driver.AudioRecorder)
		if !ok {
			drv.Close()
			return nil, errors.New("capture: device does not record audio")
		}
		r, err := rec.AudioRecord(media)
		if err != nil {
			return nil, fmt.Errorf("capture: starting audio: %w", err)
		}
		go h.pumpAudio(r.Read)
	}
	return h, nil
}

// choose applies mediadevices' fitness distance to pick the driver
// property closest to the wanted constraints, as GetUserMedia does.
func choose(props []prop.Media, want prop.MediaConstraints) (prop.Media, error) {
	best, bestDist := -1, math.Inf(1)
	for i, p := range props {
		d, ok := want.FitnessDistance(p)
		if ok && d < bestDist {
			best, bestDist = i, d
		}
	}
	if best < 0 {
		return prop.Media{}, errors.New("capture: device offers no suitable format")
	}
	var m prop.Media
	m.MergeConstraints(want)
	m.Merge(props[best])
	return m, nil
}

// release unsubscribes s; the last subscriber closes the driver.
func (s *sub) release() {
	s.once.Do(func() {
		close(s.done)
		h := s.h
		h.mu.Lock()
		delete(h.subs, s)
		h.refs--
		last := h.refs == 0
		if last && h.err == nil {
			h.err = io.EOF
		}
		h.mu.Unlock()
		if last {
			h.retire(false)
		}
	})
}

// stopWait bounds how long closing waits for the pump to come back from
// the driver's Read (normally one capture period).
const stopWait = 500 * time.Millisecond

// retire unregisters the hub and closes its driver, once: whoever removes
// the hub from the registry closes the driver, so a failed hub's late
// subscribers never close a driver that a newer hub reopened.
//
// Unless called by the pump itself, it first waits for the pump to leave
// the driver's Read (h.err is already set, so the pump stops after it):
// mediadevices' drivers are not safe to close during a Read (the
// microphone driver races on its chunk channel; the synthetic video
// driver would leave the Read blocked forever on its stopped ticker).
func (h *hub) retire(fromPump bool) {
	hubsMu.Lock()
	defer hubsMu.Unlock() // held while closing: a new Open waits for it
	if hubs[h.drv.ID()] != h {
		return
	}
	delete(hubs, h.drv.ID())
	if !fromPump {
		select {
		case <-h.pumpDone:
		case <-time.After(stopWait):
		}
	}
	h.drv.Close()
	close(h.retired)
}

// fail ends the hub after a source error: subscribers see err, and the
// device is released at once so that it can be opened again.
func (h *hub) fail(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	for s := range h.subs {
		s.signal()
	}
	h.mu.Unlock()
	h.retire(true)
}

func (h *hub) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *hub) addTap(f func(image.Image)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextTap
	h.nextTap++
	h.taps[id] = f
	return func() {
		h.mu.Lock()
		delete(h.taps, id)
		h.mu.Unlock()
	}
}

func (h *hub) pumpVideo(r video.Reader) {
	defer close(h.pumpDone)
	var scaled *image.YCbCr
	for {
		img, release, err := r.Read()
		if err != nil {
			h.fail(fmt.Errorf("capture: video source ended: %w", err))
			return
		}
		at := time.Now()
		yuv, ok := img.(*image.YCbCr)
		if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			release()
			h.fail(fmt.Errorf("capture: unexpected picture type %T", img))
			return
		}
		if h.scaleW > 0 && h.scaleH > 0 && (yuv.Rect.Dx() != h.scaleW || yuv.Rect.Dy() != h.scaleH) {
			scaled = scaleI420(scaled, yuv, h.scaleW, h.scaleH)
			yuv = scaled
		}
		h.mu.Lock()
		if h.err != nil {
			h.mu.Unlock()
			release()
			return
		}
		for _, tap := range h.taps {
			tap(yuv)
		}
		for s := range h.subs {
			s.put(yuv, at)
		}
		h.mu.Unlock()
		release()
	}
}

func (h *hub) pumpAudio(read func() (wave.Audio, func(), error)) {
	defer close(h.pumpDone)
	for {
		// The chunk is shared read-only with every subscriber, so it is
		// never handed back to the driver for reuse (no release call).
		a, _, err := read()
		if err != nil {
			h.fail(fmt.Errorf("capture: audio source ended: %w", err))
			return
		}
		at := time.Now()
		h.level.Store(math.Float64bits(rms(a)))
		h.mu.Lock()
		if h.err != nil {
			h.mu.Unlock()
			return
		}
		for s := range h.subs {
			s.putAudio(chunk{audio: a, at: at})
		}
		h.mu.Unlock()
	}
}

func (h *hub) audioLevel() float64 { return math.Float64frombits(h.level.Load()) }

func (s *sub) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// put copies img into the subscriber's mailbox, replacing an unread one.
func (s *sub) put(img *image.YCbCr, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dst *image.YCbCr
	if s.pending != nil {
		dst = s.pending.img // unread: overwrite it (the reader lags)
	} else if n := len(s.free); n > 0 {
		dst = s.free[n-1]
		s.free = s.free[:n-1]
	}
	dst = copyI420(dst, img)
	s.pending = &picture{img: dst, at: at}
	s.signal()
}

// next waits for a picture. The caller returns it with recycle.
func (s *sub) next() (*picture, error) {
	for {
		s.mu.Lock()
		p := s.pending
		s.pending = nil
		s.mu.Unlock()
		if p != nil {
			return p, nil
		}
		if err := s.h.failed(); err != nil {
			return nil, err
		}
		select {
		case <-s.ready:
		case <-s.done:
			return nil, io.EOF
		}
	}
}

func (s *sub) recycle(p *picture) {
	s.mu.Lock()
	if len(s.free) < 2 {
		s.free = append(s.free, p.img)
	}
	s.mu.Unlock()
}

func (s *sub) putAudio(c chunk) {
	for {
		select {
		case s.chunks <- c:
			return
		default:
		}
		select { // full: drop the oldest
		case <-s.chunks:
		default:
		}
	}
}

// readAudio is an audio.Reader over the subscriber's queue.
func (s *sub) readAudio() (wave.Audio, func(), error) {
	select {
	case c := <-s.chunks:
		s.lastAt.Store(c.at.UnixNano())
		return c.audio, func() {}, nil
	case <-s.done:
		return nil, func() {}, io.EOF
	default:
	}
	for {
		if err := s.h.failed(); err != nil {
			return nil, func() {}, err
		}
		select {
		case c := <-s.chunks:
			s.lastAt.Store(c.at.UnixNano())
			return c.audio, func() {}, nil
		case <-s.done:
			return nil, func() {}, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// copyI420 copies src into dst (reallocated when the size differs).
func copyI420(dst, src *image.YCbCr) *image.YCbCr {
	r := src.Rect
	w, h := r.Dx(), r.Dy()
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	cw, ch := (w+1)/2, (h+1)/2
	for y := 0; y < h; y++ {
		so := src.YOffset(r.Min.X, r.Min.Y+y)
		copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src.Y[so:so+w])
	}
	for y := 0; y < ch; y++ {
		so := src.COffset(r.Min.X, r.Min.Y+2*y)
		copy(dst.Cb[y*dst.CStride:y*dst.CStride+cw], src.Cb[so:so+cw])
		copy(dst.Cr[y*dst.CStride:y*dst.CStride+cw], src.Cr[so:so+cw])
	}
	return dst
}

// scaleI420 resizes src to w×h by nearest neighbour (used to give the
// 640×480 synthetic pattern the size a test or demo asks for).
func scaleI420(dst, src *image.YCbCr, w, h int) *image.YCbCr {
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	sr := src.Rect
	sw, sh := sr.Dx(), sr.Dy()
	xs := make([]int, w)
	for x := range xs {
		xs[x] = x * sw / w
	}
	for y := 0; y < h; y++ {
		row := src.Y[src.YOffset(sr.Min.X, sr.Min.Y+y*sh/h):]
		d := dst.Y[y*dst.YStride:]
		for x := 0; x < w; x++ {
			d[x] = row[xs[x]]
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	for y := 0; y < ch; y++ {
		sy := sr.Min.Y + (2*y)*sh/h
		so := src.COffset(sr.Min.X, sy)
		db, dr := dst.Cb[y*dst.CStride:], dst.Cr[y*dst.CStride:]
		for x := 0; x < cw; x++ {
			o := so + xs[min(2*x, w-1)]/2
			db[x] = src.Cb[o]
			dr[x] = src.Cr[o]
		}
	}
	return dst
}

// rms returns the root mean square of a chunk's samples, 0…1 of full scale.
func rms(a wave.Audio) float64 {
	var sum float64
	var n int
	switch b := a.(type) {
	case *wave.Float32Interleaved:
		for _, v := range b.Data {
			sum += float64(v) * float64(v)
		}
		n = len(b.Data)
	case *wave.Int16Interleaved:
		for _, v := range b.Data {
			f := float64(v) / 32768
			sum += f * f
		}
		n = len(b.Data)
	default:
		info := a.ChunkInfo()
		for i := 0; i < info.Len; i++ {
			for c := 0; c < info.Channels; c++ {
				f := float64(wave.Float32SampleFormat.Convert(a.At(i, c)).(wave.Float32Sample))
				sum += f * f
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}
