package app_test

import (
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

var shotDir = flag.String("screenshots", "", "write screen images into this directory (docs/screenshots)")

// TestScreens renders the main screens with the test driver's software
// painter and checks they are not blank; with -screenshots it saves them
// for the documentation.
func TestScreens(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	m.Link = validLink(t)
	m.Code = app.SecurityCode{Digits: "31415 92653 58979", Words: []string{"amber", "falcon", "river", "quiet", "lantern", "moss"}}
	a := newApp(t, t.TempDir(), m)
	test.ApplyTheme(t, theme.DefaultTheme())
	a.Window().Resize(fyne.NewSize(1100, 720))
	shot(t, a, "first-run")
	createIdentity(t, a, "Ada", "correct horse")
	shot(t, a, "home")

	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	eventually(t, "camera preview", func() bool { return a.LobbyView().PreviewFrames() > 0 })
	shot(t, a, "lobby")
	tap(a.LobbyView().Back)

	mv := hostMeeting(t, a, m)
	bob, eve := newPeer(t), newPeer(t)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: bob}}})
	m.Emit(app.WaitingChanged{Joiners: []app.Joiner{{ID: "eve", Name: "Eve", Public: eve}}})
	eventually(t, "waiting room", func() bool { return len(mv.Waiting.Objects) == 1 && mv.TileShown("bob") == 0 })
	for i := range 3 {
		m.Frame("bob", apptest.Pattern(320, 240, i))
	}
	eventually(t, "video", func() bool { return mv.TileShown("bob") >= 1 })
	mv.ShowWaitingRoom()
	shot(t, a, "meeting")
	mv.Verify("bob")
	shot(t, a, "verify")
}

func shot(t *testing.T, a *app.App, name string) {
	t.Helper()
	img := a.Window().Canvas().Capture()
	if distinct(img) < 8 {
		t.Fatalf("%s screen renders blank", name)
	}
	if *shotDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(*shotDir, name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func distinct(img image.Image) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>12)<<8|(g>>12)<<4|bl>>12] = true
		}
	}
	return len(seen)
}
