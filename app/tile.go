package app

import (
	"image"
	"image/color"
	"image/draw"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Video tile pipeline (one per member):
//
//  1. the meeting's Video channel delivers decoded frames (the engine
//     decodes on its own goroutines);
//  2. the meeting screen's demultiplexer hands each frame to its tile's
//     one-slot mailbox, replacing a frame not yet taken (a slow screen
//     drops frames, never queues them);
//  3. the tile's goroutine converts the frame to RGBA (scaled to the
//     tile's pixel size) into a spare buffer, off the UI thread, and queues
//     it; the queue holds maxQueued pictures, dropping the oldest, so a
//     burst of frames is spread over the next ticks instead of lost;
//  4. the display clock (videoclock.go), once per tick for all tiles
//     together, swaps each tile's oldest queued picture into its image and
//     refreshes that image only, on the UI thread: the only UI-thread work
//     per frame, and at most one window repaint per tick.

// maxQueued is how many converted pictures a tile holds for the screen:
// two absorb the bursts of a decoder that got no CPU for a while, at the
// cost of at most one tick of extra delay.
const maxQueued = 2

// videoTile shows one member: live video, or a placeholder with initials
// until the first frame; name, verification badge and active-speaker ring.
type videoTile struct {
	widget.BaseWidget

	member string
	self   bool

	img         *canvas.Image
	placeholder *fyne.Container
	initials    *canvas.Text
	name        *widget.Label
	badge       *widget.Icon
	mic         *widget.Icon
	ring        *canvas.Rectangle
	speaking    bool // the ring shows (UI goroutine only)

	mailbox chan image.Image
	done    chan struct{}
	// bufs alternate for convert's callers that wait for the UI to take
	// each picture before converting the next (the lobby preview).
	bufs [2]*image.RGBA
	next int

	// Buffers circulate between the tile goroutine and the UI: one on
	// screen (img.Image, touched only on the UI thread), up to maxQueued
	// waiting, one being filled. The one being filled is never the one on
	// screen: that returns to spare only when replaced.
	picMu  sync.Mutex
	queued []*image.RGBA // converted, not yet on screen, oldest first
	spare  []*image.RGBA // free buffers
	clock  *displayClock

	// shown counts frames put on screen; live is set after the first.
	shown atomic.Uint64
	live  atomic.Bool
	// offered counts frames handed to the tile (shown + dropped).
	offered atomic.Uint64
	// pxW, pxH are the tile's size in pixels (0 before the first layout).
	pxW, pxH atomic.Int32
}

func newVideoTile(member, name string, self bool) *videoTile {
	t := &videoTile{
		member:  member,
		self:    self,
		mailbox: make(chan image.Image, 1),
		done:    make(chan struct{}),
		img:     canvas.NewImageFromImage(nil),
		name:    widget.NewLabel(""),
		badge:   widget.NewIcon(iconUnverified),
		mic:     widget.NewIcon(theme.VolumeUpIcon()),
		ring:    canvas.NewRectangle(color.Transparent),
		clock:   screenClock,
	}
	t.img.FillMode = canvas.ImageFillContain
	t.img.ScaleMode = canvas.ImageScaleFastest
	t.img.Hide()
	bg := canvas.NewRectangle(placeholderColor(member))
	bg.CornerRadius = 6
	t.initials = canvas.NewText(initials(name), color.White)
	t.initials.TextSize = 42
	t.initials.TextStyle.Bold = true
	t.placeholder = container.NewStack(bg, container.NewCenter(t.initials))
	t.ring.StrokeWidth = 4
	t.ring.CornerRadius = 6
	t.setName(name)
	t.ExtendBaseWidget(t)
	go t.run()
	return t
}

func (t *videoTile) CreateRenderer() fyne.WidgetRenderer {
	nameBg := canvas.NewRectangle(color.NRGBA{A: 0x90})
	nameBar := container.NewStack(nameBg, container.NewHBox(t.badge, t.name, t.mic))
	return widget.NewSimpleRenderer(container.NewStack(
		t.placeholder, t.img,
		container.NewBorder(nil, container.NewHBox(nameBar), nil, nil),
		t.ring,
	))
}

func (t *videoTile) MinSize() fyne.Size { return fyne.NewSize(160, 120) }

func (t *videoTile) setName(name string) {
	if t.self {
		name += " (you)"
	}
	t.name.SetText(name)
}

// setStatus shows the contact status badge.
func (t *videoTile) setStatus(st memberTrust) {
	t.badge.SetResource(st.icon())
}

func (t *videoTile) setMuted(m bool) {
	if m {
		t.mic.SetResource(theme.NewErrorThemedResource(theme.VolumeMuteIcon()))
	} else {
		t.mic.SetResource(theme.VolumeUpIcon())
	}
}

func (t *videoTile) setSpeaking(on bool) {
	if on == t.speaking {
		return // a refresh would repaint the window for nothing
	}
	t.speaking = on
	if on {
		t.ring.StrokeColor = theme.Color(theme.ColorNamePrimary)
	} else {
		t.ring.StrokeColor = color.Transparent
	}
	t.ring.Refresh()
}

// offer hands a frame to the tile, replacing one it has not taken yet.
// Safe from any goroutine; never blocks.
func (t *videoTile) offer(img image.Image) {
	t.offered.Add(1)
	select {
	case t.mailbox <- img:
		return
	default:
	}
	select {
	case <-t.mailbox:
	default:
	}
	select {
	case t.mailbox <- img:
	default:
	}
}

// stop ends the tile's goroutine.
func (t *videoTile) stop() {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}

func (t *videoTile) run() {
	for {
		var src image.Image
		select {
		case <-t.done:
			return
		case src = <-t.mailbox:
		}
		t.picMu.Lock()
		var dst *image.RGBA
		if n := len(t.spare); n > 0 {
			dst, t.spare = t.spare[n-1], t.spare[:n-1]
		}
		t.picMu.Unlock()
		dst = t.convertInto(dst, src)
		t.picMu.Lock()
		idle := len(t.queued) == 0
		if len(t.queued) == maxQueued {
			t.spare = append(t.spare, t.queued[0]) // dropped: never shown
			t.queued = append(t.queued[:0], t.queued[1:]...)
		}
		t.queued = append(t.queued, dst)
		t.picMu.Unlock()
		if idle {
			t.clock.mark(t)
		}
	}
}

// present puts the tile's oldest queued picture on screen, if it has one,
// and queues the tile for the next tick if more wait. Call on the UI
// goroutine.
func (t *videoTile) present() {
	t.picMu.Lock()
	if len(t.queued) == 0 {
		t.picMu.Unlock()
		return
	}
	pic := t.queued[0]
	t.queued = append(t.queued[:0], t.queued[1:]...)
	more := len(t.queued) > 0
	t.picMu.Unlock()
	if more {
		t.clock.mark(t)
	}
	if !t.live.Load() {
		t.placeholder.Hide()
		t.img.Show()
		t.live.Store(true)
	}
	old, _ := t.img.Image.(*image.RGBA)
	t.img.Image = pic
	t.img.Refresh()
	t.shown.Add(1)
	if old != nil {
		t.picMu.Lock()
		t.spare = append(t.spare, old)
		t.picMu.Unlock()
	}
}

// convert copies src into the next of two alternating buffers (see
// convertInto): for a caller that waits until the UI has taken each
// picture before converting the next.
func (t *videoTile) convert(src image.Image) *image.RGBA {
	dst := t.convertInto(t.bufs[t.next], src)
	t.bufs[t.next] = dst
	t.next ^= 1
	return dst
}

// convertInto copies src into dst (allocating a new buffer when dst is nil
// or of another size), scaled down (nearest neighbour) to the tile's size
// on screen when the picture is larger, so neither this stage nor the
// texture upload handles pixels nobody sees.
func (t *videoTile) convertInto(dst *image.RGBA, src image.Image) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := sw, sh
	if tw, th := int(t.pxW.Load()), int(t.pxH.Load()); tw > 0 && th > 0 && (sw > tw || sh > th) {
		// Fit inside the tile, keeping the aspect ratio.
		if sw*th > sh*tw {
			dw, dh = tw, max(1, sh*tw/sw)
		} else {
			dw, dh = max(1, sw*th/sh), th
		}
	}
	if dst == nil || dst.Rect.Dx() != dw || dst.Rect.Dy() != dh {
		dst = image.NewRGBA(image.Rect(0, 0, dw, dh))
	}
	if y, ok := src.(*image.YCbCr); ok {
		ycbcrToRGBA(dst, y)
	} else if dw == sw && dh == sh {
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Src)
	} else {
		for y := 0; y < dh; y++ {
			for x := 0; x < dw; x++ {
				dst.Set(x, y, src.At(b.Min.X+x*sw/dw, b.Min.Y+y*sh/dh))
			}
		}
	}
	return dst
}

