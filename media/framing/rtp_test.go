package framing

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"
)

// Any RFC 7741 depacketizer reads the packetizer's video: pion's parses
// each packet's descriptor, finds the frame start and one picture ID per
// frame, one more on each frame, and the payloads join back to the frame.
func TestPacketizerIsRFC7741(t *testing.T) {
	pk := Packetizer{Kind: KindVideo}
	var lastPID uint16
	for f, size := range []int{1, 100, MaxVideoChunk, MaxVideoChunk + 1, 3*MaxVideoChunk + 17} {
		frame := make([]byte, size)
		for i := range frame {
			frame[i] = byte(i * 7)
		}
		var joined []byte
		var n int
		pk.Packetize(frame, func(p []byte, last bool) error {
			if len(p) > MaxVideoPayload || rtpHeaderLen+parityHeaderLen+len(p) > MTU {
				t.Fatalf("size %d: %d-byte payload leaves no room for parity", size, len(p))
			}
			var d codecs.VP8Packet
			chunk, err := d.Unmarshal(p)
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if (d.S == 1) != (n == 0) || d.PID != 0 || d.I != 1 {
				t.Fatalf("size %d packet %d: S %d PID %d I %d", size, n, d.S, d.PID, d.I)
			}
			if f > 0 && d.PictureID != (lastPID+1)&0x7fff && n == 0 {
				t.Fatalf("picture ID %d after %d", d.PictureID, lastPID)
			}
			if n == 0 {
				lastPID = d.PictureID
			} else if d.PictureID != lastPID {
				t.Fatalf("picture ID changed inside a frame")
			}
			if last != (len(joined)+len(chunk) == size) {
				t.Fatalf("size %d: last flag on packet %d wrong", size, n)
			}
			joined = append(joined, chunk...)
			n++
			return nil
		})
		if !bytes.Equal(joined, frame) {
			t.Fatalf("size %d: frame not rebuilt", size)
		}
	}
	// The picture ID wraps at 15 bits.
	pk.pictureID = 0x7fff
	var pids []uint16
	for range 2 {
		pk.Packetize([]byte{1}, func(p []byte, _ bool) error {
			var d codecs.VP8Packet
			d.Unmarshal(p)
			pids = append(pids, d.PictureID)
			return nil
		})
	}
	if pids[0] != 0x7fff || pids[1] != 0 {
		t.Fatalf("picture IDs %v across the wrap", pids)
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
