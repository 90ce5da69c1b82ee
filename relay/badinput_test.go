package relay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// raw is a hand-driven signaling client for hostile inputs.
type raw struct {
	t    *testing.T
	conn signal.Conn
}

func (c *raw) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *raw) join(meeting signal.ID) signal.ID {
	c.t.Helper()
	c.send(`{"type":"join","meeting":"` + meeting.String() + `"}`)
	m := c.next()
	j, ok := m.(signal.Joined)
	if !ok {
		c.t.Fatalf("join answered with %T %+v", m, m)
	}
	return j.Session
}

// next returns the next message; a close yields closed{reason}.
func (c *raw) next() signal.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := c.conn.Read(ctx)
	if err != nil {
		if r, ok := signal.CloseReason(err); ok {
			return closed{r}
		}
		c.t.Fatalf("read: %v", err)
	}
	m, err := signal.Decode(b)
	if err != nil {
		c.t.Fatalf("relay sent an undecodable message: %v", err)
	}
	return m
}

type closed struct{ reason string }

func (closed) MessageType() string { return "closed" }

// expect reads until an error with code arrives (skipping negotiation
// messages), then, if wantClose, until the close with reason code.
func (c *raw) expect(code string, wantClose bool) {
	c.t.Helper()
	gotErr := false
	for {
		switch m := c.next().(type) {
		case signal.Error:
			if m.Code != code {
				c.t.Fatalf("error %q (%s), want %q", m.Code, m.Reason, code)
			}
			gotErr = true
			if !wantClose {
				return
			}
		case closed:
			if !wantClose {
				c.t.Fatalf("closed (%q), want error %q and an open connection", m.reason, code)
			}
			if m.reason != code {
				c.t.Fatalf("closed with %q, want %q", m.reason, code)
			}
			if !gotErr && code != signal.CodeIdle {
				c.t.Fatalf("closed with %q without an error message first", code)
			}
			return
		case signal.Offer, signal.Candidate, signal.PeerJoined, signal.Pong:
		default:
			c.t.Fatalf("unexpected %T while waiting for %q", m, code)
		}
	}
}

// ping checks the connection still works.
func (c *raw) ping() {
	c.t.Helper()
	c.send(`{"type":"ping"}`)
	for {
		switch m := c.next().(type) {
		case signal.Pong:
			return
		case closed:
			c.t.Fatalf("connection closed (%q) after a recoverable error", m.reason)
		}
	}
}