// ycbcrToRGBA converts (and, when dst is smaller, samples) src into dst
// with the integer arithmetic of image/color.YCbCrToRGB, so the colours
// are exactly the standard library's.
func ycbcrToRGBA(dst *image.RGBA, src *image.YCbCr) {
	b := src.Rect
	sw, sh := b.Dx(), b.Dy()
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	xs := make([]int, dw)  // Y index within a row
	cxs := make([]int, dw) // chroma index within a row
	for x := range xs {
		sx := b.Min.X + x*sw/dw
		xs[x] = sx - b.Min.X
		cxs[x] = src.COffset(sx, b.Min.Y) - src.COffset(b.Min.X, b.Min.Y)
	}
	for y := 0; y < dh; y++ {
		sy := b.Min.Y + y*sh/dh
		yRow := src.Y[src.YOffset(b.Min.X, sy):]
		c0 := src.COffset(b.Min.X, sy)
		cbRow, crRow := src.Cb[c0:], src.Cr[c0:]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
		for x := 0; x < dw; x++ {
			yy1 := int32(yRow[xs[x]]) * 0x10101
			cb1 := int32(cbRow[cxs[x]]) - 128
			cr1 := int32(crRow[cxs[x]]) - 128
			r := yy1 + 91881*cr1
			g := yy1 - 22554*cb1 - 46802*cr1
			bl := yy1 + 116130*cb1
			o := out[4*x : 4*x+4 : 4*x+4]
			o[0], o[1], o[2], o[3] = clamp16(r), clamp16(g), clamp16(bl), 0xff
		}
	}
}

