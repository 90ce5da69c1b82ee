package relaytest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// join sends a join on c and returns the relay's answer.
func join(t *testing.T, c signal.Conn) signal.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := signal.Encode(signal.Join{Meeting: signal.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	in, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := signal.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Start serves the returned relay at the returned URL; New and Pipe reach
// one without HTTP.
func TestStartAndPipe(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{})
	if !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.HasSuffix(url, "/ws") {
		t.Fatalf("url %q", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := signal.DialWebSocket(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close("done")
	if m := join(t, ws); m.MessageType() != signal.TypeJoined {
		t.Fatalf("join over the URL answered with %#v", m)
	}
	if got := r.Stats().Sessions; got != 1 {
		t.Fatalf("relay has %d sessions, want the one joined at its URL", got)
	}

	p := relaytest.New(t, relay.Config{})
	if m := join(t, relaytest.Pipe(p)); m.MessageType() != signal.TypeJoined {
		t.Fatalf("join over a pipe answered with %#v", m)
	}
	if got := p.Stats().Sessions; got != 1 {
		t.Fatalf("pipe relay has %d sessions, want 1", got)
	}
}