func TestBadInputs(t *testing.T) {
	big := strings.Repeat("a", 300<<10)
	bogus := signal.NewID().String()
	cases := []struct {
		name      string
		limits    relay.Limits
		run       func(c *raw, r *relay.Relay, meeting signal.ID)
		code      string
		wantClose bool
	}{
		{"malformed json", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope",`)
		}, signal.CodeBadMessage, false},
		{"not json at all", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send("\x00\xff garbage")
		}, signal.CodeBadMessage, false},
		{"unknown type", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"teleport"}`)
		}, signal.CodeUnknownType, false},
		{"unknown field", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"ping","name":"alice"}`)
		}, signal.CodeBadMessage, false},
		{"trailing data", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"ping"}{"type":"ping"}`)
		}, signal.CodeBadMessage, false},
		{"wrong field type", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"publish","kind":7}`)
		}, signal.CodeBadMessage, false},
		{"bad base64 payload", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","payload":"!!!"}`)
		}, signal.CodeBadMessage, false},
		{"envelope claiming a sender", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","from":"` + bogus + `","payload":""}`)
		}, signal.CodeBadMessage, false},
		{"envelope to unknown session", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","to":"` + bogus + `","payload":"aGk="}`)
		}, signal.CodeUnknownSession, false},
		{"envelope to malformed id", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","to":"../../etc","payload":"aGk="}`)
		}, signal.CodeBadMessage, false},
		{"oversized envelope payload", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","payload":"` + strings.Repeat("QUFB", (signal.MaxEnvelopePayload/3)+10) + `"}`)
		}, signal.CodeTooBig, false},
		{"oversized message", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"envelope","payload":"` + big + `"}`)
		}, signal.CodeTooBig, true},
		{"unexpected message type", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"offer","sdp":"v=0"}`)
		}, signal.CodeUnexpected, false},
		{"answer without offer", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"answer","sdp":"v=0"}`)
		}, signal.CodeUnexpected, false},
		{"invalid sdp answer", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"publish","kind":"video"}`)
			for {
				if _, ok := c.next().(signal.Offer); ok {
					break
				}
			}
			c.send(`{"type":"answer","sdp":"this is not sdp"}`)
		}, signal.CodeBadSDP, true},
		{"second join", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"join","meeting":"` + m.String() + `"}`)
		}, signal.CodeAlreadyJoined, false},
		{"first message not join", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.send(`{"type":"ping"}`)
		}, signal.CodeNotJoined, true},
		{"invalid meeting id", relay.Limits{}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.send(`{"type":"join","meeting":"my meeting"}`)
		}, signal.CodeBadMessage, true},
		{"too many tracks", relay.Limits{MaxTracksPerSession: 1}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			c.send(`{"type":"publish","kind":"video"}`)
			c.send(`{"type":"publish","kind":"audio"}`)
		}, signal.CodeTooManyTracks, false},
		{"meeting full", relay.Limits{MaxSessionsPerMeeting: 2}, func(c *raw, r *relay.Relay, m signal.ID) {
			for i := 0; i < 2; i++ {
				other := &raw{t: c.t, conn: relaytest.Pipe(r)}
				other.join(m)
			}
			c.send(`{"type":"join","meeting":"` + m.String() + `"}`)
		}, signal.CodeMeetingFull, true},
		{"relay full", relay.Limits{MaxMeetings: 2}, func(c *raw, r *relay.Relay, m signal.ID) {
			c.send(`{"type":"join","meeting":"` + m.String() + `"}`) // the healthy meeting is the first
		}, signal.CodeRelayFull, true},
		{"too many connections", relay.Limits{MaxConnections: 2}, func(c *raw, _ *relay.Relay, m signal.ID) {
			// The healthy pair holds both connections; this third is refused
			// before it can send anything.
		}, signal.CodeRelayFull, true},
		{"envelope flood", relay.Limits{EnvelopeRate: 1, EnvelopeBurst: 3}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			for i := 0; i < 4; i++ {
				c.send(`{"type":"envelope","payload":"aGk="}`)
			}
		}, signal.CodeRateLimited, false},
		{"message flood", relay.Limits{MessageRate: 1, MessageBurst: 5}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
			for i := 0; i < 6; i++ {
				c.send(`{"type":"ping"}`)
			}
		}, signal.CodeRateLimited, true},
		{"idle", relay.Limits{IdleTimeout: time.Second}, func(c *raw, _ *relay.Relay, m signal.ID) {
			c.join(m)
		}, signal.CodeIdle, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim := tc.limits
			if tc.name == "relay full" {
				lim.MaxMeetings = 1
			}
			r := relaytest.New(t, relay.Config{Limits: lim})
			// A healthy meeting on the same relay must not notice anything.
			healthy := signal.NewID()
			h1 := dialPipe(t, r, healthy)
			h2 := dialPipe(t, r, healthy)

			before := r.Stats()
			c := &raw{t: t, conn: relaytest.Pipe(r)}
			tc.run(c, r, signal.NewID())
			c.expect(tc.code, tc.wantClose)
			if !tc.wantClose && tc.code != signal.CodeRateLimited {
				c.ping()
			}
			after := r.Stats()
			if after.Rejected[tc.code] <= before.Rejected[tc.code] || after.RejectedInputs <= before.RejectedInputs {
				t.Fatalf("rejection %q not counted: before %d after %d", tc.code, before.Rejected[tc.code], after.Rejected[tc.code])
			}
			checkHealthy(t, h1, h2)
		})
	}
}

func checkHealthy(t *testing.T, a, b *transport.Conn) {
	t.Helper()
	if err := a.SendEnvelope(b.SessionID(), []byte("still here")); err != nil {
		t.Fatalf("healthy meeting: %v", err)
	}
	e := nextEvent[transport.Envelope](t, b, 5*time.Second)
	if string(e.Payload) != "still here" {
		t.Fatalf("healthy meeting got %q", e.Payload)
	}
}

// Over a real WebSocket: an oversized frame closes the connection with
// status 1009 and a binary frame gets an error.
func TestBadInputsWebSocket(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{Limits: relay.Limits{MaxMessageBytes: 4096}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &raw{t: t, conn: signal.WebSocket(ws, 0)}
	c.join(signal.NewID())
	if err := ws.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	c.expect(signal.CodeBadMessage, false)
	c.ping()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"envelope","payload":"`+strings.Repeat("A", 8000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized frame: got %v, want close status 1009", err)
	}
	waittest.Until(t, "too-big counted", 5*time.Second, func() bool { return r.Stats().Rejected[signal.CodeTooBig] == 1 })

	// The health endpoint still answers.
	resp, err := http.Get("http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/ws") + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after abuse: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A client that stops reading is closed as a slow consumer once its queue
