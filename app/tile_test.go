package app

import (
	"image"
	"image/draw"
	"testing"
	"testing/synctest"
	"time"
)

// pattern is a 640×480 4:2:0 picture like the VP8 decoder's output.
func pattern() *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i*3), uint8(i*5)
	}
	return img
}

// BenchmarkTileConvert is stage 3 of the tile pipeline: the per-frame work
// done off the UI thread (4:2:0 to RGBA into a reused buffer).
func BenchmarkTileConvert(b *testing.B) {
	src := pattern()
	t := &videoTile{}
	b.SetBytes(640 * 480 * 4)
	for b.Loop() {
		t.convert(src)
	}
}

// BenchmarkTileConvertScaled is the same stage for a tile smaller than the
// picture (384×288 pixels on screen, as in a 2×2 grid): the usual case.
func BenchmarkTileConvertScaled(b *testing.B) {
	src := pattern()
	t := &videoTile{}
	t.pxW.Store(384)
	t.pxH.Store(288)
	b.SetBytes(640 * 480 * 4)
	for b.Loop() {
		t.convert(src)
	}
}

// BenchmarkTileConvertDrawBaseline converts with image/draw's YCbCr fast
// path: the standard library's conversion, for comparison.
func BenchmarkTileConvertDrawBaseline(b *testing.B) {
	src := pattern()
	dst := image.NewRGBA(src.Rect)
	b.SetBytes(640 * 480 * 4)
	for b.Loop() {
		draw.Draw(dst, dst.Rect, src, image.Point{}, draw.Src)
	}
}

// BenchmarkTileConvertBaseline is the floor for the same bytes: copying an
// RGBA picture of the same size.
func BenchmarkTileConvertBaseline(b *testing.B) {
	src := image.NewRGBA(image.Rect(0, 0, 640, 480))
	dst := image.NewRGBA(image.Rect(0, 0, 640, 480))
	b.SetBytes(640 * 480 * 4)
	for b.Loop() {
		copy(dst.Pix, src.Pix)
	}
}

func TestTileConvertMatchesColorModel(t *testing.T) {
	src := pattern()
	tile := &videoTile{}
	dst := tile.convert(src)
	for _, p := range []image.Point{{0, 0}, {17, 33}, {639, 479}, {320, 240}} {
		r1, g1, b1, _ := src.At(p.X, p.Y).RGBA()
		r2, g2, b2, _ := dst.At(p.X, p.Y).RGBA()
		if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
			t.Fatalf("pixel %v: %d,%d,%d want %d,%d,%d", p, r2>>8, g2>>8, b2>>8, r1>>8, g1>>8, b1>>8)
		}
	}
	// Scaled to a smaller tile: aspect kept, pixels sampled exactly.
	tile.pxW.Store(320)
	tile.pxH.Store(400)
	small := tile.convert(src)
	if small.Rect.Dx() != 320 || small.Rect.Dy() != 240 {
		t.Fatalf("scaled to %v, want 320×240", small.Rect)
	}
	r1, g1, b1, _ := src.At(34, 66).RGBA()
	r2, g2, b2, _ := small.At(17, 33).RGBA()
	if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
		t.Fatal("scaled pixel differs from its source pixel")
	}
	tile.pxW.Store(0)
	tile.pxH.Store(0)
	tile.convert(src)

	// The two buffers alternate, so the UI never sees a buffer being filled.
	if d2 := tile.convert(src); d2 == dst {
		t.Fatal("consecutive frames share a buffer")
	}
	if d3 := tile.convert(src); d3 != dst {
		t.Fatal("buffers are not reused")
	}
}

