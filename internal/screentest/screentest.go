// Package screentest compares screenshots of a real window: whether a
// region shows live video (it changed between two shots) rather than a
// placeholder (one flat colour). The Linux real-window test (main_test.go)
// and the Windows smoke test under Wine (build/windows/winesmoke) share it.
package screentest

import "image"

// ChangedFraction is the fraction of pixels in r that differ between a
// and b by more than compression noise.
func ChangedFraction(a, b image.Image, r image.Rectangle) float64 {
	changed, total := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			total++
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x0800 {
				changed++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(changed) / float64(total)
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// DominantShare returns the share of r's pixels (sampled on a 2-pixel
// grid, 4 bits per channel) that have r's most common colour. A placeholder
// is one flat colour behind an initial, so most of it is one colour; the
// demo's decoded test pattern is bars, a ramp and noise, none of which
// covers more than a fraction of the picture. Counting distinct colours
// instead does not separate the two: anti-aliased initials and heavily
// quantised video both land at a few dozen.
func DominantShare(img image.Image, r image.Rectangle) float64 {
	counts := map[uint32]int{}
	total, most := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			c := (cr>>12)<<8 | (cg>>12)<<4 | cb>>12
			counts[c]++
			most = max(most, counts[c])
			total++
		}
	}
	if total == 0 {
		return 1
	}
	return float64(most) / float64(total)
}
