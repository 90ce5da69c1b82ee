package receive

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/sottohq/sotto/media/framing"
)

// packetize splits frames the way the send pipeline does, starting at seq.
func packetize(frames [][]byte, seq uint16, mtu int) []*rtp.Packet {
	pl := &codecs.VP8Payloader{}
	var out []*rtp.Packet
	for i, f := range frames {
		parts := pl.Payload(uint16(mtu), f)
		for j, p := range parts {
			out = append(out, &rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(1000 + 3000*i), Marker: j == len(parts)-1},
				Payload: p,
			})
			seq++
		}
	}
	return out
}

func testFrames(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = make([]byte, 200+r.IntN(3000))
		for j := range frames[i] {
			frames[i][j] = byte(r.Uint32())
		}
	}
	return frames
}

type collected struct {
	data [][]byte
	ts   []uint32
	gap  []bool
}

func (c *collected) emit(a Assembled) {
	c.data = append(c.data, bytes.Clone(a.Data))
	c.ts = append(c.ts, a.Timestamp)
	c.gap = append(c.gap, a.AfterGap)
}

func TestReassembleInOrderAcrossWrap(t *testing.T) {
	frames := testFrames(20)
	pkts := packetize(frames, 65530, 500)
	r := NewReassembler(framing.KindVideo, 0)
	var c collected
	now := time.Unix(0, 0)
	for _, p := range pkts {
		r.Push(p, now, c.emit)
	}
	if len(c.data) != len(frames) {
		t.Fatalf("got %d frames, want %d", len(c.data), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(c.data[i], frames[i]) || c.gap[i] {
			t.Fatalf("frame %d differs or flagged gap", i)
		}
	}
	if s := r.Stats(); s != (ReassemblyStats{}) {
		t.Fatalf("stats %+v, want zero", s)
	}
}

func TestReassembleReorderAndDuplicates(t *testing.T) {
	frames := testFrames(30)
	pkts := packetize(frames, 100, 400)
	// Swap neighbours in windows of 3 and duplicate every 7th packet.
	var shuffled []*rtp.Packet
	for i := 0; i < len(pkts); i += 3 {
		end := min(i+3, len(pkts))
		for j := end - 1; j >= i; j-- {
			shuffled = append(shuffled, pkts[j])
			if j%7 == 0 {
				shuffled = append(shuffled, pkts[j])
			}
		}
	}
	r := NewReassembler(framing.KindVideo, 0)
	var c collected
	for _, p := range shuffled {
		r.Push(p, time.Unix(0, 0), c.emit)
	}
	if len(c.data) != len(frames) {
		t.Fatalf("got %d frames, want %d", len(c.data), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(c.data[i], frames[i]) || c.gap[i] {
			t.Fatalf("frame %d differs or flagged gap", i)
		}
	}
}

func TestReassembleLossWaitsThenSkips(t *testing.T) {
	frames := testFrames(10)
	pkts := packetize(frames, 10, 600)
	// Find the packets of frame 3 and lose its second one.
	var lost *rtp.Packet
	for _, p := range pkts {
		if p.Timestamp == 1000+3000*3 && !p.Marker && p.Payload[0]&0x10 == 0 {
			lost = p
			break
		}
	}
	if lost == nil {
		lost = pkts[len(pkts)/2]
	}
	r := NewReassembler(framing.KindVideo, 100*time.Millisecond)
	var c collected
	start := time.Unix(100, 0)
	i := 0
	for _, p := range pkts {
		if p == lost {
			continue
		}
		// Packets arrive 10 ms apart.
		r.Push(p, start.Add(time.Duration(i)*10*time.Millisecond), c.emit)
		i++
	}
	lostFrame := int((lost.Timestamp - 1000) / 3000)
	// Everything before the lost frame came out, the lost frame never did,
	// and the frames after it came out once the wait expired, the first
	// flagged AfterGap.
	if len(c.data) == 0 || len(c.data) >= len(frames) {
		t.Fatalf("got %d frames of %d", len(c.data), len(frames))
	}
	for i, ts := range c.ts {
		if int((ts-1000)/3000) == lostFrame {
			t.Fatalf("incomplete frame %d emitted", lostFrame)
		}
		if i > 0 && ts <= c.ts[i-1] {
			t.Fatalf("frames out of order")
		}
	}
	gaps := 0
	for i, g := range c.gap {
		if g {
			gaps++
			if int((c.ts[i]-1000)/3000) <= lostFrame {
				t.Fatalf("gap flagged on frame before the loss")
			}
		}
	}
	if gaps != 1 || r.Stats().Gaps != 1 {
		t.Fatalf("gap flags %d, stats %+v; want 1 and 1", gaps, r.Stats())
	}
}

func TestReassembleRetransmissionInTime(t *testing.T) {
	frames := testFrames(6)
	pkts := packetize(frames, 0, 700)
	r := NewReassembler(framing.KindVideo, 100*time.Millisecond)
	var c collected
	now := time.Unix(0, 0)
	held := pkts[3]
	for i, p := range pkts {
		if p == held {
			continue
		}
		r.Push(p, now.Add(time.Duration(i)*5*time.Millisecond), c.emit)
		if i == 6 {
			// The NACKed packet comes back 30 ms later.
			r.Push(held, now.Add(35*time.Millisecond), c.emit)
		}
	}
	if len(c.data) != len(frames) {
		t.Fatalf("got %d frames, want %d (%+v)", len(c.data), len(frames), r.Stats())
	}
	for _, g := range c.gap {
		if g {
			t.Fatal("gap flagged though the packet was repaired")
		}
	}
	// The retransmission's late twin is counted, not emitted.
	r.Push(held, now.Add(time.Second), c.emit)
	if r.Stats().Late != 1 || len(c.data) != len(frames) {
		t.Fatalf("late duplicate: stats %+v, frames %d", r.Stats(), len(c.data))
	}
}

func TestReassembleJoinMidFrameAndOversize(t *testing.T) {
	frames := testFrames(4)
	pkts := packetize(frames, 500, 300)
	r := NewReassembler(framing.KindVideo, 0)
	var c collected
	// Start with the second packet of frame 0: the rest of frame 0 is
	// given up after the wait, frames 1.. come out.
	for i, p := range pkts[1:] {
		r.Push(p, time.Unix(0, 0).Add(time.Duration(i)*DefaultMaxWait/2), c.emit)
	}
	if len(c.data) != len(frames)-1 || !bytes.Equal(c.data[0], frames[1]) {
		t.Fatalf("got %d frames", len(c.data))
	}

	big := make([]byte, MaxVideoFrame+1000)
	r2 := NewReassembler(framing.KindVideo, 0)
	var c2 collected
	for _, p := range packetize([][]byte{big, frames[0]}, 1, framing.MTU) {
		r2.Push(p, time.Unix(0, 0), c2.emit)
	}
	if len(c2.data) != 1 || !bytes.Equal(c2.data[0], frames[0]) || !c2.gap[0] || r2.Stats().Malformed != 1 {
		t.Fatalf("oversize: %d frames, stats %+v", len(c2.data), r2.Stats())
	}
}

func TestReassembleAudio(t *testing.T) {
	r := NewReassembler(framing.KindAudio, 0)
	var c collected
	push := func(seq uint16) {
		r.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960, Marker: true},
			Payload: []byte(fmt.Sprint("pkt", seq))}, time.Unix(0, 0), c.emit)
	}
	for _, s := range []uint16{65534, 65535, 0, 2, 1, 3} {
		push(s)
	}
	// Reordered packets are passed on, not dropped: ordering is the
	// jitter buffer's job.
	want := []string{"pkt65534", "pkt65535", "pkt0", "pkt2", "pkt1", "pkt3"}
	if len(c.data) != len(want) {
		t.Fatalf("got %d frames, want %d", len(c.data), len(want))
	}
	for i, w := range want {
		if string(c.data[i]) != w {
			t.Fatalf("frame %d = %q, want %q", i, c.data[i], w)
		}
	}
	if slices.Contains(c.gap, true) || r.Stats().Late != 0 || r.Stats().Gaps != 1 {
		t.Fatalf("gaps %v stats %+v", c.gap, r.Stats())
	}
	r.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 4}, Payload: make([]byte, MaxAudioFrame+1)}, time.Unix(0, 0), c.emit)
	if r.Stats().Malformed != 1 || len(c.data) != len(want) {
		t.Fatalf("oversize audio packet passed: %+v", r.Stats())
	}
}