// clamp16 is image/color's rounding of a 16.16 fixed-point channel.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// Resize records the tile's size in pixels for convert.
func (t *videoTile) Resize(size fyne.Size) {
	t.BaseWidget.Resize(size)
	scale := float32(1)
	if c := fyne.CurrentApp().Driver().CanvasForObject(t); c != nil {
		scale = c.Scale()
	}
	t.pxW.Store(int32(size.Width * scale))
	t.pxH.Store(int32(size.Height * scale))
}

// initials returns up to two capital letters of name for the placeholder.
func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r := []rune(w)
		if len(r) > 0 && (unicode.IsLetter(r[0]) || unicode.IsDigit(r[0])) {
			out = append(out, unicode.ToUpper(r[0]))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// placeholderColor picks a stable muted colour per member.
func placeholderColor(id string) color.Color {
	var h uint32 = 2166136261
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	palette := []color.NRGBA{
		{0x2d, 0x4a, 0x5a, 0xff}, {0x4a, 0x3d, 0x5c, 0xff}, {0x3d, 0x5c, 0x45, 0xff},
		{0x5c, 0x45, 0x3d, 0xff}, {0x3d, 0x4e, 0x5c, 0xff}, {0x55, 0x4a, 0x2e, 0xff},
	}
	return palette[h%uint32(len(palette))]
}
