// Command icongen draws Sotto's application icon, assets/icon.png: a speech
// bubble on a deep teal rounded square, with a keyhole cut into the bubble
// (a conversation that stays between its members).
//
// Run from the repository root: go run ./assets/icongen
// (the app package's go:generate also writes its embedded copy with -o).
package main

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

// size is the icon's edge in pixels; desktop packagers scale it down.
const size = 512

func main() {
	out := flag.String("o", "assets/icon.png", "output PNG file")
	flag.Parse()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // supersampling per axis, for smooth edges
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := (float64(x) + (float64(sx)+0.5)/ss) / size
					py := (float64(y) + (float64(sy)+0.5)/ss) / size
					c := shade(px, py)
					r += float64(c.R) * float64(c.A) / 255
					g += float64(c.G) * float64(c.A) / 255
					b += float64(c.B) * float64(c.A) / 255
					a += float64(c.A)
				}
			}
			n := float64(ss * ss)
			if a == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(math.Round(r * 255 / a)),
				G: uint8(math.Round(g * 255 / a)),
				B: uint8(math.Round(b * 255 / a)),
				A: uint8(math.Round(a / n)),
			})
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// shade returns the colour at (x, y) in unit coordinates.
func shade(x, y float64) color.NRGBA {
	if !inRoundRect(x, y, 0.03, 0.03, 0.97, 0.97, 0.2) {
		return color.NRGBA{}
	}
	// Background: a vertical gradient of deep teal.
	t := y
	bg := color.NRGBA{
		R: uint8(10 + 10*t),
		G: uint8(92 - 40*t),
		B: uint8(102 - 30*t),
		A: 255,
	}
	white := color.NRGBA{R: 246, G: 244, B: 236, A: 255}
	inBubble := inEllipse(x, y, 0.5, 0.46, 0.33, 0.26) ||
		inTriangle(x, y, 0.30, 0.62, 0.44, 0.68, 0.24, 0.82)
	if !inBubble {
		return bg
	}
	// Keyhole: a circle over a tapering slot.
	if inEllipse(x, y, 0.5, 0.41, 0.065, 0.065) ||
		inTriangle(x, y, 0.5, 0.40, 0.44, 0.58, 0.56, 0.58) {
		return bg
	}
	return white
}

func inEllipse(x, y, cx, cy, rx, ry float64) bool {
	dx, dy := (x-cx)/rx, (y-cy)/ry
	return dx*dx+dy*dy <= 1
}

func inRoundRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Min(math.Max(x, x0+r), x1-r)
	cy := math.Min(math.Max(y, y0+r), y1-r)
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy <= r*r
}

func inTriangle(x, y, ax, ay, bx, by, cx, cy float64) bool {
	d1 := (x-bx)*(ay-by) - (ax-bx)*(y-by)
	d2 := (x-cx)*(by-cy) - (bx-cx)*(y-cy)
	d3 := (x-ax)*(cy-ay) - (cx-ax)*(y-ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}
