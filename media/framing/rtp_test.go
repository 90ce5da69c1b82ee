package framing

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"
)

// The packetizer produces exactly what pion's VP8 payloader produces
// without picture IDs, so any RFC 7741 depacketizer reads it.
func TestPacketizerMatchesVP8Payloader(t *testing.T) {
	for _, size := range []int{1, 100, MaxVideoChunk, MaxVideoChunk + 1, 3*MaxVideoChunk + 17} {
		frame := make([]byte, size)
		for i := range frame {
			frame[i] = byte(i * 7)
		}
		want := (&codecs.VP8Payloader{}).Payload(MTU-rtpHeaderLen, frame)
		var got [][]byte
		var lasts []bool
		pk := Packetizer{Kind: KindVideo}
		pk.Packetize(frame, func(p []byte, last bool) error {
			got = append(got, bytes.Clone(p))
			lasts = append(lasts, last)
			return nil
		})
		if len(got) != len(want) {
			t.Fatalf("size %d: %d packets, want %d", size, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) || lasts[i] != (i == len(got)-1) {
				t.Fatalf("size %d: packet %d differs", size, i)
			}
		}
	}
	var n int
	(&Packetizer{Kind: KindAudio}).Packetize(make([]byte, 200), func(p []byte, last bool) error {
		n++
		if len(p) != 200 || !last {
			t.Fatal("audio frame split")
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d audio packets", n)
	}
}

func TestMetadata(t *testing.T) {
	md, err := Metadata("00112233445566778899aabbccddeeff", KindVideo)
	if err != nil {
		t.Fatal(err)
	}
	// The example of docs/PROTOCOL.md §5.2.
	const want = "sotto media v1\x2000112233445566778899aabbccddeeff\x02"
	if string(md) != want {
		t.Fatalf("metadata %x", md)
	}
	a, _ := Metadata("00112233445566778899aabbccddeeff", KindAudio)
	if bytes.Equal(a, md) {
		t.Fatal("audio and video metadata equal")
	}
	if _, err := Metadata("", KindVideo); err == nil {
		t.Fatal("empty meeting id accepted")
	}
	if _, err := Metadata(string(make([]byte, 256)), KindVideo); err == nil {
		t.Fatal("256-byte meeting id accepted")
	}
	if _, err := Metadata("m", Kind(3)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
