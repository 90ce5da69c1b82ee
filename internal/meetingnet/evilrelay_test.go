package meetingnet

// A malicious relay for tests: the real relay, with every signaling message
// between it and each client passing through a hook that may drop, alter,
// duplicate or inject envelopes. It is what a hostile relay operator can do
// with the signaling path; media forwarding is the real relay's.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// direction of a message through the relay.
type direction int

const (
	toRelay  direction = iota // client → relay
	toClient                  // relay → client
)

// hook sees one decoded message on the connection of client (the session
// ID, empty before it is known) and returns the messages to pass on.
type hook func(client string, dir direction, m signal.Message) []signal.Message

type evilRelay struct {
	t testing.TB
	r *relay.Relay

	mu   sync.Mutex
	hook hook
	// envelopes records every envelope the relay delivered, per recipient.
	envelopes []delivered
}

type delivered struct {
	to  string
	env signal.Envelope
}

func newEvilRelay(t testing.TB) *evilRelay {
	r, err := relay.New(relay.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &evilRelay{t: t, r: r}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return e
}

func (e *evilRelay) setHook(h hook) {
	e.mu.Lock()
	e.hook = h
	e.mu.Unlock()
}

// dial returns the client end of a new signaling connection to the relay.
func (e *evilRelay) dial() signal.Conn {
	client, server := signal.Pipe()
	w := &wiretap{Conn: server, e: e}
	go e.r.ServeConn(context.Background(), w)
	return client
}

// wiretap sits on the relay's end of one client's signaling connection.
type wiretap struct {
	signal.Conn
	e       *evilRelay
	mu      sync.Mutex
	session string
	inject  [][]byte // messages to hand the relay on its next Read
}

func (w *wiretap) filter(dir direction, b []byte) [][]byte {
	m, err := signal.Decode(b)
	if err != nil {
		return [][]byte{b}
	}
	if j, ok := m.(signal.Joined); ok && dir == toClient {
		w.mu.Lock()
		w.session = j.Session.String()
		w.mu.Unlock()
	}
	w.mu.Lock()
	sid := w.session
	w.mu.Unlock()
	w.e.mu.Lock()
	h := w.e.hook
	if env, ok := m.(signal.Envelope); ok && dir == toClient {
		w.e.envelopes = append(w.e.envelopes, delivered{to: sid, env: env})
	}
	w.e.mu.Unlock()
	if h == nil {
		return [][]byte{b}
	}
	var out [][]byte
	for _, x := range h(sid, dir, m) {
		enc, err := signal.Encode(x)
		if err != nil {
			w.e.t.Errorf("evil relay: encode: %v", err)
			continue
		}
		out = append(out, enc)
	}
	return out
}

// Write carries relay → client messages.
func (w *wiretap) Write(ctx context.Context, b []byte) error {
	for _, x := range w.filter(toClient, b) {
		if err := w.Conn.Write(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// Read carries client → relay messages.
func (w *wiretap) Read(ctx context.Context) ([]byte, error) {
	for {
		w.mu.Lock()
		if len(w.inject) > 0 {
			b := w.inject[0]
			w.inject = w.inject[1:]
			w.mu.Unlock()
			return b, nil
		}
		w.mu.Unlock()
		b, err := w.Conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if out := w.filter(toRelay, b); len(out) > 0 {
			w.mu.Lock()
			w.inject = append(w.inject, out[1:]...)
			w.mu.Unlock()
			return out[0], nil
		}
	}
}

// recorded returns the envelopes delivered so far.
func (e *evilRelay) recorded() []delivered {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]delivered(nil), e.envelopes...)
}
