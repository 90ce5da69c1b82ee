package call

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/relay"
)

// startAt starts a headless call on relayURL (a joiner, unless host).
func startAt(t *testing.T, ctx context.Context, relayURL string, id meeting.MeetingID, host bool) (*Call, error) {
	t.Helper()
	c, err := Start(ctx, Config{
		Self: newIdentity(t), Name: "Ada", RelayURL: relayURL, Host: host,
		Link: meeting.Link{Relay: "127.0.0.1", Insecure: true, Invite: meeting.Invite{MeetingID: id}}, Headless: true, LoopbackOnly: true,
		ConnectTimeout: 500 * time.Millisecond,
	})
	if err == nil {
		t.Cleanup(c.Leave)
	}
	return c, err
}

func randomMeeting(t *testing.T) meeting.MeetingID {
	var id meeting.MeetingID
	rand.Read(id[:])
	return id
}

// wantMessage checks that a start failure reads as a plain sentence that
// says what to do, without the error's own wording.
func wantMessage(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil {
		t.Fatal("the meeting started")
	}
	msg := ErrorMessage(err)
	if !strings.Contains(msg, sub) {
		t.Fatalf("message %q for %v, want %q", msg, err, sub)
	}
	for _, raw := range []string{"transport", "signal:", "dial", "WebSocket", "tcp", "127.0.0.1"} {
		if strings.Contains(msg, raw) {
			t.Fatalf("message %q shows the raw error (%q)", msg, raw)
		}
	}
}

// A relay that accepts the TCP connection and never speaks is reported
// once the connect timeout passes, not waited for.
func TestStartTimesOutOnSilentRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err = startAt(t, ctx, "ws://"+ln.Addr().String()+"/ws", randomMeeting(t), false)
	if !errors.Is(err, ErrRelayNoAnswer) {
		t.Fatalf("silent relay: %v, want ErrRelayNoAnswer", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("gave up after %v, the timeout is 500 ms", d)
	}
	wantMessage(t, err, "did not answer")
}

// Each way of not reaching a relay reads as what it is.
func TestStartFailuresReadAsSentences(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = startAt(t, ctx, "ws://"+closed+"/ws", randomMeeting(t), false)
	wantMessage(t, err, "Nothing answered at the relay's address")

	// A web server that is not a relay, and TLS asked of a plain server.
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	_, err = startAt(t, ctx, "ws://"+addr+"/ws", randomMeeting(t), false)
	wantMessage(t, err, "not a Sotto relay")
	_, err = startAt(t, ctx, "wss://"+addr+"/ws", randomMeeting(t), false)
	wantMessage(t, err, "does not speak TLS")

	// A real relay whose meeting is full.
	cfg := relay.Config{}
	cfg.Limits.MaxSessionsPerMeeting = 1
	_, url := relaytest.Start(t, cfg)
	id := randomMeeting(t)
	if _, err := startAt(t, ctx, url, id, true); err != nil {
		t.Fatal(err)
	}
	_, err = startAt(t, ctx, url, id, false)
	wantMessage(t, err, "The meeting is full")
}

// Link errors say what is wrong with the link, not the parser's words.
func TestLinkErrorsReadAsSentences(t *testing.T) {
	for link, want := range map[string]string{
		"https://example.org/x":                 "start with sotto://",
		"sotto://relay.example:443/0123":        "cut off",
		"sotto://relay.example:443/nothex#AAAA": "damaged",
	} {
		_, err := meeting.ParseLink(link)
		msg := ErrorMessage(err)
		if !strings.Contains(msg, want) || !strings.HasPrefix(msg, "This is not a valid invite link: ") || strings.Contains(msg, "fragment") {
			t.Errorf("link %q: message %q, want %q", link, msg, want)
		}
	}
}