// is full, and the sender and the rest of the meeting carry on.
func TestSlowConsumer(t *testing.T) {
	r := relaytest.New(t, relay.Config{Limits: relay.Limits{SendQueue: 8, EnvelopeRate: 1000, EnvelopeBurst: 1000}})
	meeting := signal.NewID()
	stuck := &raw{t: t, conn: relaytest.Pipe(r)}
	stuck.join(meeting)
	a := dialPipe(t, r, meeting)
	// Pipe buffers (64) plus the queue (8) overflow well before 200.
	for i := 0; i < 200; i++ {
		if err := a.SendEnvelope(signal.ID{}, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waittest.Until(t, "all envelopes processed", 5*time.Second, func() bool { return r.Stats().EnvelopesIn == 200 })
	if r.Stats().Rejected[signal.CodeSlow] != 1 {
		t.Fatalf("slow consumers closed: %d, want 1", r.Stats().Rejected[signal.CodeSlow])
	}
	// The stuck client finds a prefix of what was sent (peer-joined, then
	// envelopes in order; the relay abandons the rest of its queue), then
	// the reason.
	for i := -1; ; i++ {
		switch m := stuck.next().(type) {
		case signal.PeerJoined:
			if i != -1 {
				t.Fatal("peer-joined out of order")
			}
		case closed:
			if m.reason != signal.CodeSlow {
				t.Fatalf("closed with %q, want %q", m.reason, signal.CodeSlow)
			}
			if r.Stats().DroppedMessages == 0 {
				t.Fatal("dropped messages not counted")
			}
			// The sender carries on with a newcomer.
			b := dialPipe(t, r, meeting)
			checkHealthy(t, a, b)
			return
		case signal.Envelope:
			if i < 0 || m.Payload[0] != byte(i) {
				t.Fatalf("envelope %d out of order", i)
			}
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
}

// Shutdown does not wait for connections that never joined: they are told
// and closed at once.
func TestShutdownClosesPendingConnections(t *testing.T) {
	r, err := relay.New(relay.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pending := &raw{t: t, conn: relaytest.Pipe(r)}
	joined := &raw{t: t, conn: relaytest.Pipe(r)}
	joined.join(signal.NewID())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	pending.expect(signal.CodeShutdown, true)
	if m := joined.next(); m.MessageType() != signal.TypeBye {
		t.Fatalf("joined client got %#v, want bye", m)
	}
	// New connections are refused.
	late := &raw{t: t, conn: relaytest.Pipe(r)}
	late.expect(signal.CodeShutdown, true)
}
