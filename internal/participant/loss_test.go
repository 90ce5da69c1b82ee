package participant

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func rr(reporter, ssrc uint32, fraction uint8) *rtcp.ReceiverReport {
	return &rtcp.ReceiverReport{SSRC: reporter, Reports: []rtcp.ReceptionReport{{SSRC: ssrc, FractionLost: fraction}}}
}

// The relay's own report (uplink) and its aggregate of the receivers'
// (worst downlink) are legs in series; the estimate rises fast, falls
// slowly, ignores other tracks' blocks and forgets silent reporters.
func TestLossEstimator(t *testing.T) {
	const own = 1234
	e := newLossEstimator(own)
	now := time.Unix(1000, 0)
	if p, changed := e.add(rr(7, 999, 200), now); changed || p != -1 {
		t.Fatalf("another track's block counted: %d %v", p, changed)
	}
	if p, _ := e.add(rr(7, own, 0), now); p != 0 {
		t.Fatalf("no loss: %d %%", p)
	}
	// 10 % downlink (26/256) with a clean uplink: half-way at once.
	p, changed := e.add(rr(8, own, 26), now)
	if !changed || p < 5 || p > 6 {
		t.Fatalf("first 10 %% report: %d %% (changed %v)", p, changed)
	}
	for range 5 {
		now = now.Add(time.Second)
		e.add(rr(7, own, 13), now) // 5 % uplink
		p, _ = e.add(rr(8, own, 26), now)
	}
	// 1 − 0.95·0.9 = 14.5 %.
	if p < 14 || p > 15 {
		t.Fatalf("5 %% up and 10 %% down: %d %%", p)
	}
	// Loss ends: the estimate falls slowly but keeps FEC on while any
	// leg still reports loss.
	now = now.Add(time.Second)
	e.add(rr(7, own, 0), now)
	p, _ = e.add(rr(8, own, 0), now)
	if p < 10 {
		t.Fatalf("one clean round dropped the estimate to %d %%", p)
	}
	for range 60 {
		now = now.Add(time.Second)
		e.add(rr(7, own, 0), now)
		p, _ = e.add(rr(8, own, 0), now)
	}
	if p != 0 {
		t.Fatalf("a minute without loss: %d %%", p)
	}
	// A reporter that stops reporting is forgotten.
	e.add(rr(9, own, 255), now)
	now = now.Add(10 * time.Second)
	for range 60 {
		now = now.Add(time.Second)
		p, _ = e.add(rr(7, own, 0), now)
	}
	if p != 0 {
		t.Fatalf("a silent reporter's loss still counts: %d %%", p)
	}
	// A hostile relay cannot make the estimator remember unbounded
	// reporters.
	for i := range 1000 {
		e.add(rr(uint32(100+i), own, 255), now)
	}
	if len(e.reports) > maxLossReport {
		t.Fatalf("%d reporters remembered", len(e.reports))
	}
	if p := e.percent(); p > int(lossCeiling) {
		t.Fatalf("expected loss %d %% above the ceiling", p)
	}
}
