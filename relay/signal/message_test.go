package signal

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
)

func TestRoundTrip(t *testing.T) {
	id, id2 := NewID(), NewID()
	mid := "0"
	idx := uint16(1)
	msgs := []Message{
		Join{Meeting: id},
		Joined{Session: id, Peers: []string{id2}, ICEServers: []ICEServer{{URLs: []string{"turn:relay.example:3478"}, Username: "u", Credential: "p"}}, IdleMs: 60000},
		Joined{Session: id, Peers: []string{}},
		PeerJoined{Session: id},
		PeerLeft{Session: id},
		Publish{Kind: KindVideo},
		Unpublish{Mid: "3"},
		Offer{SDP: "v=0\r\n"},
		Answer{SDP: "v=0\r\n"},
		Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx},
		Envelope{To: id, Payload: []byte{0, 1, 2, 255}},
		Envelope{From: id, Payload: []byte{}},
		Ping{}, Pong{},
		Error{Code: CodeBadSDP, Reason: "answer rejected"},
		Bye{Reason: CodeShutdown},
	}
	for _, m := range msgs {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("encode %T: %v", m, err)
		}
		if !bytes.HasPrefix(b, []byte(`{"type":"`+m.MessageType()+`"`)) {
			t.Fatalf("encoding of %T does not start with its type: %s", m, b)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %T: got %+v, want %+v", m, got, m)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	id := NewID()
	cases := []struct{ in, code string }{
		{``, CodeBadMessage},
		{`[]`, CodeBadMessage},
		{`{}`, CodeBadMessage},
		{`{"type":null}`, CodeBadMessage},
		{`{"type":"nope"}`, CodeUnknownType},
		{`{"type":"ping","x":1}`, CodeBadMessage},
		{`{"type":"join","meeting":"` + strings.ToUpper(id) + `"}`, CodeBadMessage},
		{`{"type":"join","meeting":"` + id + `0"}`, CodeBadMessage},
		{`{"type":"join"}`, CodeBadMessage},
		{`{"type":"publish","kind":"screen"}`, CodeBadMessage},
		{`{"type":"envelope","to":"` + id + `","from":"` + id + `","payload":""}`, CodeBadMessage},
		{`{"type":"envelope"}`, CodeBadMessage},
		{`{"type":"answer","sdp":""}`, CodeBadMessage},
		{`{"type":"candidate","candidate":"` + strings.Repeat("x", MaxCandidateLen+1) + `"}`, CodeBadMessage},
		{`{"type":"ping"} x`, CodeBadMessage},
		{`{"type":"error","code":""}`, CodeBadMessage},
		{`{"type":"bye","reason":"` + strings.Repeat("r", MaxReasonLen+1) + `"}`, CodeBadMessage},
		{`{"type":"envelope","payload":"` + strings.Repeat("A", MaxMessageLen) + `"}`, CodeTooBig},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.in))
		var de *DecodeError
		if !errors.As(err, &de) || de.Code != c.code {
			in := c.in
			if len(in) > 60 {
				in = in[:60]
			}
			t.Errorf("Decode(%s): %v, want code %s", in, err, c.code)
		}
	}
}

func TestValidID(t *testing.T) {
	for i := 0; i < 100; i++ {
		if id := NewID(); !ValidID(id) || len(id) != IDLen {
			t.Fatalf("NewID gave invalid %q", id)
		}
	}
	if NewID() == NewID() {
		t.Fatal("NewID repeats")
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", IDLen), strings.Repeat("A", IDLen), strings.Repeat("0", IDLen+1)} {
		if ValidID(bad) {
			t.Fatalf("ValidID(%q) = true", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range readGolden(f) {
		f.Add(b)
	}
	id := NewID()
	for _, s := range []string{
		`{"type":"join","meeting":"` + id + `"}`,
		`{"type":"envelope","to":"` + id + `","payload":"aGVsbG8="}`,
		`{"type":"candidate","candidate":"c","sdpMid":"0","sdpMLineIndex":0}`,
		`{"type":"joined","session":"` + id + `","peers":[],"iceServers":[{"urls":["stun:x"]}]}`,
		`{"type":"answer","sdp":"v=0"}`, `{"type":"ping"}`, `{"type":"x"}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		// Whatever decodes is valid and re-encodes to something that
		// decodes to the same message.
		if err := Validate(m); err != nil {
			t.Fatalf("decoded message fails validation: %v", err)
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding differs: %s vs %s (%v)", enc, enc2, err)
		}
	})
}

// Pipe delivers in order, reports the closer's reason to both ends, and
// works inside a synctest bubble.
func TestPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		ctx := context.Background()
		go func() {
			for i := 0; i < 200; i++ {
				if err := a.Write(ctx, []byte{byte(i)}); err != nil {
					t.Errorf("write %d: %v", i, err)
					return
				}
			}
			a.Close("done")
		}()
		for i := 0; i < 200; i++ {
			m, err := b.Read(ctx)
			if err != nil || len(m) != 1 || m[0] != byte(i) {
				t.Fatalf("read %d: %v %v", i, m, err)
			}
		}
		_, err := b.Read(ctx)
		if r, ok := CloseReason(err); !ok || r != "done" {
			t.Fatalf("after close: %v", err)
		}
		if err := b.Write(ctx, []byte("x")); err == nil {
			t.Fatal("write after close succeeded")
		}
		// A blocked reader wakes on cancellation.
		c, _ := Pipe()
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { _, err := c.Read(cctx); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: %v", err)
		}
	})
}
