package app

import (
	"image"
	"image/draw"
	"testing"
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
