package app

import (
	"sync"
	"time"
)

// displayRate is how many times a second, at most, new video pictures go
// on screen. Every change to the window makes the driver repaint all of
// it, so pictures are gathered and put up together: one UI-thread call and
// at most one window repaint per tick, however many tiles have a new frame
// (per-frame hand-offs made four 20–30 fps tiles repaint the window about
// 55 times a second). 30 Hz carries a 30 fps camera.
const displayRate = 30

// clockIdleTicks is how many ticks without a new picture the clock's
// goroutine waits before it ends (the next picture starts it again).
const clockIdleTicks = 2 * displayRate

// displayClock gathers tiles with a new picture and presents them on the
// UI thread, at most once per tick and never with a previous batch still
// queued there, so a slow UI thread drops frames instead of falling
// behind.
type displayClock struct {
	every time.Duration

	mu       sync.Mutex
	pending  []*videoTile // tiles with a picture not yet on screen
	spare    []*videoTile // the previous batch's slice, reused
	running  bool         // the ticker goroutine is alive
	inFlight bool         // a batch is queued on or running on the UI thread
	// ticks counts batches handed to the UI thread (for tests).
	ticks uint64
}

// screenClock serves every video tile of the window.
var screenClock = &displayClock{every: time.Second / displayRate}

// mark queues t for the next tick. Safe from any goroutine.
func (c *displayClock) mark(t *videoTile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, t)
	if !c.running {
		c.running = true
		go c.run()
	}
}

func (c *displayClock) run() {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	idle := 0
	for range tick.C {
		c.mu.Lock()
		if c.inFlight {
			c.mu.Unlock()
			continue
		}
		if len(c.pending) == 0 {
			if idle++; idle >= clockIdleTicks {
				c.running = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		idle = 0
		batch := c.pending
		c.pending = c.spare[:0]
		c.inFlight = true
		c.ticks++
		c.mu.Unlock()
		uiDo(func() {
			for _, t := range batch {
				t.present()
			}
			clear(batch)
			c.mu.Lock()
			c.spare = batch[:0]
			c.inFlight = false
			c.mu.Unlock()
		})
	}
}