// FuzzReassembler feeds hostile packet sequences: nothing may panic and
// every frame stays within its size bound.
func FuzzReassembler(f *testing.F) {
	var seed []byte
	for _, p := range packetize(testFrames(3), 65534, 300) {
		b, _ := p.Marshal()
		seed = append(seed, byte(len(b)>>8), byte(len(b)))
		seed = append(seed, b...)
	}
	f.Add(seed, false)
	f.Add([]byte{0, 13, 0x80, 0x80, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x10}, true)
	f.Fuzz(func(t *testing.T, data []byte, audio bool) {
		kind := framing.KindVideo
		if audio {
			kind = framing.KindAudio
		}
		r := NewReassembler(kind, 30*time.Millisecond)
		now := time.Unix(0, 0)
		for len(data) >= 2 {
			n := int(data[0])<<8 | int(data[1])
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			var p rtp.Packet
			if err := p.Unmarshal(data[:n]); err == nil {
				r.Push(&p, now, func(a Assembled) {
					if len(a.Data) > MaxVideoFrame || (audio && len(a.Data) > MaxAudioFrame) {
						t.Fatalf("frame of %d bytes", len(a.Data))
					}
				})
			}
			data = data[n:]
			now = now.Add(10 * time.Millisecond)
		}
	})
}

// A frame missing a packet that lies further behind the newest one than
// any sender keeps for retransmission is given up at once, not after the
// NACK wait: nothing can repair it.
func TestReassembleGivesUpBeyondRepair(t *testing.T) {
	frames := make([][]byte, 400)
	for i := range frames {
		frames[i] = bytes.Repeat([]byte{byte(i)}, 100)
	}
	pkts := packetize(frames, 100, 1200) // one packet a frame
	r := NewReassembler(framing.KindVideo, time.Second)
	var c collected
	at := time.Unix(0, 0)
	r.Push(pkts[0], at, c.emit)
	// Packet 1 is lost; the next ones arrive within a few milliseconds.
	for i := 2; i < len(pkts); i++ {
		r.Push(pkts[i], at.Add(time.Duration(i)*time.Microsecond), c.emit)
		if i < RepairWindow && len(c.data) > 1 {
			t.Fatalf("frame given up after %d packets, inside the repair window and the wait", i)
		}
	}
	if len(c.data) < len(pkts)-RepairWindow-1 {
		t.Fatalf("%d frames out of %d: the frame beyond repair held the rest back", len(c.data), len(pkts))
	}
	if st := r.Stats(); st.Gaps != 1 {
		t.Errorf("stats %+v", st)
	}
}
