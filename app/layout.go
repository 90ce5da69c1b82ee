package app

import (
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// columnLayout centres its objects horizontally in a column at most width
// wide, stacked from the top with padding.
type columnLayout struct{ width float32 }

func (l *columnLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := min(l.width, size.Width-2*theme.Padding())
	x := (size.Width - w) / 2
	y := 4 * theme.Padding()
	for _, o := range objs {
		h := o.MinSize().Height
		o.Move(fyne.NewPos(x, y))
		o.Resize(fyne.NewSize(w, h))
		y += h + theme.Padding()
	}
}

func (l *columnLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := 4 * theme.Padding()
	w := float32(0)
	for _, o := range objs {
		m := o.MinSize()
		h += m.Height + theme.Padding()
		w = max(w, m.Width)
	}
	return fyne.NewSize(min(w, l.width), h)
}

// gridLayout arranges video tiles in the squarest grid that fits them,
// keeping a 4:3 aspect per cell where the space allows.
type gridLayout struct{}

// gridShape returns the columns and rows for n tiles in a w×h area.
func gridShape(n int, w, h float32) (cols, rows int) {
	if n <= 0 {
		return 1, 1
	}
	best, bestArea := 1, float32(-1)
	for c := 1; c <= n; c++ {
		r := int(math.Ceil(float64(n) / float64(c)))
		cw, ch := w/float32(c), h/float32(r)
		// Usable area of a 4:3 picture in this cell.
		pw, ph := cw, cw*3/4
		if ph > ch {
			ph, pw = ch, ch*4/3
		}
		if a := pw * ph; a >= bestArea { // ties go to more columns (landscape screens)
			best, bestArea = c, a
		}
	}
	return best, int(math.Ceil(float64(n) / float64(best)))
}

func (gridLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	n := len(objs)
	if n == 0 {
		return
	}
	cols, rows := gridShape(n, size.Width, size.Height)
	p := theme.Padding()
	cw := (size.Width - p*float32(cols-1)) / float32(cols)
	ch := (size.Height - p*float32(rows-1)) / float32(rows)
	for i, o := range objs {
		c, r := i%cols, i/cols
		o.Move(fyne.NewPos(float32(c)*(cw+p), float32(r)*(ch+p)))
		o.Resize(fyne.NewSize(cw, ch))
	}
}

func (gridLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	return fyne.NewSize(160, 120)
}
