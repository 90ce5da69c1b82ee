package lipsync_test

import (
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/sottohq/sotto/media/lipsync"
)

// The hold stage copies every picture once (the decoder reuses its own).
// Baseline in the same run: an allocating copy of the picture, as the
// call's delivery to the GUI makes for every picture anyway.
func BenchmarkQueuePush(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {1280, 720}} {
		img := image.NewYCbCr(image.Rectangle{Max: size}, image.YCbCrSubsampleRatio420)
		name := fmt.Sprintf("%dx%d", size.X, size.Y)
		b.Run("hold/"+name, func(b *testing.B) {
			done := make(chan struct{}, 1)
			q := lipsync.NewQueue(func(*image.YCbCr) { done <- struct{}{} }, 0)
			defer q.Close()
			b.ReportAllocs()
			for b.Loop() {
				q.Push(img, time.Time{}) // due at once: copy, hand over, render
				<-done
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/picture")
		})
		b.Run("baseline-clone/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var sink *image.YCbCr
			for b.Loop() {
				c := *img
				c.Y = append([]byte(nil), img.Y...)
				c.Cb = append([]byte(nil), img.Cb...)
				c.Cr = append([]byte(nil), img.Cr...)
				sink = &c
			}
			_ = sink
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/picture")
		})
	}
}
