package relay

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestSeqShiftMapsLatePacketsAcrossParity(t *testing.T) {
	var s seqShift
	out := func(seq uint16) (uint16, bool, bool) { return s.out(seq) }
	for seq := uint16(65530); seq != 2; seq++ {
		if o, ok, in := out(seq); !ok || !in || o != seq {
			t.Fatalf("%d → %d before any parity", seq, o)
		}
	}
	s.insert(2) // after publisher packet 1: receiver numbers 2, 3 are parity
	if o, _, _ := out(2); o != 4 {
		t.Fatalf("2 → %d after two parity, want 4", o)
	}
	// A late packet from before the parity keeps its old number.
	if o, ok, in := out(65535); !ok || in || o != 65535 {
		t.Fatalf("late 65535 → %d ok %v in-order %v", o, ok, in)
	}
	s.insert(1)
	if o, _, _ := out(3); o != 6 {
		t.Fatalf("3 → %d after three parity, want 6", o)
	}
	if o, _, _ := out(2); o != 4 {
		t.Fatalf("late 2 → %d, want its number 4", o)
	}
	// Once more parity insertions than are remembered have happened, a
	// packet from before all of them cannot be numbered.
	for i := range shiftMarks {
		out(uint16(4 + i))
		s.insert(1)
	}
	if _, ok, _ := out(1); ok {
		t.Fatal("numbered a packet older than every mark kept")
	}
}

func TestParityFollowsTheReceiversLink(t *testing.T) {
	var o fecOut
	o.noteReport(0, 150*time.Millisecond, true)
	if o.share() != 0 {
		t.Fatal("parity without loss")
	}
	for range 3 {
		o.noteReport(13, 150*time.Millisecond, true) // 5 %
	}
	if s := o.share(); s < 0.15 || s > 0.3 {
		t.Fatalf("share %.2f at 5 %% loss and 150 ms", s)
	}
	var near fecOut
	for range 3 {
		near.noteReport(13, 5*time.Millisecond, true)
	}
	if near.share() != 0 {
		t.Fatal("parity on a 5 ms round trip, where retransmission is faster")
	}
	// Loss gone: parity turns off after a few reports, not at once.
	o.noteReport(0, 150*time.Millisecond, true)
	if o.share() == 0 {
		t.Fatal("parity off after one clean report")
	}
	for range 20 {
		o.noteReport(0, 150*time.Millisecond, true)
	}
	if o.share() != 0 {
		t.Fatal("parity still on after 20 clean reports")
	}
}

func TestSRTimesRoundTrip(t *testing.T) {
	var s srTimes
	t0 := time.Unix(100, 0)
	s.record(0x1122334455667788, t0)
	rtt, ok := s.rtt(t0.Add(300*time.Millisecond), 0x33445566, 65536/10)
	if !ok || rtt < 199*time.Millisecond || rtt > 201*time.Millisecond {
		t.Fatalf("rtt %v %v, want 200 ms", rtt, ok)
	}
	if _, ok := s.rtt(t0, 0x1, 0); ok {
		t.Fatal("round trip from a report never forwarded")
	}
}

// Each NACKed sequence number counts once while it is remembered, again
// once it has left the ring, and one NACK packet counts at most
// nackedKept of them.
func TestNackCountingIsBounded(t *testing.T) {
	var o fecOut
	one := &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{7})}
	o.noteNack(one)
	o.noteNack(one)
	if o.newNacks != 1 {
		t.Fatalf("%d counted for one sequence number asked twice", o.newNacks)
	}
	var many []uint16
	for s := range uint16(2000) {
		many = append(many, 100+s)
	}
	o.noteNack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(many)})
	if o.newNacks != 1+nackedKept {
		t.Fatalf("%d counted after a NACK of 2000, want %d", o.newNacks, 1+nackedKept)
	}
	o.noteNack(one) // 7 has left the ring
	if o.newNacks != 2+nackedKept {
		t.Fatalf("a sequence number that left the ring was not counted again")
	}
}

// A receiver whose NACKs ask for 3 % of the packets gets parity although
// its reports, which count repaired packets as received, show no loss.
func TestParityFromNacks(t *testing.T) {
	for _, asked := range []uint16{0, 30} {
		var sc sentCount
		o := fecOut{sent: &sc}
		seq := uint16(0)
		for range 5 {
			sc.packets.Add(1000)
			var seqs []uint16
			for s := seq; s < seq+asked; s++ {
				seqs = append(seqs, s)
			}
			if len(seqs) > 0 {
				o.noteNack(&rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
			}
			seq += 1000
			o.noteReport(0, 150*time.Millisecond, true)
		}
		if on := o.share() > 0; on != (asked > 0) {
			t.Errorf("%d of 1000 asked for: parity %v", asked, on)
		}
	}
}
