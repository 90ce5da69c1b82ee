package main

// Real-window tests: the app runs with Fyne's OpenGL driver on a virtual X
// server (Xvfb), as a binary built for the test with -tags uireport, and is
// observed from outside: its state report (SOTTO_UI_REPORT, only in such
// builds) says where the video tiles are, and screenshots taken with
// ImageMagick's import show what is really on screen (Fyne's own
// Canvas().Capture() is blank on GL).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/screentest"
	"github.com/sottohq/sotto/internal/xvfbtest"
)

var screenshots = flag.String("screenshots", "", "also copy the demo screenshot into this directory (docs/screenshots)")

// The app binary under test, built once per test run.
var appBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if appBuild.dir != "" {
		os.RemoveAll(appBuild.dir)
	}
	os.Exit(code)
}

// appBinary builds this package with the state report compiled in
// (-tags uireport), and with the race detector when this test binary has
// it, so the app's races show up in its output.
func appBinary(t testing.TB) string {
	t.Helper()
	b := &appBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "sotto-uitest-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "sotto")
		args := []string{"build", "-tags", "uireport", "-o", b.path}
		if raceEnabled() {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("build the app: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// raceEnabled reports whether this binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// xserver is a private Xvfb display.
type xserver struct {
	display string
}

func startXvfb(t testing.TB, width, height int) *xserver {
	return &xserver{display: xvfbtest.Start(t, width, height)}
}

// runningApp is the app in a child process.
type runningApp struct {
	report string
	x      *xserver
	cmd    *exec.Cmd
	log    *os.File
}

func startApp(t testing.TB, x *xserver, args string) *runningApp {
	t.Helper()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &runningApp{report: filepath.Join(dir, "report.json"), x: x, log: logf}
	r.cmd = exec.Command(appBinary(t), strings.Fields(args)...)
	r.cmd.Env = append(os.Environ(),
		"DISPLAY="+x.display, "SOTTO_UI_REPORT="+r.report,
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "SOTTO_CONFIG_DIR="+filepath.Join(dir, "sotto"),
		"FYNE_SCALE=1")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		// Under -race the child reports data races on its output.
		if out, err := os.ReadFile(logf.Name()); err == nil && strings.Contains(string(out), "WARNING: DATA RACE") {
			t.Errorf("the app had a data race:\n%s", out[strings.Index(string(out), "WARNING: DATA RACE"):min(len(out), strings.Index(string(out), "WARNING: DATA RACE")+6000)])
		}
		if t.Failed() {
			logf.Seek(0, io.SeekStart)
			b, _ := io.ReadAll(io.LimitReader(logf, 8000))
			t.Logf("app output:\n%s", b)
		}
		logf.Close()
	})
	return r
}

func (r *runningApp) state(t testing.TB) (screentest.Report, bool) {
	b, err := os.ReadFile(r.report)
	if err != nil {
		return screentest.Report{}, false
	}
	var rep screentest.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return screentest.Report{}, false
	}
	return rep, true
}

