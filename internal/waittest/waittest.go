// Package waittest waits in tests for a condition that another goroutine,
// a device thread or the operating system makes true, instead of sleeping
// for a guessed time and hoping it has happened.
package waittest

import (
	"testing"
	"time"
)

// poll is how often the condition is evaluated: short against the
// timeouts tests use, long enough not to starve the code under test on a
// small shared machine.
const poll = 5 * time.Millisecond

// Until evaluates cond until it returns true and fails the test (naming
// what) if that has not happened within timeout. cond runs on the test
// goroutine. It is the suites' one condition wait.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return
			}
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("after %v: %s", timeout, what)
			return // only reached with a testing.TB whose Fatalf returns
		}
	}
}
