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
		Joined{Session: id, Peers: []ID{id2}, ICEServers: []ICEServer{{URLs: []string{"turn:relay.example:3478"}, Username: "u", Credential: "p"}}, IdleMs: 60000},
		Joined{Session: id, Peers: []ID{}},
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
	id := NewID().String()
	zero := strings.Repeat("0", IDLen)
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
		{`{"type":"join","meeting":""}`, CodeBadMessage},
		{`{"type":"join","meeting":"` + zero + `"}`, CodeBadMessage},
		{`{"type":"joined","session":"` + id + `","peers":[""]}`, CodeBadMessage},
		{`{"type":"joined","peers":[]}`, CodeBadMessage},
		{`{"type":"peer-left","session":""}`, CodeBadMessage},
		{`{"type":"envelope","to":"` + zero + `","payload":""}`, CodeBadMessage},
		{`{"type":"envelope","to":"../../etc","payload":""}`, CodeBadMessage},
		{`{"type":"envelope","to":7,"payload":""}`, CodeBadMessage},
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

// IDs: NewID is random and never zero; String and ParseID are inverse on
// the wire form; ParseID accepts nothing else.
func TestID(t *testing.T) {
	seen := map[ID]bool{}
	for i := 0; i < 100; i++ {
		id := NewID()
		if id.IsZero() || seen[id] {
			t.Fatalf("NewID gave zero or repeated %v", id)
		}
		seen[id] = true
		s := id.String()
		if len(s) != IDLen || s != strings.ToLower(s) {
			t.Fatalf("String() = %q", s)
		}
		back, err := ParseID(s)
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, %v", s, back, err)
		}
	}
	if (ID{}).String() != "" || !(ID{}).IsZero() {
		t.Fatal("the zero ID is not written as the empty string")
	}
	id := NewID().String()
	for _, bad := range []string{"", "00", strings.Repeat("0", IDLen), strings.Repeat("g", IDLen), strings.ToUpper(id), id + "0", id[:IDLen-1], " " + id[1:]} {
		if _, err := ParseID(bad); err == nil {
			t.Fatalf("ParseID(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), bad) && bad != "" {
			t.Fatalf("error %q repeats the input", err)
		}
	}
	// UnmarshalText: empty is zero (an absent field), the rest as ParseID.
	var u ID
	if err := u.UnmarshalText(nil); err != nil || !u.IsZero() {
		t.Fatalf("UnmarshalText(empty) = %v, %v", u, err)
	}
	if err := u.UnmarshalText([]byte(strings.Repeat("0", IDLen))); err == nil {
		t.Fatal("UnmarshalText accepted the zero ID's hex form")
	}
}

// An envelope's "to" and "from": absent, empty and zero all mean the same
// on decoding, and a zero ID is omitted on encoding.
func TestEnvelopeZeroIDs(t *testing.T) {
	for _, in := range []string{`{"type":"envelope","payload":""}`, `{"type":"envelope","to":"","from":"","payload":""}`, `{"type":"envelope","to":null,"payload":""}`} {
		m, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		e := m.(Envelope)
		if !e.To.IsZero() || !e.From.IsZero() {
			t.Fatalf("%s: to %v from %v", in, e.To, e.From)
		}
		out, err := Encode(e)
		if err != nil || string(out) != `{"type":"envelope","payload":""}` {
			t.Fatalf("%s re-encoded as %s (%v)", in, out, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range readGolden(f) {
		f.Add(b)
	}
	id := NewID().String()
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