// waitFor polls the report until cond holds.
func (r *runningApp) waitFor(t testing.TB, what string, timeout time.Duration, cond func(screentest.Report) bool) screentest.Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if rep, ok := r.state(t); ok && cond(rep) {
			return rep
		}
		if r.cmd.ProcessState != nil {
			t.Fatalf("the app exited while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			rep, _ := r.state(t)
			t.Fatalf("timed out waiting for %s; last report %+v", what, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot captures the Sotto window with ImageMagick's import (by window
// name, so the picture's origin is the window's, whatever the screen). The
// name is the title the app reports: it follows the meeting's state, and
// import given a name no window has waits for a click, holding the server.
func screenshot(t testing.TB, display, title, path string) image.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "import", "-window", title, path)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// picture is a tile's area on the screen, inside its active-speaker ring.
func picture(origin image.Point, tl screentest.Tile) image.Rectangle {
	r := image.Rect(tl.X, tl.Y, tl.X+tl.W, tl.Y+tl.H).Add(origin)
	return r.Inset(6)
}

// TestDemoShowsDecodedVideo starts `sotto --demo` in a real window, waits
// for decoded remote video, and checks on screenshots that the remote tiles
// show moving pictures, not placeholders.
func TestDemoShowsDecodedVideo(t *testing.T) {
	if _, err := exec.LookPath("import"); err != nil {
		t.Fatal("ImageMagick's import is required for screenshots (apt-get install imagemagick)")
	}
	x := startXvfb(t, 1280, 800)
	a := startApp(t, x, "--demo")
	rep := a.waitFor(t, "two remote tiles with decoded video", 120*time.Second, screentest.RemoteLive(2, 10))
	if rep.Unverified != 2 {
		t.Errorf("unverified count %d, want 2 (the demo participants are not verified)", rep.Unverified)
	}
	origin := image.Point{} // the shots are of the window itself
	dir := t.ArtifactDir()
	// Alerts appearing or expiring move the tiles: take the two shots
	// while the layout stays put.
	var first, second image.Image
	var after screentest.Report
	for attempt := 0; ; attempt++ {
		rep, _ = a.state(t)
		first = screenshot(t, x.display, rep.Title, filepath.Join(dir, "demo-1.png"))
		// The second shot once every remote tile has drawn ten new frames
		// since the first (the report counts them), not after a guessed
		// pause.
		shot, _ := a.state(t)
		a.waitFor(t, "ten new frames in every remote tile", 30*time.Second, screentest.FramesSince(shot, 10))
		second = screenshot(t, x.display, rep.Title, filepath.Join(dir, "demo-2.png"))
		after, _ = a.state(t)
		if screentest.SameLayout(rep, after) {
			break
		}
		if attempt == 10 {
			t.Fatal("the tiles kept moving")
		}
	}

	remote := 0
	for _, tl := range rep.Tiles {
		if tl.Self {
			continue
		}
		remote++
		r := picture(origin, tl)
		if !r.In(first.Bounds()) || r.Empty() {
			t.Fatalf("tile %s at %v is off screen %v", tl.Member[:8], r, first.Bounds())
		}
		changed := screentest.ChangedFraction(first, second, r)
		flat := screentest.DominantShare(second, r)
		t.Logf("remote tile %s: %v, %.1f%% of pixels changed in 0.7 s, most common colour covers %.0f%%", tl.Member[:8], r, 100*changed, 100*flat)
		if changed < 0.01 {
			t.Errorf("remote tile %s did not change between screenshots (%.3f%%): not live video", tl.Member[:8], 100*changed)
		}
		if flat > 0.5 {
			t.Errorf("remote tile %s is %.0f%% one colour: a placeholder, not decoded video", tl.Member[:8], 100*flat)
		}
		for _, ta := range after.Tiles {
			if ta.Member == tl.Member && ta.Shown <= tl.Shown {
				t.Errorf("remote tile %s stopped rendering (%d then %d frames)", tl.Member[:8], tl.Shown, ta.Shown)
			}
		}
	}
	if remote != 2 {
		t.Fatalf("%d remote tiles, want 2", remote)
	}
	t.Logf("screenshots in %s", dir)
	if *screenshots != "" {
		if err := copyFile(filepath.Join(dir, "demo-2.png"), filepath.Join(*screenshots, "demo.png")); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// BenchmarkDemoRender measures rendering in a real window with four
// participants (the host and three synthetic members): one operation is one
// frame put on screen by any tile. It reports frames shown per second per
// remote tile next to frames arriving per second per remote tile (the
// baseline: what the media engine decoded and offered), and the CPU the
// whole app used.
func BenchmarkDemoRender(b *testing.B) {
	x := startXvfb(b, 1280, 800)
	a := startApp(b, x, "--demo --demo-participants 3")
	a.waitFor(b, "three remote tiles live", 180*time.Second, screentest.RemoteLive(3, 30))
	time.Sleep(3 * time.Second) // settle after joins and key switches
	start, _ := a.state(b)
	cpu0, err := procCPU(a.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	b.ResetTimer()
	// While frames flow, sample how long the UI thread takes to run a
	// request (the report writer measures it every 250 ms).
	maxDelay := 0.0
	rep := a.waitFor(b, "frames", 10*time.Minute, func(r screentest.Report) bool {
		maxDelay = max(maxDelay, r.UIDelayMillis)
		return totalShown(r)-totalShown(start) >= uint64(b.N)
	})
	b.StopTimer()
	elapsed := time.Since(t0).Seconds()
	cpu1, _ := procCPU(a.cmd.Process.Pid)
	var shown, offered float64
	remote := 0
	for _, tl := range rep.Tiles {
		if tl.Self {
			continue
		}
		for _, s := range start.Tiles {
			if s.Member == tl.Member {
				shown += float64(tl.Shown - s.Shown)
				offered += float64(tl.Offered - s.Offered)
				remote++
			}
		}
	}
	if remote != 3 {
		b.Fatalf("%d remote tiles, want 3", remote)
	}
	b.ReportMetric(shown/float64(remote)/elapsed, "shown-fps/tile")
	b.ReportMetric(offered/float64(remote)/elapsed, "offered-fps/tile")
	b.ReportMetric(100*(cpu1-cpu0)/elapsed, "cpu%")
	b.ReportMetric(maxDelay, "max-ui-delay-ms")
}

func totalShown(r screentest.Report) uint64 {
	var n uint64
	for _, t := range r.Tiles {
		n += t.Shown
	}
	return n
}

// procCPU returns the user+system CPU seconds of a process (Linux).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}
