package lipsync

import (
	"image"
	"sync"
	"time"
)

// DefaultMaxPictures bounds the pictures a Queue holds: half a second of
// 30 frames/s video, DefaultMaxHold's worth.
const DefaultMaxPictures = 16

// QueueStats counts what a Queue did.
type QueueStats struct {
	Rendered uint64 `json:"rendered"`
	// Dropped counts the oldest held pictures dropped when the queue was
	// full.
	Dropped uint64 `json:"dropped"`
}

// Queue holds the decoded pictures of one video track and renders each at
// its time, in order, on its own goroutine (stage 4). Render sees a
// picture of the queue's own: it is reused once Render returns.
type Queue struct {
	render func(*image.YCbCr)
	max    int

	mu     sync.Mutex
	items  []held
	free   []*image.YCbCr
	stats  QueueStats
	closed bool
	wake   chan struct{} // a picture was queued
	quit   chan struct{}
	done   chan struct{}
}

type held struct {
	img *image.YCbCr
	due time.Time
}

// NewQueue starts a queue that renders with render and holds at most
// maxPictures (≤ 0: DefaultMaxPictures). Close stops it.
func NewQueue(render func(*image.YCbCr), maxPictures int) *Queue {
	if maxPictures <= 0 {
		maxPictures = DefaultMaxPictures
	}
	q := &Queue{render: render, max: maxPictures, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// Push copies img and renders the copy at due, or right after the
// pictures queued before it if that is later. When the queue is full the
// oldest held picture is dropped. Push pictures from one goroutine.
func (q *Queue) Push(img *image.YCbCr, due time.Time) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.items) >= q.max {
		q.free = append(q.free, q.items[0].img)
		q.items = dropFirst(q.items)
		q.stats.Dropped++
	}
	var buf *image.YCbCr
	if n := len(q.free); n > 0 {
		buf, q.free = q.free[n-1], q.free[:n-1]
	}
	q.mu.Unlock()
	// Copy outside the lock: the render goroutine never sees buf before it
	// is queued.
	buf = copyPicture(buf, img)
	q.mu.Lock()
	if n := len(q.items); n > 0 && due.Before(q.items[n-1].due) {
		due = q.items[n-1].due
	}
	q.items = append(q.items, held{buf, due})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Close stops the queue and waits for a render in progress; held pictures
// are dropped.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.quit)
	<-q.done
}

func (q *Queue) run() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		q.mu.Lock()
		var next held
		if len(q.items) > 0 {
			next = q.items[0]
		}
		q.mu.Unlock()
		if next.img == nil {
			select {
			case <-q.wake:
				continue
			case <-q.quit:
				return
			}
		}
		if wait := time.Until(next.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-q.wake: // an overflow may have dropped next: look again
				timer.Stop()
				continue
			case <-q.quit:
				timer.Stop()
				return
			}
		}
		q.mu.Lock()
		if len(q.items) == 0 || q.items[0].img != next.img || !q.items[0].due.Equal(next.due) {
			q.mu.Unlock()
			continue
		}
		q.items = dropFirst(q.items)
		q.mu.Unlock()
		q.render(next.img)
		q.mu.Lock()
		q.free = append(q.free, next.img)
		q.stats.Rendered++
		q.mu.Unlock()
	}
}

// dropFirst removes items[0] in place, so the queue's array is reused
// (it holds at most max items).
func dropFirst(items []held) []held {
	n := copy(items, items[1:])
	items[n] = held{}
	return items[:n]
}

// copyPicture copies src into dst's buffers (growing them as needed) and
// returns dst, or a new picture when dst is nil.
func copyPicture(dst, src *image.YCbCr) *image.YCbCr {
	if dst == nil {
		dst = new(image.YCbCr)
	}
	y, cb, cr := dst.Y, dst.Cb, dst.Cr
	*dst = *src
	dst.Y = append(y[:0], src.Y...)
	dst.Cb = append(cb[:0], src.Cb...)
	dst.Cr = append(cr[:0], src.Cr...)
	return dst
}
