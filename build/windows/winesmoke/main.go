// Command winesmoke is the smoke test of Sotto's Windows build: it runs the
// Windows app with --demo under Wine on a private Xvfb and checks, as the
// Linux real-window test (main_test.go) does, that both remote tiles show
// decoded video that moves.
//
//	go run ./build/windows/winesmoke -exe sotto-uireport.exe -prng bcryptprimitives.dll \
//		[-release dist/sotto-windows-amd64.exe]
//
// The app must be built with -tags uireport: its state report says where
// the tiles are. -prng is the ProcessPrng stand-in (processprng.c) that Go
// programs need under Wine 8.0; it goes into the throw-away Wine prefix
// only. ./dev.sh windows-smoke builds both and runs this.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sottohq/sotto/internal/screentest"
)

func main() {
	exe := flag.String("exe", "", "the Windows app, built with -tags uireport")
	prng := flag.String("prng", "", "the ProcessPrng stand-in DLL for the Wine prefix")
	release := flag.String("release", "", "also check that this release build of the app opens its window")
	out := flag.String("out", "", "directory for the screenshots and the logs (default: a temporary one)")
	timeout := flag.Duration("timeout", 4*time.Minute, "how long the demo may take to show video")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("winesmoke: ")
	if *exe == "" || *prng == "" {
		log.Fatal("usage: winesmoke -exe APP.exe -prng bcryptprimitives.dll [-out DIR]")
	}
	if err := run(*exe, *release, *prng, *out, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(exe, release, prng, out string, timeout time.Duration) error {
	start := time.Now()
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "sotto-winesmoke-"); err != nil {
			return err
		}
	}
	out, _ = filepath.Abs(out)
	exe, _ = filepath.Abs(exe)
	tmp, err := os.MkdirTemp("", "sotto-wine-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	display, stopX, err := startXvfb(1280, 800)
	if err != nil {
		return err
	}
	defer stopX()

	prefix := filepath.Join(tmp, "prefix")
	report := filepath.Join(tmp, "report.json")
	env := append(os.Environ(),
		"DISPLAY="+display, "WINEPREFIX="+prefix, "WINEDEBUG=-all",
		// No Mono or Gecko installer dialogs: the app needs neither.
		"WINEDLLOVERRIDES=mscoree,mshtml=",
		"SOTTO_UI_REPORT="+winPath(report), "FYNE_SCALE=1")
	wineLog, err := os.Create(filepath.Join(out, "wine.log"))
	if err != nil {
		return err
	}
	defer wineLog.Close()
	wine := func(args ...string) *exec.Cmd {
		c := exec.Command("wine", args...)
		c.Env, c.Stdout, c.Stderr = env, wineLog, wineLog
		return c
	}
	defer func() {
		k := exec.Command("wineserver", "-k")
		k.Env = env
		k.Run()
	}()

	if err := wine("wineboot", "--init").Run(); err != nil {
		return fmt.Errorf("wineboot: %v (log: %s)", err, wineLog.Name())
	}
	w := exec.Command("wineserver", "-w")
	w.Env = env
	w.Run()
	log.Printf("Wine prefix ready after %.0f s", time.Since(start).Seconds())
	if err := copyFile(prng, filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")); err != nil {
		return err
	}

	if release != "" {
		if err := opensWindow(wine(release, "--demo"), display, filepath.Join(out, "windows-release.png")); err != nil {
			return fmt.Errorf("%s: %v (log: %s)", filepath.Base(release), err, wineLog.Name())
		}
		k := exec.Command("wineserver", "-k")
		k.Env = env
		k.Run()
		log.Printf("%s opens its window", filepath.Base(release))
	}

	app := wine(exe, "--demo", "-v")
	if err := app.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer app.Process.Kill()

	state := func() (screentest.Report, bool) {
		b, err := os.ReadFile(report)
		if err != nil {
			return screentest.Report{}, false
		}
		var s screentest.Report
		return s, json.Unmarshal(b, &s) == nil
	}
	waitFor := func(what string, d time.Duration, cond func(screentest.Report) bool) (screentest.Report, error) {
		deadline := time.Now().Add(d)
		for {
			select {
			case err := <-exited:
				return screentest.Report{}, fmt.Errorf("the app exited (%v) before %s (log: %s)", err, what, wineLog.Name())
			default:
			}
			if s, ok := state(); ok && cond(s) {
				return s, nil
			}
			if time.Now().After(deadline) {
				s, _ := state()
				shot(display, filepath.Join(out, "timeout.png"))
				return s, fmt.Errorf("no %s within %v (last report: %+v; screenshot %s, log %s)", what, d, s, filepath.Join(out, "timeout.png"), wineLog.Name())
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	launched := time.Now()
	rep, err := waitFor("two remote tiles with decoded video", timeout, screentest.RemoteLive(2, 10))
	if err != nil {
		return err
	}
	log.Printf("decoded video in both remote tiles %.0f s after launch", time.Since(launched).Seconds())

	// Two shots of the whole screen, at least a second apart and with ten
	// new frames in every remote tile in between (the report counts them:
	// a loaded machine draws fewer than the demo's 30 a second), while the
	// layout stays put (alerts appearing or expiring move the tiles).
	var first, second image.Image
	var after screentest.Report
	for attempt := 0; ; attempt++ {
		rep, _ = state()
		if first, err = shot(display, filepath.Join(out, "windows-demo-1.png")); err != nil {
			return err
		}
		taken := time.Now()
		before, _ := state()
		if _, err := waitFor("ten new frames in every remote tile", time.Minute, screentest.FramesSince(before, 10)); err != nil {
			return err
		}
		time.Sleep(time.Until(taken.Add(time.Second)))
		if second, err = shot(display, filepath.Join(out, "windows-demo-2.png")); err != nil {
			return err
		}
		after, _ = state()
		if screentest.SameLayout(rep, after) {
			break
		}
		if attempt == 10 {
			return errors.New("the tiles kept moving")
		}
	}
	origin, err := windowOrigin(display, rep.Title)
	if err != nil {
		return err
	}
	var failed []string
	remote := 0
	for _, tl := range rep.Tiles {
		if tl.Self {
			continue
		}
		remote++
		r := image.Rect(tl.X, tl.Y, tl.X+tl.W, tl.Y+tl.H).Add(origin).Inset(6)
		if r.Empty() || !r.In(first.Bounds()) {
			return fmt.Errorf("tile %s at %v is off screen %v", short(tl.Member), r, first.Bounds())
		}
		changed := screentest.ChangedFraction(first, second, r)
		flat := screentest.DominantShare(second, r)
		log.Printf("remote tile %s: %v, %.1f%% of pixels changed between the shots, most common colour covers %.0f%%", short(tl.Member), r, 100*changed, 100*flat)
		if changed < 0.01 {
			failed = append(failed, fmt.Sprintf("remote tile %s did not change between screenshots: not live video", short(tl.Member)))
		}
		if flat > 0.5 {
			failed = append(failed, fmt.Sprintf("remote tile %s is %.0f%% one colour: a placeholder, not decoded video", short(tl.Member), 100*flat))
		}
		for _, ta := range after.Tiles {
			if ta.Member == tl.Member && ta.Shown <= tl.Shown {
				failed = append(failed, fmt.Sprintf("remote tile %s stopped rendering (%d then %d frames)", short(tl.Member), tl.Shown, ta.Shown))
			}
		}
	}
	if remote != 2 {
		failed = append(failed, fmt.Sprintf("%d remote tiles, want 2", remote))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s (screenshots in %s)", strings.Join(failed, "; "), out)
	}
	log.Printf("ok: the Windows app shows moving decoded video under Wine (%.0f s; screenshots in %s)", time.Since(start).Seconds(), out)
	return nil
}

// opensWindow starts app and waits for its window (titled Sotto) to be
// mapped, takes a screenshot, and stops it. The release build has no state
// report and no UDP overlay (its demo meeting cannot connect under Wine
// 8.0), so this checks only that the shipped .exe starts and draws.
func opensWindow(app *exec.Cmd, display, png string) error {
	if err := app.Start(); err != nil {
		return err
	}
	defer func() { app.Process.Kill(); app.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		b, _ := exec.Command("xwininfo", "-display", display, "-name", "Sotto").Output()
		if strings.Contains(string(b), "IsViewable") {
			// Give the first frame time to be drawn.
			time.Sleep(3 * time.Second)
			_, err := shot(display, png)
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	shot(display, png)
	return errors.New("no window titled Sotto within 2 minutes")
}

func short(id string) string { return id[:min(8, len(id))] }

// winPath is path as the Windows program sees it: Wine maps the Unix root
// to drive Z:.
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// shot takes a screenshot of the whole screen with ImageMagick's import.
func shot(display, path string) (image.Image, error) {
	c := exec.Command("import", "-display", display, "-window", "root", path)
	if b, err := c.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("import: %v: %s", err, b)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

// windowOrigin is where the app's client area (the canvas the state
// report measures from) sits on the screen. Without a window manager
// Wine maps the client area as its own X window; xwininfo finds it by
// the window's title, which the app reports (it follows the meeting's
// state).
func windowOrigin(display, title string) (image.Point, error) {
	c := exec.Command("xwininfo", "-display", display, "-name", title)
	b, err := c.Output()
	if err != nil {
		return image.Point{}, fmt.Errorf("xwininfo: %v", err)
	}
	var p image.Point
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Absolute upper-left X:"); ok {
			fmt.Sscan(v, &p.X)
		}
		if v, ok := strings.CutPrefix(line, "Absolute upper-left Y:"); ok {
			fmt.Sscan(v, &p.Y)
		}
	}
	return p, nil
}

// startXvfb runs a private X server on a display it picks (-displayfd).
func startXvfb(width, height int) (string, func(), error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height), "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	if err := x.Start(); err != nil {
		w.Close()
		return "", nil, fmt.Errorf("Xvfb: %v", err)
	}
	w.Close()
	stop := func() { x.Process.Kill(); x.Wait() }
	num := make(chan int, 1)
	go func() {
		n := -1
		fmt.Fscan(r, &n)
		num <- n
	}()
	select {
	case n := <-num:
		if n >= 0 {
			return fmt.Sprintf(":%d", n), stop, nil
		}
	case <-time.After(10 * time.Second):
	}
	stop()
	return "", nil, errors.New("Xvfb did not report a display")
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
