// Package apptest holds small stand-ins for the parts of the desktop app
// that Fyne's test driver cannot run for real (relay connection, media
// engine, capture devices). Link parsing stays real: the fake connector
// parses invites with crypto/meeting.
package apptest

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
	"time"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/crypto/meeting"
)

// ParseInvite parses a link with the real meeting link parser.
func ParseInvite(link string) (app.Invite, error) {
	l, err := meeting.ParseLink(link)
	if err != nil {
		return app.Invite{}, err
	}
	return app.Invite{Link: link, Relay: l.Relay, HostFingerprint: fmt.Sprintf("%x", l.HostFingerprint)}, nil
}

// Connector hands out one Meeting for Host and Join and records requests.
type Connector struct {
	Meeting *Meeting
	// Err, if set, is returned by Host and Join.
	Err error

	mu    sync.Mutex
	hosts []app.HostRequest
	joins []app.JoinRequest
}

// NewConnector returns a connector whose meetings are m.
func NewConnector(m *Meeting) *Connector { return &Connector{Meeting: m} }

// ParseInvite implements app.Connector with the real parser.
func (c *Connector) ParseInvite(link string) (app.Invite, error) { return ParseInvite(link) }

// Host implements app.Connector.
func (c *Connector) Host(ctx context.Context, req app.HostRequest) (app.Meeting, error) {
	c.mu.Lock()
	c.hosts = append(c.hosts, req)
	c.mu.Unlock()
	if c.Err != nil {
		return nil, c.Err
	}
	return c.Meeting, nil
}

// Join implements app.Connector.
func (c *Connector) Join(ctx context.Context, req app.JoinRequest) (app.Meeting, error) {
	c.mu.Lock()
	c.joins = append(c.joins, req)
	c.mu.Unlock()
	if c.Err != nil {
		return nil, c.Err
	}
	return c.Meeting, nil
}

// Joins returns the join requests so far.
func (c *Connector) Joins() []app.JoinRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]app.JoinRequest(nil), c.joins...)
}

// Hosts returns the host requests so far.
func (c *Connector) Hosts() []app.HostRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]app.HostRequest(nil), c.hosts...)
}

// Meeting is a scripted meeting: tests push events and frames into it and
// read back the calls the UI made.
type Meeting struct {
	Link string
	Code app.SecurityCode
	// Self is this user's member ID ("self" when empty), as in the
	// scripted rosters' Self entry.
	Self string

	events chan app.Event
	video  chan app.VideoFrame

	mu    sync.Mutex
	calls []string
	once  sync.Once
}

// NewMeeting returns a meeting with buffered event and video channels.
func NewMeeting() *Meeting {
	return &Meeting{
		events: make(chan app.Event, 64),
		video:  make(chan app.VideoFrame, 64),
	}
}

// Emit sends an event to the app.
func (m *Meeting) Emit(ev app.Event) { m.events <- ev }

// Frame sends a decoded frame to the app.
func (m *Meeting) Frame(member string, img image.Image) {
	m.video <- app.VideoFrame{Member: member, Image: img}
}

// Calls returns the operations the UI invoked, as "Admit id" etc.
func (m *Meeting) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func (m *Meeting) record(format string, args ...any) error {
	m.mu.Lock()
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
	m.mu.Unlock()
	return nil
}

// Events implements app.Meeting.
func (m *Meeting) Events() <-chan app.Event { return m.events }

// Video implements app.Meeting.
func (m *Meeting) Video() <-chan app.VideoFrame { return m.video }

// SessionID implements app.Meeting.
func (m *Meeting) SessionID() string {
	if m.Self == "" {
		return "self"
	}
	return m.Self
}

// InviteLink implements app.Meeting.
func (m *Meeting) InviteLink() string { return m.Link }

// SecurityCode implements app.Meeting.
func (m *Meeting) SecurityCode() app.SecurityCode { return m.Code }

// Admit implements app.Meeting.
func (m *Meeting) Admit(id string) error { return m.record("Admit %s", id) }

// Deny implements app.Meeting.
func (m *Meeting) Deny(id string) error { return m.record("Deny %s", id) }

// Remove implements app.Meeting.
func (m *Meeting) Remove(id string) error { return m.record("Remove %s", id) }

// HandOver implements app.Meeting.
func (m *Meeting) HandOver(id string) error { return m.record("HandOver %s", id) }

// SendChat implements app.Meeting.
func (m *Meeting) SendChat(text string) error { return m.record("SendChat %s", text) }

// SetMicrophone implements app.Meeting.
func (m *Meeting) SetMicrophone(on bool) error { return m.record("SetMicrophone %v", on) }

// SetCamera implements app.Meeting.
func (m *Meeting) SetCamera(on bool) error { return m.record("SetCamera %v", on) }

// SetScreenShare implements app.Meeting.
func (m *Meeting) SetScreenShare(on bool) error { return m.record("SetScreenShare %v", on) }

// Leave implements app.Meeting: it closes the event and video channels.
func (m *Meeting) Leave() {
	m.record("Leave")
	m.once.Do(func() {
		close(m.events)
		close(m.video)
	})
}

// Devices offers one synthetic camera, microphone and speaker.
type Devices struct{}

// Cameras implements app.Devices.
func (Devices) Cameras() []app.Device { return []app.Device{{ID: "cam0", Label: "Test camera"}} }

// Microphones implements app.Devices.
func (Devices) Microphones() []app.Device {
	return []app.Device{{ID: "mic0", Label: "Test microphone"}}
}

// Speakers implements app.Devices.
func (Devices) Speakers() []app.Device { return []app.Device{{ID: "spk0", Label: "Test speaker"}} }

// Preview implements app.Devices with a moving test pattern at 10 frames
// a second.
func (Devices) Preview(ctx context.Context, cameraID string, q app.Quality) (<-chan image.Image, error) {
	w, h := q.Size()
	return every(ctx, 100*time.Millisecond, func(i int) image.Image { return Pattern(w, h, i) }), nil
}

// Level implements app.Devices with a slow sine.
func (Devices) Level(ctx context.Context, micID string) (<-chan float64, error) {
	return every(ctx, 50*time.Millisecond, func(i int) float64 { return 0.5 + 0.5*math.Sin(float64(i)/5) }), nil
}

// every sends next(0), next(1), … once per period until ctx ends, dropping
// a value the reader has not taken yet, as a live device would.
func every[T any](ctx context.Context, period time.Duration, next func(i int) T) <-chan T {
	ch := make(chan T, 1)
	go func() {
		defer close(ch)
		t := time.NewTicker(period)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case ch <- next(i):
			default:
			}
		}
	}()
	return ch
}

// Pattern returns a w×h YCbCr test picture whose content moves with i, the
// kind of frame the VP8 decoder produces.
func Pattern(w, h, i int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x + y + 4*i) % 256)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			img.Cb[y*img.CStride+x] = uint8((x*2 + i) % 256)
			img.Cr[y*img.CStride+x] = uint8((y*2 + 3*i) % 256)
		}
	}
	return img
}

// Solid returns a w×h picture of one colour.
func Solid(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		r, g, b, a := c.RGBA()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
	}
	return img
}
