// Package xvfbtest starts a private virtual X server for tests that need a
// real display: Sotto's window, the X11 screen-capture driver.
package xvfbtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Start runs Xvfb with one screen of width×height at 24 bits on a display
// it picks itself, stops it when the test ends, and returns the display
// name for DISPLAY (":N"). A missing Xvfb fails the test: the features these
// tests cover need it, so skipping would hide them.
func Start(t testing.TB, width, height int) string {
	t.Helper()
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Fatalf("Xvfb is required for this test (apt-get install xvfb): %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// -displayfd: Xvfb picks a free display and writes its number to fd 3
	// once it accepts connections, so there is no race on lock files.
	x := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height), "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	if err := x.Start(); err != nil {
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { x.Process.Kill(); x.Wait() })
	num := make(chan string, 1)
	go func() {
		var n int
		if _, err := fmt.Fscan(r, &n); err != nil {
			num <- ""
			return
		}
		num <- fmt.Sprintf(":%d", n)
	}()
	select {
	case d := <-num:
		if d != "" {
			return d
		}
	case <-time.After(10 * time.Second):
	}
	t.Fatal("Xvfb did not report a display")
	return ""
}
