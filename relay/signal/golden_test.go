package signal

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// goldenDir holds one file per message: its exact encoding. The files are
// the wire format; a change to one is a protocol change (docs/PROTOCOL.md §4).
const goldenDir = "testdata/golden"

// goldenA and goldenB are the identifiers used in the golden messages.
var (
	goldenA = ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	goldenB = ID{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
)

// goldenMessages maps each golden file's name (without .json) to the
// message it encodes.
func goldenMessages() map[string]Message {
	mid := "0"
	idx := uint16(1)
	return map[string]Message{
		"join":          Join{Meeting: goldenA},
		"joined":        Joined{Session: goldenA, Peers: []ID{goldenB}, ICEServers: []ICEServer{{URLs: []string{"turn:relay.example:3478?transport=udp"}, Username: "1700000000", Credential: "c2VjcmV0"}}, IdleMs: 60000},
		"joined-alone":  Joined{Session: goldenA, Peers: []ID{}},
		"peer-joined":   PeerJoined{Session: goldenB},
		"peer-left":     PeerLeft{Session: goldenB},
		"publish":       Publish{Kind: KindVideo},
		"unpublish":     Unpublish{Mid: "3"},
		"offer":         Offer{SDP: "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n"},
		"answer":        Answer{SDP: "v=0\r\n"},
		"candidate":     Candidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx},
		"candidate-end": Candidate{},
		"envelope-to":   Envelope{To: goldenB, Payload: []byte{0, 1, 2, 0xfe, 0xff}},
		"envelope-all":  Envelope{Payload: []byte("hello")},
		"envelope-from": Envelope{From: goldenA, Payload: []byte{}},
		"ping":          Ping{},
		"pong":          Pong{},
		"error":         Error{Code: CodeUnknownSession, Reason: "no such session in this meeting"},
		"bye":           Bye{Reason: CodeShutdown},
		"bye-no-reason": Bye{},
	}
}

// readGolden returns the golden files by name.
func readGolden(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no golden files: %v", err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

// Every message encodes to exactly its golden bytes and the golden bytes
// decode to exactly the message.
func TestGolden(t *testing.T) {
	files := readGolden(t)
	msgs := goldenMessages()
	for name, m := range msgs {
		want, ok := files[name]
		if !ok {
			t.Errorf("%s: no golden file", name)
			continue
		}
		got, err := Encode(m)
		if err != nil {
			t.Errorf("%s: encode: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoding changed:\n got %s\nwant %s", name, got, want)
		}
		dec, err := Decode(want)
		if err != nil {
			t.Errorf("%s: decode: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(dec, m) {
			t.Errorf("%s: decoded %#v, want %#v", name, dec, m)
		}
	}
	for name := range files {
		if _, ok := msgs[name]; !ok {
			t.Errorf("golden file %s has no message in the table", name)
		}
	}
	// Every message type has a vector.
	var types []string
	for _, m := range msgs {
		types = append(types, m.MessageType())
	}
	for _, typ := range []string{TypeJoin, TypeJoined, TypePeerJoined, TypePeerLeft, TypePublish, TypeUnpublish, TypeOffer, TypeAnswer, TypeCandidate, TypeEnvelope, TypePing, TypePong, TypeError, TypeBye} {
		if !slices.Contains(types, typ) {
			t.Errorf("no golden vector for %s", typ)
		}
	}
}