// Frames arriving faster than the display clock ticks are gathered: the
// UI thread gets at most one batch per tick, a tile puts at most one
// picture up per batch, the newest frame ends on screen, and a few buffers
// circulate, the one on screen never being refilled (the race detector
// checks the reads). The tile, its clock and the 200 fps source run in a
// synctest bubble, so ticks and frames interleave on the bubble's clock,
// not on how busy the machine is.
func TestTilePresentsOncePerTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 40 * time.Millisecond
		tile, c := clockedTile(t, every)
		src := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
		for i := range src.Cb {
			src.Cb[i], src.Cr[i] = 128, 128
		}
		onScreen := func() *image.RGBA {
			var pic *image.RGBA
			uiDoAndWait(func() { pic, _ = tile.img.Image.(*image.RGBA) })
			return pic
		}
		const frames = 60
		seen := map[*image.RGBA]bool{}
		start := time.Now()
		for i := range frames {
			frame := *src
			frame.Y = make([]byte, len(src.Y))
			for j := range frame.Y {
				frame.Y[j] = uint8(i + 1)
			}
			tile.offer(&frame)
			time.Sleep(5 * time.Millisecond) // the next frame of a 200 fps source
			// What is on screen is one whole frame (each frame is
			// uniform), whatever the tile goroutine is filling meanwhile.
			if pic := onScreen(); pic != nil {
				seen[pic] = true
				for j := 0; j < len(pic.Pix); j += 4 {
					if pic.Pix[j] != pic.Pix[0] {
						t.Fatal("the picture on screen mixes two frames")
					}
				}
			}
		}
		// Once frames stop, the queued pictures go up one per tick: the
		// newest is on screen after maxQueued ticks.
		time.Sleep(maxQueued * every)
		synctest.Wait()
		if pic := onScreen(); pic == nil || pic.Pix[0] != frames {
			t.Fatalf("the last frame is not on screen %d ticks after it came", maxQueued)
		}
		elapsed := time.Since(start)
		c.mu.Lock()
		batches := c.ticks
		c.mu.Unlock()
		shown := tile.shown.Load()
		if max := uint64(elapsed / every); batches > max {
			t.Errorf("%d batches in %v, more than one per %v tick", batches, elapsed, every)
		}
		if shown > batches || shown == 0 {
			t.Errorf("%d pictures shown in %d batches", shown, batches)
		}
		if offered := tile.offered.Load(); offered != frames || shown >= offered {
			t.Errorf("offered %d, shown %d: frames were not gathered", offered, shown)
		}
		const maxBufs = maxQueued + 2 // on screen, queued, being filled
		tile.picMu.Lock()
		bufs := len(tile.spare) + len(tile.queued) + 1
		tile.picMu.Unlock()
		if bufs > maxBufs {
			t.Errorf("%d buffers in circulation, want at most %d", bufs, maxBufs)
		}
		if len(seen) > maxBufs {
			t.Errorf("%d distinct buffers went on screen, want at most %d", len(seen), maxBufs)
		}
		if !tile.live.Load() || tile.placeholder.Visible() {
			t.Error("the placeholder still shows after video")
		}
		t.Logf("%d frames offered, %d shown in %d batches over %v", frames, shown, batches, elapsed)
	})
}

// Two frames decoded back to back (a decoder that waited for the CPU) are
// both shown, in order, on consecutive ticks.
func TestTileSpreadsBurstOverTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 100 * time.Millisecond
		tile, _ := clockedTile(t, every)
		for i := range 2 {
			f := image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420)
			for j := range f.Y {
				f.Y[j] = uint8(100 + i)
			}
			for j := range f.Cb {
				f.Cb[j], f.Cr[j] = 128, 128
			}
			tile.offer(f)
			synctest.Wait() // the tile goroutine has converted it
			tile.picMu.Lock()
			n := len(tile.queued)
			tile.picMu.Unlock()
			if n != i+1 {
				t.Fatalf("%d pictures queued after frame %d, want %d", n, i, i+1)
			}
		}
		var order []uint8
		for range 2 {
			time.Sleep(every)
			synctest.Wait()
			uiDoAndWait(func() {
				if pic, ok := tile.img.Image.(*image.RGBA); ok {
					order = append(order, pic.Pix[0])
				}
			})
		}
		if len(order) != 2 || order[0] != 100 || order[1] != 101 || tile.shown.Load() != 2 {
			t.Fatalf("pictures on screen at two ticks %v (%d shown), want both frames in order", order, tile.shown.Load())
		}
	})
}

// The clock's goroutine ends when no picture came for clockIdleTicks ticks
// and starts again with the next one.
func TestDisplayClockStopsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 5 * time.Millisecond
		tile, c := clockedTile(t, every)
		running := func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.running
		}
		for round := range 2 {
			tile.offer(image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420))
			time.Sleep(every)
			synctest.Wait()
			if got := tile.shown.Load(); got != uint64(round+1) {
				t.Fatalf("round %d: %d pictures shown one tick after the frame, want %d", round, got, round+1)
			}
			if !running() {
				t.Fatalf("round %d: the clock stopped with a picture just shown", round)
			}
			time.Sleep(clockIdleTicks * every)
			synctest.Wait()
			if running() {
				t.Fatalf("round %d: the clock still runs after %d idle ticks", round, clockIdleTicks)
			}
		}
	})
}

// clockedTile makes a tile on its own display clock of period every, in
// the caller's synctest bubble. When the test ends it stops the tile and
// lets the clock's goroutine see clockIdleTicks empty ticks and end, as the
// bubble requires of its goroutines.
func clockedTile(t *testing.T, every time.Duration) (*videoTile, *displayClock) {
	c := &displayClock{every: every}
	tile := newVideoTile("m1", "Ana Example", false)
	tile.clock = c
	t.Cleanup(func() {
		tile.stop()
		time.Sleep((clockIdleTicks + 1) * every)
		synctest.Wait()
	})
	return tile, c
}

func TestGridShape(t *testing.T) {
	for _, c := range []struct {
		n          int
		w, h       float32
		cols, rows int
	}{
		{1, 800, 600, 1, 1}, {2, 800, 600, 2, 1}, {3, 800, 600, 2, 2}, {4, 800, 600, 2, 2},
		{5, 800, 600, 3, 2}, {9, 800, 600, 3, 3}, {2, 400, 900, 1, 2},
	} {
		cols, rows := gridShape(c.n, c.w, c.h)
		if cols != c.cols || rows != c.rows {
			t.Errorf("gridShape(%d, %v×%v) = %d×%d, want %d×%d", c.n, c.w, c.h, cols, rows, c.cols, c.rows)
		}
	}
}
