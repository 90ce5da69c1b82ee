package fec

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

type sent struct {
	seq    uint16
	ts     uint32
	marker bool
	data   []byte
	parity bool
}

// stream encodes frames (packet counts per frame) through an Encoder at
// ratio and returns the packets as the receiver's copy carries them.
func stream(t *testing.T, rng *rand.Rand, frames []int, ratio float64, seq uint16) []sent {
	t.Helper()
	var e Encoder
	var out []sent
	ts := uint32(1000)
	for _, n := range frames {
		for i := range n {
			data := make([]byte, 1+rng.IntN(1187))
			for k := range data {
				data[k] = byte(rng.Uint32())
			}
			data[0] &^= Flag
			p := sent{seq: seq, ts: ts, marker: i == n-1, data: data}
			out = append(out, p)
			seq++
			e.Add(p.seq, p.ts, p.marker, p.data, ratio, func(parity []byte) {
				out = append(out, sent{seq: seq, ts: ts, data: append([]byte(nil), parity...), parity: true})
				seq++
			})
		}
		ts += 3000
	}
	return out
}

// receive feeds packets to a Decoder, skipping those drop says, and
// returns every media packet known afterwards by sequence number.
func receive(t *testing.T, pkts []sent, drop func(i int, p sent) bool) (map[uint16]sent, *Decoder) {
	t.Helper()
	var d Decoder
	got := map[uint16]sent{}
	rebuilt := func(seq uint16, p Packet) {
		if _, dup := got[seq]; dup {
			t.Fatalf("rebuilt packet %d that was received", seq)
		}
		got[seq] = sent{seq: seq, ts: p.Timestamp, marker: p.Marker, data: append([]byte(nil), p.Payload...)}
	}
	for i, p := range pkts {
		if drop(i, p) {
			continue
		}
		if p.parity {
			if err := d.Parity(p.seq, p.data, rebuilt); err != nil {
				t.Fatalf("parity %d: %v", p.seq, err)
			}
			continue
		}
		got[p.seq] = p
		d.Media(p.seq, p.ts, p.marker, p.data, rebuilt)
	}
	return got, &d
}

func TestRecoversOneLossPerGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Frames of 1 to 30 packets across a sequence number wrap.
	var frames []int
	for range 200 {
		frames = append(frames, 1+rng.IntN(30))
	}
	pkts := stream(t, rng, frames, 0.25, 65000)
	// Drop the first media packet of every parity group of the blocks
	// after the warm-up (the decoder keeps nothing before its first
	// parity), working each block out from its parity headers.
	first := -1
	for i, p := range pkts {
		if p.parity {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("no parity was sent at ratio 0.25")
	}
	dropped := map[uint16]bool{}
	for _, p := range pkts[first+1:] {
		if !p.parity {
			continue
		}
		h, err := Parse(p.data)
		if err != nil {
			t.Fatal(err)
		}
		if int16(h.Base-pkts[first].seq) > 0 {
			dropped[h.Base+uint16(h.J)] = true
		}
	}
	got, d := receive(t, pkts, func(i int, p sent) bool { return i > first && !p.parity && dropped[p.seq] })
	if len(dropped) == 0 {
		t.Fatal("nothing dropped")
	}
	for _, p := range pkts[first+1:] {
		if p.parity {
			continue
		}
		g, ok := got[p.seq]
		if !ok {
			t.Fatalf("packet %d lost for good", p.seq)
		}
		if g.ts != p.ts || g.marker != p.marker || !bytes.Equal(g.data, p.data) {
			t.Fatalf("packet %d rebuilt wrong", p.seq)
		}
	}
	if s := d.Stats(); s.Recovered != uint64(len(dropped)) || s.Malformed != 0 {
		t.Fatalf("stats %+v, dropped %d", s, len(dropped))
	}
}

func TestTwoLossesWaitForARetransmission(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pkts := stream(t, rng, []int{1, 1, 4, 1}, 0.2, 10)
	// Blocks: {10, 11} parity 12 (warm-up), {13…17} parity 18.
	var late sent
	got, d := receive(t, pkts, func(i int, p sent) bool {
		if p.seq == 13 {
			late = p
		}
		return p.seq == 13 || p.seq == 14
	})
	if _, ok := got[14]; ok {
		t.Fatal("rebuilt a packet with two of its group missing")
	}
	rebuilt := map[uint16]bool{}
	d.Media(late.seq, late.ts, late.marker, late.data, func(seq uint16, p Packet) {
		rebuilt[seq] = true
		var want sent
		for _, q := range pkts {
			if q.seq == seq {
				want = q
			}
		}
		if !bytes.Equal(p.Payload, want.data) || p.Marker != want.marker {
			t.Fatalf("packet %d rebuilt wrong", seq)
		}
	})
	if !rebuilt[14] || len(rebuilt) != 1 {
		t.Fatalf("rebuilt %v after the retransmission of 13, want 14", rebuilt)
	}
}

