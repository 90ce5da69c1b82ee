package relay

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"

	"github.com/sottohq/sotto/relay/signal"
)

// framed is one RFC 4571 frame of an RTP packet whose payload carries the
// time it was written.
func framed(pt uint8, seq uint16, size int) []byte {
	h := rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq}
	payload := make([]byte, size)
	binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
	pkt, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
}

// A receiver reading ICE-TCP at 200 kbit/s while the relay has 1.2 Mbit/s
// of video and 64 kbit/s of audio for it: every audio packet arrives, in
// order and without waiting behind video; no video packet arrives more
// than tcpVideoMaxAge after it was written (the rest are dropped and
// counted); the queue never holds more than tcpQueueBytes.
func TestTCPQueueBoundsVideoInTimeAndSendsAudioFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		relaySide, clientSide := net.Pipe()
		m := newMetrics()
		q := newTCPQueue(relaySide, m)

		type got struct {
			pt    uint8
			seq   uint16
			delay time.Duration
		}
		arrived := make(chan got, 4096)
		go func() { // the slow reader: 200 kbit/s
			defer close(arrived)
			hdr := make([]byte, 2)
			for {
				if _, err := io.ReadFull(clientSide, hdr); err != nil {
					return
				}
				b := make([]byte, binary.BigEndian.Uint16(hdr))
				if _, err := io.ReadFull(clientSide, b); err != nil {
					return
				}
				time.Sleep(time.Duration(len(b)+2) * 8 * time.Second / 200_000)
				var p rtp.Packet
				if err := p.Unmarshal(b); err != nil {
					t.Errorf("bad frame: %v", err)
					return
				}
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(p.Payload)))
				arrived <- got{p.PayloadType, p.SequenceNumber, time.Since(sent)}
			}
		}()

		const run = 3 * time.Second
		start := time.Now()
		var vseq, aseq uint16
		maxBytes := 0
		for tick := 0; time.Since(start) < run; tick++ {
			if tick%2 == 0 { // 100 video packets/s of 1500 bytes
				if _, err := q.Write(framed(signal.PayloadTypeVP8, vseq, 1480)); err != nil {
					t.Fatal(err)
				}
				vseq++
			}
			if tick%4 == 0 { // 50 audio packets/s of 160 bytes
				if _, err := q.Write(framed(signal.PayloadTypeOpus, aseq, 148)); err != nil {
					t.Fatal(err)
				}
				aseq++
			}
			q.mu.Lock()
			maxBytes = max(maxBytes, q.bytes)
			q.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // let the reader drain what is fresh
		q.Close()
		clientSide.Close()

		var video, audio int
		var worstVideo, worstAudio time.Duration
		next := uint16(0)
		for g := range arrived {
			switch g.pt {
			case signal.PayloadTypeVP8:
				video++
				worstVideo = max(worstVideo, g.delay)
			case signal.PayloadTypeOpus:
				if g.seq != next {
					t.Errorf("audio packet %d arrived after %d: lost or reordered", g.seq, next)
				}
				next = g.seq + 1
				audio++
				worstAudio = max(worstAudio, g.delay)
			}
		}
		t.Logf("video: %d of %d arrived (worst %v), %d dropped; audio: %d of %d (worst %v); queue peaked at %d bytes",
			video, vseq, worstVideo, m.tcpDroppedVideo.Load(), audio, aseq, worstAudio, maxBytes)
		if audio != int(aseq) {
			t.Errorf("%d of %d audio packets arrived", audio, aseq)
		}
		// An audio packet waits at most for the video packet being
		// written and the one still on the link (the pipe is the
		// socket): two packet times at 200 kbit/s, plus its own.
		pktTime := 1502 * 8 * time.Second / 200_000
		if worstAudio > 2*pktTime+10*time.Millisecond {
			t.Errorf("audio waited up to %v behind video", worstAudio)
		}
		// A video packet leaves the queue at most tcpVideoMaxAge after it
		// was written, then waits for the one on the link and its own.
		if worstVideo > tcpVideoMaxAge+2*pktTime {
			t.Errorf("video arrived up to %v late", worstVideo)
		}
		if video == 0 || m.tcpDroppedVideo.Load() == 0 || video+int(m.tcpDroppedVideo.Load()) != int(vseq) {
			t.Errorf("video: %d arrived + %d dropped of %d written", video, m.tcpDroppedVideo.Load(), vseq)
		}
		if maxBytes > tcpQueueBytes {
			t.Errorf("queue held %d bytes", maxBytes)
		}
	})
}

func TestTCPQueueClassifies(t *testing.T) {
	for _, c := range []struct {
		name         string
		b            []byte
		media, video bool
	}{
		{"vp8", framed(signal.PayloadTypeVP8, 1, 10), true, true},
		{"opus", framed(signal.PayloadTypeOpus, 1, 10), true, false},
		{"rtcp sr", []byte{0, 28, 0x80, 200, 0, 6}, false, false},
		{"stun", []byte{0, 20, 0x00, 0x01, 0, 0}, false, false},
		{"dtls", []byte{0, 20, 22, 0xfe, 0xfd, 0}, false, false},
		{"short", []byte{0, 1, 0x80}, false, false},
	} {
		if media, video := classify(c.b); media != c.media || video != c.video {
			t.Errorf("%s: media %v video %v", c.name, media, video)
		}
	}
}
