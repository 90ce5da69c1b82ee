package screentest

// Report is the state a `-tags uireport` build of the app writes to
// $SOTTO_UI_REPORT (app.Report and the UI delay, report.go at the module
// root), as the real-window tests read it.
type Report struct {
	Screen     string   `json:"screen"`
	Title      string   `json:"title"`
	Tiles      []Tile   `json:"tiles"`
	Alerts     []string `json:"alerts"`
	Unverified int      `json:"unverified"`
	// UIDelayMillis is how long the UI thread took to pick up the report
	// request.
	UIDelayMillis float64 `json:"ui_delay_ms"`
}

// Tile is one video tile; X, Y, W, H are in canvas pixels.
type Tile struct {
	Member      string `json:"member"`
	Self        bool   `json:"self"`
	Shown       uint64 `json:"shown"`
	Offered     uint64 `json:"offered"`
	Placeholder bool   `json:"placeholder"`
	X           int    `json:"x"`
	Y           int    `json:"y"`
	W           int    `json:"w"`
	H           int    `json:"h"`
}

// RemoteLive reports whether n remote tiles of a meeting have shown at
// least frames decoded pictures each.
func RemoteLive(n int, frames uint64) func(Report) bool {
	return func(r Report) bool {
		if r.Screen != "meeting" {
			return false
		}
		live := 0
		for _, tl := range r.Tiles {
			if !tl.Self && !tl.Placeholder && tl.Shown >= frames {
				live++
			}
		}
		return live >= n
	}
}

// FramesSince reports whether every remote tile of before has shown at
// least n more frames.
func FramesSince(before Report, n uint64) func(Report) bool {
	return func(r Report) bool {
		shown := map[string]uint64{}
		for _, tl := range r.Tiles {
			shown[tl.Member] = tl.Shown
		}
		for _, tl := range before.Tiles {
			if !tl.Self && shown[tl.Member] < tl.Shown+n {
				return false
			}
		}
		return true
	}
}

// SameLayout reports whether two reports place the same tiles alike.
func SameLayout(a, b Report) bool {
	if len(a.Tiles) != len(b.Tiles) {
		return false
	}
	for i := range a.Tiles {
		p, q := a.Tiles[i], b.Tiles[i]
		if p.Member != q.Member || p.X != q.X || p.Y != q.Y || p.W != q.W || p.H != q.H {
			return false
		}
	}
	return true
}
