package relay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// answerer is a hostile client that negotiates properly (a real pion
// PeerConnection answers the relay's offers) so that it reaches the
// states where a session's state could grow.
type answerer struct {
	*raw
	pc *webrtc.PeerConnection
}

func newAnswerer(t *testing.T, r *relay.Relay) *answerer {
	t.Helper()
	api, err := transport.NewAPI(transport.Config{SettingEngine: signal.LoopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &answerer{raw: &raw{t: t, conn: relaytest.Pipe(r)}, pc: pc}
}

// answerNext reads until an offer, answers it and returns the mids of the
// relay's recvonly (upload) m-lines in it; an error message fails the test
// unless it is code, in which case it returns nil.
func (a *answerer) answerNext(code string) []string {
	a.t.Helper()
	for {
		switch m := a.next().(type) {
		case signal.Offer:
			if err := a.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
				a.t.Fatal(err)
			}
			ans, err := a.pc.CreateAnswer(nil)
			if err != nil {
				a.t.Fatal(err)
			}
			if err := a.pc.SetLocalDescription(ans); err != nil {
				a.t.Fatal(err)
			}
			a.send(`{"type":"answer","sdp":` + quote(a.pc.LocalDescription().SDP) + `}`)
			var mids []string
			for _, tr := range a.pc.GetTransceivers() {
				if tr.Direction() == webrtc.RTPTransceiverDirectionSendonly || tr.Direction() == webrtc.RTPTransceiverDirectionSendrecv {
					mids = append(mids, tr.Mid())
				}
			}
			return mids
		case signal.Error:
			if m.Code == code {
				return nil
			}
			a.t.Fatalf("error %q (%s)", m.Code, m.Reason)
		case closed:
			a.t.Fatalf("closed (%q)", m.reason)
		}
	}
}

func quote(s string) string {
	b, _ := signal.Encode(signal.Answer{SDP: s})
	// {"type":"answer","sdp":"..."} → the quoted string.
	return strings.TrimSuffix(strings.TrimPrefix(string(b), `{"type":"answer","sdp":`), "}")
}

// Publishing and unpublishing in a loop must not grow a session's
// PeerConnection without bound: stopped transceivers are never freed, so
// the relay caps the upload slots a session opens over its lifetime.
func TestPublishChurnIsBounded(t *testing.T) {
	r := relaytest.New(t, relay.Config{Limits: relay.Limits{MaxTracksPerSession: 1}})
	a := newAnswerer(t, r)
	a.join(signal.NewID())
	before := r.Stats()
	refused := false
	// 4 × MaxTracksPerSession cycles are allowed; a few more must be refused.
	for i := 0; i < 8 && !refused; i++ {
		a.send(`{"type":"publish","kind":"audio"}`)
		// The client's answer needs a local transceiver for the slot.
		if _, err := a.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		mids := a.answerNext(signal.CodeTooManyTracks)
		if mids == nil {
			refused = true
			if i != 4 {
				t.Fatalf("publish refused after %d cycles, want 4", i)
			}
			break
		}
		a.send(`{"type":"unpublish","mid":"` + mids[len(mids)-1] + `"}`)
		a.answerNext("")
	}
	if !refused {
		t.Fatal("8 publish/unpublish cycles all accepted: the session's transceivers grow without bound")
	}
	if r.Stats().Rejected[signal.CodeTooManyTracks] <= before.Rejected[signal.CodeTooManyTracks] {
		t.Fatal("churn refusal not counted")
	}
	a.ping()
}

// Remote ICE candidates are kept by the ICE agent for the whole session:
// after the answer, a client cannot add more than a bounded number.
func TestCandidateFloodIsBounded(t *testing.T) {
	r := relaytest.New(t, relay.Config{})
	a := newAnswerer(t, r)
	a.join(signal.NewID())
	a.send(`{"type":"publish","kind":"audio"}`)
	if _, err := a.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	a.answerNext("")
	before := r.Stats()
	// The default message burst (400) allows all of these.
	for i := 0; i < 300; i++ {
		a.send(fmt.Sprintf(`{"type":"candidate","candidate":"candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host","sdpMid":"0","sdpMLineIndex":0}`, i, 20000+i))
	}
	a.expect(signal.CodeUnexpected, false)
	if r.Stats().Rejected[signal.CodeUnexpected] <= before.Rejected[signal.CodeUnexpected] {
		t.Fatal("candidate flood not counted")
	}
	a.ping()
}

// Binary frames count against the message rate like any other message: a
// flood of them closes the session instead of costing the relay an error
// reply each, forever.
func TestBinaryFrameFloodIsRateLimited(t *testing.T) {
	r, url := relaytest.Start(t, relay.Config{Limits: relay.Limits{MessageRate: 1, MessageBurst: 5}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &raw{t: t, conn: signal.WebSocket(ws, 0)}
	c.join(signal.NewID())
	for i := 0; i < 10; i++ {
		if err := ws.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
			break // closed by the relay
		}
	}
	for {
		switch m := c.next().(type) {
		case signal.Error:
			if m.Code != signal.CodeBadMessage && m.Code != signal.CodeRateLimited {
				t.Fatalf("error %q", m.Code)
			}
			continue
		case closed:
			if m.reason != signal.CodeRateLimited {
				t.Fatalf("closed with %q, want %q", m.reason, signal.CodeRateLimited)
			}
		default:
			continue
		}
		break
	}
	if r.Stats().Rejected[signal.CodeRateLimited] == 0 {
		t.Fatal("binary flood not counted as rate-limited")
	}
}

// A meeting can never hold more sessions than a joined message can list:
// clients refuse a peer list longer than signal.MaxPeers, so a larger
// configured limit would lock everyone out of a big meeting.
func TestSessionLimitFitsThePeerList(t *testing.T) {
	r, err := relay.New(relay.Config{LoopbackOnly: true, Limits: relay.Limits{MaxSessionsPerMeeting: 100000}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if got := r.Limits().MaxSessionsPerMeeting; got != signal.MaxPeers+1 {
		t.Fatalf("sessions per meeting %d, want %d", got, signal.MaxPeers+1)
	}
	if got := r.Limits().EnvelopeRate; got != relay.DefaultLimits.EnvelopeRate {
		t.Fatalf("default envelope rate %v, want %v", got, relay.DefaultLimits.EnvelopeRate)
	}
}
