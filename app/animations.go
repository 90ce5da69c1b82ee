package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// stopSpinners stops every infinite progress bar under o. Fyne's infinite
// bar animates from the moment the driver first measures or draws it,
// hidden or not, until its renderer is dropped about a minute after it was
// last seen; once it has been drawn, each step repaints the whole window,
// 60 times a second. A screen that goes away stops its bars with this.
func stopSpinners(o fyne.CanvasObject) {
	switch x := o.(type) {
	case *widget.ProgressBarInfinite:
		x.Stop()
	case *fyne.Container:
		for _, c := range x.Objects {
			stopSpinners(c)
		}
	case *container.Scroll:
		if x.Content != nil {
			stopSpinners(x.Content)
		}
	case *container.Split:
		stopSpinners(x.Leading)
		stopSpinners(x.Trailing)
	}
}
