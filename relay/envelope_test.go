package relay_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// dialPipe joins meeting on r with a client connected over a pipe.
func dialPipe(t *testing.T, r *relay.Relay, meeting signal.ID) *transport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, transport.Config{Conn: relaytest.Pipe(r), MeetingID: meeting, SettingEngine: signal.LoopbackOnly})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEnvelopes(t *testing.T) {
	r := relaytest.New(t, relay.Config{})
	m1, m2 := signal.NewID(), signal.NewID()
	a := dialPipe(t, r, m1)
	b := dialPipe(t, r, m1)
	nextEvent[transport.PeerJoined](t, a, 5*time.Second)
	c := dialPipe(t, r, m1)
	x := dialPipe(t, r, m2) // another meeting on the same relay
	for _, p := range []*transport.Conn{a, b} {
		if j := nextEvent[transport.PeerJoined](t, p, 5*time.Second); j.ID != c.SessionID() {
			t.Fatalf("peer-joined %s, want %s", j.ID, c.SessionID())
		}
	}

	// A sends 100 envelopes, alternating addressed-to-B and broadcast, with
	// every byte value in them.
	const n = 100
	payload := func(i int) []byte {
		p := []byte(fmt.Sprintf("%03d|", i))
		for j := 0; j < 256; j++ {
			p = append(p, byte(j+i))
		}
		return p
	}
	for i := 0; i < n; i++ {
		var to signal.ID // zero: every other session
		if i%2 == 0 {
			to = b.SessionID()
		}
		if err := a.SendEnvelope(to, payload(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// B gets all of them in order; C only the broadcast ones, in order.
	for i := 0; i < n; i++ {
		e := nextEvent[transport.Envelope](t, b, 5*time.Second)
		if e.From != a.SessionID() || !bytes.Equal(e.Payload, payload(i)) {
			t.Fatalf("B: envelope %d from %s differs or out of order: %q", i, e.From, e.Payload[:4])
		}
	}
	for i := 1; i < n; i += 2 {
		e := nextEvent[transport.Envelope](t, c, 5*time.Second)
		if e.From != a.SessionID() || !bytes.Equal(e.Payload, payload(i)) {
			t.Fatalf("C: envelope %d differs or out of order: %q", i, e.Payload[:4])
		}
	}
	// Addressed to a session of another meeting: refused, and X gets nothing.
	if err := a.SendEnvelope(x.SessionID(), []byte("cross")); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent[transport.RelayError](t, a, 5*time.Second); e.Code != signal.CodeUnknownSession {
		t.Fatalf("cross-meeting envelope: error %q, want %q", e.Code, signal.CodeUnknownSession)
	}
	// X's meeting has traffic of its own afterwards; the first envelope X
	// sees must be from its own meeting.
	y := dialPipe(t, r, m2)
	if err := y.SendEnvelope(signal.ID{}, []byte("m2")); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent[transport.Envelope](t, x, 5*time.Second); e.From != y.SessionID() || string(e.Payload) != "m2" {
		t.Fatalf("X received an envelope from %s: %q", e.From, e.Payload)
	}
	// Empty payload is delivered as empty.
	if err := b.SendEnvelope(a.SessionID(), nil); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent[transport.Envelope](t, a, 5*time.Second); e.From != b.SessionID() || len(e.Payload) != 0 {
		t.Fatalf("empty envelope: from %s, %d bytes", e.From, len(e.Payload))
	}
	// The relay counts an envelope after handing it on, so the last count
	// may land just after the recipient read it.
	waittest.Until(t, "the envelope counters to settle", 5*time.Second, func() bool {
		st := r.Stats()
		return st.EnvelopesIn >= n+2 && st.EnvelopesOut >= n+n/2+2
	})
	st := r.Stats()
	if st.EnvelopesIn != n+2 || st.EnvelopesOut != n+n/2+2 {
		t.Fatalf("envelope counters in=%d out=%d, want %d and %d", st.EnvelopesIn, st.EnvelopesOut, n+2, n+n/2+2)
	}
}

// The relay's logs at info level (the default) carry no payloads, no SDP,
// no addresses and not the meeting ID itself. (Debug level adds the WebRTC
// stack's own messages, which may name addresses.)
func TestLogsCarryNoContent(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, url := relaytest.Start(t, relay.Config{Logger: log})
	meeting := signal.NewID()
	cfg := transport.Config{URL: url, MeetingID: meeting}
	a, b := newClient(t, cfg), newClient(t, cfg)
	a.publish()
	waittest.Until(t, "media", 20*time.Second, func() bool { return b.receivedAtLeast(5, a) })
	secret := []byte("TOP-SECRET-ENVELOPE-CONTENT")
	if err := a.conn.SendEnvelope(b.conn.SessionID(), secret); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent[transport.Envelope](t, b.conn, 5*time.Second); !bytes.Equal(e.Payload, secret) {
		t.Fatal("envelope not delivered")
	}
	a.close()
	waittest.Until(t, "leave logged", 5*time.Second, func() bool { return strings.Contains(buf.String(), "session left") })
	logs := buf.String()
	if !strings.Contains(logs, a.conn.SessionID().String()) {
		t.Fatalf("logs do not mention sessions at all; the check below would prove nothing:\n%s", logs)
	}
	for _, bad := range []string{meeting.String(), string(secret), base64.StdEncoding.EncodeToString(secret), "v=0", "a=fingerprint", "127.0.0.1"} {
		if strings.Contains(logs, bad) {
			t.Errorf("logs contain %q", bad)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
