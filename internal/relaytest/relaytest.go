// Package relaytest runs real relays for tests: loopback-only, shut down
// when the test ends. It is the one place tests start a relay, so that a
// change to how a relay is served reaches every suite at once.
package relaytest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// shutdownTimeout bounds the relay's shutdown at the end of a test.
const shutdownTimeout = 5 * time.Second

// New returns a loopback-only relay without HTTP (reach it with Pipe),
// shut down when t ends.
func New(t testing.TB, cfg relay.Config) *relay.Relay {
	t.Helper()
	r := newRelay(t, cfg)
	t.Cleanup(func() { shutdown(t, r) })
	return r
}

// Start runs a loopback-only relay behind an HTTP test server and returns
// it with its WebSocket signaling URL (ws://127.0.0.1:port/ws). When t
// ends the relay is shut down, then the server closed: the server's Close
// waits for the WebSocket handlers, which end with the relay's sessions.
func Start(t testing.TB, cfg relay.Config) (r *relay.Relay, url string) {
	t.Helper()
	r = newRelay(t, cfg)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() {
		shutdown(t, r)
		srv.Close()
	})
	return r, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func newRelay(t testing.TB, cfg relay.Config) *relay.Relay {
	t.Helper()
	cfg.LoopbackOnly = true
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatalf("new relay: %v", err)
	}
	return r
}

func shutdown(t testing.TB, r *relay.Relay) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("relay shutdown: %v", err)
	}
}

// Pipe connects one in-memory signaling connection to r and returns the
// client's end. The relay serves it until either side closes.
func Pipe(r *relay.Relay) signal.Conn {
	cli, srv := signal.Pipe()
	go r.ServeConn(context.Background(), srv)
	return cli
}