func TestHostileParityIsBoundedAndCounted(t *testing.T) {
	var d Decoder
	good := Encode(nil, 100, []Packet{{Timestamp: 1, Payload: []byte{1, 2}}, {Timestamp: 1, Marker: true, Payload: []byte{3}}}, 1, 0)
	noop := func(uint16, Packet) { t.Fatal("rebuilt from hostile parity") }
	cases := map[string]struct {
		seq uint16
		p   []byte
	}{
		"short":           {102, good[:HeaderLen-1]},
		"not parity":      {102, append([]byte{0x10}, good[1:]...)},
		"zero block":      {102, patch(good, 3, 0)},
		"block too big":   {102, patch(good, 3, MaxBlock+1)},
		"more parity":     {102, patch(good, 4, 3)},
		"group past M":    {102, patch(good, 5, 1)},
		"reserved bits":   {102, patch(good, 6, 2)},
		"block after it":  {101, good},
		"block far back":  {2000, good},
		"oversized":       {102, append(append([]byte(nil), good...), make([]byte, MaxPayload)...)},
		"block on itself": {100, good},
	}
	n := uint64(0)
	for name, c := range cases {
		if err := d.Parity(c.seq, c.p, noop); err == nil {
			t.Errorf("%s: accepted", name)
		}
		n++
	}
	if s := d.Stats(); s.Malformed != n {
		t.Fatalf("malformed %d, want %d", s.Malformed, n)
	}
	// A length that points past the parity's own payload rebuilds nothing.
	var d2 Decoder
	d2.Parity(50, good, noop) // warm-up
	d2.Media(100, 1, false, []byte{1, 2}, noop)
	bad := append([]byte(nil), good...)
	bad[7], bad[8] = 0xff, 0xff
	d2.Parity(102, bad, noop)
	if s := d2.Stats(); s.Malformed != 1 || s.Recovered != 0 {
		t.Fatalf("stats %+v after a parity with an impossible length", s)
	}
}

func patch(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

func TestEncoderBlocks(t *testing.T) {
	var e Encoder
	count := 0
	add := func(seq uint16, marker bool, ratio float64) {
		e.Add(seq, 0, marker, []byte{1}, ratio, func([]byte) { count++ })
	}
	// Ratio 0.25: a block closes at a marker once it has 4 packets or 2 frames.
	add(1, false, 0.25)
	add(2, true, 0.25)
	if count != 0 {
		t.Fatal("closed a block of one frame and two packets")
	}
	add(3, true, 0.25)
	if count != 1 {
		t.Fatalf("%d parity after two frames, want 1", count)
	}
	// A hole in a block gives it up.
	count = 0
	add(4, false, 0.25)
	add(6, false, 0.25)
	add(7, false, 0.25)
	add(8, true, 0.25)
	if count != 0 {
		t.Fatal("sent parity over a block with a hole")
	}
	// A large frame gets ⌈n × ratio⌉ parity.
	for s := uint16(9); s < 29; s++ {
		add(s, s == 28, 0.25)
	}
	if count != 5 {
		t.Fatalf("%d parity for 20 packets at 0.25, want 5", count)
	}
	// Off: nothing.
	count = 0
	add(29, true, 0)
	add(30, true, 0)
	if count != 0 {
		t.Fatal("parity at ratio 0")
	}
}

func TestPolicy(t *testing.T) {
	if Ratio(0.05, 20*time.Millisecond, false) != 0 {
		t.Error("parity on a short round trip")
	}
	if Ratio(0.008, 200*time.Millisecond, false) != 0 {
		t.Error("parity turned on below OnLoss")
	}
	if Ratio(0.008, 200*time.Millisecond, true) == 0 {
		t.Error("parity turned off above OffLoss (no hysteresis)")
	}
	if r := Ratio(0.05, 100*time.Millisecond, false); r < 0.24 || r > 0.27 {
		t.Errorf("ratio %.3f at 5 %% loss and 100 ms", r)
	}
	if near, far := Ratio(0.02, 50*time.Millisecond, false), Ratio(0.02, 300*time.Millisecond, false); near >= far || far != RatioBase+RatioFar+RatioPerLoss*0.02 {
		t.Errorf("ratio %.3f near, %.3f far: parity does not grow with the round trip", near, far)
	}
	if r := Ratio(0.9, time.Second, true); r != MaxRatio {
		t.Errorf("ratio %.3f at 90 %% loss, want the cap", r)
	}
	if ParityCount(1, 0.1) != 1 || ParityCount(10, 0.2) != 2 || ParityCount(64, 0.5) != MaxParity {
		t.Error("ParityCount")
	}
}

func FuzzParity(f *testing.F) {
	f.Add(uint16(102), Encode(nil, 100, []Packet{{Payload: []byte{1}}, {Payload: []byte{2, 3}}}, 1, 0))
	f.Fuzz(func(t *testing.T, seq uint16, p []byte) {
		var d Decoder
		d.Parity(seq-50, p, func(uint16, Packet) {})
		d.Media(seq-2, 0, false, []byte{1}, func(uint16, Packet) {})
		d.Parity(seq, p, func(_ uint16, r Packet) {
			if len(r.Payload) == 0 || len(r.Payload) > MaxPayload {
				t.Fatalf("rebuilt %d bytes", len(r.Payload))
			}
		})
	})
}
